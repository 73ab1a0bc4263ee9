"""Bidirectional passes `lengths` to modules that take it, and refuses states after padding."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch
from torch import Tensor, nn

from birnn_utils import Bidirectional, Directions
from birnn_utils.nn import Recurrent, StackedRecurrent

from .reference import as_state, make_rnn, random_state, state_parts
from .test_recurrent import CELL_KINDS, cell_of, leaf, packed_reference

DTYPE = torch.float64
LENGTHS = [5, 0, 3, 5, 1]


def split(state: Any) -> Directions[Any]:
    """A native bidirectional state's two rows, each ``(1, B, H)``."""
    parts = state_parts(state)
    return Directions(as_state([p[0:1] for p in parts]), as_state([p[1:2] for p in parts]))


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_two_recurrents_equal_a_native_bidirectional_module(
    kind: str, batch_first: bool, side: str
) -> None:
    rnn = make_rnn(kind, bidirectional=True, batch_first=batch_first)
    bi = Bidirectional(
        Recurrent(cell_of(rnn), batch_first=batch_first),
        Recurrent(cell_of(rnn, 0, "_reverse"), batch_first=batch_first),
    )
    steps, batch = 5, len(LENGTHS)
    gen = torch.Generator().manual_seed(2)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape, generator=gen, dtype=DTYPE, requires_grad=True)
    hx = leaf(random_state(rnn, batch))
    ref_out, ref_h = packed_reference(rnn, x, LENGTHS, hx)
    given = x
    if side == "left":  # the same sequences, left-padded
        time = 1 if batch_first else 0
        given = torch.stack(
            [x.select(1 - time, b).roll(steps - n, 0) for b, n in enumerate(LENGTHS)],
            1 - time,
        )
    out, states = bi(given, split(hx), lengths=LENGTHS, padding_side=side)
    if side == "left":
        out = torch.stack(
            [
                out.select(1 - (1 if batch_first else 0), b).roll(n - steps, 0)
                for b, n in enumerate(LENGTHS)
            ],
            0 if batch_first else 1,
        )
    torch.testing.assert_close(out, ref_out)
    for mine_f, mine_b, theirs in zip(
        state_parts(states.forward), state_parts(states.backward), state_parts(ref_h), strict=True
    ):
        torch.testing.assert_close(torch.cat([mine_f, mine_b]), theirs)
    weight = torch.randn(out.shape, generator=gen, dtype=DTYPE)
    tensors = [x, *state_parts(hx)]
    finals = [*state_parts(states.forward), *state_parts(states.backward)]
    got = torch.autograd.grad((out * weight).sum() + sum(h.sum() for h in finals), tensors)
    want = torch.autograd.grad(
        (ref_out * weight).sum() + sum(h.sum() for h in state_parts(ref_h)), tensors
    )
    torch.testing.assert_close(got, want)


def test_tied_recurrent_runs_both_directions_in_one_call() -> None:
    rnn = make_rnn("gru", bidirectional=True)
    cell = cell_of(rnn)
    with torch.no_grad():  # one set of weights for both directions, as a tied module has
        for name, param in cell.named_parameters():
            getattr(rnn, f"{name}_l0_reverse").copy_(param)
    calls: list[Tensor] = []
    runner = Recurrent(cell)
    runner.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs["lengths"]), with_kwargs=True
    )
    x = torch.randn(5, len(LENGTHS), 3, dtype=DTYPE)
    out, states = Bidirectional(runner, runner)(x, lengths=LENGTHS)
    assert len(calls) == 1
    assert calls[0].tolist() == LENGTHS * 2
    ref_out, ref_h = packed_reference(rnn, x, LENGTHS, torch.zeros(2, len(LENGTHS), 4, dtype=DTYPE))
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(torch.cat([states.forward, states.backward]), ref_h)


def test_stacked_recurrent_and_user_modules_get_lengths() -> None:
    rnn = make_rnn("lstm", num_layers=2)
    forward, backward = StackedRecurrent.from_module(rnn), StackedRecurrent.from_module(rnn)
    x = torch.randn(5, 5, 3, dtype=DTYPE)
    out, states = Bidirectional(forward, backward)(x, lengths=LENGTHS)
    expected, (h, c) = forward(x, lengths=LENGTHS)
    torch.testing.assert_close(out[..., :4], expected)
    torch.testing.assert_close(states.forward[0], h)
    torch.testing.assert_close(expected, packed_reference(rnn, x, LENGTHS, (h * 0, c * 0))[0])

    seen: list[tuple[str, list[int]]] = []

    class Tagged(nn.Module):
        def __init__(self, tag: str) -> None:
            super().__init__()
            self.tag = tag
            self.inner = Recurrent(nn.GRUCell(3, 4, dtype=DTYPE))

        def forward(self, x: Tensor, hx: Any = None, *, lengths: Any = None) -> Any:
            seen.append((self.tag, lengths.tolist()))
            return self.inner(x, hx, lengths=lengths)

    Bidirectional(Tagged("f"), Tagged("b"), batch_first=False)(x, lengths=LENGTHS)
    assert seen == [("f", LENGTHS), ("b", LENGTHS)]


class NoLengths(nn.Module):
    """The nn.RNN convention without `lengths`: it runs over the padding."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.GRUCell(3, 4, dtype=DTYPE)

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        state = x.new_zeros(x.shape[1], 4) if h is None else h[0]
        outputs = []
        for step in x:
            state = self.cell(step, state)
            outputs.append(state)
        return torch.stack(outputs), state.unsqueeze(0)


def test_states_after_padding_are_refused_unless_asked_for() -> None:
    x = torch.randn(5, 3, 3, dtype=DTYPE)
    bi = Bidirectional(NoLengths(), batch_first=False)
    with pytest.raises(
        ValueError,
        match=r"Bidirectional: NoLengths takes no `lengths` keyword, so with lengths below T "
        r"\(=5\) .* birnn_utils.nn.Recurrent, .* states_after_padding=True",
    ):
        bi(x, lengths=[5, 2, 0])
    # Sequences that fill T have no padding: nothing to refuse.
    full, _ = bi(x, lengths=[5, 5, 5])
    torch.testing.assert_close(full, bi(x)[0])
    bi.states_after_padding = True
    out, states = bi(x, lengths=[5, 2, 0])
    # As asked: the forward state after step T - 1, padding included.
    assert torch.equal(states.forward, bi.forward_module(x)[1])
    assert torch.equal(out[2:, 1], torch.zeros(3, 8, dtype=DTYPE))
    # The fix the message names: the cell in a Recurrent.
    cells = [cast(NoLengths, m).cell for m in (bi.forward_module, bi.backward_module)]
    exact = Bidirectional(Recurrent(cells[0]), Recurrent(cells[1]))
    out_exact, states_exact = exact(x, lengths=[5, 2, 0])
    torch.testing.assert_close(out_exact, out)  # outputs at valid steps were exact already
    torch.testing.assert_close(states_exact.forward[0, 1], out[1, 1, :4])
    assert torch.equal(states_exact.forward[0, 2], torch.zeros(4, dtype=DTYPE))
    with pytest.raises(TypeError, match=r"Bidirectional: `states_after_padding` must be a bool"):
        Bidirectional(NoLengths(), batch_first=False, states_after_padding=1)  # type: ignore[arg-type]


def test_mixers_are_unaffected() -> None:
    class Identity(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x

    x = torch.randn(4, 2, 3, dtype=DTYPE)
    out = Bidirectional(Identity(), batch_first=False)(x, lengths=[4, 1])
    assert out.shape == (4, 2, 6)
    assert torch.equal(out[1:, 1], torch.zeros(3, 6, dtype=DTYPE))
