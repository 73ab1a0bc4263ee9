"""The varlen layout: sequences concatenated along one token axis, delimited by ``cu_seqlens``.

Varlen kernels (flash-attention, Mamba, fla) take a batch as one row of ``total`` tokens and
``B + 1`` offsets ``cu_seqlens``: sequence ``b`` is tokens ``cu_seqlens[b]:cu_seqlens[b + 1]``.
A varlen Tensor is ``(total, *)``, or ``(1, total, *)`` with ``batch_first`` (Mamba's layout).
Each conversion here is one gather (or one scatter into the padded Tensor), with no Python loop
over the batch and never through an intermediate padded Tensor.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from ._checks import check_tensor, check_time_and_batch, format_shape
from ._lengths import LengthsLike, check_cu_seqlens, check_lengths, lengths_tensor, packed_steps

__all__ = [
    "cu_seqlens_to_lengths",
    "cu_seqlens_to_seq_idx",
    "lengths_to_cu_seqlens",
    "packed_to_varlen",
    "padded_to_varlen",
    "seq_idx_of",
    "token_positions",
    "varlen_to_packed",
    "varlen_to_padded",
    "varlen_tokens",
]


def varlen_tokens(x: object, batch_first: bool, where: str, name: str = "input") -> Tensor:
    """``x`` as a ``(total, *)`` view: checks the varlen layout (``(1, total, *)`` batch-first).

    Raises:
        TypeError: if ``x`` is not a Tensor.
        ValueError: if it is a scalar, or batch-first without a leading dimension of 1.
    """
    x = check_tensor(x, where, name)
    if batch_first:
        if x.dim() < 2 or x.shape[0] != 1:
            raise ValueError(
                f"{where}: a varlen `{name}` with batch_first=True must be (1, total, *), "
                f"got shape {format_shape(x)}"
            )
        return x[0]
    if x.dim() < 1:
        raise ValueError(f"{where}: a varlen `{name}` must be (total, *), got a scalar")
    return x


def token_positions(cu_seqlens: Tensor, total: int) -> tuple[Tensor, Tensor]:
    """``(sequence, step)`` of each of the ``total`` tokens, int64 on ``cu_seqlens``' device.

    Args:
        cu_seqlens: int64 offsets ``(B + 1,)``, already checked.
        total: the number of tokens, ``cu_seqlens[-1]`` (passed in, so nothing is read).
    """
    tokens = torch.arange(total, device=cu_seqlens.device)
    # right=True skips empty sequences: a token is in the last sequence that starts at or before it.
    sequence = torch.searchsorted(cu_seqlens[1:], tokens, right=True)
    return sequence, tokens - cu_seqlens.index_select(0, sequence)


def _offsets(lengths: Tensor) -> Tensor:
    return torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])


def lengths_to_cu_seqlens(lengths: LengthsLike) -> Tensor:
    """The ``cu_seqlens`` offsets of sequences of the given lengths, as varlen kernels take them.

    Args:
        lengths: ``B`` lengths ``>= 0``: a 1-D integer Tensor (any device), a list or tuple of
            ints, or a numpy integer array.

    Returns:
        int32 Tensor ``(B + 1,)`` on the lengths' device: ``0``, then the running sums.

    Raises:
        TypeError: if ``lengths`` are not integers.
        ValueError: if ``lengths`` are not 1-D or (when value checks run) a length is negative.

    Example:
        >>> from birnn_utils import lengths_to_cu_seqlens
        >>> lengths_to_cu_seqlens([3, 0, 2])
        tensor([0, 3, 3, 5], dtype=torch.int32)
    """
    where = "lengths_to_cu_seqlens"
    lens = check_lengths(lengths_tensor(lengths, where), None, None, None, where)
    return _offsets(lens).to(torch.int32)


def cu_seqlens_to_lengths(cu_seqlens: Tensor) -> Tensor:
    """The lengths of the sequences that ``cu_seqlens`` delimits.

    The inverse of :func:`lengths_to_cu_seqlens`.

    Args:
        cu_seqlens: 1-D integer Tensor ``(B + 1,)`` of offsets: 0, then non-decreasing.

    Returns:
        int64 Tensor ``(B,)`` on the offsets' device.

    Raises:
        TypeError: if ``cu_seqlens`` is not an integer Tensor.
        ValueError: if it is not 1-D, is empty, or (when value checks run) does not start at 0
            or decreases.

    Example:
        >>> import torch
        >>> from birnn_utils import cu_seqlens_to_lengths
        >>> cu_seqlens_to_lengths(torch.tensor([0, 3, 3, 5], dtype=torch.int32))
        tensor([3, 0, 2])
    """
    cu = check_cu_seqlens(cu_seqlens, None, None, "cu_seqlens_to_lengths")
    return cu[1:] - cu[:-1]


def seq_idx_of(cu_seqlens: Tensor, total: int) -> Tensor:
    """:func:`cu_seqlens_to_seq_idx` without its checks: int64 offsets, ``total`` known."""
    return token_positions(cu_seqlens, total)[0].to(torch.int32).unsqueeze(0)


def cu_seqlens_to_seq_idx(cu_seqlens: Tensor) -> Tensor:
    """Each token's sequence index, the ``seq_idx`` that Mamba2 blocks take.

    Varlen kernels that scan or convolve (``mamba_ssm``'s ``Mamba2``, ``causal_conv1d``) find
    the sequence boundaries of a packed ``(1, total, D)`` batch in ``seq_idx``: token ``t``
    belongs to sequence ``seq_idx[0, t]``. Empty sequences own no token, so their index never
    appears. :class:`~birnn_utils.Bidirectional` builds it itself for modules that take it.

    The result's size, the last offset, is read on the host: a sync when the offsets are on a
    GPU, as for the value checks.

    Args:
        cu_seqlens: 1-D integer Tensor ``(B + 1,)`` of offsets: 0, then non-decreasing.

    Returns:
        int32 Tensor ``(1, total)`` on the offsets' device, ``total = cu_seqlens[-1]``.

    Raises:
        TypeError: if ``cu_seqlens`` is not an integer Tensor.
        ValueError: if it is not 1-D, is empty, or (when value checks run) does not start at 0
            or decreases.

    Example:
        >>> import torch
        >>> from birnn_utils import cu_seqlens_to_seq_idx
        >>> cu_seqlens_to_seq_idx(torch.tensor([0, 3, 3, 5], dtype=torch.int32))
        tensor([[0, 0, 0, 2, 2]], dtype=torch.int32)
    """
    cu = check_cu_seqlens(cu_seqlens, None, None, "cu_seqlens_to_seq_idx")
    return seq_idx_of(cu, int(cu[-1]))  # the result's size: read where the offsets are


def padded_to_varlen(
    x: Tensor, lengths: LengthsLike, *, batch_first: bool = False
) -> tuple[Tensor, Tensor]:
    """Gather the valid steps of a right-padded batch into the varlen layout.

    Args:
        x: Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), right-padded.
        lengths: ``B`` valid lengths in ``[0, T]`` (1-D integer Tensor on any device, list/tuple
            of ints, or numpy array), any order. The number of tokens is their sum, read on the
            host: lengths on the CPU cost no GPU sync.
        batch_first: the layout of ``x`` and of the result.

    Returns:
        ``(flat, cu_seqlens)``: ``flat`` ``(total, *)`` (``(1, total, *)`` with
        ``batch_first``), sequence after sequence in the batch's order, and int32
        ``cu_seqlens`` ``(B + 1,)`` on ``x``'s device.

    Raises:
        TypeError: if ``x`` is not a Tensor or ``lengths`` are not integers.
        ValueError: if ``x`` has fewer than 2 dimensions, or ``lengths`` have the wrong count or
            a value out of range.

    Example:
        >>> import torch
        >>> from birnn_utils import padded_to_varlen
        >>> x = torch.tensor([[1, 2, 3], [4, 0, 0]])  # B x T, right-padded
        >>> padded_to_varlen(x, [3, 1], batch_first=True)
        (tensor([[1, 2, 3, 4]]), tensor([0, 3, 4], dtype=torch.int32))
    """
    where = "padded_to_varlen"
    x = check_tensor(x, where, "x")
    check_time_and_batch(x, batch_first, where, "x")
    time_dim = 1 if batch_first else 0
    steps, batch = x.shape[time_dim], x.shape[1 - time_dim]
    lens = check_lengths(lengths_tensor(lengths, where), batch, steps, None, where)
    total = int(lens.sum())  # the result's size: read where the lengths are
    cu = _offsets(lens.to(x.device, non_blocking=lens.is_cpu))
    sequence, step = token_positions(cu, total)
    index = sequence * steps + step if batch_first else step * batch + sequence
    flat = x.flatten(0, 1).index_select(0, index)
    return (flat.unsqueeze(0) if batch_first else flat), cu.to(torch.int32)


def varlen_to_padded(
    flat: Tensor,
    cu_seqlens: Tensor,
    *,
    max_length: int | None = None,
    batch_first: bool = False,
    padding_value: float = 0.0,
) -> Tensor:
    """Scatter a varlen batch into a right-padded Tensor, the inverse of :func:`padded_to_varlen`.

    Args:
        flat: Tensor ``(total, *)`` (``(1, total, *)`` with ``batch_first``).
        cu_seqlens: 1-D integer Tensor ``(B + 1,)`` of offsets into the token axis.
        max_length: ``T``, the padded length; ``None`` uses the longest sequence, which reads
            the offsets (a host sync on a GPU).
        batch_first: the layout of ``flat`` and of the result.
        padding_value: the value at padding steps.

    Returns:
        Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``).

    Raises:
        TypeError: if ``flat`` or ``cu_seqlens`` is not a Tensor of the right kind.
        ValueError: for a wrong layout, bad offsets (see :func:`reverse_sequences`), or (when
            value checks run) a sequence longer than ``max_length``.

    Example:
        >>> import torch
        >>> from birnn_utils import varlen_to_padded
        >>> cu = torch.tensor([0, 3, 4])
        >>> varlen_to_padded(torch.tensor([[1, 2, 3, 4]]), cu, batch_first=True)
        tensor([[1, 2, 3],
                [4, 0, 0]])
    """
    where = "varlen_to_padded"
    tokens = varlen_tokens(flat, batch_first, where, "flat")
    total = tokens.shape[0]
    cu = check_cu_seqlens(cu_seqlens, total, tokens.device, where)
    lens = cu[1:] - cu[:-1]
    batch = lens.shape[0]
    if max_length is None:
        steps = int(lens.max()) if batch else 0
    else:
        steps = max_length
        check_lengths(lens, None, steps, None, where)
    sequence, step = token_positions(cu, total)
    index = sequence * steps + step if batch_first else step * batch + sequence
    padded = tokens.new_full((batch * steps, *tokens.shape[1:]), padding_value)
    padded = padded.index_copy(0, index, tokens)
    return (
        padded.view(batch, steps, *tokens.shape[1:])
        if batch_first
        else padded.view(steps, batch, *tokens.shape[1:])
    )


def packed_to_varlen(packed: PackedSequence) -> tuple[Tensor, Tensor]:
    """The tokens of a PackedSequence in the varlen layout, in the original batch order.

    One gather of ``packed.data``, computed from ``batch_sizes`` and the indices without reading
    anything from the device.

    Args:
        packed: a PackedSequence (sorted or not).

    Returns:
        ``(flat, cu_seqlens)``: ``flat`` ``(total, *)``, sequence after sequence in the order
        the batch had before packing, and int32 ``cu_seqlens`` ``(B + 1,)`` on the data's device.

    Raises:
        TypeError: if ``packed`` is not a PackedSequence.

    Example:
        >>> import torch
        >>> from torch.nn.utils.rnn import pack_sequence
        >>> from birnn_utils import packed_to_varlen
        >>> sequences = [torch.tensor([1]), torch.tensor([2, 3])]
        >>> packed = pack_sequence(sequences, enforce_sorted=False)
        >>> packed_to_varlen(packed)
        (tensor([1, 2, 3]), tensor([0, 1, 3], dtype=torch.int32))
    """
    if not isinstance(packed, PackedSequence):
        raise TypeError(
            f"packed_to_varlen: `packed` must be a PackedSequence, got {type(packed).__name__}"
        )
    data = packed.data
    last_step, starts = packed_steps(packed.batch_sizes)
    device = data.device
    lens = torch.from_numpy(last_step + 1).to(device, non_blocking=True)
    first_rows = torch.from_numpy(starts).to(device, non_blocking=True)
    unsorted = packed.unsorted_indices
    if unsorted is not None:
        lens = lens.index_select(0, unsorted)
    cu = _offsets(lens)
    sequence, step = token_positions(cu, data.shape[0])
    rank = sequence if unsorted is None else unsorted.index_select(0, sequence)
    return data.index_select(0, first_rows.index_select(0, step) + rank), cu.to(torch.int32)


def varlen_to_packed(flat: Tensor, cu_seqlens: Tensor) -> PackedSequence:
    """Pack a varlen batch, the inverse of :func:`packed_to_varlen`: one gather of ``flat``.

    The offsets are read on the host (``batch_sizes`` lives on the CPU): one transfer.

    Args:
        flat: Tensor ``(total, *)``.
        cu_seqlens: 1-D integer Tensor ``(B + 1,)`` of offsets, every sequence non-empty.

    Returns:
        A PackedSequence of the ``B`` sequences, which ``pad_packed_sequence`` returns in the
        varlen batch's order.

    Raises:
        TypeError: if ``flat`` or ``cu_seqlens`` is not a Tensor of the right kind.
        ValueError: for bad offsets, no sequence, or a sequence of length 0 (which a
            PackedSequence cannot hold).

    Example:
        >>> import torch
        >>> from torch.nn.utils.rnn import pad_packed_sequence
        >>> from birnn_utils import varlen_to_packed
        >>> packed = varlen_to_packed(torch.tensor([1, 2, 3]), torch.tensor([0, 1, 3]))
        >>> pad_packed_sequence(packed, batch_first=True)[0]
        tensor([[1, 0],
                [2, 3]])
    """
    where = "varlen_to_packed"
    tokens = varlen_tokens(flat, False, where, "flat")
    total = tokens.shape[0]
    if isinstance(cu_seqlens, Tensor):
        cu_seqlens = cu_seqlens.to("cpu")  # batch_sizes are built on the host: the one transfer
    cu = check_cu_seqlens(cu_seqlens, total, None, where).numpy()
    lens = np.diff(cu)
    if lens.shape[0] == 0 or lens.min() < 1:
        got = "no sequence" if lens.shape[0] == 0 else f"length 0 at index {int(lens.argmin())}"
        raise ValueError(
            f"{where}: every sequence must have length >= 1 (a PackedSequence cannot hold an "
            f"empty one), got {got}"
        )
    order = np.argsort(-lens, kind="stable")
    ascending = lens[order][::-1]
    batch_sizes = lens.shape[0] - np.searchsorted(ascending, np.arange(lens.max()), side="right")
    time = np.repeat(np.arange(batch_sizes.shape[0]), batch_sizes)
    rank = np.arange(total) - (np.cumsum(batch_sizes) - batch_sizes)[time]
    source = torch.from_numpy(cu[order[rank]] + time).to(tokens.device, non_blocking=True)
    sorted_indices = torch.from_numpy(order).to(tokens.device, non_blocking=True)
    return PackedSequence(
        tokens.index_select(0, source),
        torch.from_numpy(batch_sizes.astype(np.int64)),
        sorted_indices,
        None,
    )
