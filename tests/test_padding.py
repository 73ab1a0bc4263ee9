"""move_padding against per-row loops, and left padding in lengths_to_mask / mask_to_lengths."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch._dynamo.testing import CompileCounterWithBackend

from birnn_utils import lengths_to_mask, mask_to_lengths, move_padding, value_checks

from .portable_cases import SHAPES, lengths_for
from .reference import LENGTH_KINDS, distinct_values, lengths_as, padded_batches, time_major

DTYPES = [torch.float32, torch.float64, torch.int64, torch.bool]


def left_to_right_reference(x: Tensor, lengths: list[int]) -> Tensor:
    """Time-major ``x`` with each row's last ``n`` steps moved to the front, the rest after."""
    out = torch.empty_like(x)
    steps = x.shape[0]
    for b, n in enumerate(lengths):
        out[:n, b] = x[steps - n :, b]
        out[n:, b] = x[: steps - n, b]
    return out


@settings(max_examples=60, deadline=None)
@given(case=padded_batches(DTYPES), kind=st.sampled_from(LENGTH_KINDS))
def test_move_padding_matches_per_row_reference_and_inverts(
    device: torch.device, case: tuple[Tensor, list[int], bool], kind: str
) -> None:
    x, lengths, batch_first = case
    x = x.to(device)
    before = x.clone()
    given_lengths = lengths_as(lengths, kind, device)

    right = move_padding(x, given_lengths, batch_first=batch_first)
    left = move_padding(right, given_lengths, to="left", batch_first=batch_first)

    assert torch.equal(x, before)
    assert (right.shape, right.dtype, right.device) == (x.shape, x.dtype, x.device)
    expected = left_to_right_reference(time_major(x, batch_first), lengths)
    assert torch.equal(time_major(right, batch_first), expected)
    assert torch.equal(left, x)
    to_left = move_padding(x, lengths, to="left", batch_first=batch_first)
    assert torch.equal(move_padding(to_left, lengths, batch_first=batch_first), x)
    assert right.data_ptr() != x.data_ptr() or x.numel() == 0


@settings(max_examples=40, deadline=None)
@given(case=padded_batches(DTYPES))
def test_masks_follow_the_moved_sequences(case: tuple[Tensor, list[int], bool]) -> None:
    x, lengths, _ = case
    steps = x.shape[0] if not case[2] else x.shape[1]
    left_mask = lengths_to_mask(lengths, steps, padding_side="left")
    right_mask = lengths_to_mask(lengths, steps)
    # The left mask moved to the right is the right mask: the valid steps move with the data.
    moved = move_padding(left_mask, lengths, batch_first=True)
    assert torch.equal(moved, right_mask)
    for b, n in enumerate(lengths):
        assert left_mask[b].tolist() == [False] * (steps - n) + [True] * n
    assert mask_to_lengths(left_mask, padding_side="left").tolist() == lengths
    assert torch.equal(
        lengths_to_mask(lengths, padding_side="left"),
        left_mask[:, steps - max(lengths, default=0) :],
    )


def test_zero_steps_and_zero_lengths() -> None:
    x = torch.zeros(0, 3, 2)
    out = move_padding(x, [0, 0, 0])
    assert out.shape == x.shape
    y = distinct_values([4, 2, 1], torch.float64)
    assert torch.equal(move_padding(y, [0, 4]), y)  # all padding, or no padding: nothing moves


@pytest.mark.parametrize("batch_first", [False, True])
def test_move_padding_gradcheck(batch_first: bool) -> None:
    shape = (3, 4, 2) if batch_first else (4, 3, 2)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 0, 4])
    for to in ("right", "left"):
        assert torch.autograd.gradcheck(
            lambda t, to=to: move_padding(t, lengths, to=to, batch_first=batch_first), (x,)
        )


def test_right_padded_code_runs_on_left_padded_input() -> None:
    """The wiring padding_side="left" uses: move right, run an RNN packed, move outputs back."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, bidirectional=True, dtype=torch.float64)
    lengths = [5, 2, 0, 3]
    x = torch.randn(5, 4, 3, dtype=torch.float64) * lengths_to_mask(
        lengths, 5, padding_side="left"
    ).t().unsqueeze(-1)
    right = move_padding(x, lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        right, [max(n, 1) for n in lengths], enforce_sorted=False
    )
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], total_length=5)
    out = move_padding(out, lengths, to="left")
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        alone, _ = gru(x[5 - n :, b : b + 1])  # each sequence on its own, unpadded
        torch.testing.assert_close(out[5 - n :, b : b + 1], alone)
        assert not out[: 5 - n, b].any()


BAD = {
    "not a tensor": ([[1.0]], [1], {}, TypeError, "move_padding: `x` must be a Tensor, got list"),
    "1-D": (
        torch.ones(3),
        [1],
        {},
        ValueError,
        "move_padding: `x` must have at least 2 dimensions (T x B x *), got shape (3,)",
    ),
    "bad side": (
        torch.ones(3, 2),
        [1, 1],
        {"to": "top"},
        ValueError,
        "move_padding: `to` must be 'left' or 'right', got 'top'",
    ),
    "count": (
        torch.ones(3, 2),
        [1],
        {},
        ValueError,
        "move_padding: `lengths` must have one entry per sequence (2), got 1",
    ),
    "too long": (
        torch.ones(3, 2),
        [1, 4],
        {},
        ValueError,
        "move_padding: `lengths` must be in [0, 3], got max 4",
    ),
    "negative": (
        torch.ones(3, 2),
        [1, -1],
        {},
        ValueError,
        "move_padding: `lengths` must be in [0, 3], got min -1",
    ),
    "floats": (
        torch.ones(3, 2),
        [1.0, 2.0],
        {},
        TypeError,
        "move_padding: `lengths` must hold ints, got float",
    ),
}


@pytest.mark.parametrize(
    ("x", "lengths", "kwargs", "error", "message"), BAD.values(), ids=BAD.keys()
)
def test_move_padding_rejects_bad_input(
    x: Any, lengths: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        move_padding(x, lengths, **kwargs)


def test_value_checks_off_skips_the_range_check_only() -> None:
    with value_checks(False):
        move_padding(torch.ones(3, 2), [0, 3])
        with pytest.raises(ValueError, match="one entry per sequence"):
            move_padding(torch.ones(3, 2), [0])


def test_padding_side_is_validated_and_left_masks_are_checked() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape("lengths_to_mask: `padding_side` must be 'left' or 'right', got 'up'"),
    ):
        lengths_to_mask([1], padding_side="up")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=re.escape("mask_to_lengths: `padding_side` must be 'left' or 'right', got None"),
    ):
        mask_to_lengths(torch.ones(1, 2, dtype=torch.bool), padding_side=None)  # type: ignore[arg-type]
    left = torch.tensor([[False, True, True]])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "mask_to_lengths: `mask` must be right-padded (no True after a False), "
            "row 0 is not: [0, 1, 1]"
        ),
    ):
        mask_to_lengths(left)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "mask_to_lengths: `mask` must be left-padded (no False after a True), "
            "row 0 is not: [1, 1, 0]"
        ),
    ):
        mask_to_lengths(left.flip(1), padding_side="left")
    before = left.clone()
    assert mask_to_lengths(left, padding_side="left").tolist() == [2]
    assert torch.equal(left, before)


def test_compiles_to_one_graph_for_every_shape(
    placement: tuple[torch.device, torch.device],
) -> None:
    """As tests/test_compile.py does for the other tensor functions: one graph, dynamic T, B."""
    data, lengths_device = placement

    def both_ways(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        right = move_padding(x, lengths, batch_first=True)
        return right, move_padding(right, lengths, to="left", batch_first=True)

    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(both_ways, fullgraph=True, dynamic=True, backend=counter)
    for steps, batch in SHAPES:
        x = torch.randn(batch, steps, 2, device=data)
        lengths = lengths_for(steps, batch, lengths_device)
        torch.testing.assert_close(compiled(x, lengths), both_ways(x, lengths))
    assert counter.frame_count == 1
