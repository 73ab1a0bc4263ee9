"""Running a recurrent module over right-padded sequences through a PackedSequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ._checks import check_padded
from ._lengths import LengthsLike, as_lengths

__all__ = ["run_packed"]


def _tree_map(fn: Callable[..., Any], tree: Any, *others: Any, where: str, name: str) -> Any:
    """Apply ``fn`` to the Tensors and PackedSequences of nested tuples, keeping their types.

    Outputs and states of recurrent modules nest: an LSTM's ``(h_n, c_n)``, a
    :class:`~birnn_utils.Bidirectional`'s ``Directions`` of those. ``others`` are trees of the
    same structure whose leaves are passed alongside.
    ``None`` is a leaf too: a ``Directions`` state may leave one module's state to its default.
    """
    if tree is None or isinstance(tree, (Tensor, PackedSequence)):
        return fn(tree, *others)
    if isinstance(tree, tuple):
        items = [
            _tree_map(fn, *parts, where=where, name=name)
            for parts in zip(tree, *others, strict=True)
        ]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)
    raise TypeError(
        f"{where}: `{name}` must be a Tensor or a (nested) tuple of Tensors such as an LSTM's "
        f"(h_n, c_n), got {type(tree).__name__}"
    )


def _pack_run_pad(
    rnn: nn.Module,
    input: Tensor,
    lengths: Tensor,
    initial_state: Any,
    batch_first: bool,
) -> tuple[Any, Any]:
    from ._bidirectional import Bidirectional  # here: _bidirectional imports this module

    packed = pack_padded_sequence(input, lengths, batch_first=batch_first, enforce_sorted=False)
    if isinstance(rnn, Bidirectional):
        # Its second positional argument is `lengths`.
        output, state = rnn(packed, initial_state=initial_state)
    else:
        output, state = rnn(packed, initial_state)
    steps = input.shape[1 if batch_first else 0]
    padded = _tree_map(
        lambda out: pad_packed_sequence(out, batch_first=batch_first, total_length=steps)[0],
        output,
        where="run_packed",
        name="rnn's output",
    )
    return padded, state


def run_packed(
    rnn: nn.Module,
    input: Tensor,
    lengths: LengthsLike,
    initial_state: Any = None,
) -> tuple[Any, Any]:
    """Run a recurrent module on right-padded sequences: pack, run, unpack.

    The ``pack_padded_sequence -> rnn -> pad_packed_sequence`` pattern in one call, with the
    details done right: lengths may be unsorted (the result is in the caller's batch order), the
    output is padded back to the input's own ``T`` (``total_length``, so it also works under
    ``DataParallel``), ``rnn.batch_first`` is honoured, and sequences of **length 0** are
    allowed: only the rows with a positive length are packed and run, the others get zero
    outputs and keep their initial state (zeros by default) as their final state.

    Args:
        rnn: a module with the ``nn.RNN`` calling convention that accepts a PackedSequence:
            ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` (uni- or bidirectional) or a
            :class:`~birnn_utils.Bidirectional` of them. Its ``batch_first`` attribute (``False``
            if absent) sets the layout of ``input``.
        input: Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), right-padded.
        lengths: ``B`` valid lengths in ``[0, T]``: a 1-D integer Tensor (any device), a list
            or tuple of ints, or a numpy integer array; any order.
        initial_state: the module's initial state in the caller's batch order (batch on
            dim 1, as ``h_0`` is), or ``None`` for zeros. For a
            :class:`~birnn_utils.Bidirectional`, a ``Directions`` of the two modules' states,
            passed as its ``initial_state``.

    Returns:
        ``(output, state)`` as the module returns them, in the caller's batch order: ``output``
        a Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``) with zeros at padding, and the
        final ``state`` taken at each sequence's last valid step.

    Raises:
        TypeError: if ``input`` is not a Tensor or ``lengths`` are not integers.
        ValueError: if ``input`` is not 3-D, or ``lengths`` have the wrong count or a value out
            of range.

    Example:
        >>> import torch
        >>> from birnn_utils import run_packed
        >>> gru = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
        >>> x = torch.randn(3, 5, 3)  # B=3, T=5
        >>> output, h_n = run_packed(gru, x, lengths=[2, 0, 5])
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 8]), torch.Size([2, 3, 4]))
        >>> bool(output[1].eq(0).all()), bool(h_n[:, 1].eq(0).all())  # the empty sequence
        (True, True)
    """
    batch_first = bool(getattr(rnn, "batch_first", False))
    check_padded(input, batch_first, "run_packed")
    batch_dim = 0 if batch_first else 1
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    # pack_padded_sequence wants the lengths on the CPU: moving them there once costs what it
    # costs anyway, and every test below reads the CPU copy without waiting for the device.
    lens = as_lengths(
        lengths, batch_size=batch, max_length=steps, device=torch.device("cpu"), where="run_packed"
    )
    nonempty = lens > 0
    if batch > 0 and bool(nonempty.all()):
        return _pack_run_pad(rnn, input, lens, initial_state, batch_first)

    def blank_output(sub: Tensor) -> Tensor:
        shape = list(sub.shape)
        shape[batch_dim], shape[1 - batch_dim] = batch, steps
        return sub.new_zeros(shape)

    def blank_state(sub: Tensor) -> Tensor:
        return sub.new_zeros(sub.shape[0], batch, *sub.shape[2:])

    rows = nonempty.nonzero().squeeze(1).to(input.device, non_blocking=True)
    if rows.numel() == 0:
        # Nothing to run, yet the output's width and the state's shape are the module's to
        # say: read them from a one-step probe, keeping none of its values.
        with torch.no_grad():
            probe_output, probe_state = rnn(input.new_zeros(1, 1, *input.shape[2:]))
        output = _tree_map(blank_output, probe_output, where="run_packed", name="output")
        if initial_state is None:
            return output, _tree_map(blank_state, probe_state, where="run_packed", name="state")
        state = _tree_map(
            lambda init, probe: blank_state(probe) if init is None else init,
            initial_state,
            probe_state,
            where="run_packed",
            name="initial_state",
        )
        return output, state

    sub_state = (
        None
        if initial_state is None
        else _tree_map(
            lambda s: None if s is None else s.index_select(1, rows),
            initial_state,
            where="run_packed",
            name="initial_state",
        )
    )
    sub_output, sub_final = _pack_run_pad(
        rnn, input.index_select(batch_dim, rows), lens[nonempty], sub_state, batch_first
    )
    output = _tree_map(
        lambda sub: blank_output(sub).index_copy(batch_dim, rows, sub),
        sub_output,
        where="run_packed",
        name="output",
    )
    if initial_state is None:
        initial_state = _tree_map(blank_state, sub_final, where="run_packed", name="state")
    state = _tree_map(
        lambda init, sub: (blank_state(sub) if init is None else init).index_copy(1, rows, sub),
        initial_state,
        sub_final,
        where="run_packed",
        name="initial_state",
    )
    return output, state
