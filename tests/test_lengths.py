"""lengths_to_mask and mask_to_lengths against per-row references, round trips and bad input."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from birnn_utils import lengths_to_mask, mask_to_lengths, scriptable, value_checks


def mask_reference(lengths: list[int], steps: int) -> Tensor:
    mask = torch.zeros(len(lengths), steps, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    return mask


@st.composite
def lengths_and_steps(draw: st.DrawFn) -> tuple[list[int], int]:
    steps = draw(st.integers(0, 7))
    return draw(st.lists(st.integers(0, steps), max_size=6)), steps


@settings(max_examples=50, deadline=None)
@given(case=lengths_and_steps(), give_steps=st.booleans())
def test_lengths_to_mask_matches_reference_and_round_trips(
    device: torch.device, case: tuple[list[int], int], give_steps: bool
) -> None:
    lengths, steps = case
    tensor = torch.tensor(lengths, dtype=torch.int64, device=device)
    max_length = steps if give_steps else None
    width = steps if give_steps else max(lengths, default=0)

    mask = lengths_to_mask(tensor, max_length)

    assert tensor.tolist() == lengths
    assert (mask.dtype, mask.device) == (torch.bool, tensor.device)
    assert torch.equal(mask.cpu(), mask_reference(lengths, width))
    back = mask_to_lengths(mask)
    assert (back.dtype, back.device) == (torch.int64, tensor.device)
    assert back.tolist() == lengths


@settings(max_examples=50, deadline=None)
@given(case=lengths_and_steps())
def test_mask_to_lengths_round_trips_from_a_mask(
    device: torch.device, case: tuple[list[int], int]
) -> None:
    lengths, steps = case
    mask = mask_reference(lengths, steps).to(device)
    before = mask.clone()
    assert mask_to_lengths(mask).tolist() == lengths
    assert torch.equal(mask, before)
    assert torch.equal(lengths_to_mask(mask_to_lengths(mask), steps), mask)


@pytest.mark.parametrize(
    "lengths",
    [
        [2, 0, 3],
        (2, 0, 3),
        np.array([2, 0, 3], dtype=np.int32),
        np.array([2, 0, 3], dtype=np.uint8),
        torch.tensor([2, 0, 3], dtype=torch.int32),
        [np.int64(2), 0, np.int16(3)],
    ],
    ids=["list", "tuple", "numpy-int32", "numpy-uint8", "tensor-int32", "numpy-scalars"],
)
def test_lengths_to_mask_accepts_every_lengths_kind_without_modifying_it(lengths: Any) -> None:
    before = [int(n) for n in lengths]
    assert torch.equal(lengths_to_mask(lengths), mask_reference([2, 0, 3], 3))
    assert torch.equal(lengths_to_mask(lengths, np.int64(5)), mask_reference([2, 0, 3], 5))
    assert [int(n) for n in lengths] == before


@pytest.mark.parametrize(
    ("lengths", "max_length", "shape"),
    [([], None, (0, 0)), ([], 3, (0, 3)), ([0, 0], None, (2, 0)), ([0, 2], 0, None)],
    ids=["empty", "empty-with-T", "all-zero", "T=0-too-short"],
)
def test_lengths_to_mask_edges(lengths: list[int], max_length: int | None, shape: Any) -> None:
    if shape is None:
        with pytest.raises(ValueError, match=re.escape("must be in [0, 0], got max 2")):
            lengths_to_mask(lengths, max_length)
        return
    mask = lengths_to_mask(lengths, max_length)
    assert (mask.shape, mask.dtype) == (shape, torch.bool)


def test_mask_to_lengths_edges() -> None:
    assert mask_to_lengths(torch.zeros(3, 0, dtype=torch.bool)).tolist() == [0, 0, 0]
    assert mask_to_lengths(torch.zeros(0, 4, dtype=torch.bool)).tolist() == []
    assert mask_to_lengths(torch.ones(2, 1, dtype=torch.bool)).tolist() == [1, 1]


MAX_LENGTH_ERRORS = [
    (([1, 2], 1.5), TypeError, "`max_length` must be an int or None, got float"),
    (([1, 2], 2.0), TypeError, "`max_length` must be an int or None, got float"),
    (([1, 2], True), TypeError, "`max_length` must be an int or None, got bool"),
    (([1, 2], -1), ValueError, "`max_length` must be >= 0, got -1"),
]
LENGTHS_TO_MASK_ERRORS = [
    *MAX_LENGTH_ERRORS,
    (([1, 5], 4), ValueError, "`lengths` must be in [0, 4], got max 5"),
    (([1, -2], None), ValueError, "`lengths` must be in [0, inf), got min -2"),
    ((torch.tensor([1.0]), None), TypeError, "`lengths` must be an integer tensor, got dtype"),
    ((torch.tensor([True]), None), TypeError, "`lengths` must be an integer tensor, got dtype"),
    ((np.array([True]), None), TypeError, "`lengths` must be an integer array, got dtype bool"),
    (([1, True], None), TypeError, "`lengths` must hold ints, got bool, int"),
    ((torch.tensor(3), None), ValueError, "`lengths` must be 1-D (one length per sequence)"),
    ((3, None), TypeError, "`lengths` must be a 1-D integer Tensor, a list or tuple of ints"),
    # #13 defect 15: unsigned values past int64 used to wrap around to "got min -1".
    (
        (np.array([2**64 - 1, 1], dtype=np.uint64), 3),
        ValueError,
        "`lengths` must fit in int64, got max 18446744073709551615",
    ),
    (
        ([np.uint64(2**64 - 1)], 3),
        ValueError,
        "`lengths` must fit in int64, got 18446744073709551615",
    ),
    (([1, 2**63], 3), ValueError, "`lengths` must fit in int64, got 9223372036854775808"),
]


@pytest.mark.parametrize(("args", "error", "message"), LENGTHS_TO_MASK_ERRORS)
def test_lengths_to_mask_rejects_bad_input(
    args: tuple[Any, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(f"lengths_to_mask: {message}")):
        lengths_to_mask(*args)


@pytest.mark.parametrize(("args", "error", "message"), MAX_LENGTH_ERRORS)
def test_scriptable_lengths_to_mask_checks_max_length_from_python(
    args: tuple[Any, Any], error: type[Exception], message: str
) -> None:
    # #13 defect 16: a float width gave torch.arange(2.5), a mask 3 wide, from the Tensor-only form.
    lengths, max_length = args
    with pytest.raises(error, match=re.escape(f"lengths_to_mask: {message}")):
        scriptable.lengths_to_mask(torch.tensor(lengths), max_length)


def test_both_forms_take_a_numpy_integer_max_length() -> None:
    for function in (lengths_to_mask, scriptable.lengths_to_mask):
        mask = function(torch.tensor([1, 0]), np.int64(2))
        assert mask.tolist() == [[True, False], [False, False]]


def test_meta_lengths_skip_the_value_checks() -> None:
    # #13 defect 14: reading a meta tensor's values crashed the checks.
    lengths = torch.tensor([3, 9], device="meta")
    mask = lengths_to_mask(lengths, 4)
    assert mask.is_meta and mask.shape == (2, 4) and mask.dtype == torch.bool
    assert mask_to_lengths(torch.ones(2, 4, dtype=torch.bool, device="meta")).is_meta
    with pytest.raises(ValueError, match=r"lengths_to_mask: `max_length` is needed .* meta device"):
        lengths_to_mask(lengths)


MASK_TO_LENGTHS_ERRORS = [
    ([[1, 0]], TypeError, "`mask` must be a bool Tensor, got list"),
    (torch.tensor([[1, 0]]), TypeError, "`mask` must be a bool Tensor, got torch.int64"),
    (torch.tensor([True]), ValueError, "`mask` must be 2-D (B x T), got shape (1,)"),
    (
        torch.tensor([[True, False, False], [True, False, True]]),
        ValueError,
        "`mask` must be right-padded (no True after a False), row 1 is not: [1, 0, 1]",
    ),
    (
        torch.tensor([[False, True]]),
        ValueError,
        "`mask` must be right-padded (no True after a False), row 0 is not: [0, 1]",
    ),
]


@pytest.mark.parametrize(("mask", "error", "message"), MASK_TO_LENGTHS_ERRORS)
def test_mask_to_lengths_rejects_bad_input(mask: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(f"mask_to_lengths: {message}")):
        mask_to_lengths(mask)


def test_value_checks_off_skips_only_the_checks_that_read_values() -> None:
    holey = torch.tensor([[False, True]])
    with value_checks(False):
        assert mask_to_lengths(holey).tolist() == [1]
        with pytest.raises(TypeError, match="`mask` must be a bool Tensor"):
            mask_to_lengths(holey.int())


def test_scriptable_lengths_to_mask_blames_a_negative_max_length() -> None:
    with pytest.raises(ValueError, match="lengths_to_mask: `max_length` must be >= 0, got -1"):
        scriptable.lengths_to_mask(torch.tensor([2, 1]), -1)
