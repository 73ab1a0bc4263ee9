"""birnn_utils.nn against torch.nn: parameters, values and gradients, with and without lengths."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

import birnn_utils.nn as bnn
from birnn_utils._ops import packed_rnn

from .reference import KINDS, make_rnn, state_parts

DTYPE = torch.float64
OURS: dict[type[nn.RNNBase], Any] = {nn.RNN: bnn.RNN, nn.GRU: bnn.GRU, nn.LSTM: bnn.LSTM}


def ours_of(native: nn.RNNBase) -> Any:
    return OURS[type(native)].from_module(native)


def initial_state(native: nn.RNNBase, batch: int, device: torch.device) -> Any:
    rows = native.num_layers * (2 if native.bidirectional else 1)
    generator = torch.Generator().manual_seed(batch)
    h = torch.randn(rows, batch, native.proj_size or native.hidden_size, generator=generator)
    if isinstance(native, nn.LSTM):
        c = torch.randn(rows, batch, native.hidden_size, generator=generator)
        return h.to(device, DTYPE), c.to(device, DTYPE)
    return h.to(device, DTYPE)


def reference(native: nn.RNNBase, x: Tensor, lengths: list[int], hx: Any) -> list[Tensor]:
    """Pack (enforce_sorted=False), run the native module, pad: on the rows of positive length.

    Rows of length 0 get zero outputs and keep their hx.
    """
    batch_dim = 0 if native.batch_first else 1
    steps = x.shape[1 - batch_dim]
    rows = [b for b, n in enumerate(lengths) if n > 0]
    index = torch.tensor(rows, dtype=torch.int64, device=x.device)
    parts = state_parts(hx)
    if not rows:
        width = (native.proj_size or native.hidden_size) * (2 if native.bidirectional else 1)
        return [x.new_zeros(x.shape[0], x.shape[1], width), *[p.clone() for p in parts]]
    packed = pack_padded_sequence(
        x.index_select(batch_dim, index),
        torch.tensor([lengths[b] for b in rows]),
        batch_first=native.batch_first,
        enforce_sorted=False,
    )
    sub_hx = [p.index_select(1, index) for p in parts]
    out, state = native(packed, tuple(sub_hx) if len(sub_hx) == 2 else sub_hx[0])
    sub_output, _ = pad_packed_sequence(out, batch_first=native.batch_first, total_length=steps)
    shape = list(sub_output.shape)
    shape[batch_dim] = x.shape[batch_dim]
    output = sub_output.new_zeros(shape).index_copy(batch_dim, index, sub_output)
    finals = [p.index_copy(1, index, s) for p, s in zip(parts, state_parts(state), strict=True)]
    return [output, *finals]


def weighted_sum(tensors: list[Tensor]) -> Tensor:
    """A loss whose gradient differs at every element, so no mix-up cancels out."""
    return sum(
        (t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype, device=t.device).view_as(t)).sum()
        for t in tensors
    )  # type: ignore[return-value]


def compare(
    native: nn.RNNBase, steps: int, lengths: list[int], device: torch.device, with_hx: bool
) -> None:
    """Values and gradients (input, hx, every weight) of ours equal the reference's."""
    native = native.to(device)
    ours = ours_of(native)
    batch = len(lengths)
    shape = (batch, steps, 3) if native.batch_first else (steps, batch, 3)
    x = torch.randn(shape, dtype=DTYPE, device=device)
    hx = state_parts(initial_state(native, batch, device))
    if not with_hx:
        hx = [h.zero_() for h in hx]
    got: list[Tensor] = []
    expected: list[Tensor] = []
    for results in (got, expected):
        x_leaf = x.clone().requires_grad_()
        hx_leaves = [h.clone().requires_grad_() for h in hx]
        hx_arg = tuple(hx_leaves) if len(hx_leaves) == 2 else hx_leaves[0]
        if results is got:
            output, state = ours(x_leaf, hx_arg if with_hx else None, lengths=lengths)
            values = [output, *state_parts(state)]
        else:
            values = reference(native, x_leaf, lengths, hx_arg)
        wrt = [x_leaf, *(hx_leaves if with_hx else []), *native.parameters()]
        results.extend(values)
        grads = torch.autograd.grad(weighted_sum(values), wrt, allow_unused=True)
        results.extend(
            torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt, strict=True)
        )
    assert_close(got, expected)
    assert got[0].device == x.device


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_equals_packing_the_native_module(
    kind: str, num_layers: int, batch_first: bool, bidirectional: bool
) -> None:
    native = make_rnn(
        kind, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional
    )
    compare(native, 5, [3, 5, 0, 1, 5, 2], torch.device("cpu"), with_hx=True)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("with_hx", [False, True])
def test_equals_packing_without_bias_on_each_device(
    kind: str, with_hx: bool, device: torch.device
) -> None:
    native = make_rnn(kind, num_layers=2, bidirectional=True, bias=False)
    compare(native, 4, [1, 4, 0, 2], device, with_hx=with_hx)


@settings(max_examples=30, deadline=None)
@given(
    steps=st.integers(1, 6),
    lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    kind=st.sampled_from(list(KINDS)),
    batch_first=st.booleans(),
)
def test_any_lengths(steps: int, lengths: list[int], kind: str, batch_first: bool) -> None:
    lengths = [min(n, steps) for n in lengths]
    native = make_rnn(kind, bidirectional=True, batch_first=batch_first)
    compare(native, steps, lengths, torch.device("cpu"), with_hx=True)


def test_every_row_empty() -> None:
    native = make_rnn("lstm", bidirectional=True)
    compare(native, 3, [0, 0], torch.device("cpu"), with_hx=True)
    output, (h_n, c_n) = ours_of(native)(torch.randn(3, 0, 3, dtype=DTYPE), lengths=[])
    assert output.shape == (3, 0, 8)
    assert h_n.shape == c_n.shape == (2, 0, 4)


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_lengths_it_is_the_native_module(kind: str) -> None:
    native = make_rnn(kind, num_layers=2, bidirectional=True)
    ours = ours_of(native)
    x = torch.randn(5, 2, 3, dtype=DTYPE)
    lengths = torch.tensor([5, 2])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    for args in [(x,), (x[:, 0],), (packed,), (x, initial_state(native, 2, x.device))]:
        got, expected = ours(*args), native(*args)
        assert type(got[0]) is type(expected[0])
        assert_close(got, expected, rtol=0, atol=0)


def test_lengths_of_every_type_and_device(device: torch.device) -> None:
    native = make_rnn("gru", bidirectional=True).to(device)
    ours = ours_of(native)
    x = torch.randn(4, 3, 3, dtype=DTYPE, device=device)
    expected = ours(x, lengths=[4, 0, 2])
    for lengths in (
        (4, 0, 2),
        np.array([4, 0, 2], dtype=np.int32),
        torch.tensor([4, 0, 2], dtype=torch.int32),
        torch.tensor([4, 0, 2], device=device),
    ):
        assert_close(ours(x, lengths=lengths), expected, rtol=0, atol=0)


def test_same_initialisation_and_state_dict_both_ways() -> None:
    cases: list[tuple[type[nn.Module], type[nn.Module], dict[str, Any]]] = [
        (bnn.RNN, nn.RNN, {"nonlinearity": "relu"}),
        (bnn.GRU, nn.GRU, {"bias": False}),
        (bnn.LSTM, nn.LSTM, {"proj_size": 2, "batch_first": True}),
    ]
    for cls, native_cls, kwargs in cases:
        torch.manual_seed(0)
        ours = cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
        torch.manual_seed(0)
        native = native_cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
        assert list(ours.state_dict()) == list(native.state_dict())
        assert_close(ours.state_dict(), native.state_dict(), rtol=0, atol=0)
        fresh_native = native_cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
        fresh_native.load_state_dict(ours.state_dict(), strict=True)
        fresh_ours = cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
        fresh_ours.load_state_dict(native.state_dict(), strict=True)
        x = torch.randn(2, 5, 3) if kwargs.get("batch_first") else torch.randn(5, 2, 3)
        assert_close(fresh_ours(x), fresh_native(x), rtol=0, atol=0)
        assert repr(ours).replace(cls.__name__, "X") == repr(native).replace(cls.__name__, "X")


def test_from_module_shares_the_parameters() -> None:
    native = nn.LSTM(3, 4, num_layers=2, dropout=0.5, bidirectional=True).eval()
    ours = bnn.LSTM.from_module(native)
    assert all(a is b for a, b in zip(ours.parameters(), native.parameters(), strict=True))
    assert list(ours.state_dict()) == list(native.state_dict())
    assert (ours.dropout, ours.training, native.training) == (0.5, False, False)
    ours.train()
    assert not native.training
    with torch.no_grad():
        native.get_parameter("weight_hh_l1").add_(1.0)
    x = torch.randn(5, 2, 3)
    ours.eval()
    assert_close(ours(x), native(x), rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"LSTM.from_module: `module` must be a torch.nn.LSTM, "):
        bnn.LSTM.from_module(nn.GRU(3, 4))  # type: ignore[arg-type]


def test_conversion_and_copies_keep_working() -> None:
    native = make_rnn("lstm", bidirectional=True, dtype=torch.float32)
    ours = ours_of(native).to(DTYPE)
    assert ours.weight_ih_l0.dtype == DTYPE
    assert ours.weight_ih_l0 is native.weight_ih_l0
    replica = copy.deepcopy(ours)
    with torch.no_grad():
        replica.weight_ih_l0.zero_()
    assert bool(ours.get_parameter("weight_ih_l0").ne(0).any())
    x = torch.randn(4, 2, 3, dtype=DTYPE)
    hx = initial_state(native, 2, x.device)
    assert_close(ours(x, hx, lengths=[4, 1]), reference_with(native, x, [4, 1]))
    assert not torch.equal(replica(x, lengths=[4, 1])[0], ours(x, lengths=[4, 1])[0])


def reference_with(native: nn.RNNBase, x: Tensor, lengths: list[int]) -> tuple[Tensor, Any]:
    output, *state = reference(native, x, lengths, initial_state(native, len(lengths), x.device))
    return output, tuple(state) if len(state) == 2 else state[0]


def test_no_argument_is_modified() -> None:
    ours = bnn.LSTM(3, 4, bidirectional=True, dtype=DTYPE)
    x, lengths = torch.randn(4, 3, 3, dtype=DTYPE), torch.tensor([2, 0, 4])
    hx = (torch.randn(2, 3, 4, dtype=DTYPE), torch.randn(2, 3, 4, dtype=DTYPE))
    copies = [t.clone() for t in (x, lengths, *hx)]
    ours(x, hx, lengths=lengths)
    for before, after in zip(copies, (x, lengths, *hx), strict=True):
        assert torch.equal(before, after)


def test_bad_calls() -> None:
    gru = bnn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"GRU: `lengths` must be in \[0, 5\], got max 6"):
        gru(x, lengths=[6, 1])
    with pytest.raises(ValueError, match=r"GRU: `lengths` must have one entry per sequence \(2\)"):
        gru(x, lengths=[1])
    with pytest.raises(TypeError, match=r"GRU: `lengths` must hold ints, got float"):
        gru(x, lengths=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"GRU: `input` must be 3-D \(B x T x H_in\), got 2-D"):
        gru(x[0], lengths=[5])
    packed = pack_padded_sequence(x, [5, 1], batch_first=True)
    with pytest.raises(TypeError, match=r"GRU: a PackedSequence `input` carries its lengths"):
        gru(packed, lengths=[5, 1])


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm_proj"])
def test_the_op_has_the_gradients_of_eager_torch(kind: str) -> None:
    """The op's own autograd (what compiled code uses): gradcheck, and eager torch's values."""
    native = make_rnn(kind, num_layers=2, bidirectional=True, hidden_size=3, input_size=2)
    options = [native.mode, native.num_layers, native.bias, False, True]
    weights = [w.detach().clone().requires_grad_() for w in native.parameters()]
    x = torch.randn(4, 3, 2, dtype=DTYPE, requires_grad=True)
    hx = [h.requires_grad_() for h in state_parts(initial_state(native, 3, x.device))]
    lengths = torch.tensor([3, 0, 4])
    c0 = hx[1] if len(hx) == 2 else None

    def op(x: Tensor, h0: Tensor, c0: Tensor | None, *weights: Tensor) -> tuple[Tensor, ...]:
        output, h_n, c_n = torch.ops.birnn_utils.packed_rnn(
            x, lengths, h0, c0, list(weights), *options
        )
        return (output, h_n) if c0 is None else (output, h_n, c_n)

    # gradcheck hands non-Tensor inputs (c0=None for RNN/GRU) to `op` as they are.
    assert torch.autograd.gradcheck(op, (x, hx[0], c0, *weights))  # type: ignore[arg-type]
    got = list(op(x, hx[0], c0, *weights))
    hx_arg = tuple(hx) if len(hx) == 2 else hx[0]
    with torch.no_grad():
        for param, weight in zip(native.parameters(), weights, strict=True):
            param.copy_(weight)
    expected = reference(native, x, lengths.tolist(), hx_arg)
    wrt = [x, *hx]
    got += torch.autograd.grad(weighted_sum(got), [*wrt, *weights])
    expected += torch.autograd.grad(weighted_sum(expected), [*wrt, *native.parameters()])
    assert_close(got, expected)


def test_a_wrong_hx_is_named() -> None:
    lstm = bnn.LSTM(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    with pytest.raises(
        ValueError, match=r"LSTM: `hx`'s c_0 must have shape \(2, 2, 4\) .* got \(2, 2, 3\)"
    ):
        lstm(x, (torch.zeros(2, 2, 4), torch.zeros(2, 2, 3)), lengths=[5, 2])
    with pytest.raises(TypeError, match=r"LSTM: `hx` must be a tuple \(h_0, c_0\), got Tensor"):
        lstm(x, torch.zeros(2, 2, 4), lengths=[5, 2])
    with pytest.raises(TypeError, match=r"GRU: `hx` must be a Tensor h_0, got tuple"):
        bnn.GRU(3, 4)(x, (torch.zeros(1, 2, 4),), lengths=[5, 2])


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm_proj"])
def test_packed_rnn_runs_a_native_module_on_its_own_parameters(kind: str) -> None:
    """What run_packed and BiRNNEncoder will call for torch.nn modules (issue 11, point 3)."""
    native = make_rnn(kind, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 5, 3, dtype=DTYPE, requires_grad=True)
    lengths = [5, 0, 2, 1]
    hx = initial_state(native, 4, x.device)
    output, state = packed_rnn(native, x, torch.tensor(lengths), hx, "test")
    got = [output, *state_parts(state)]
    expected = reference(native, x, lengths, hx)
    assert_close(got, expected)
    wrt = [x, *native.parameters()]
    grads = torch.autograd.grad(weighted_sum(got), wrt)
    assert_close(grads, torch.autograd.grad(weighted_sum(expected), wrt))
