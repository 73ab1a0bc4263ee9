"""padding_side="left" in run_packed, Bidirectional and BiRNNEncoder, against native modules.

The reference runs each sequence alone, unpadded, through native modules (the equivalent of a
right-padded batch, with nothing to pad), and writes its outputs at the row's last ``n`` steps by
hand: the layout of Keras's ``pad_sequences``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from birnn_utils import (
    Bidirectional,
    BiRNNEncoder,
    Directions,
    MergeMode,
    padded_to_varlen,
    run_packed,
)

from .reference import KINDS, MERGED, make_rnn, random_state, state_shapes, unidirectional_copy

DTYPE = torch.float64
STEPS = 5
LENGTHS = [3, 0, 5, 1]  # unsorted, with 0 and T
RowRun = Callable[[Tensor, int], tuple[Tensor, Any]]
"""Runs row ``b``'s valid steps (time-major ``n x 1 x F``): its outputs and final state."""


def left_input(
    batch_first: bool, features: int = 3, steps: int = STEPS, batch: int = len(LENGTHS)
) -> Tensor:
    """Random values everywhere, the padding included: whatever it holds must not matter."""
    gen = torch.Generator().manual_seed(7)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    return torch.randn(shape, generator=gen, dtype=DTYPE)


def time_major(x: Tensor, batch_first: bool) -> Tensor:
    return x.transpose(0, 1) if batch_first else x


def left_reference(
    run: RowRun, x: Tensor, lengths: list[int], batch_first: bool
) -> tuple[Tensor, list[Any]]:
    """Each row's last ``lengths[b]`` steps run alone; outputs written back at those steps.

    Returns the output in ``x``'s layout, zeros at the padding (on the left), and each row's
    final state (``None`` for a row of length 0).
    """
    tm = time_major(x, batch_first)
    steps = tm.shape[0]
    rows: list[Tensor | None] = []
    states: list[Any] = []
    for b, n in enumerate(lengths):
        if n == 0:
            rows.append(None)
            states.append(None)
            continue
        out, state = run(tm[steps - n :, b : b + 1], b)
        rows.append(out[:, 0])
        states.append(state)
    width = next(r for r in rows if r is not None).shape[1:]
    expected = tm.new_zeros(steps, len(lengths), *width)
    for b, (n, row) in enumerate(zip(lengths, rows, strict=True)):
        if row is not None:
            expected[steps - n :, b] = row
    return time_major(expected, batch_first), states


def native_rows(rnn: nn.RNNBase, hx: Any) -> RowRun:
    """Row ``b`` through ``rnn`` itself, from row ``b`` of ``hx`` (batch on dim 1)."""

    def run(row: Tensor, b: int) -> tuple[Tensor, Any]:
        parts = None if hx is None else tuple(h[:, b : b + 1] for h in as_tuple(hx))
        h = parts[0] if parts is not None and len(parts) == 1 else parts
        out, state = rnn(row.transpose(0, 1) if rnn.batch_first else row, h)
        return time_major(out, rnn.batch_first), state

    return run


def as_tuple(state: Any) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def stack_states(states: list[Any], initial: Any) -> tuple[Tensor, ...]:
    """Per-row final states (``None``: length 0, which keeps ``initial``) along dim 1."""
    init = as_tuple(initial)
    columns = [
        as_tuple(s) if s is not None else tuple(h[:, b : b + 1] for h in init)
        for b, s in enumerate(states)
    ]
    return tuple(torch.cat(parts, 1) for parts in zip(*columns, strict=True))


def zero_state(rnn: nn.RNNBase, batch: int) -> Any:
    return tuple(torch.zeros(s, dtype=DTYPE) for s in state_shapes(rnn, batch))


def assert_states(got: Any, expected: tuple[Tensor, ...]) -> None:
    torch.testing.assert_close(as_tuple(got), expected)


# run_packed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_run_packed_left_matches_native_rows(
    kind: str,
    num_layers: int,
    batch_first: bool,
    with_hx: bool,
    placement: tuple[torch.device, torch.device],
) -> None:
    data_device, lengths_device = placement
    rnn = make_rnn(kind, num_layers=num_layers, batch_first=batch_first, bidirectional=True)
    x = left_input(batch_first)
    hx = random_state(rnn, len(LENGTHS)) if with_hx else None
    expected, row_states = left_reference(native_rows(rnn, hx), x, LENGTHS, batch_first)
    initial = hx if with_hx else zero_state(rnn, len(LENGTHS))

    def on(t: Any, device: torch.device) -> Any:
        return t.to(device) if isinstance(t, Tensor) else tuple(on(s, device) for s in t)

    output, state = run_packed(
        rnn.to(data_device),
        x.to(data_device),
        torch.tensor(LENGTHS, device=lengths_device),
        None if hx is None else on(hx, data_device),
        padding_side="left",
    )
    torch.testing.assert_close(output.cpu(), expected)
    assert_states(on(state, torch.device("cpu")), stack_states(row_states, initial))


def test_run_packed_left_unidirectional_and_no_padding() -> None:
    """A unidirectional module, and lengths that all equal T (nothing moves)."""
    rnn = make_rnn("gru", bidirectional=False)
    x = left_input(False)
    expected, row_states = left_reference(native_rows(rnn, None), x, LENGTHS, False)
    output, state = run_packed(rnn, x, LENGTHS, padding_side="left")
    torch.testing.assert_close(output, expected)
    assert_states(state, stack_states(row_states, zero_state(rnn, len(LENGTHS))))
    full = [STEPS] * len(LENGTHS)
    torch.testing.assert_close(
        run_packed(rnn, x, full, padding_side="left"), run_packed(rnn, x, full)
    )


@settings(max_examples=30, deadline=None)
@given(
    steps=st.integers(1, 6),
    lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    batch_first=st.booleans(),
)
def test_run_packed_left_any_lengths(steps: int, lengths: list[int], batch_first: bool) -> None:
    lengths = [min(n, steps) for n in lengths]
    rnn = make_rnn("lstm", batch_first=batch_first, bidirectional=True)
    x = left_input(batch_first, steps=steps, batch=len(lengths))
    output, (h_n, c_n) = run_packed(rnn, x, lengths, padding_side="left")
    assert output.shape == (*x.shape[:2], 8)
    tm = time_major(output, batch_first)
    for b, n in enumerate(lengths):
        assert torch.equal(tm[: steps - n, b], torch.zeros_like(tm[: steps - n, b]))
    if any(lengths):
        expected, row_states = left_reference(native_rows(rnn, None), x, lengths, batch_first)
        torch.testing.assert_close(output, expected)
        assert_states((h_n, c_n), stack_states(row_states, zero_state(rnn, len(lengths))))
    else:
        assert torch.equal(output, torch.zeros_like(output))
        assert torch.equal(h_n, torch.zeros_like(h_n)) and torch.equal(c_n, torch.zeros_like(c_n))


def test_run_packed_left_gradcheck() -> None:
    rnn = make_rnn("gru", hidden_size=2, batch_first=True, bidirectional=True)
    x = left_input(True, steps=4, batch=3).requires_grad_()
    h_0 = random_state(rnn, 3).requires_grad_()
    lengths = [2, 0, 4]

    def run(x: Tensor, h_0: Tensor) -> tuple[Tensor, Tensor]:
        output, h_n = run_packed(rnn, x, lengths, h_0, padding_side="left")
        return output, h_n

    assert torch.autograd.gradcheck(run, (x, h_0))


# Bidirectional ---------------------------------------------------------------------------------


class CausalConv(nn.Module):
    """A stateless causal mixer: step ``t`` sees steps ``t - 1`` and ``t``."""

    def __init__(self, features: int = 3, batch_first: bool = True) -> None:
        super().__init__()
        torch.manual_seed(11)
        self.conv = nn.Conv1d(features, features, 2, padding=1, dtype=DTYPE)
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        channels_last = x if self.batch_first else x.transpose(0, 1)
        out: Tensor = self.conv(channels_last.transpose(1, 2))[..., :-1].transpose(1, 2)
        return out if self.batch_first else out.transpose(0, 1)


def pair_rows(forward: nn.Module, backward: nn.Module, merge: str | None) -> RowRun:
    """Row ``b`` through the two modules, the backward one on the row reversed (time-major)."""

    def call(module: nn.Module, row: Tensor) -> tuple[Tensor, Any]:
        batch_first = getattr(module, "batch_first", True)
        result = module(row.transpose(0, 1) if batch_first else row)
        out, state = result if isinstance(result, tuple) else (result, None)
        return time_major(out, batch_first), state

    def run(row: Tensor, b: int) -> tuple[Tensor, Any]:
        out_f, state_f = call(forward, row)
        out_b, state_b = call(backward, row.flip(0))
        merged = MERGED[merge](out_f, out_b.flip(0))
        # merge=None: the pair stacked on a new last dim, so the reference writes one tensor.
        out = torch.stack(merged, -1) if merge is None else merged
        return out, (state_f, state_b)

    return run


def unstack(expected: Tensor, merge: str | None) -> Any:
    return Directions(*expected.unbind(-1)) if merge is None else expected


def native_pair(kind: str, batch_first: bool, tied: bool) -> tuple[nn.RNNBase, nn.RNNBase]:
    bi = make_rnn(kind, bidirectional=True)
    forward, backward = (unidirectional_copy(bi, 0, suffix) for suffix in ("", "_reverse"))
    for module in (forward, backward):
        module.batch_first = batch_first
    return (forward, forward) if tied else (forward, backward)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("merge", ["concat", None])
def test_bidirectional_native_left(
    kind: str, batch_first: bool, tied: bool, merge: MergeMode | None
) -> None:
    forward, backward = native_pair(kind, batch_first, tied)
    wrapper = Bidirectional(forward, backward, merge=merge)
    x = left_input(batch_first)
    expected, row_states = left_reference(
        pair_rows(forward, backward, merge), x, LENGTHS, batch_first
    )
    output, states = wrapper(x, lengths=LENGTHS, padding_side="left")
    torch.testing.assert_close(output, unstack(expected, merge))
    for direction, module in enumerate((forward, backward)):
        zeros = zero_state(module, len(LENGTHS))
        per_row = [None if s is None else s[direction] for s in row_states]
        assert_states(states[direction], stack_states(per_row, zeros))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul", "stack", None])
def test_bidirectional_mixer_left(batch_first: bool, tied: bool, merge: MergeMode | None) -> None:
    mixer = CausalConv(batch_first=batch_first)
    backward = mixer if tied else CausalConv(batch_first=batch_first)
    if not tied:
        with torch.no_grad():
            for param in backward.parameters():
                param.mul_(-0.5)
    wrapper = Bidirectional(mixer, backward, merge=merge)
    x = left_input(batch_first)
    expected, _ = left_reference(pair_rows(mixer, backward, merge), x, LENGTHS, batch_first)
    output = wrapper(x, lengths=LENGTHS, padding_side="left")
    torch.testing.assert_close(output, unstack(expected, merge))


def test_bidirectional_mixer_left_gradcheck() -> None:
    mixer = CausalConv(2)
    wrapper = Bidirectional(mixer, mixer, batch_first=True)
    x = left_input(True, features=2, steps=4, batch=3).requires_grad_()
    lengths = torch.tensor([2, 0, 4])
    assert torch.autograd.gradcheck(
        lambda x: wrapper(x, lengths=lengths, padding_side="left"), (x,)
    )


def test_left_without_lengths_is_a_no_op() -> None:
    """Without lengths every sequence fills T: there is no padding to be on either side."""
    x = left_input(True)
    wrapper = Bidirectional(CausalConv(), batch_first=True)
    assert torch.equal(wrapper(x, padding_side="left"), wrapper(x))
    lstm = make_rnn("lstm", bidirectional=True, batch_first=True)
    left, right = BiRNNEncoder(lstm, padding_side="left")(x), BiRNNEncoder(lstm)(x)
    torch.testing.assert_close(tuple(left), tuple(right))


# BiRNNEncoder ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul", "stack"])
@pytest.mark.parametrize("source", ["lengths", "mask"])
def test_encoder_left_matches_native_rows(
    kind: str, num_layers: int, batch_first: bool, merge: MergeMode, source: str
) -> None:
    rnn = make_rnn(kind, num_layers=num_layers, batch_first=batch_first, bidirectional=True)
    encoder = BiRNNEncoder(rnn, merge=merge, padding_side="left")
    x = left_input(batch_first)
    concat, row_states = left_reference(native_rows(rnn, None), x, LENGTHS, batch_first)
    h_out = rnn.proj_size or rnn.hidden_size
    if source == "lengths":
        encoded = encoder(x, torch.tensor(LENGTHS))
    else:
        mask = torch.tensor([[t >= STEPS - n for t in range(STEPS)] for n in LENGTHS])
        encoded = encoder(x, mask=mask)
    forward, backward = concat[..., :h_out], concat[..., h_out:]
    torch.testing.assert_close(encoded.outputs, MERGED[merge](forward, backward))
    tm = time_major(concat, batch_first)
    # The forward direction ends at the last step (T - 1), the backward one at the first valid
    # step (T - n); zeros for a row of length 0.
    final_forward = torch.stack([tm[-1, b, :h_out] * (n > 0) for b, n in enumerate(LENGTHS)])
    final_backward = torch.stack(
        [tm[STEPS - max(n, 1), b, h_out:] * (n > 0) for b, n in enumerate(LENGTHS)]
    )
    torch.testing.assert_close(tuple(encoded.final), (final_forward, final_backward))
    assert_states(encoded.states, stack_states(row_states, zero_state(rnn, len(LENGTHS))))
    assert encoded.lengths.tolist() == LENGTHS


def test_encoder_left_with_bidirectional_and_random_state() -> None:
    forward, backward = native_pair("lstm", True, tied=False)
    encoder = BiRNNEncoder(Bidirectional(forward, backward), merge="mean", padding_side="left")
    x = left_input(True)
    hx = Directions(random_state(forward, len(LENGTHS)), random_state(backward, 4, seed=4))

    def rows(row: Tensor, b: int) -> tuple[Tensor, Any]:
        out_f, state_f = native_rows(forward, hx.forward)(row, b)
        out_b, state_b = native_rows(backward, hx.backward)(row.flip(0), b)
        return torch.cat([out_f, out_b.flip(0)], -1), (state_f, state_b)

    concat, row_states = left_reference(rows, x, LENGTHS, True)
    encoded = encoder(x, LENGTHS, initial_state=hx)
    torch.testing.assert_close(encoded.outputs, (concat[..., :4] + concat[..., 4:]) / 2)
    for direction in range(2):
        per_row = [None if s is None else s[direction] for s in row_states]
        assert_states(encoded.states[direction], stack_states(per_row, hx[direction]))


def test_encoder_stores_padding_side() -> None:
    rnn = make_rnn("gru", bidirectional=True)
    assert BiRNNEncoder(rnn).padding_side == "right"
    assert BiRNNEncoder(rnn, padding_side="left").padding_side == "left"


# Arguments -------------------------------------------------------------------------------------


def test_no_argument_is_modified() -> None:
    lstm = make_rnn("lstm", bidirectional=True, batch_first=True)
    x = left_input(True)
    lengths = torch.tensor(LENGTHS)
    mask = torch.tensor([[t >= STEPS - n for t in range(STEPS)] for n in LENGTHS])
    hx = random_state(lstm, len(LENGTHS))
    mixer = Bidirectional(CausalConv(), batch_first=True)
    native = Bidirectional(*native_pair("gru", True, tied=False))
    arguments = (x, lengths, mask, *hx)
    copies = [a.clone() for a in arguments]
    run_packed(lstm, x, lengths, hx, padding_side="left")
    mixer(x, lengths=lengths, padding_side="left")
    native(x, lengths=lengths, padding_side="left")
    BiRNNEncoder(lstm, padding_side="left")(x, lengths, initial_state=hx)
    BiRNNEncoder(lstm, merge="sum", padding_side="left")(x, mask=mask)
    for argument, copy in zip(arguments, copies, strict=True):
        assert torch.equal(argument, copy)


def test_errors() -> None:
    gru = make_rnn("gru", bidirectional=True)
    wrapper = Bidirectional(*native_pair("gru", False, tied=False))
    x = left_input(False)
    flat, cu = padded_to_varlen(x, [5, 3, 1, 2])
    packed = pack_padded_sequence(x, [5, 3, 2, 1])
    left_mask = torch.tensor([[False, True, True, True, True]] * 4)
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: run_packed(gru, x, LENGTHS, padding_side="pre"),  # type: ignore[arg-type]
            "run_packed: `padding_side` must be 'left' or 'right', got 'pre'",
        ),
        (
            lambda: wrapper(x, lengths=LENGTHS, padding_side="pre"),
            "Bidirectional: `padding_side` must be 'left' or 'right', got 'pre'",
        ),
        (
            lambda: BiRNNEncoder(gru, padding_side="pre"),  # type: ignore[arg-type]
            "BiRNNEncoder: `padding_side` must be 'left' or 'right', got 'pre'",
        ),
        (
            lambda: wrapper(packed, padding_side="left"),
            "Bidirectional: `padding_side` must be 'right' for a PackedSequence, which holds "
            "no padding, got 'left'",
        ),
        (
            lambda: Bidirectional(CausalConv(batch_first=False))(
                flat, cu_seqlens=cu, padding_side="left"
            ),
            "Bidirectional: `padding_side` must be 'right' with `cu_seqlens`: a varlen input "
            "holds no padding, got 'left'",
        ),
        (
            lambda: BiRNNEncoder(gru, padding_side="left")(x, mask=left_mask.flip(1)),
            "BiRNNEncoder: `mask` must be left-padded (no False after a True), row 0 is not: "
            "[1, 1, 1, 1, 0]",
        ),
        (
            lambda: BiRNNEncoder(gru)(x, mask=left_mask),
            "BiRNNEncoder: `mask` must be right-padded (no True after a False), row 0 is not: "
            "[0, 1, 1, 1, 1]",
        ),
        (
            lambda: run_packed(gru, x, [6, 0, 1, 2], padding_side="left"),
            "run_packed: `lengths` must be in [0, 5], got max 6",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            call()
