"""Length-aware reversal of padded and packed sequences.

The backward direction of a bidirectional RNN reads each sequence from its last **valid** step
back to ``t = 0``. Reproducing it with a unidirectional module, or feeding a model reversed
inputs, needs each sequence reversed within its own length, with the padding left where it is:
``Tensor.flip`` reverses the padding into the front instead. :func:`reverse_sequences` is
TensorFlow's ``tf.reverse_sequence`` for padded Tensors and PackedSequences.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from ._checks import check_tensor, check_time_and_batch
from ._lengths import (
    LengthsLike,
    check_cu_seqlens,
    check_lengths,
    lengths_tensor,
    packed_steps,
    reject_lengths_for_packed,
)
from ._varlen import token_positions, varlen_tokens

__all__ = ["reverse_sequences"]


def _reverse_sequences(sequences: Tensor, lengths: Tensor | None, batch_first: bool) -> Tensor:
    check_time_and_batch(sequences, batch_first, "reverse_sequences", "sequences")
    time_dim = 1 if batch_first else 0
    if lengths is None:
        return sequences.flip(time_dim)
    steps, batch = sequences.shape[time_dim], sequences.shape[1 - time_dim]
    lens = check_lengths(lengths, batch, steps, sequences.device, "reverse_sequences")
    return _reverse_padded(sequences, lens, batch_first)


def _reverse_padded(sequences: Tensor, lens: Tensor, batch_first: bool) -> Tensor:
    """The unchecked core: ``lens`` int64 ``(B,)`` on the data's device, already checked."""
    steps = sequences.shape[1 if batch_first else 0]
    time = torch.arange(steps, device=sequences.device).unsqueeze(1)
    # The step each output step reads, T x B: valid steps mirror, padding maps to itself.
    return gather_steps(sequences, torch.where(time < lens, lens - 1 - time, time), batch_first)


def gather_steps(x: Tensor, source: Tensor, batch_first: bool) -> Tensor:
    """Step ``source[t, b]`` of row ``b`` at each step ``t``: ``source`` is ``T x B`` int64.

    The per-row step gather of :func:`reverse_sequences` and :func:`~birnn_utils.move_padding`.
    One index_select over the flattened (time, batch) rows copies whole feature rows at once.
    """
    time_dim = 1 if batch_first else 0
    steps, batch = x.shape[time_dim], x.shape[1 - time_dim]
    rows = torch.arange(batch, device=x.device)
    flat = (source + rows * steps).t() if batch_first else source * batch + rows
    return x.flatten(0, 1).index_select(0, flat.reshape(-1)).view(x.shape)


def _reverse_varlen(tokens: Tensor, cu_seqlens: Tensor) -> Tensor:
    """The unchecked core for ``(total, *)`` tokens and checked int64 ``cu_seqlens``."""
    sequence, step = token_positions(cu_seqlens, tokens.shape[0])
    # Token `step` of a sequence reads its mirror: start + length - 1 - step.
    source = cu_seqlens.index_select(0, sequence + 1) - 1 - step
    return tokens.index_select(0, source)


def _reverse_packed(packed: PackedSequence) -> PackedSequence:
    batch_sizes = packed.batch_sizes
    last_step, starts = packed_steps(batch_sizes)
    time = np.repeat(np.arange(batch_sizes.shape[0]), batch_sizes.numpy())
    rows = np.arange(time.shape[0]) - starts[time]
    source = torch.from_numpy(starts[last_step[rows] - time] + rows)
    # Non-blocking: a copy from pageable CPU memory does not wait for the GPU (see check_lengths).
    source = source.to(packed.data.device, non_blocking=True)
    # index_select, not tensor[index]: advanced indexing costs several times more on the CPU.
    return packed._replace(data=packed.data.index_select(0, source))


@overload
def reverse_sequences(
    sequences: Tensor,
    lengths: LengthsLike | None = None,
    *,
    batch_first: bool = False,
    cu_seqlens: Tensor | None = None,
) -> Tensor: ...
@overload
def reverse_sequences(
    sequences: PackedSequence,
    lengths: None = None,
    *,
    batch_first: bool = False,
    cu_seqlens: None = None,
) -> PackedSequence: ...
def reverse_sequences(
    sequences: Tensor | PackedSequence,
    lengths: LengthsLike | None = None,
    *,
    batch_first: bool = False,
    cu_seqlens: Tensor | None = None,
) -> Tensor | PackedSequence:
    """Reverse each sequence of a batch in time, within its own length.

    For a padded Tensor with ``lengths``, sequence ``b``'s first ``lengths[b]`` steps are
    reversed and its padding steps stay exactly where and what they were (the semantics of
    TensorFlow's ``tf.reverse_sequence``); a length of 0 leaves the sequence unchanged. This is
    how the backward direction of a bidirectional RNN reads its input, so running a
    unidirectional RNN on ``reverse_sequences(x, lengths)`` and reversing its output back gives
    that direction at every valid step. The function is its own inverse and differentiable, and
    runs as one gather without a Python loop over the batch or time.

    With ``cu_seqlens``, ``sequences`` is a varlen batch (see :func:`padded_to_varlen`): the
    sequences concatenated along one token axis, ``(total, *)`` (``(1, total, *)`` with
    ``batch_first``), and each segment ``cu_seqlens[b]:cu_seqlens[b + 1]`` is reversed in its
    place.

    Args:
        sequences: a padded Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), at least
            2-D, of any dtype and device; or a ``PackedSequence``.
        lengths: ``B`` lengths, each in ``[0, T]``: a 1-D integer Tensor (on any device), a list
            or tuple of ints, or a numpy integer array. ``None`` reverses the whole time
            dimension (every length is ``T``). Must be ``None`` for a PackedSequence, which
            carries its own lengths.
        batch_first: whether a Tensor ``sequences`` is ``B x T x *`` (a varlen one
            ``(1, total, *)``). Ignored for a PackedSequence.
        cu_seqlens: for a varlen ``sequences``, the ``B + 1`` offsets of its sequences: a 1-D
            integer Tensor starting at 0, non-decreasing, ending at ``total``. Not together
            with ``lengths``.

    Returns:
        A new Tensor of the same shape, dtype and device (the input is never modified); or, for
        a PackedSequence, a PackedSequence with each sequence reversed and the same
        ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices`` (its data gathered
        directly, never unpacked).

    Raises:
        TypeError: if ``sequences`` is neither a Tensor nor a PackedSequence, or ``lengths`` are
            not integers.
        ValueError: if a Tensor ``sequences`` has fewer than 2 dimensions, ``lengths`` is not
            1-D, has not one entry per sequence or (when value checks run) a length outside
            ``[0, T]``, or ``lengths`` is given with a PackedSequence; for bad ``cu_seqlens``
            (not 1-D, not integer, or, when value checks run, not starting at 0, decreasing,
            not ending at ``total``), or ``cu_seqlens`` given with ``lengths`` or a
            PackedSequence.

    Example:
        >>> import torch
        >>> from birnn_utils import reverse_sequences
        >>> x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])  # B x T, zero-padded
        >>> reverse_sequences(x, [3, 2], batch_first=True)
        tensor([[3, 2, 1, 0],
                [5, 4, 0, 0]])
        >>> from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        >>> packed = pack_padded_sequence(x, [3, 2], batch_first=True)
        >>> pad_packed_sequence(reverse_sequences(packed), batch_first=True)[0]
        tensor([[3, 2, 1],
                [5, 4, 0]])
        >>> flat = torch.tensor([1, 2, 3, 4, 5])  # varlen: sequences of 3 and 2
        >>> reverse_sequences(flat, cu_seqlens=torch.tensor([0, 3, 5]))
        tensor([3, 2, 1, 5, 4])
    """
    if cu_seqlens is not None:
        where = "reverse_sequences"
        if isinstance(sequences, PackedSequence) or lengths is not None:
            got = "a PackedSequence" if lengths is None else "`lengths`"
            raise ValueError(
                f"{where}: `cu_seqlens` describes a varlen Tensor: pass it alone, not with {got}"
            )
        tokens = varlen_tokens(sequences, batch_first, where, "sequences")
        cu = check_cu_seqlens(cu_seqlens, tokens.shape[0], tokens.device, where)
        return _reverse_varlen(tokens, cu).view(sequences.shape)
    if isinstance(sequences, PackedSequence):
        reject_lengths_for_packed(lengths, "reverse_sequences")
        return _reverse_packed(sequences)
    sequences = check_tensor(sequences, "reverse_sequences", "sequences", or_packed=True)
    lens = None if lengths is None else lengths_tensor(lengths, "reverse_sequences")
    return _reverse_sequences(sequences, lens, batch_first)
