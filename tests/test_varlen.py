"""The varlen (cu_seqlens) conversions and in-segment reversal against per-row references."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch._dynamo.testing import CompileCounterWithBackend
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence

from birnn_utils import (
    cu_seqlens_to_lengths,
    cu_seqlens_to_seq_idx,
    lengths_to_cu_seqlens,
    packed_to_varlen,
    padded_to_varlen,
    reverse_sequences,
    value_checks,
    varlen_to_packed,
    varlen_to_padded,
)

from .portable_cases import SHAPES, lengths_for

DTYPE = torch.float64


def padded(lengths: list[int], steps: int, batch_first: bool, features: int = 2) -> Tensor:
    gen = torch.Generator().manual_seed(len(lengths) * 7 + steps)
    shape = (len(lengths), steps, features) if batch_first else (steps, len(lengths), features)
    return torch.randn(shape, generator=gen, dtype=DTYPE)


def rows(x: Tensor, lengths: list[int], batch_first: bool) -> list[Tensor]:
    """Each sequence's valid steps, ``n x F``, from a padded batch."""
    return [(x[b, :n] if batch_first else x[:n, b]) for b, n in enumerate(lengths)]


def offsets(lengths: list[int]) -> list[int]:
    out = [0]
    for n in lengths:
        out.append(out[-1] + n)
    return out


def segment_flip(tokens: Tensor, lengths: list[int]) -> Tensor:
    """Reference: each segment flipped on its own, by a loop."""
    parts, start = [], 0
    for n in lengths:
        parts.append(tokens[start : start + n].flip(0))
        start += n
    return torch.cat(parts) if parts else tokens.clone()


lengths_st = st.lists(st.integers(0, 5), min_size=0, max_size=6)


@settings(max_examples=50, deadline=None)
@given(lengths=lengths_st, extra=st.integers(0, 2), batch_first=st.booleans())
def test_padded_to_varlen_and_back(lengths: list[int], extra: int, batch_first: bool) -> None:
    steps = max(lengths, default=0) + extra
    x = padded(lengths, steps, batch_first)
    flat, cu = padded_to_varlen(x, lengths, batch_first=batch_first)
    expected = torch.cat(rows(x, lengths, batch_first)) if lengths else x.new_zeros(0, 2)
    assert cu.dtype == torch.int32
    assert cu.tolist() == offsets(lengths)
    torch.testing.assert_close(flat[0] if batch_first else flat, expected, rtol=0, atol=0)
    assert flat.shape == ((1, *expected.shape) if batch_first else expected.shape)
    back = varlen_to_padded(flat, cu, max_length=steps, batch_first=batch_first, padding_value=-1)
    reference = torch.full_like(x, -1)
    for b, row in enumerate(rows(x, lengths, batch_first)):
        (reference[b, : len(row)] if batch_first else reference[: len(row), b]).copy_(row)
    torch.testing.assert_close(back, reference, rtol=0, atol=0)
    if lengths:  # max_length=None: the longest sequence
        shortest = varlen_to_padded(flat, cu, batch_first=batch_first)
        assert shortest.shape[1 if batch_first else 0] == max(lengths)


@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=6), sort=st.booleans())
def test_packed_to_varlen_and_back(lengths: list[int], sort: bool) -> None:
    if sort:
        lengths = sorted(lengths, reverse=True)
    x = padded(lengths, max(lengths), batch_first=False)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=sort)
    flat, cu = packed_to_varlen(packed)
    torch.testing.assert_close(flat, torch.cat(rows(x, lengths, False)), rtol=0, atol=0)
    assert cu.dtype == torch.int32 and cu.tolist() == offsets(lengths)

    repacked = varlen_to_packed(flat, cu)
    expected = pack_padded_sequence(x, lengths, enforce_sorted=False)
    torch.testing.assert_close(repacked.data, expected.data, rtol=0, atol=0)
    assert torch.equal(repacked.batch_sizes, expected.batch_sizes)
    assert repacked.batch_sizes.device.type == "cpu"
    unpadded, unpadded_lengths = pad_packed_sequence(repacked)
    torch.testing.assert_close(unpadded, pad_packed_sequence(expected)[0], rtol=0, atol=0)
    assert unpadded_lengths.tolist() == lengths


@settings(max_examples=50, deadline=None)
@given(lengths=lengths_st)
def test_cu_seqlens_and_lengths(lengths: list[int]) -> None:
    cu = lengths_to_cu_seqlens(lengths)
    assert cu.dtype == torch.int32 and cu.tolist() == offsets(lengths)
    back = cu_seqlens_to_lengths(cu)
    assert back.dtype == torch.int64 and back.tolist() == lengths


@settings(max_examples=50, deadline=None)
@given(lengths=lengths_st, dtype=st.sampled_from([torch.int32, torch.int64]))
def test_seq_idx_numbers_each_token_by_its_sequence(lengths: list[int], dtype: torch.dtype) -> None:
    """Against a per-sequence reference: sequence ``b`` of length ``n`` gives ``n`` times ``b``."""
    cu = torch.tensor(offsets(lengths), dtype=dtype)
    seq_idx = cu_seqlens_to_seq_idx(cu)
    expected = [b for b, n in enumerate(lengths) for _ in range(n)]
    assert seq_idx.dtype == torch.int32 and seq_idx.shape == (1, sum(lengths))
    assert seq_idx[0].tolist() == expected


@settings(max_examples=50, deadline=None)
@given(lengths=lengths_st, batch_first=st.booleans(), features=st.integers(0, 2))
def test_reverse_within_segments(lengths: list[int], batch_first: bool, features: int) -> None:
    total = sum(lengths)
    tokens = torch.randn(total, 3, generator=torch.Generator().manual_seed(total))
    if features == 0:
        tokens = tokens[:, 0]
    cu = torch.tensor(offsets(lengths), dtype=torch.int32)
    given_tokens = tokens.unsqueeze(0) if batch_first else tokens
    out = reverse_sequences(given_tokens, cu_seqlens=cu, batch_first=batch_first)
    assert out.shape == given_tokens.shape
    torch.testing.assert_close(out.reshape(tokens.shape), segment_flip(tokens, lengths))
    twice = reverse_sequences(out, cu_seqlens=cu, batch_first=batch_first)
    assert torch.equal(twice, given_tokens)


def test_gradcheck() -> None:
    x = torch.randn(4, 3, 2, dtype=DTYPE, requires_grad=True)
    lengths = [2, 4, 0]
    cu = lengths_to_cu_seqlens(lengths)
    assert torch.autograd.gradcheck(lambda x: padded_to_varlen(x, lengths)[0], (x,))
    flat = torch.randn(6, 2, dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: varlen_to_padded(f, cu, max_length=4), (flat,))
    assert torch.autograd.gradcheck(lambda f: reverse_sequences(f, cu_seqlens=cu), (flat,))
    assert torch.autograd.gradcheck(
        lambda f: varlen_to_packed(f, lengths_to_cu_seqlens([2, 4])).data, (flat,)
    )
    packed = pack_sequence([flat[:2], flat[2:]], enforce_sorted=False)
    assert torch.autograd.gradcheck(
        lambda d: packed_to_varlen(packed._replace(data=d))[0],
        (packed.data.detach().requires_grad_(),),
    )


def test_does_not_mutate_arguments() -> None:
    x = torch.randn(4, 3, 2)
    lengths = torch.tensor([2, 4, 0])
    cu = lengths_to_cu_seqlens(lengths)
    flat, _ = padded_to_varlen(x, lengths)
    packed = pack_sequence([flat[:2], flat[2:]], enforce_sorted=False)
    originals = [x, lengths, cu, flat, packed.data, packed.batch_sizes]
    copies = [t.clone() for t in originals]
    padded_to_varlen(x, lengths)
    varlen_to_padded(flat, cu)
    reverse_sequences(flat, cu_seqlens=cu)
    cu_seqlens_to_lengths(cu)
    cu_seqlens_to_seq_idx(cu)
    lengths_to_cu_seqlens(lengths)
    packed_to_varlen(packed)
    varlen_to_packed(flat, lengths_to_cu_seqlens([2, 4]))
    assert all(torch.equal(a, b) for a, b in zip(originals, copies, strict=True))


def test_bad_cu_seqlens() -> None:
    flat = torch.randn(5, 2)
    cases: list[tuple[object, type[Exception], str]] = [
        (
            [0, 5],
            TypeError,
            r"`cu_seqlens` must be a 1-D integer Tensor of B \+ 1 offsets, got list",
        ),
        (torch.tensor([0.0, 5.0]), TypeError, r"`cu_seqlens` must be an integer Tensor, got dtype"),
        (torch.tensor([[0, 5]]), ValueError, r"`cu_seqlens` must be 1-D .* got shape \(1, 2\)"),
        (
            torch.tensor([], dtype=torch.int64),
            ValueError,
            r"`cu_seqlens` must be 1-D with B \+ 1 >= 1",
        ),
        (torch.tensor([1, 5]), ValueError, r"`cu_seqlens` must start at 0, got 1"),
        (
            torch.tensor([0, 3, 2, 5]),
            ValueError,
            r"`cu_seqlens` must be non-decreasing, got cu_seqlens\[1\] > cu_seqlens\[2\]",
        ),
        (
            torch.tensor([0, 3, 6]),
            ValueError,
            r"`cu_seqlens` must end at the number of tokens \(5\), got 6",
        ),
    ]
    for cu, error, message in cases:
        with pytest.raises(error, match=r"reverse_sequences: " + message):
            reverse_sequences(flat, cu_seqlens=cu)  # type: ignore[call-overload]
        with pytest.raises(error, match=r"varlen_to_padded: " + message):
            varlen_to_padded(flat, cu)  # type: ignore[arg-type]
    with value_checks(False):  # the value checks are off: only shape and dtype are checked
        reverse_sequences(flat, cu_seqlens=torch.tensor([0, 2, 5]))
    with pytest.raises(ValueError, match=r"reverse_sequences: `cu_seqlens` .* not with `lengths`"):
        reverse_sequences(flat, [5], cu_seqlens=torch.tensor([0, 5]))
    packed = pack_sequence([flat])
    with pytest.raises(ValueError, match=r"reverse_sequences: .* not with a PackedSequence"):
        reverse_sequences(packed, cu_seqlens=torch.tensor([0, 5]))  # type: ignore[call-overload]
    with pytest.raises(
        ValueError, match=r"a varlen `sequences` with batch_first=True must be \(1, total"
    ):
        reverse_sequences(flat, cu_seqlens=torch.tensor([0, 2]), batch_first=True)
    with pytest.raises(ValueError, match=r"varlen_to_packed: every sequence must have length >= 1"):
        varlen_to_packed(flat, torch.tensor([0, 5, 5]))
    with pytest.raises(ValueError, match=r"varlen_to_packed: .* got no sequence"):
        varlen_to_packed(flat[:0], torch.tensor([0]))
    with pytest.raises(
        ValueError, match=r"varlen_to_padded: `lengths` must be in \[0, 2\], got max 3"
    ):
        varlen_to_padded(flat, torch.tensor([0, 3, 5]), max_length=2)
    with pytest.raises(ValueError, match=r"cu_seqlens_to_lengths: `cu_seqlens` must start at 0"):
        cu_seqlens_to_lengths(torch.tensor([1, 2]))
    for cu, error, message in cases[:-1]:  # no total to end at
        with pytest.raises(error, match=r"cu_seqlens_to_seq_idx: " + message):
            cu_seqlens_to_seq_idx(cu)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lengths_to_cu_seqlens: `lengths` must be in \[0, inf\)"):
        lengths_to_cu_seqlens([2, -1])
    with pytest.raises(
        ValueError, match=r"padded_to_varlen: `lengths` must be in \[0, 4\], got max 5"
    ):
        padded_to_varlen(torch.randn(4, 2, 1), [5, 1])
    with pytest.raises(ValueError, match=r"padded_to_varlen: `x` must have at least 2 dimensions"):
        padded_to_varlen(torch.randn(4), [1])
    with pytest.raises(TypeError, match=r"packed_to_varlen: `packed` must be a PackedSequence"):
        packed_to_varlen(flat)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-first"])
def test_compiles_to_one_graph_for_every_shape(batch_first: bool) -> None:
    """Padded -> varlen, the cu_seqlens conversions (seq_idx too), in-segment reversal: one graph.

    ``varlen_to_padded`` is left out: in torch 2.13 it does not compile with ``fullgraph=True``
    for every layout (docs/portability.md says so).
    """

    def convert(x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        flat, cu = padded_to_varlen(x, lengths, batch_first=batch_first)
        reversed_flat = reverse_sequences(flat, cu_seqlens=cu, batch_first=batch_first)
        offsets = lengths_to_cu_seqlens(lengths)
        return flat, cu, reversed_flat, cu_seqlens_to_lengths(offsets), cu_seqlens_to_seq_idx(cu)

    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(convert, fullgraph=True, dynamic=True, backend=counter)
    for steps, batch in SHAPES:
        lengths = lengths_for(steps, batch, torch.device("cpu"))
        shape = (batch, steps, 2) if batch_first else (steps, batch, 2)
        x = torch.randn(shape, dtype=DTYPE)
        torch.testing.assert_close(compiled(x, lengths), convert(x, lengths))
    assert counter.frame_count == 1
