"""reverse_sequences against per-row flips, unpack -> flip -> repack, and the backward direction."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from birnn_utils import reverse_sequences

from .reference import (
    KINDS,
    LENGTH_KINDS,
    distinct_values,
    flip_rows,
    lengths_as,
    make_rnn,
    padded_batches,
    state_parts,
    time_major,
    unidirectional_copy,
)

DTYPES = [torch.float32, torch.float64, torch.int64, torch.bool, torch.complex64]


def repack_reference(packed: PackedSequence) -> PackedSequence:
    """Unpack, flip each row, and pack again in the same order."""
    padded, lengths = pad_packed_sequence(packed)
    flipped = flip_rows(padded, lengths.tolist(), batch_first=False)
    return pack_padded_sequence(flipped, lengths, enforce_sorted=packed.sorted_indices is None)


@settings(max_examples=50, deadline=None)
@given(case=padded_batches(DTYPES), kind=st.sampled_from(LENGTH_KINDS))
def test_padded_properties(
    device: torch.device, case: tuple[Tensor, list[int], bool], kind: str
) -> None:
    x, lengths, batch_first = case
    x = x.to(device)
    before = x.clone()
    given_lengths = lengths_as(lengths, kind, device)

    out = reverse_sequences(x, given_lengths, batch_first=batch_first)

    assert torch.equal(x, before)
    assert (out.shape, out.dtype, out.device) == (x.shape, x.dtype, x.device)
    assert torch.equal(out, flip_rows(x, lengths, batch_first))
    assert torch.equal(reverse_sequences(out, given_lengths, batch_first=batch_first), x)
    out_rows, x_rows = time_major(out, batch_first), time_major(x, batch_first)
    for b, n in enumerate(lengths):
        assert torch.equal(out_rows[n:, b], x_rows[n:, b])


@st.composite
def packed_cases(draw: st.DrawFn) -> tuple[PackedSequence, list[int]]:
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    enforce_sorted = draw(st.booleans())
    if enforce_sorted:
        lengths.sort(reverse=True)
    features = draw(st.lists(st.integers(1, 3), max_size=2))  # torch cannot pack empty data
    x = distinct_values([max(lengths), len(lengths), *features], draw(st.sampled_from(DTYPES)))
    return pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted), lengths


@settings(max_examples=50, deadline=None)
@given(case=packed_cases())
def test_packed_matches_unpack_flip_repack(
    device: torch.device, case: tuple[PackedSequence, list[int]]
) -> None:
    packed, lengths = case
    # torch types PackedSequence.to as the first overload of Tensor.to, which takes a dtype.
    packed = packed.to(device)  # type: ignore[arg-type]
    data_before = packed.data.clone()

    out = reverse_sequences(packed)

    assert torch.equal(packed.data, data_before)
    assert out.batch_sizes is packed.batch_sizes
    assert out.batch_sizes.device.type == "cpu"
    assert out.sorted_indices is packed.sorted_indices
    assert out.unsorted_indices is packed.unsorted_indices
    assert out.data.device == packed.data.device
    assert torch.equal(out.data, repack_reference(packed).data)
    padded, _ = pad_packed_sequence(packed)
    assert torch.equal(pad_packed_sequence(out)[0], flip_rows(padded, lengths, False))
    assert torch.equal(reverse_sequences(out).data, packed.data)


EDGES = {
    "T=1": ([1, 0, 1], 1),
    "B=1": ([3], 4),
    "all lengths 0": ([0, 0, 0], 4),
    "all lengths T": ([4, 4, 4], 4),
    "unsorted": ([2, 4, 0, 3, 1], 4),
}


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("lengths", "steps"), EDGES.values(), ids=EDGES.keys())
def test_padded_edges(
    device: torch.device, lengths: list[int], steps: int, batch_first: bool
) -> None:
    batch = len(lengths)
    shape = (batch, steps, 2) if batch_first else (steps, batch, 2)
    x = distinct_values(shape, torch.float32).to(device)
    out = reverse_sequences(x, torch.tensor(lengths), batch_first=batch_first)
    assert torch.equal(out, flip_rows(x, lengths, batch_first))
    time_dim = 1 if batch_first else 0
    if set(lengths) <= {0}:
        assert torch.equal(out, x)
    if set(lengths) == {steps}:
        assert torch.equal(out, x.flip(time_dim))


PACKED_EDGES = {  # packing needs positive lengths
    "T=1": [1, 1, 1],
    "B=1": [3],
    "all lengths T": [4, 4, 4],
    "unsorted": [2, 4, 3, 1],
}


@pytest.mark.parametrize("lengths", PACKED_EDGES.values(), ids=PACKED_EDGES.keys())
def test_packed_edges(device: torch.device, lengths: list[int]) -> None:
    x = distinct_values((max(lengths), len(lengths), 2), torch.float64).to(device)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    assert torch.equal(reverse_sequences(packed).data, repack_reference(packed).data)


@pytest.mark.parametrize("batch_first", [False, True])
def test_without_lengths_reverses_the_whole_time_dimension(batch_first: bool) -> None:
    x = distinct_values((3, 4, 2), torch.float32)
    time_dim = 1 if batch_first else 0
    out = reverse_sequences(x, batch_first=batch_first)
    assert torch.equal(out, x.flip(time_dim))
    full = [x.shape[time_dim]] * x.shape[1 - time_dim]
    assert torch.equal(out, reverse_sequences(x, full, batch_first=batch_first))


def test_lengths_arguments_are_not_modified() -> None:
    x = distinct_values((4, 3), torch.float32)
    as_list, as_numpy, as_tensor = [1, 4, 0], np.array([1, 4, 0]), torch.tensor([1, 4, 0])
    for lengths in (as_list, as_numpy, as_tensor):
        reverse_sequences(x, lengths)
    assert as_list == [1, 4, 0]
    assert as_numpy.tolist() == [1, 4, 0]
    assert as_tensor.tolist() == [1, 4, 0]


@pytest.mark.parametrize("batch_first", [False, True])
def test_padded_gradcheck(device: torch.device, batch_first: bool) -> None:
    shape = (3, 4, 2) if batch_first else (4, 3, 2)
    x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
    lengths = torch.tensor([3, 0, 4], device=device)
    assert torch.autograd.gradcheck(
        lambda t: reverse_sequences(t, lengths, batch_first=batch_first), (x,)
    )
    assert torch.autograd.gradcheck(lambda t: reverse_sequences(t, batch_first=batch_first), (x,))


def test_packed_gradcheck(device: torch.device) -> None:
    x = torch.randn(4, 3, 2, dtype=torch.float64, device=device)
    packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
    data = packed.data.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda d: reverse_sequences(packed._replace(data=d)).data, (data,)
    )


def test_reverse_sequences_accepts_numpy_integer_dtypes() -> None:
    x = distinct_values((4, 2), torch.int64)
    for dtype in (np.int8, np.uint8, np.int64):
        out = reverse_sequences(x, np.array([4, 2], dtype=dtype))
        assert torch.equal(out, flip_rows(x, [4, 2], False))


ERRORS = [
    ((torch.zeros(3, 2), [1, 4]), ValueError, "`lengths` must be in [0, 3], got max 4"),
    ((torch.zeros(3, 2), [1, -1]), ValueError, "`lengths` must be in [0, 3], got min -1"),
    (
        (torch.zeros(3, 2), [1, 2, 3]),
        ValueError,
        "`lengths` must have one entry per sequence (2), got 3",
    ),
    (
        (torch.zeros(3, 2), torch.tensor([[1, 2]])),
        ValueError,
        "`lengths` must be 1-D (one length per sequence), got shape (1, 2)",
    ),
    (
        (torch.zeros(3, 2), torch.tensor([1.0, 2.0])),
        TypeError,
        "`lengths` must be an integer tensor, got dtype torch.float32",
    ),
    ((torch.zeros(3, 2), [1.0, 2]), TypeError, "`lengths` must hold ints, got float, int"),
    (
        (torch.zeros(3, 2), np.array([1.5, 2.0])),
        TypeError,
        "`lengths` must be an integer array, got dtype float64",
    ),
    (
        (torch.zeros(3, 2), "12"),
        TypeError,
        "`lengths` must be a 1-D integer Tensor, a list or tuple of ints, or a numpy integer "
        "array, got str",
    ),
    (
        (torch.zeros(5), [5]),
        ValueError,
        "`sequences` must have at least 2 dimensions (T x B x *), got shape (5,)",
    ),
    (
        (torch.tensor(1.0), None),
        ValueError,
        "`sequences` must have at least 2 dimensions (T x B x *), got shape ()",
    ),
    (
        (pack_padded_sequence(torch.zeros(3, 2), [3, 1]), [3, 1]),
        ValueError,
        "`lengths` must be None for a PackedSequence, which carries its own lengths, got list",
    ),
    (
        ([[1, 2], [3, 4]], [1, 2]),
        TypeError,
        "`sequences` must be a Tensor or a PackedSequence, got list",
    ),
]


@pytest.mark.parametrize(("args", "error", "message"), ERRORS)
def test_bad_input_is_rejected_with_a_clear_message(
    args: tuple[Any, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(f"reverse_sequences: {message}")):
        reverse_sequences(*args)


def test_rank_error_names_the_batch_first_layout() -> None:
    with pytest.raises(ValueError, match=re.escape("(B x T x *), got shape (5,)")):
        reverse_sequences(torch.zeros(5), batch_first=True)


def test_lengths_on_the_batch_axis_are_checked_against_t_with_batch_first() -> None:
    x = torch.zeros(2, 3)  # B=2, T=3
    with pytest.raises(ValueError, match=re.escape("`lengths` must be in [0, 3], got max 4")):
        reverse_sequences(x, [4, 1], batch_first=True)
    with pytest.raises(ValueError, match=re.escape("one entry per sequence (2), got 3")):
        reverse_sequences(x, [1, 1, 1], batch_first=True)


@pytest.mark.parametrize("lengths", [[6, 4, 3, 1], [4, 6, 1, 3]], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_backward_direction_is_the_reverse_module_on_reversed_sequences(
    device: torch.device, kind: str, bias: bool, batch_first: bool, lengths: list[int]
) -> None:
    bidirectional = make_rnn(kind, bias=bias, batch_first=batch_first, bidirectional=True)
    bidirectional = bidirectional.to(device)
    reverse = unidirectional_copy(bidirectional, 0, "_reverse", batch_first=batch_first)
    steps, batch = max(lengths), len(lengths)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape, dtype=torch.float64, device=device)
    enforce_sorted = lengths == sorted(lengths, reverse=True)
    packed_x = pack_padded_sequence(x, lengths, batch_first, enforce_sorted)

    packed_output, bi_state = bidirectional(packed_x)
    output, _ = pad_packed_sequence(packed_output, batch_first)
    h_out = output.shape[-1] // 2
    backward = time_major(output[..., h_out:], batch_first)

    # Padded: run on the reversed batch, reverse the output back, compare every valid step; the
    # final state is the reversed-back output at t = 0.
    padded_output, _ = reverse(reverse_sequences(x, lengths, batch_first=batch_first))
    padded_back = time_major(
        reverse_sequences(padded_output, lengths, batch_first=batch_first), batch_first
    )
    for b, n in enumerate(lengths):
        torch.testing.assert_close(padded_back[:n, b], backward[:n, b])
    torch.testing.assert_close(padded_back[0], state_parts(bi_state)[0][1])

    # Packed: reverse the PackedSequence itself, in and out, and compare data and full states.
    reverse_output, reverse_state = reverse(reverse_sequences(packed_x))
    torch.testing.assert_close(
        reverse_sequences(reverse_output).data, packed_output.data[..., h_out:]
    )
    for bi, uni in zip(state_parts(bi_state), state_parts(reverse_state), strict=True):
        torch.testing.assert_close(uni[0], bi[1])


def test_compiles_without_graph_breaks() -> None:
    padded = torch.compile(reverse_sequences, fullgraph=True, backend="aot_eager")
    packed = torch.compile(lambda p: reverse_sequences(p).data, fullgraph=True, backend="aot_eager")
    x = distinct_values((3, 4, 2), torch.float32)
    expected = flip_rows(x, [4, 1, 0], batch_first=True)
    assert torch.equal(padded(x, torch.tensor([4, 1, 0]), batch_first=True), expected)
    packed_x = pack_padded_sequence(x, [4, 1, 3], batch_first=True, enforce_sorted=False)
    assert torch.equal(packed(packed_x), repack_reference(packed_x).data)
