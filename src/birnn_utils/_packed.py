"""Running a recurrent module over padded sequences (right or left) through a PackedSequence."""

from __future__ import annotations

from typing import Any, TypeGuard

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import nn as birnn_nn
from ._checks import check_padded, format_shape
from ._hooks import has_hooks
from ._layout import output_size
from ._lengths import LengthsLike, PaddingSide, check_lengths, check_padding_side, lengths_tensor
from ._ops import RNNLike, packed_rnn, zero_state
from ._padding import run_on_the_right
from ._tree import tree_map

__all__ = [
    "RECURRENT",
    "cpu_lengths",
    "run_packed",
    "run_packed_core",
    "runs_kernel",
    "takes_lengths",
]

RECURRENT = (nn.RNNBase, birnn_nn.RNN, birnn_nn.GRU, birnn_nn.LSTM)
"""The recurrent modules whose kernel :func:`~birnn_utils._ops.packed_rnn` runs."""

_NATIVE_FORWARDS = {m.forward for m in (nn.RNN, nn.GRU, nn.LSTM, *RECURRENT[1:])}


def _native(rnn: nn.Module) -> TypeGuard[RNNLike]:
    """Whether ``rnn`` is a ``torch.nn`` or ``birnn_utils.nn`` RNN/GRU/LSTM with its own forward."""
    return isinstance(rnn, RECURRENT) and type(rnn).forward in _NATIVE_FORWARDS


def runs_kernel(rnn: nn.Module) -> TypeGuard[RNNLike]:
    """Whether :func:`~birnn_utils._ops.packed_rnn` computes what ``rnn`` would on packed input.

    True for a ``torch.nn`` or ``birnn_utils.nn`` RNN/GRU/LSTM (parametrized ones included)
    whose ``forward`` is the library's own and that no hook of its own or global would see
    (:func:`~birnn_utils._hooks.has_hooks`): then its kernel is called with its weights, without
    calling the module, which ``torch.compile`` could not.
    """
    return not has_hooks(rnn) and _native(rnn)


def takes_lengths(rnn: nn.Module) -> bool:
    """Whether ``rnn`` is a :mod:`birnn_utils.nn` RNN/GRU/LSTM with the library's ``forward``.

    Hooks or not: such a module computes the packed result itself from ``lengths=``, so a hooked
    one is called as ``rnn(input, hx, lengths=lengths)`` (its hooks run, its final states are
    exact, and it compiles), never over the padding.
    """
    return _native(rnn) and isinstance(rnn, RECURRENT[1:])


def _own_shapes(rnn: nn.Module, input: Tensor) -> tuple[Any, Any] | None:
    """What :func:`_shapes_of` gives, read from a native module's options; ``None`` otherwise.

    Nothing is called, so hooks do not see a meta tensor (and cannot fail on one).
    """
    if not _native(rnn):
        return None
    like = torch.empty(0, dtype=input.dtype, device="meta")
    h, c = zero_state(rnn, like, 2)
    width = (2 if rnn.bidirectional else 1) * output_size(rnn)
    packed = PackedSequence(like.new_empty(2, width), torch.tensor([2]), None, None)
    return packed, h if c is None else (h, c)


def cpu_lengths(lengths: LengthsLike, batch: int, steps: int, where: str) -> Tensor:
    """Checked int64 lengths on the CPU, where packing wants them.

    Lengths on a GPU are copied first, then checked on the host: one transfer in all, where
    checking them in place and copying them after would wait for the GPU twice.
    """
    lens = lengths_tensor(lengths, where)
    return check_lengths(lens.to("cpu"), batch, steps, torch.device("cpu"), where)


def _pack_run_pad(
    rnn: nn.Module, input: Tensor, lengths: Tensor, hx: Any, batch_first: bool
) -> tuple[Any, Any]:
    packed = pack_padded_sequence(input, lengths, batch_first=batch_first, enforce_sorted=False)
    output, state = rnn(packed, hx)
    steps = input.shape[1 if batch_first else 0]
    padded = tree_map(
        lambda out: pad_packed_sequence(out, batch_first=batch_first, total_length=steps)[0],
        output,
        where="run_packed",
        name="rnn's output",
    )
    return padded, state


def _shapes_of(rnn: nn.Module, input: Tensor) -> tuple[Any, Any]:
    """What ``rnn`` returns for one packed step of two sequences, computed on the meta device.

    Only the shapes are real: nothing runs on the data, so no RNG is drawn (dropout) and no
    running statistics move. A native RNN/GRU/LSTM is not called at all: its options give them.
    """
    own = _own_shapes(rnn, input)
    if own is not None:
        return own
    meta = {
        name: torch.empty_like(tensor, device="meta")
        for name, tensor in [*rnn.named_parameters(), *rnn.named_buffers()]
    }
    # Two sequences, not one: modules such as BatchNorm refuse a single value per channel.
    data = torch.empty((2, *input.shape[2:]), dtype=input.dtype, device="meta")
    probe = PackedSequence(data, torch.tensor([2]), None, None)
    with torch.no_grad():
        output, state = functional_call(rnn, meta, (probe,))
    return output, state


def _full_state(hx: Any, like: Any, batch: int, device: torch.device, where: str) -> Any:
    """``hx`` with each ``None`` replaced by zeros shaped as ``like``'s leaves for ``batch`` rows.

    Raises:
        ValueError: for a leaf of ``hx`` whose shape is not the module's state shape for
            ``batch`` rows (as the module itself would refuse it).
    """
    if hx is None:
        return tree_map(
            lambda s: torch.zeros((s.shape[0], batch, *s.shape[2:]), dtype=s.dtype, device=device),
            like,
            where=where,
            name="state",
        )
    if isinstance(hx, tuple) and isinstance(like, tuple):
        items = [_full_state(h, s, batch, device, where) for h, s in zip(hx, like, strict=True)]
        return type(hx)(*items) if hasattr(hx, "_fields") else tuple(items)
    expected = (like.shape[0], batch, *like.shape[2:])
    if not isinstance(hx, Tensor) or hx.shape != expected:
        got = format_shape(hx) if isinstance(hx, Tensor) else type(hx).__name__
        raise ValueError(
            f"{where}: `hx` must hold the module's state for B={batch} sequences, of shape "
            f"{tuple(expected)}, got {got}"
        )
    return hx


def run_packed_core(
    rnn: nn.Module, input: Tensor, lengths: Tensor, hx: Any, batch_first: bool, where: str
) -> tuple[Any, Any]:
    """:func:`run_packed` without its checks: ``lengths`` int64 on the CPU, already checked."""
    if runs_kernel(rnn):
        # Before any read of the lengths: under torch.compile this is one node of the graph.
        return packed_rnn(rnn, input, lengths, hx, where)
    if takes_lengths(rnn):  # hooked: called, so that its hooks run
        return rnn(input, hx, lengths=lengths)  # type: ignore[no-any-return]
    batch_dim = 0 if batch_first else 1
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    nonempty = lengths > 0
    if batch > 0 and bool(nonempty.all()):
        return _pack_run_pad(rnn, input, lengths, hx, batch_first)

    def blank_output(sub: Tensor | PackedSequence) -> Tensor:
        if isinstance(sub, PackedSequence):  # the probe's output: (2, *features)
            sub = sub.data.unsqueeze(0)
        shape = list(sub.shape)
        shape[batch_dim], shape[1 - batch_dim] = batch, steps
        return torch.zeros(shape, dtype=sub.dtype, device=input.device)

    rows = nonempty.nonzero().squeeze(1).to(input.device, non_blocking=True)
    if rows.numel() == 0:
        # Nothing to run; the output's width and the state's shape are read from the module.
        probe_output, probe_state = _shapes_of(rnn, input)
        output = tree_map(blank_output, probe_output, where=where, name="output")
        return output, _full_state(hx, probe_state, batch, input.device, where)

    def rows_of(h: Tensor | None) -> Tensor | None:
        if h is None:
            return None
        if h.dim() < 2 or h.shape[1] != batch:
            raise ValueError(
                f"{where}: `hx` must have the batch on dim 1 (B={batch}), as h_0 has, got shape "
                f"{format_shape(h)}"
            )
        return h.index_select(1, rows)

    sub_hx = None if hx is None else tree_map(rows_of, hx, where=where, name="hx")
    sub_output, sub_state = _pack_run_pad(
        rnn, input.index_select(batch_dim, rows), lengths[nonempty], sub_hx, batch_first
    )
    output = tree_map(
        lambda sub: blank_output(sub).index_copy(batch_dim, rows, sub),
        sub_output,
        where=where,
        name="output",
    )
    full = _full_state(hx, sub_state, batch, input.device, where)
    state = tree_map(
        lambda init, sub: init.index_copy(1, rows, sub), full, sub_state, where=where, name="hx"
    )
    return output, state


def run_packed(
    rnn: nn.Module,
    input: Tensor,
    lengths: LengthsLike,
    hx: Any = None,
    *,
    padding_side: PaddingSide = "right",
) -> tuple[Any, Any]:
    """Run a recurrent module on padded sequences: pack, run, unpack.

    The ``pack_padded_sequence -> rnn -> pad_packed_sequence`` pattern in one call, with the
    details done right: lengths may be unsorted (the result is in the caller's batch order), the
    output is padded back to the input's own ``T`` (``total_length``, so it also works under
    ``DataParallel``), ``rnn.batch_first`` is honoured, and sequences of **length 0** are
    allowed: only the rows with a positive length are packed and run, the others get zero
    outputs and keep their initial state (zeros by default) as their final state. When every
    length is 0 the module is not called, nor are its hooks (a hooked :mod:`birnn_utils.nn`
    module is, see below): the shapes come from the options of an RNN/GRU/LSTM, or from a run
    of another module on the ``meta`` device, which draws no random numbers and updates no
    statistics.

    The module is called as ``rnn(packed, hx)``, the ``nn.RNN`` convention, whatever it is,
    except for a ``torch.nn`` or :mod:`birnn_utils.nn` RNN/GRU/LSTM with its own ``forward`` and
    no forward hooks: its native kernel runs on its weights directly (the same computation),
    through the custom op ``birnn_utils::packed_rnn`` under ``torch.compile``/``torch.export``.
    A :mod:`birnn_utils.nn` module with hooks is called as ``rnn(input, hx, lengths=lengths)``,
    so that its hooks run (they see the padded input), with the same result.
    So ``run_packed`` compiles with ``fullgraph=True`` and ``dynamic=True`` for a
    :mod:`birnn_utils.nn` module. ``torch.compile`` does not trace ``torch.nn``'s RNN modules,
    not even their attributes (a graph break: the module runs eagerly; an error under
    ``fullgraph=True``), so wrap one first with ``from_module`` (the same Parameters). The
    lengths are read once (copied to the CPU first when they are on a GPU, where packing wants
    them), and not at all while compiling.

    With ``padding_side="left"`` (Keras's ``pad_sequences`` default) sequence ``b`` sits at
    steps ``T - lengths[b] .. T - 1``: it is moved to the front (one gather, see
    :func:`~birnn_utils.move_padding`), run, and the output is moved back, so it comes in the
    caller's layout with zeros at the padding on the left. The final states need no move.

    Args:
        rnn: a module with the ``nn.RNN`` calling convention that accepts a PackedSequence:
            ``nn.RNN``, ``nn.GRU``, ``nn.LSTM``, their :mod:`birnn_utils.nn` counterparts (uni-
            or bidirectional) or a :class:`~birnn_utils.Bidirectional` of them. Its
            ``batch_first`` attribute (``False`` if absent) sets the layout of ``input``.
        input: Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), padded on
            ``padding_side``.
        lengths: ``B`` valid lengths in ``[0, T]``: a 1-D integer Tensor (any device), a list
            or tuple of ints, or a numpy integer array; any order.
        hx: the module's initial state in the caller's batch order (batch on dim 1, as
            ``h_0`` is; for a :class:`~birnn_utils.Bidirectional`, a ``Directions`` of the two
            modules' states), or ``None`` for zeros.
        padding_side: ``"right"`` (each sequence starts at step 0) or ``"left"`` (each ends at
            step ``T - 1``).

    Returns:
        ``(output, state)`` as the module returns them, in the caller's batch order: ``output``
        a Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``) padded on ``padding_side``
        with zeros, and the final ``state`` taken at each sequence's last valid step.

    Raises:
        TypeError: if ``input`` is not a Tensor, ``lengths`` are not integers, or ``hx`` is not
            a Tensor or a tuple of them.
        ValueError: if ``input`` is not 3-D, ``lengths`` have the wrong count or a value out of
            range, ``padding_side`` is not ``"left"`` or ``"right"``, or ``hx`` does not have
            the module's state shape (for other modules: with empty sequences; the module checks
            it otherwise).

    Example:
        >>> import torch
        >>> from birnn_utils import run_packed
        >>> gru = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
        >>> x = torch.randn(3, 5, 3)  # B=3, T=5
        >>> output, h_n = run_packed(gru, x, lengths=[2, 0, 5])
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 8]), torch.Size([2, 3, 4]))
        >>> bool(output[1].eq(0).all()), bool(h_n[:, 1].eq(0).all())  # length 0
        (True, True)
        >>> from birnn_utils import move_padding
        >>> # Keras's layout: padding on the left
        >>> x_left = move_padding(x, [2, 0, 5], to="left", batch_first=True)
        >>> output_left, _ = run_packed(gru, x_left, [2, 0, 5], padding_side="left")
        >>> expected = move_padding(output, [2, 0, 5], to="left", batch_first=True)
        >>> torch.allclose(output_left, expected)
        True
    """
    batch_first = bool(getattr(rnn, "batch_first", False))
    check_padded(input, batch_first, "run_packed")
    side = check_padding_side(padding_side, "run_packed")
    batch_dim = 0 if batch_first else 1
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    if hx is not None:
        tree_map(lambda h: h, hx, where="run_packed", name="hx")  # a TypeError for other types
    lens = cpu_lengths(lengths, batch, steps, "run_packed")
    if side == "right":
        return run_packed_core(rnn, input, lens, hx, batch_first, "run_packed")
    return run_on_the_right(
        lambda right: run_packed_core(rnn, right, lens, hx, batch_first, "run_packed"),
        input,
        lens.to(input.device, non_blocking=True),
        batch_first,
        "run_packed",
    )
