"""Sequence lengths: conversion, validation, and masks."""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
import torch
from torch import Tensor

from ._checks import format_shape, jit_tracing, value_checks_enabled

__all__ = [
    "LengthsLike",
    "PaddingSide",
    "as_lengths",
    "check_cu_seqlens",
    "check_lengths",
    "check_padding_side",
    "check_right_padded",
    "lengths_tensor",
    "lengths_to_mask",
    "mask_to_lengths",
    "packed_steps",
    "reject_lengths_for_packed",
]

LengthsLike = Union[
    Tensor, list[int], tuple[int, ...], "np.ndarray[tuple[int], np.dtype[np.integer]]"
]
"""What a ``lengths`` argument may be: a 1-D integer Tensor (any device), a list or tuple of
ints, or a 1-D numpy integer array."""

PaddingSide = Literal["left", "right"]
"""Where a padded batch holds its padding: after each sequence (``"right"``, PyTorch's layout)
or before it (``"left"``, the default of Keras's ``pad_sequences``)."""


def check_padding_side(side: str, where: str, name: str = "padding_side") -> str:
    """Raise unless ``side`` is ``"left"`` or ``"right"``; return it (scriptable)."""
    if side not in ["left", "right"]:  # a list, not a tuple: TorchScript compiles this
        shown = "'" + side + "'" if isinstance(side, str) else str(side)
        raise ValueError(where + ": `" + name + "` must be 'left' or 'right', got " + shown)
    return side


_INT64_MAX = np.iinfo(np.int64).max


def lengths_tensor(lengths: LengthsLike, where: str) -> Tensor:
    """``lengths`` as a Tensor: a Tensor as it is, a list, tuple or numpy array as int64.

    Raises:
        TypeError: for a non-integer list, tuple or array, or another type.
    """
    if isinstance(lengths, Tensor):
        return lengths
    if isinstance(lengths, np.ndarray):
        if not np.issubdtype(lengths.dtype, np.integer):
            raise TypeError(
                f"{where}: `lengths` must be an integer array, got dtype {lengths.dtype}"
            )
        if lengths.dtype.kind == "u" and lengths.size and lengths.max() > _INT64_MAX:
            # The cast below would wrap these around to negative lengths never passed.
            raise ValueError(f"{where}: `lengths` must fit in int64, got max {lengths.max()}")
        return torch.from_numpy(np.array(lengths, dtype=np.int64))
    if isinstance(lengths, (list, tuple)):
        if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in lengths):
            kinds = sorted({type(n).__name__ for n in lengths})
            raise TypeError(f"{where}: `lengths` must hold ints, got {', '.join(kinds)}")
        try:
            return torch.tensor(lengths, dtype=torch.int64).reshape(len(lengths))
        except (OverflowError, RuntimeError, ValueError):
            bad = next(int(n) for n in lengths if not -_INT64_MAX - 1 <= n <= _INT64_MAX)
            raise ValueError(f"{where}: `lengths` must fit in int64, got {bad}") from None
    raise TypeError(
        f"{where}: `lengths` must be a 1-D integer Tensor, a list or tuple of ints, or a "
        f"numpy integer array, got {type(lengths).__name__}"
    )


def check_lengths(
    lengths: Tensor,
    batch_size: int | None,
    max_length: int | None,
    device: torch.device | None,
    where: str,
) -> Tensor:
    """Check a lengths Tensor and give it as int64 on ``device`` (scriptable, unlike as_lengths).

    Raises:
        TypeError: for a non-integer dtype.
        ValueError: for a wrong rank or count, or (when value checks run, never under
            TorchScript) a length out of range.
    """
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"{where}: `lengths` must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(
            f"{where}: `lengths` must be 1-D (one length per sequence), got shape "
            f"{format_shape(lengths)}"
        )
    if batch_size is not None and lengths.shape[0] != batch_size:
        raise ValueError(
            f"{where}: `lengths` must have one entry per sequence ({batch_size}), "
            f"got {lengths.shape[0]}"
        )
    # Lengths usually come on the CPU (as DataLoaders and pack_padded_sequence have them). A copy
    # from the CPU need not wait for the GPU: from pageable memory it is staged before `to`
    # returns. A copy to the CPU must wait, or the host could read the lengths before they land.
    # Checked before the copy: lengths on the CPU are then read without waiting for the GPU.
    if not torch.jit.is_scripting():  # TorchScript skips this: it cannot read the switch
        _check_range(lengths, max_length, where)
    return lengths.to(device=device, dtype=torch.int64, non_blocking=lengths.is_cpu)


def _check_range(lengths: Tensor, max_length: int | None, where: str) -> None:
    # Meta tensors have no values to read: their lengths are checked when real ones come.
    if not value_checks_enabled() or lengths.numel() == 0 or lengths.is_meta:
        return
    low, high = int(lengths.min()), int(lengths.max())
    upper = "inf)" if max_length is None else f"{max_length}]"
    if low < 0:
        raise ValueError(f"{where}: `lengths` must be in [0, {upper}, got min {low}")
    if max_length is not None and high > max_length:
        raise ValueError(f"{where}: `lengths` must be in [0, {upper}, got max {high}")


def as_lengths(
    lengths: LengthsLike,
    *,
    batch_size: int | None,
    max_length: int | None,
    device: torch.device | None = None,
    where: str,
) -> Tensor:
    """Convert ``lengths`` to a 1-D int64 Tensor and check it.

    Args:
        lengths: the user's lengths (see :data:`LengthsLike`).
        batch_size: the number of entries expected, or ``None`` for any.
        max_length: the largest length allowed, or ``None`` for no upper bound.
        device: where the result goes (the data's device); ``None`` keeps the lengths' device.
        where: the public function's name, for error messages.

    Returns:
        int64 Tensor of shape ``(B,)``, a new tensor or the input itself if it already fits
        (never modified).

    Raises:
        TypeError: for a non-integer or non-sequence ``lengths``.
        ValueError: for a wrong rank or count, or (when value checks run) a length out of range.
    """
    return check_lengths(lengths_tensor(lengths, where), batch_size, max_length, device, where)


def _checked_max_length(max_length: int | None) -> int | None:
    """``max_length`` checked, a numpy integer as an int; outside TorchScript only."""
    if max_length is None or (isinstance(max_length, Tensor) and jit_tracing()):
        # A size under torch.jit.trace: passed on as it is, so that the trace keeps it symbolic.
        return max_length
    if not isinstance(max_length, (int, np.integer, torch.SymInt)) or isinstance(max_length, bool):
        raise TypeError(
            f"lengths_to_mask: `max_length` must be an int or None, got {type(max_length).__name__}"
        )
    if max_length < 0:
        raise ValueError(f"lengths_to_mask: `max_length` must be >= 0, got {max_length}")
    return int(max_length) if isinstance(max_length, np.integer) else max_length


def _lengths_to_mask(lengths: Tensor, max_length: int | None) -> Tensor:
    """The tensor part of :func:`lengths_to_mask`, scriptable (see ``birnn_utils.scriptable``)."""
    if torch.jit.is_scripting():
        # TorchScript has typed `max_length` an int already.
        if max_length is not None and max_length < 0:
            raise ValueError(f"lengths_to_mask: `max_length` must be >= 0, got {max_length}")
    else:
        max_length = _checked_max_length(max_length)
    tensor = check_lengths(lengths, None, max_length, None, "lengths_to_mask")
    if max_length is None:
        if tensor.is_meta and tensor.numel() > 0:
            raise ValueError(
                "lengths_to_mask: `max_length` is needed for lengths on the meta device, "
                "whose values cannot be read"
            )
        # A data-dependent size: a host sync on a GPU, an unbacked size under torch.compile.
        max_length = int(tensor.max()) if tensor.numel() > 0 else 0
    steps = torch.arange(max_length, device=tensor.device)
    return steps.unsqueeze(0) < tensor.unsqueeze(1)


def lengths_to_mask(
    lengths: LengthsLike, max_length: int | None = None, *, padding_side: PaddingSide = "right"
) -> Tensor:
    """Boolean mask of the valid steps of padded sequences.

    Args:
        lengths: ``B`` lengths: a 1-D integer Tensor (any device), a list or tuple of ints, or a
            numpy integer array.
        max_length: ``T``, the mask's width. ``None`` uses ``max(lengths)`` (0 for an empty
            batch), which reads the lengths: a host sync on a GPU, and a data-dependent size
            under ``torch.compile``/``torch.export``. Inside compiled, traced or exported code
            pass ``x.shape[0]``: the symbolic size there (a 0-dim Tensor under
            ``torch.jit.trace``) keeps the mask's width dynamic.
        padding_side: ``"right"``: each sequence starts at step 0; ``"left"``: each ends at
            step ``T - 1`` (Keras's ``pad_sequences`` default).

    Returns:
        bool Tensor of shape ``B x T`` on the lengths' device: ``mask[b, t]`` is
        ``t < lengths[b]``, or ``t >= T - lengths[b]`` with ``padding_side="left"``.

    Raises:
        TypeError: if ``lengths`` is not integer or ``max_length`` not an int.
        ValueError: if ``lengths`` is not 1-D, a length is negative or above ``max_length``,
            or ``padding_side`` is not ``"left"`` or ``"right"``.

    Example:
        >>> from birnn_utils import lengths_to_mask
        >>> lengths_to_mask([3, 1, 0])
        tensor([[ True,  True,  True],
                [ True, False, False],
                [False, False, False]])
        >>> lengths_to_mask([3, 1, 0], padding_side="left")
        tensor([[ True,  True,  True],
                [False, False,  True],
                [False, False, False]])
    """
    # A left-padded row is a right-padded row reversed.
    left = check_padding_side(padding_side, "lengths_to_mask") == "left"
    mask = _lengths_to_mask(lengths_tensor(lengths, "lengths_to_mask"), max_length)
    return mask.flip(1) if left else mask


def _mask_to_lengths(mask: Tensor, padding_side: str = "right") -> Tensor:
    """The tensor part of :func:`mask_to_lengths`, scriptable (see ``birnn_utils.scriptable``)."""
    if mask.dtype != torch.bool:
        raise TypeError(f"mask_to_lengths: `mask` must be a bool Tensor, got {mask.dtype}")
    if mask.dim() != 2:
        raise ValueError(
            f"mask_to_lengths: `mask` must be 2-D (B x T), got shape {format_shape(mask)}"
        )
    if not torch.jit.is_scripting():  # TorchScript skips this: it cannot read the switch
        check_right_padded(mask, "mask_to_lengths", padding_side)
    return mask.sum(dim=1, dtype=torch.int64)


def check_right_padded(mask: Tensor, where: str, padding_side: str = "right") -> None:
    """Raise if (value checks running) a row of a ``B x T`` bool mask has a True after a False.

    With ``padding_side="left"``, raise if a row has a False after a True instead.
    """
    if not value_checks_enabled() or mask.shape[1] < 2 or mask.is_meta:
        return
    before, after = mask[:, :-1], mask[:, 1:]
    if padding_side == "right":
        holes, rule = after & ~before, "right-padded (no True after a False)"
    else:
        holes, rule = before & ~after, "left-padded (no False after a True)"
    if bool(holes.any()):
        row = int(holes.any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"{where}: `mask` must be {rule}, row {row} is not: {mask[row].int().tolist()}"
        )


# `padding_side` is not keyword-only, and a `str`: torch.jit.script compiles this function.
def mask_to_lengths(mask: Tensor, padding_side: str = "right") -> Tensor:
    """Lengths of the sequences a padded boolean mask marks as valid.

    Args:
        mask: bool Tensor of shape ``B x T``, ``True`` at valid steps. Each row must be
            right-padded (no ``True`` after a ``False``) or, with ``padding_side="left"``,
            left-padded (no ``False`` after a ``True``, as Keras's ``pad_sequences`` pads).
        padding_side: ``"right"`` or ``"left"``, the side each row's padding is on.

    Returns:
        int64 Tensor of shape ``(B,)`` on the mask's device.

    Raises:
        TypeError: if ``mask`` is not a bool Tensor.
        ValueError: if ``mask`` is not 2-D, ``padding_side`` is not ``"left"`` or
            ``"right"``, or (when value checks run) a row is not padded on that side.

    Example:
        >>> import torch
        >>> from birnn_utils import mask_to_lengths
        >>> mask_to_lengths(torch.tensor([[True, True, False], [False, False, False]]))
        tensor([2, 0])
        >>> mask_to_lengths(torch.tensor([[False, True, True]]), padding_side="left")
        tensor([2])
    """
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask_to_lengths: `mask` must be a bool Tensor, got {type(mask).__name__}")
    return _mask_to_lengths(mask, check_padding_side(padding_side, "mask_to_lengths"))


def packed_steps(
    batch_sizes: Tensor,
) -> tuple[np.ndarray[tuple[int], np.dtype[np.int64]], np.ndarray[tuple[int], np.dtype[np.int64]]]:
    """Where the steps of a PackedSequence's sorted sequences sit in its ``data``.

    Sorted sequence ``b`` is present at the steps ``t`` with ``batch_sizes[t] > b``, so its
    length is a suffix sum of the histogram of ``batch_sizes``; its step ``t`` is row
    ``starts[t] + b`` of ``data``. Computed with numpy on the CPU, where ``batch_sizes`` lives:
    for these few small integer arrays numpy's per-call cost is a tenth of torch's, which halves
    the index's share of a packed reversal.

    Args:
        batch_sizes: a PackedSequence's ``batch_sizes``, CPU int64 ``(T,)``.

    Returns:
        ``(last_step, starts)``: int64 arrays ``(B,)``, each sorted sequence's length minus 1,
        and ``(T,)``, the first row of each step.
    """
    sizes = batch_sizes.numpy()
    last_step = np.bincount(sizes)[::-1].cumsum()[::-1][1:] - 1
    starts = np.cumsum(sizes) - sizes
    return last_step, starts


def reject_lengths_for_packed(lengths: object, where: str) -> None:
    """Raise unless ``lengths`` is None: a PackedSequence carries its own lengths."""
    if lengths is not None:
        raise ValueError(
            f"{where}: `lengths` must be None for a PackedSequence, which carries its own "
            f"lengths, got {type(lengths).__name__}"
        )


def check_cu_seqlens(
    cu_seqlens: object, total: int | None, device: torch.device | None, where: str
) -> Tensor:
    """Check the offsets of a varlen batch and give them as int64 on ``device``.

    ``cu_seqlens`` holds ``B + 1`` offsets into the token axis: sequence ``b`` is tokens
    ``cu_seqlens[b]:cu_seqlens[b + 1]``. The value checks (start at 0, never decrease, end at
    ``total``) read the offsets once, as one host transfer.

    Raises:
        TypeError: for something other than an integer Tensor.
        ValueError: for a wrong rank or no entry, or (when value checks run) offsets that do not
            start at 0, decrease, or do not end at ``total``.
    """
    if not isinstance(cu_seqlens, Tensor):
        raise TypeError(
            f"{where}: `cu_seqlens` must be a 1-D integer Tensor of B + 1 offsets, "
            f"got {type(cu_seqlens).__name__}"
        )
    if cu_seqlens.dtype == torch.bool or cu_seqlens.is_floating_point() or cu_seqlens.is_complex():
        raise TypeError(
            f"{where}: `cu_seqlens` must be an integer Tensor, got dtype {cu_seqlens.dtype}"
        )
    if cu_seqlens.dim() != 1 or cu_seqlens.shape[0] == 0:
        raise ValueError(
            f"{where}: `cu_seqlens` must be 1-D with B + 1 >= 1 offsets, got shape "
            f"{format_shape(cu_seqlens)}"
        )
    if value_checks_enabled():
        _check_offsets(cu_seqlens, total, where)
    return cu_seqlens.to(device=device, dtype=torch.int64, non_blocking=cu_seqlens.is_cpu)


def _check_offsets(cu_seqlens: Tensor, total: int | None, where: str) -> None:
    """The value part of :func:`check_cu_seqlens`: one host read of a few summary numbers."""
    offsets = cu_seqlens.to(torch.int64)
    drops = offsets[1:] < offsets[:-1]
    first_drop = torch.where(drops.any(), drops.int().argmax(), -1) if drops.numel() else None
    summary = [offsets[0], offsets[-1]] + ([] if first_drop is None else [first_drop])
    start, end, *drop = torch.stack(summary).tolist()
    if start != 0:
        raise ValueError(f"{where}: `cu_seqlens` must start at 0, got {start}")
    if drop and drop[0] >= 0:
        i = drop[0]
        raise ValueError(
            f"{where}: `cu_seqlens` must be non-decreasing, got "
            f"cu_seqlens[{i}] > cu_seqlens[{i + 1}]"
        )
    if total is not None and end != total:
        raise ValueError(
            f"{where}: `cu_seqlens` must end at the number of tokens ({total}), got {end}"
        )
