"""Recurrent and StackedRecurrent against pack -> native module -> pad, and per-sequence runs."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import birnn_utils
from birnn_utils.nn import Recurrent, StackedRecurrent

from .reference import as_state, make_rnn, random_state, state_parts

DTYPE = torch.float64
CELL_KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]
LENGTHS = [5, 0, 3, 5, 1]  # unsorted, with an empty row and full rows


def packed_reference(rnn: nn.RNNBase, x: Tensor, lengths: list[int], hx: Any) -> Any:
    """Pack, run the native module, pad; rows of length 0 keep their ``hx`` and zero outputs."""
    batch_first = rnn.batch_first
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
    keep = [b for b, n in enumerate(lengths) if n > 0]
    index = torch.tensor(keep, dtype=torch.int64, device=x.device)
    batch_dim = 0 if batch_first else 1
    parts = state_parts(hx)
    packed = pack_padded_sequence(
        x.index_select(batch_dim, index),
        torch.tensor([lengths[b] for b in keep]),
        batch_first=batch_first,
        enforce_sorted=False,
    )
    out, state = rnn(packed, as_state([h.index_select(1, index) for h in parts]))
    out = pad_packed_sequence(out, batch_first=batch_first, total_length=steps)[0]
    width = out.shape[-1]
    full = x.new_zeros((batch, steps, width) if batch_first else (steps, batch, width))
    full = full.index_copy(batch_dim, index, out)
    finals = [h.index_copy(1, index, s) for h, s in zip(parts, state_parts(state), strict=True)]
    return full, as_state(finals)


def cell_of(rnn: nn.RNNBase, layer: int = 0, suffix: str = "") -> nn.Module:
    """A torch cell holding copies of one layer and direction of ``rnn``'s weights."""
    kind = {"RNN_TANH": nn.RNNCell, "RNN_RELU": nn.RNNCell, "GRU": nn.GRUCell}
    cls = kind.get(rnn.mode, nn.LSTMCell)
    kwargs: dict[str, Any] = {"bias": rnn.bias, "dtype": DTYPE}
    if cls is nn.RNNCell:
        kwargs["nonlinearity"] = rnn.nonlinearity
    width = rnn.input_size if layer == 0 else rnn.hidden_size * (1 + rnn.bidirectional)
    weight = rnn.get_parameter("weight_hh_l0")
    cell: nn.Module = cls(width, rnn.hidden_size, device=weight.device, **kwargs)
    with torch.no_grad():
        for name, param in cell.named_parameters():
            param.copy_(getattr(rnn, f"{name}_l{layer}{suffix}"))
    return cell


def grads(*tensors: Tensor) -> list[Tensor]:
    out = [t.grad for t in tensors]
    assert all(g is not None for g in out)
    return [g for g in out if g is not None]


def leaf(state: Any) -> Any:
    return as_state([h.detach().clone().requires_grad_() for h in state_parts(state)])


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_lengths", [True, False])
def test_recurrent_matches_packed_native(
    device: torch.device, kind: str, batch_first: bool, bias: bool, with_lengths: bool
) -> None:
    rnn = make_rnn(kind, batch_first=batch_first, bias=bias).to(device)
    cell = cell_of(rnn)
    runner = Recurrent(cell, batch_first=batch_first)
    steps, batch = 5, len(LENGTHS)
    lengths = LENGTHS if with_lengths else [steps] * batch
    gen = torch.Generator().manual_seed(1)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape, generator=gen, dtype=DTYPE).to(device).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    hx = leaf(random_state(rnn, batch))
    hx_ref = leaf(hx)
    out, h_n = runner(x, hx, lengths=lengths if with_lengths else None)
    ref_out, ref_h = packed_reference(rnn, x_ref, lengths, hx_ref)
    torch.testing.assert_close(out, ref_out)
    for mine, theirs in zip(state_parts(h_n), state_parts(ref_h), strict=True):
        torch.testing.assert_close(mine, theirs)
    weight = torch.randn(out.shape, generator=gen, dtype=DTYPE).to(device)
    loss = (out * weight).sum() + sum(h.sum() * (i + 2) for i, h in enumerate(state_parts(h_n)))
    ref_loss = (ref_out * weight).sum() + sum(
        h.sum() * (i + 2) for i, h in enumerate(state_parts(ref_h))
    )
    loss.backward()
    ref_loss.backward()
    torch.testing.assert_close(grads(x, *state_parts(hx)), grads(x_ref, *state_parts(hx_ref)))
    for name, param in cell.named_parameters():
        torch.testing.assert_close(param.grad, getattr(rnn, f"{name}_l0").grad)


def test_recurrent_hx_none_is_zeros_and_length_zero_keeps_hx() -> None:
    cell = nn.LSTMCell(3, 4, dtype=DTYPE)
    x = torch.randn(4, 2, 3, dtype=DTYPE)
    zeros = (torch.zeros(1, 2, 4, dtype=DTYPE), torch.zeros(1, 2, 4, dtype=DTYPE))
    out, (h, c) = Recurrent(cell)(x, lengths=[4, 0])
    ref_out, _ = Recurrent(cell)(x, zeros, lengths=[4, 0])
    torch.testing.assert_close(out, ref_out)
    assert torch.equal(h[0, 1], torch.zeros(4, dtype=DTYPE))
    assert torch.equal(out[:, 1], torch.zeros(4, 4, dtype=DTYPE))
    hx = (torch.randn(1, 2, 4, dtype=DTYPE), torch.randn(1, 2, 4, dtype=DTYPE))
    _, (h, c) = Recurrent(cell)(x, hx, lengths=[4, 0])
    assert torch.equal(h[0, 1], hx[0][0, 1])
    assert torch.equal(c[0, 1], hx[1][0, 1])


class PeepholeCell(nn.Module):
    """A custom tuple-state cell: a torch cell inside, plus a peephole."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.inner = nn.LSTMCell(input_size, hidden_size, dtype=DTYPE)
        self.peep = nn.Parameter(torch.randn(hidden_size, dtype=DTYPE))
        self.state_size = (hidden_size, hidden_size)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = self.inner(x, state)
        return h + self.peep * c, c


def run_alone(cell: nn.Module, x: Tensor, lengths: list[int], state: Any) -> Any:
    """Each sequence alone, step by step, in a plain loop; zeros at padding."""
    steps, batch = x.shape[:2]
    parts = state_parts(state)
    outputs = x.new_zeros(steps, batch, parts[0].shape[-1])
    finals = [p.clone() for p in parts]
    for b, n in enumerate(lengths):
        s = as_state([p[b : b + 1] for p in parts])
        for t in range(n):
            s = cell(x[t, b : b + 1], s)
            outputs[t, b] = state_parts(s)[0][0]
        for final, p in zip(finals, state_parts(s), strict=True):
            final[b] = p[0]
    return outputs, as_state(finals)


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, list[int], bool]:
    steps = draw(st.integers(0, 6))
    lengths = draw(st.lists(st.integers(0, steps), min_size=1, max_size=5))
    return steps, lengths, draw(st.booleans())


@settings(max_examples=25, deadline=None)
@given(case=batches(), side=st.sampled_from(["right", "left"]), custom=st.booleans())
def test_recurrent_equals_each_sequence_alone(
    case: tuple[int, list[int], bool], side: str, custom: bool
) -> None:
    steps, lengths, batch_first = case
    torch.manual_seed(0)
    cell: nn.Module = PeepholeCell(3, 4) if custom else nn.GRUCell(3, 4, dtype=DTYPE)
    batch = len(lengths)
    x = torch.randn(steps, batch, 3, dtype=DTYPE)
    parts = [torch.randn(batch, 4, dtype=DTYPE) for _ in range(2 if custom else 1)]
    ref_out, ref_state = run_alone(cell, x, lengths, as_state(parts))
    given_x = x
    if side == "left":  # sequence b at steps T - n .. T - 1
        given_x = torch.zeros_like(x)
        for b, n in enumerate(lengths):
            given_x[steps - n :, b] = x[:n, b]
    hx = as_state([p.unsqueeze(0) for p in parts])
    layout_x = given_x.transpose(0, 1) if batch_first else given_x
    runner = Recurrent(cell, batch_first=batch_first)
    out, h_n = runner(layout_x, hx, lengths=lengths, padding_side=side)
    out = out.transpose(0, 1) if batch_first else out
    if side == "left":
        moved = torch.zeros_like(out)
        for b, n in enumerate(lengths):
            moved[:n, b] = out[steps - n :, b]
            assert torch.equal(out[: steps - n, b], torch.zeros_like(out[: steps - n, b]))
        out = moved
    torch.testing.assert_close(out, ref_out)
    for mine, theirs in zip(state_parts(h_n), state_parts(ref_state), strict=True):
        torch.testing.assert_close(mine[0], theirs)


def test_gradcheck() -> None:
    torch.manual_seed(0)
    cell = nn.LSTMCell(2, 3, dtype=DTYPE)
    x = torch.randn(4, 3, 2, dtype=DTYPE, requires_grad=True)
    h = torch.randn(1, 3, 3, dtype=DTYPE, requires_grad=True)
    c = torch.randn(1, 3, 3, dtype=DTYPE, requires_grad=True)
    runner = Recurrent(cell)

    def run(x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        out, (h_n, c_n) = runner(x, (h, c), lengths=[2, 4, 0])
        return out, h_n, c_n

    assert torch.autograd.gradcheck(run, (x, h, c))
    stack = StackedRecurrent(lambda n: nn.GRUCell(n, 2, dtype=DTYPE), 2, 2, bidirectional=True)

    def run_stack(x: Tensor) -> tuple[Tensor, Tensor]:
        out, h_n = stack(x, lengths=[2, 4, 1])
        return out, h_n

    assert torch.autograd.gradcheck(run_stack, (x,))


def test_unbatched_equals_batch_of_one() -> None:
    torch.manual_seed(0)
    for cell in (nn.LSTMCell(3, 4, dtype=DTYPE), nn.GRUCell(3, 4, dtype=DTYPE)):
        runner = Recurrent(cell, batch_first=True)
        x = torch.randn(5, 3, dtype=DTYPE)
        out, h_n = runner(x)
        ref_out, ref_h = runner(x.unsqueeze(0))
        torch.testing.assert_close(out, ref_out[0])
        for mine, theirs in zip(state_parts(h_n), state_parts(ref_h), strict=True):
            assert mine.shape == (1, 4)
            torch.testing.assert_close(mine, theirs[:, 0])
        again, _ = runner(x, h_n)
        assert again.shape == (5, 4)


class InitCell(nn.Module):
    """A cell that declares its initial state with a method."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2, dtype=DTYPE)

    def initial_state(self, batch: int, like: Tensor) -> Tensor:
        return like.new_ones(batch, 2)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return torch.tanh(self.linear(torch.cat([x, h], 1)))


class BareCell(nn.Module):
    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return x + h


def test_initial_state_protocol() -> None:
    cell = InitCell()
    x = torch.randn(3, 2, 3, dtype=DTYPE)
    out, h_n = Recurrent(cell)(x, lengths=[0, 2])
    assert torch.equal(h_n[0, 0], torch.ones(2, dtype=DTYPE))
    ones = torch.ones(1, 2, 2, dtype=DTYPE)
    torch.testing.assert_close(out, Recurrent(cell)(x, ones, lengths=[0, 2])[0])
    with pytest.raises(TypeError, match=r"Recurrent: cannot make the initial state of BareCell"):
        Recurrent(BareCell())(x)
    out, h_n = Recurrent(BareCell())(x, torch.zeros(1, 2, 3, dtype=DTYPE))
    torch.testing.assert_close(h_n[0], x.sum(0))


def test_bad_input() -> None:
    runner = Recurrent(nn.GRUCell(3, 4))
    x = torch.randn(4, 2, 3)
    with pytest.raises(TypeError, match=r"Recurrent: `cell` must be an nn.Module"):
        Recurrent(lambda x, h: h)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Recurrent: `input` must be a padded Tensor, got a Pack"):
        runner(pack_padded_sequence(x, [4, 2]))
    with pytest.raises(ValueError, match=r"Recurrent: `input` must be 3-D .* got shape \(4,\)"):
        runner(torch.randn(4))
    with pytest.raises(ValueError, match=r"Recurrent: `lengths` must be in \[0, 4\], got max 5"):
        runner(x, lengths=[5, 1])
    with pytest.raises(ValueError, match=r"Recurrent: `lengths` must have one entry per seq"):
        runner(x, lengths=[1])
    with pytest.raises(ValueError, match=r"Recurrent: `hx` must be \(1, B=2, S\)"):
        runner(x, torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"the state of GRUCell\(hidden_size=4\) must be 1"):
        runner(x, torch.zeros(1, 2, 5))
    with pytest.raises(ValueError, match=r"Recurrent: `padding_side` must be 'left' or 'right'"):
        runner(x, padding_side="top")
    with pytest.raises(TypeError, match=r"Recurrent: `batch_first` must be a bool"):
        Recurrent(nn.GRUCell(3, 4), batch_first=1)  # type: ignore[arg-type]


def test_arguments_are_not_mutated() -> None:
    x = torch.randn(4, 2, 3, dtype=DTYPE)
    hx = (torch.randn(1, 2, 4, dtype=DTYPE), torch.randn(1, 2, 4, dtype=DTYPE))
    lengths = torch.tensor([1, 4])
    copies = [t.clone() for t in (x, *hx, lengths)]
    Recurrent(nn.LSTMCell(3, 4, dtype=DTYPE))(x, hx, lengths=lengths, padding_side="left")
    for before, after in zip(copies, (x, *hx, lengths), strict=True):
        assert torch.equal(before, after)


def test_lengths_on_other_devices_and_forms() -> None:
    cell = nn.GRUCell(3, 4, dtype=DTYPE)
    x = torch.randn(4, 3, 3, dtype=DTYPE)
    ref = Recurrent(cell)(x, lengths=[1, 4, 2])[0]
    for form in ((1, 4, 2), np.array([1, 4, 2]), torch.tensor([1, 4, 2], dtype=torch.int32)):
        torch.testing.assert_close(Recurrent(cell)(x, lengths=form)[0], ref)


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_stacked_from_module_matches_native(
    kind: str, num_layers: int, bidirectional: bool, batch_first: bool
) -> None:
    rnn = make_rnn(
        kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    stack = StackedRecurrent.from_module(rnn)
    batch, steps = len(LENGTHS), 5
    gen = torch.Generator().manual_seed(1)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape, generator=gen, dtype=DTYPE, requires_grad=True)
    hx = leaf(random_state(rnn, batch))
    for lengths in (LENGTHS, None):
        out, h_n = stack(x, hx, lengths=lengths)
        ref_out, ref_h = packed_reference(rnn, x, lengths or [steps] * batch, hx)
        torch.testing.assert_close(out, ref_out)
        mine, theirs = state_parts(h_n), state_parts(ref_h)
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b)
        weight = torch.randn(out.shape, generator=gen, dtype=DTYPE)
        tensors = [x, *state_parts(hx), *rnn.parameters()]
        got = torch.autograd.grad((out * weight).sum() + sum(h.sum() for h in mine), tensors)
        want = torch.autograd.grad((ref_out * weight).sum() + sum(h.sum() for h in theirs), tensors)
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_from_birnn_utils_module_shares_parameters(kind: str) -> None:
    native = make_rnn(kind, num_layers=2, bidirectional=True)
    ours: nn.Module = (
        birnn_utils.nn.GRU.from_module(cast(nn.GRU, native))
        if kind == "gru"
        else birnn_utils.nn.LSTM.from_module(cast(nn.LSTM, native))
    )
    stack = StackedRecurrent.from_module(ours)
    assert {id(p) for p in stack.parameters()} == {id(p) for p in native.parameters()}
    assert stack.cells[3].weight_ih is native.weight_ih_l1_reverse
    x = torch.randn(5, 2, 3, dtype=DTYPE)
    out, h_n = stack(x, lengths=[5, 2])
    ref_out, ref_h = ours(x, lengths=[5, 2])
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(state_parts(h_n), state_parts(ref_h))


def test_from_module_bad_input() -> None:
    with pytest.raises(TypeError, match=r"from_module: `rnn` must be a torch.nn or birnn_utils"):
        StackedRecurrent.from_module(nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"from_module: an LSTM with proj_size \(=2\)"):
        StackedRecurrent.from_module(nn.LSTM(3, 4, proj_size=2))


def test_every_layer_output_and_dropout() -> None:
    torch.manual_seed(0)
    stack = StackedRecurrent(
        lambda n: nn.LSTMCell(n, 4, dtype=DTYPE), 3, 3, bidirectional=True, dropout=0.5
    )
    x = torch.randn(5, 2, 3, dtype=DTYPE)
    stack.eval()
    out, (h_n, c_n), layers = stack(x, lengths=[5, 2], return_all_layers=True)
    assert len(layers) == 3
    assert h_n.shape == c_n.shape == (6, 2, 4)
    assert torch.equal(layers[-1], out)
    first = StackedRecurrent(lambda n: nn.LSTMCell(n, 4, dtype=DTYPE), 3, bidirectional=True)
    first.cells = nn.ModuleList(stack.cells[:2])
    torch.testing.assert_close(first(x, lengths=[5, 2])[0], layers[0])
    assert torch.equal(layers[1][2:, 1], torch.zeros(3, 8, dtype=DTYPE))
    stack.train()
    trained = stack(x, lengths=[5, 2])[0]
    assert not torch.allclose(trained, out)
    stack.dropout = 0.0
    torch.testing.assert_close(stack(x, lengths=[5, 2])[0], out)


def test_stack_needs_an_output_size() -> None:
    with pytest.raises(TypeError, match=r"StackedRecurrent: `make_cell` returned BareCell"):
        StackedRecurrent(lambda n: BareCell(), 3, 2)
    with pytest.raises(ValueError, match=r"StackedRecurrent: `num_layers` must be an int >= 1"):
        StackedRecurrent(lambda n: nn.GRUCell(n, 2), 3, 0)
    with pytest.raises(ValueError, match=r"StackedRecurrent: `dropout` must be in \[0, 1\]"):
        StackedRecurrent(lambda n: nn.GRUCell(n, 2), 3, 2, dropout=2.0)


def test_hooked_torch_cell_runs_its_forward() -> None:
    cell = nn.GRUCell(3, 4, dtype=DTYPE)
    x = torch.randn(4, 2, 3, dtype=DTYPE)
    plain = Recurrent(cell)(x, lengths=[4, 2])[0]
    calls = []
    cell.register_forward_hook(lambda *args: calls.append(1))
    torch.testing.assert_close(Recurrent(cell)(x, lengths=[4, 2])[0], plain)
    assert len(calls) == 4


def torch_cell(kind: str, size: int, dtype: torch.dtype, bias: bool = True) -> nn.Module:
    options: dict[str, Any] = {"bias": bias, "dtype": dtype}
    if kind.startswith("rnn"):
        return nn.RNNCell(size, 4, nonlinearity=kind[4:], **options)
    return (nn.GRUCell if kind == "gru" else nn.LSTMCell)(size, 4, **options)


def stack_of(kind: str, dtype: torch.dtype, bias: bool = True) -> StackedRecurrent:
    torch.manual_seed(0)
    return StackedRecurrent(
        lambda n: torch_cell(kind, n, dtype, bias), 3, 2, bidirectional=True, batch_first=True
    )


def run_and_grads(stack: StackedRecurrent, lengths: list[int] | None) -> list[Tensor]:
    """The output, the final states and every gradient of one seeded forward and backward."""
    gen = torch.Generator().manual_seed(1)
    dtype = next(stack.parameters()).dtype
    x = torch.randn(len(LENGTHS), 5, 3, generator=gen, dtype=dtype).requires_grad_()
    out, h_n = stack(x, lengths=lengths)
    parts = state_parts(h_n)
    loss = (out * torch.randn(out.shape, generator=gen, dtype=dtype)).sum()
    loss = loss + sum(h.sum() * (i + 2) for i, h in enumerate(parts))
    stack.zero_grad()
    loss.backward()
    return [out, *parts, *grads(x), *grads(*stack.parameters())]


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lengths", [LENGTHS, None])
def test_torch_cells_run_their_kernel_with_the_module_results(
    monkeypatch: pytest.MonkeyPatch, kind: str, dtype: torch.dtype, lengths: list[int] | None
) -> None:
    # A torch cell without hooks runs its kernel, never its forward, and gives bit for bit what
    # calling the cell gives (a no-op hook makes the runner call it).
    stack = stack_of(kind, dtype, bias=kind != "rnn_relu")
    hooked = stack_of(kind, dtype, bias=kind != "rnn_relu")
    for cell in hooked.cells:
        cell.register_forward_pre_hook(lambda *args: None)
    expected = run_and_grads(hooked, lengths)

    def refuse(*args: Any) -> None:
        raise AssertionError("the cell's forward ran")

    monkeypatch.setattr(type(stack.cells[0]), "forward", refuse)
    got = run_and_grads(stack, lengths)
    assert len(got) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


class Scaled(nn.Module):
    """A parametrization that counts its evaluations."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, weight: Tensor) -> Tensor:
        self.calls += 1
        return weight * 0.5


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_parametrized_torch_cell_is_evaluated_once_per_call(kind: str) -> None:
    stacks = [stack_of(kind, torch.float64) for _ in range(2)]
    scalings = []
    for stack in stacks:
        for cell in stack.cells:
            scaled = Scaled()
            torch.nn.utils.parametrize.register_parametrization(cell, "weight_hh", scaled)
            scalings.append(scaled)
    for cell in stacks[1].cells:  # the module path: the parametrization runs at every step
        cell.register_forward_hook(lambda *args: None)
    for scaled in scalings:
        scaled.calls = 0  # registering evaluated it
    got, expected = (run_and_grads(stack, LENGTHS) for stack in stacks)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    # Once per call through the kernel, as nn.LSTM does; once per step through the module.
    assert [scaled.calls for scaled in scalings] == [1] * 4 + [max(LENGTHS)] * 4


@pytest.mark.parametrize(
    "register",
    [
        lambda cell, hook: cell.register_forward_hook(hook),
        lambda cell, hook: cell.register_forward_pre_hook(hook),
        lambda cell, hook: cell.register_full_backward_hook(hook),
        lambda cell, hook: torch.nn.modules.module.register_module_forward_hook(hook),
        lambda cell, hook: torch.nn.modules.module.register_module_forward_pre_hook(hook),
    ],
    ids=["forward", "forward_pre", "backward", "global_forward", "global_forward_pre"],
)
def test_hooked_torch_cell_is_called_at_each_step(register: Any) -> None:
    cell = nn.LSTMCell(3, 4, dtype=DTYPE)
    runner = Recurrent(cell)
    x = torch.randn(4, 2, 3, dtype=DTYPE, requires_grad=True)
    plain = runner(x, lengths=[4, 2])[0]
    calls = []
    handle = register(cell, lambda module, *args: calls.append(module))
    try:
        hooked = runner(x, lengths=[4, 2])[0]
        hooked.sum().backward()
    finally:
        handle.remove()
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)
    assert calls.count(cell) == 4  # once per step (a global hook sees the runner too)
