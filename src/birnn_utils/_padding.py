"""Left- and right-padded batches: moving each sequence's padding to the other side.

This library's functions and PyTorch's ``pack_padded_sequence`` read sequence ``b`` at steps
``0 .. lengths[b] - 1`` (right padding). Keras's ``pad_sequences`` pads on the left by default,
putting sequence ``b`` at steps ``T - lengths[b] .. T - 1``. :func:`move_padding` converts
between the two with one gather, so a left-padded pipeline can run through right-padded code and
get its outputs back in its own layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._checks import check_tensor, check_time_and_batch
from ._lengths import LengthsLike, PaddingSide, as_lengths, check_padding_side
from ._reverse import gather_steps
from ._tree import tree_map

__all__ = ["move_padding"]


def _move_padding(x: Tensor, lengths: Tensor, to: str, batch_first: bool) -> Tensor:
    """The gather of :func:`move_padding` for checked int64 ``lengths`` on ``x``'s device."""
    time_dim = 1 if batch_first else 0
    steps = x.shape[time_dim]
    if steps == 0:
        return x.clone()
    # Step t of the result reads step (t + shift) mod T: a roll of each row by its own amount,
    # which carries the padding along, so that moving to one side and back is the identity.
    shift = steps - lengths if to == "right" else lengths
    time = torch.arange(steps, device=x.device).unsqueeze(1)
    return gather_steps(x, (time + shift) % steps, batch_first)


def _move_output_padding(output: Any, lengths: Tensor, batch_first: bool, where: str) -> Any:
    """A right-padded output (a Tensor or a tuple of them) moved to the left, as the input was.

    For the functions that take ``padding_side="left"``: they move the input to the right with
    :func:`_move_padding`, run, and give the per-step outputs back in the caller's layout.
    """
    return tree_map(
        lambda out: _move_padding(out, lengths, "left", batch_first),
        output,
        where=where,
        name="output",
    )


def run_on_the_right(
    run: Callable[[Tensor], tuple[Any, Any]],
    input: Tensor,
    lengths: Tensor,
    batch_first: bool,
    where: str,
) -> tuple[Any, Any]:
    """``run`` (``input -> (output, state)``) on a left-padded ``input`` moved to the right.

    The per-step output comes back left-padded, in the caller's layout; the state needs no
    move. ``lengths``: checked int64 on ``input``'s device.
    """
    output, state = run(_move_padding(input, lengths, "right", batch_first))
    return _move_output_padding(output, lengths, batch_first, where), state


def move_padding(
    x: Tensor,
    lengths: LengthsLike,
    *,
    to: PaddingSide = "right",
    batch_first: bool = False,
) -> Tensor:
    """Move each sequence's padding to the other side: left-padded to right-padded, or back.

    With ``to="right"``, sequence ``b`` of a left-padded batch (valid at steps
    ``T - lengths[b] .. T - 1``, as ``keras.utils.pad_sequences`` makes them by default) moves
    to steps ``0 .. lengths[b] - 1``, the layout PyTorch and this library expect; ``to="left"``
    does the reverse. Each row is rolled by its own amount, padding included, so
    ``move_padding(move_padding(x, lengths, to="right"), lengths, to="left")`` is ``x``. To run
    right-padded code on a left-padded batch: move to the right, run, move the per-step outputs
    back to the left (final states need no move). One gather: no Python loop, differentiable.

    Args:
        x: a padded Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), any dtype and
            device.
        lengths: ``B`` lengths, each in ``[0, T]``: a 1-D integer Tensor (on any device), a list
            or tuple of ints, or a numpy integer array.
        to: the side the padding goes to, ``"right"`` (the input is left-padded) or ``"left"``
            (the input is right-padded).
        batch_first: whether ``x`` is ``B x T x *``.

    Returns:
        A new Tensor of ``x``'s shape, dtype and device (``x`` is never modified).

    Raises:
        TypeError: if ``x`` is not a Tensor or ``lengths`` are not integers.
        ValueError: for an ``x`` with fewer than 2 dimensions, a ``to`` other than ``"left"``
            or ``"right"``, ``lengths`` that are not 1-D or not one per sequence, or (when
            value checks run) a length outside ``[0, T]``.

    Example:
        >>> import torch
        >>> from birnn_utils import move_padding
        >>> x = torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]])  # B x T, left-padded (Keras)
        >>> right = move_padding(x, [3, 2], batch_first=True)
        >>> right
        tensor([[1, 2, 3, 0],
                [4, 5, 0, 0]])
        >>> torch.equal(move_padding(right, [3, 2], to="left", batch_first=True), x)
        True
    """
    x = check_tensor(x, "move_padding", "x")
    side = check_padding_side(to, "move_padding", "to")
    check_time_and_batch(x, batch_first, "move_padding", "x")
    time_dim = 1 if batch_first else 0
    lens = as_lengths(
        lengths,
        batch_size=x.shape[1 - time_dim],
        max_length=x.shape[time_dim],
        device=x.device,
        where="move_padding",
    )
    return _move_padding(x, lens, side, batch_first)
