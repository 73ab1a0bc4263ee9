"""Where each direction lives in a bidirectional RNN's ``output``, ``h_n`` and ``c_n``.

``nn.RNN/GRU/LSTM(bidirectional=True)`` returns ``output`` with the forward direction in the first
half of the last dimension and the backward direction in the second half, both aligned with the
input's time steps, and ``h_n`` (and ``c_n``) of shape ``(num_layers * 2, B, H_out)``, layer-major:
row ``2 * k`` is layer ``k`` forward, row ``2 * k + 1`` layer ``k`` backward. The backward
direction's final state is its output at ``t = 0``, not at the last step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, Protocol, TypeAlias, Union, cast, overload

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

# typing's NamedTuple cannot be Generic before Python 3.11; torch depends on typing_extensions.
from typing_extensions import NamedTuple, TypeVar

from ._checks import check_layer, check_tensor, format_shape, value_checks_enabled
from ._lengths import (
    LengthsLike,
    check_lengths,
    lengths_tensor,
    packed_steps,
    reject_lengths_for_packed,
)

__all__ = [
    "BridgeMode",
    "Directions",
    "MergeMode",
    "State",
    "bridge_states",
    "final_outputs",
    "final_states",
    "flatten_states",
    "merge_directions",
    "split_directions",
    "unflatten_states",
]

State: TypeAlias = Union[Tensor, tuple[Tensor, Tensor]]  # noqa: UP007 (a runtime alias on 3.10)
"""A recurrent state: ``h_n`` (RNN, GRU) or the LSTM pair ``(h_n, c_n)``."""

MergeMode = Literal["concat", "sum", "mean", "mul", "stack"]
"""How :func:`merge_directions` combines the two directions."""

BridgeMode = Literal["concat", "sum", "mean"]
"""How :func:`bridge_states` combines each layer's two final states."""


def _modes(where: str) -> list[str]:
    # A function, not a global tuple: TorchScript cannot read global containers.
    if where == "bridge_states":
        return ["concat", "sum", "mean"]
    return ["concat", "sum", "mean", "mul", "stack"]


class _RNNSizes(Protocol):
    """The widths of a ``torch.nn.RNNBase`` or a ``birnn_utils.nn`` module."""

    @property
    def hidden_size(self) -> int: ...

    @property
    def proj_size(self) -> int: ...


def output_size(rnn: _RNNSizes) -> int:
    """``H_out``, each direction's output and ``h_n`` width: ``proj_size`` or ``hidden_size``.

    Example:
        >>> import torch
        >>> from birnn_utils._layout import output_size
        >>> output_size(torch.nn.LSTM(3, 4, proj_size=2)), output_size(torch.nn.GRU(3, 4))
        (2, 4)
    """
    return rnn.proj_size or rnn.hidden_size


_R = TypeVar("_R")
# Any by default, so that a bare `Directions` annotation means what it meant before.
_T = TypeVar("_T", default=Any)
# Bound, not constrained: a caller holding a `Tensor | PackedSequence` gets a Directions of that.
_Output = TypeVar("_Output", bound=Tensor | PackedSequence)


class Directions(NamedTuple, Generic[_T]):
    """A pair of values, one per direction: ``forward`` then ``backward``.

    The pair type used throughout birnn-utils: halves of an ``output``, rows of ``h_n``, the two
    modules of a :class:`~birnn_utils.Bidirectional`, or their states. Being a tuple, it unpacks
    (``fwd, bwd = split_directions(out)``) and concatenates (``torch.cat(pair, -1)``). It is
    generic in the type of its two fields, so signatures say what comes back:
    ``split_directions`` of a Tensor returns ``Directions[Tensor]``, of a PackedSequence
    ``Directions[PackedSequence]``; a bare ``Directions`` is ``Directions[Any]``.

    Example:
        >>> from birnn_utils import Directions
        >>> pair = Directions(forward=1, backward=2)
        >>> pair.backward, tuple(pair)
        (2, (1, 2))
    """

    forward: _T
    backward: _T


def _width(x: Tensor, where: str, name: str) -> int:
    if x.dim() == 0:
        raise ValueError(f"{where}: `{name}` must have at least 1 dimension, got a scalar")
    width = x.shape[-1]
    if width % 2:
        raise ValueError(
            f"{where}: the last dimension of `{name}` (={width}) must be even: "
            "forward and backward halves of equal width H_out"
        )
    return width // 2


def _packed_data(output: PackedSequence, where: str) -> Tensor:
    """``output.data``, checked to hold feature rows, ``N x * x 2*H_out``."""
    if output.data.dim() < 2:
        raise ValueError(
            f"{where}: `output.data` must be at least 2-D (one row of features per packed "
            f"step, N x 2*H_out), got shape {format_shape(output.data)}: was the PackedSequence "
            "packed from a tensor without a feature dimension?"
        )
    return output.data


def _split_directions(output: Tensor, name: str = "output") -> tuple[Tensor, Tensor]:
    half = _width(output, "split_directions", name)
    return output[..., :half], output[..., half:]


def split_directions(output: _Output) -> Directions[_Output]:
    """Split a bidirectional RNN's output into its forward and backward halves.

    The forward direction is ``output[..., :H_out]`` and the backward direction
    ``output[..., H_out:]``, where ``H_out`` is ``hidden_size`` (or ``proj_size`` for an LSTM with
    projections). Both halves are aligned with the input's time steps: ``backward[t]`` is the
    backward RNN's state after reading steps ``t .. T-1``.

    Args:
        output: a Tensor ``T x B x 2*H_out`` (or ``B x T x 2*H_out`` with ``batch_first``, or any
            leading dims), or the ``PackedSequence`` a packed bidirectional RNN returns.

    Returns:
        ``Directions(forward, backward)`` of **views** of ``output`` (no copy), each
        ``... x H_out``. For a ``PackedSequence``, two PackedSequences sharing its
        ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices``.

    Raises:
        TypeError: if ``output`` is neither a Tensor nor a PackedSequence.
        ValueError: if the last dimension is odd.

    Example:
        >>> import torch
        >>> from birnn_utils import split_directions
        >>> rnn = torch.nn.GRU(input_size=3, hidden_size=4, bidirectional=True)
        >>> output, h_n = rnn(torch.randn(5, 2, 3))  # T=5, B=2
        >>> forward, backward = split_directions(output)
        >>> forward.shape, backward.shape
        (torch.Size([5, 2, 4]), torch.Size([5, 2, 4]))
        >>> torch.equal(backward[0], h_n[1])  # backward final state sits at t = 0
        True
    """
    if isinstance(output, PackedSequence):
        data = _packed_data(output, "split_directions")
        forward, backward = _split_directions(data, "output.data")
        return Directions(output._replace(data=forward), output._replace(data=backward))
    forward, backward = _split_directions(
        check_tensor(output, "split_directions", "output", or_packed=True)
    )
    # Views of a Tensor subclass keep its class (torch's __torch_function__).
    return Directions(cast(_Output, forward), cast(_Output, backward))


def check_mode(mode: str | None, where: str, name: str = "mode", allow_none: bool = False) -> None:
    """Raise unless ``mode`` is one of ``where``'s modes (or ``None`` where allowed); scriptable.

    The one check of a merge mode, for :func:`merge_directions`, :func:`bridge_states` (three
    modes), :class:`~birnn_utils.Bidirectional` and :class:`~birnn_utils.BiRNNEncoder`.

    Raises:
        ValueError: naming ``where``, the argument ``name`` and the modes; Keras's ``"ave"`` is
            pointed to ``"mean"``.
    """
    modes = _modes(where)
    if mode is None:
        if allow_none:
            return
    elif mode in modes:
        return
    options = ", ".join(["'" + option + "'" for option in modes])
    if allow_none:
        options += " or None"
    # Other types reach here from Python callers only: TorchScript has typed `mode` already.
    shown = "'" + mode + "'" if isinstance(mode, str) else str(mode)
    hint = " (Keras's 'ave' is 'mean' here)" if shown == "'ave'" else ""
    raise ValueError(where + ": `" + name + "` must be one of " + options + ", got " + shown + hint)


def _merge_tensors(forward: Tensor, backward: Tensor, mode: str) -> Tensor:
    if mode == "concat":
        return torch.cat([forward, backward], dim=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mean":
        return (forward + backward) / 2
    if mode == "mul":
        return forward * backward
    return torch.stack([forward, backward], dim=-2)


def _merge_directions(forward: Tensor, backward: Tensor, mode: str) -> Tensor:
    check_mode(mode, "merge_directions")
    if forward.shape != backward.shape:
        raise ValueError(
            "merge_directions: `forward` and `backward` must have the same shape, got "
            f"{format_shape(forward)} and {format_shape(backward)}"
        )
    if forward.dim() == 0:
        raise ValueError("merge_directions: `forward` and `backward` must not be scalars")
    return _merge_tensors(forward, backward, mode)


def _same_indices(a: Tensor | None, b: Tensor | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    return not value_checks_enabled() or torch.equal(a, b)


@overload
def merge_directions(forward: Tensor, backward: Tensor, mode: MergeMode = "concat") -> Tensor: ...
@overload
def merge_directions(
    forward: PackedSequence, backward: PackedSequence, mode: MergeMode = "concat"
) -> PackedSequence: ...
def merge_directions(
    forward: Tensor | PackedSequence,
    backward: Tensor | PackedSequence,
    mode: MergeMode = "concat",
) -> Tensor | PackedSequence:
    """Combine forward and backward features into one, the inverse of :func:`split_directions`.

    Args:
        forward: Tensor ``... x H`` or PackedSequence, the forward direction.
        backward: the backward direction, of the same type and shape as ``forward``
            (for PackedSequences, the same ``batch_sizes`` and indices).
        mode: ``"concat"`` (``... x 2H``, the layout native bidirectional RNNs use),
            ``"sum"``, ``"mean"``, ``"mul"`` (``... x H``), or ``"stack"`` (``... x 2 x H``, a
            new dimension before the features, forward first).

    Returns:
        A Tensor, or a PackedSequence carrying ``forward``'s ``batch_sizes`` and indices.
        ``merge_directions(*split_directions(x))`` equals ``x``.

    Raises:
        TypeError: if the two are not both Tensors or both PackedSequences.
        ValueError: for an unknown ``mode``, different shapes, or different ``batch_sizes``.

    Example:
        >>> import torch
        >>> from birnn_utils import merge_directions, split_directions
        >>> output = torch.randn(5, 2, 8)
        >>> torch.equal(merge_directions(*split_directions(output)), output)
        True
        >>> merge_directions(*split_directions(output), mode="stack").shape
        torch.Size([5, 2, 2, 4])
    """
    if isinstance(forward, PackedSequence) and isinstance(backward, PackedSequence):
        if not torch.equal(forward.batch_sizes, backward.batch_sizes):
            raise ValueError(
                "merge_directions: `forward` and `backward` must have the same batch_sizes, got "
                f"{forward.batch_sizes.tolist()} and {backward.batch_sizes.tolist()}"
            )
        if not (
            _same_indices(forward.sorted_indices, backward.sorted_indices)
            and _same_indices(forward.unsorted_indices, backward.unsorted_indices)
        ):
            raise ValueError(
                "merge_directions: `forward` and `backward` must have the same sorted_indices "
                "and unsorted_indices (the same batch order)"
            )
        return forward._replace(data=_merge_directions(forward.data, backward.data, mode))
    if not (isinstance(forward, Tensor) and isinstance(backward, Tensor)):
        raise TypeError(
            "merge_directions: `forward` and `backward` must be both Tensors or both "
            f"PackedSequences, got {type(forward).__name__} and {type(backward).__name__}"
        )
    return _merge_directions(forward, backward, mode)


def _map_state(fn: Callable[[Tensor], _R], state: State, where: str, name: str) -> _R | Any:
    if isinstance(state, Directions):
        # A tuple of two Tensors, as an LSTM's (h_n, c_n) is: taken for one, it mixes layers.
        raise TypeError(
            f"{where}: `{name}` must be a Tensor or an LSTM's (h_n, c_n), got a Directions "
            "pair (a Bidirectional's states, one per direction), which would be read as "
            "(h_n, c_n); stack each direction's layers into the native layout first, "
            "flatten_states(torch.stack([forward, backward], 1)), or use BiRNNEncoder.bridge"
        )
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and state and all(isinstance(s, Tensor) for s in state):
        return tuple(fn(s) for s in state)
    raise TypeError(
        f"{where}: `{name}` must be a Tensor or a tuple of Tensors such as an LSTM's "
        f"(h_n, c_n), got {type(state).__name__}"
    )


def _unflatten(h_n: Tensor, where: str, name: str = "h_n") -> Tensor:
    if h_n.dim() not in (2, 3):
        raise ValueError(
            f"{where}: `{name}` must be 3-D (num_layers * 2, B, H_out) or, unbatched, 2-D, "
            f"got shape {format_shape(h_n)}"
        )
    rows = h_n.shape[0]
    if rows % 2:
        raise ValueError(
            f"{where}: the first dimension of `{name}` (={rows}) must be even "
            "(num_layers * 2): is the RNN bidirectional?"
        )
    return torch.unflatten(h_n, 0, [rows // 2, 2])


@overload
def unflatten_states(h_n: Tensor) -> Tensor: ...
@overload
def unflatten_states(h_n: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]: ...
def unflatten_states(h_n: State) -> State:
    """View a bidirectional ``h_n`` (or ``c_n``) with the layer and direction as separate dims.

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out`` (``(num_layers * 2) x H_out`` unbatched),
            or an LSTM's ``(h_n, c_n)``.

    Returns:
        A view ``num_layers x 2 x B x H_out``: ``[k, 0]`` is layer ``k`` forward, ``[k, 1]``
        layer ``k`` backward. For a tuple, the tuple of the views.

    Raises:
        TypeError: if ``h_n`` is not a Tensor or a tuple of Tensors.
        ValueError: if it is not 2-D/3-D or its first dimension is odd.

    Example:
        >>> import torch
        >>> from birnn_utils import unflatten_states
        >>> lstm = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True)
        >>> _, (h_n, c_n) = lstm(torch.randn(5, 7, 3))
        >>> h, c = unflatten_states((h_n, c_n))
        >>> h.shape, c.shape
        (torch.Size([2, 2, 7, 2]), torch.Size([2, 2, 7, 4]))
        >>> torch.equal(h[1, 1], h_n[3])  # layer 1, backward
        True
    """
    return _map_state(lambda t: _unflatten(t, "unflatten_states"), h_n, "unflatten_states", "h_n")


def _flatten(states: Tensor) -> Tensor:
    if states.dim() not in (3, 4) or states.shape[1] != 2:
        raise ValueError(
            "flatten_states: `states` must be (num_layers, 2, B, H_out) or, unbatched, "
            f"(num_layers, 2, H_out), got shape {format_shape(states)}"
        )
    return states.flatten(0, 1)


@overload
def flatten_states(states: Tensor) -> Tensor: ...
@overload
def flatten_states(states: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]: ...
def flatten_states(states: State) -> State:
    """Inverse of :func:`unflatten_states`: back to the native ``(num_layers * 2) x B x H_out``.

    Use it to build an initial state ``h_0`` for a bidirectional RNN from per-layer,
    per-direction pieces.

    Args:
        states: Tensor ``num_layers x 2 x B x H_out`` (``num_layers x 2 x H_out`` unbatched),
            or a tuple of them (LSTM).

    Returns:
        Tensor ``(num_layers * 2) x B x H_out`` (a view when the input's layout allows), or a
        tuple of them.

    Raises:
        TypeError: if ``states`` is not a Tensor or a tuple of Tensors.
        ValueError: if its shape is not ``(num_layers, 2, ...)``.

    Example:
        >>> import torch
        >>> from birnn_utils import flatten_states, unflatten_states
        >>> h_n = torch.randn(6, 3, 4)
        >>> torch.equal(flatten_states(unflatten_states(h_n)), h_n)
        True
    """
    return _map_state(_flatten, states, "flatten_states", "states")


def _layer_pair(h_n: Tensor, layer: int) -> tuple[Tensor, Tensor]:
    layers = _unflatten(h_n, "final_states")
    layer = check_layer(layer, layers.shape[0], "final_states")
    return layers[layer, 0], layers[layer, 1]


@overload
def final_states(h_n: Tensor, *, layer: int = -1) -> Directions[Tensor]: ...
@overload
def final_states(
    h_n: tuple[Tensor, Tensor], *, layer: int = -1
) -> tuple[Directions[Tensor], Directions[Tensor]]: ...
def final_states(
    h_n: State, *, layer: int = -1
) -> Directions[Tensor] | tuple[Directions[Tensor], Directions[Tensor]]:
    """The final states of one layer, forward and backward.

    The forward state is after the last valid step; the backward state is after reading the
    sequence back to ``t = 0``, so it equals the output's backward half at ``t = 0``.

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out`` or an LSTM's ``(h_n, c_n)``.
        layer: which layer, ``-1`` (the top layer) by default; negative values count from the top.

    Returns:
        ``Directions(forward, backward)`` of views ``B x H_out`` (``c_n`` is ``B x hidden_size``
        under ``proj_size``); for a tuple, a tuple of ``Directions``, one per tensor.

    Raises:
        TypeError: for a ``h_n`` that is not a Tensor or tuple of Tensors, or a non-int ``layer``.
        ValueError: if ``h_n`` is not 2-D/3-D or its first dimension is odd.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils import final_states
        >>> gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
        >>> output, h_n = gru(torch.randn(5, 2, 3))
        >>> forward, backward = final_states(h_n)  # top layer
        >>> torch.equal(forward, output[-1, :, :4])  # the last step's first half
        True
        >>> torch.equal(backward, output[0, :, 4:])  # the first step's second half
        True
    """
    return _map_state(lambda t: Directions(*_layer_pair(t, layer)), h_n, "final_states", "h_n")


def _bridge(h_n: Tensor, mode: str) -> Tensor:
    check_mode(mode, "bridge_states")
    layers = _unflatten(h_n, "bridge_states")
    forward, backward = layers[:, 0], layers[:, 1]
    return _merge_tensors(forward, backward, mode)


@overload
def bridge_states(h_n: Tensor, mode: BridgeMode = "concat") -> Tensor: ...
@overload
def bridge_states(
    h_n: tuple[Tensor, Tensor], mode: BridgeMode = "concat"
) -> tuple[Tensor, Tensor]: ...
def bridge_states(h_n: State, mode: BridgeMode = "concat") -> State:
    """The initial state of a unidirectional decoder from a bidirectional encoder's final state.

    Each layer's forward and backward rows are combined, so a decoder with the encoder's
    ``num_layers`` can start from it (the usual seq2seq bridge).

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out``, or an LSTM's ``(h_n, c_n)``.
        mode: ``"concat"`` gives ``num_layers x B x 2*H_out`` (the decoder's hidden size is
            ``2 * H_out``; the same as OpenNMT-py's ``cat([h[0::2], h[1::2]], 2)`` and fairseq's
            ``combine_bidir``); ``"sum"`` and ``"mean"`` give ``num_layers x B x H_out``.

    Returns:
        A Tensor, or for an LSTM a tuple ``(h_0, c_0)`` for the decoder.

    Raises:
        TypeError: if ``h_n`` is not a Tensor or a tuple of Tensors.
        ValueError: for an unknown ``mode``, or a ``h_n`` whose first dimension is odd.

    Example:
        >>> import torch
        >>> from birnn_utils import bridge_states
        >>> encoder = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        >>> decoder = torch.nn.LSTM(5, 8, num_layers=2)
        >>> _, state = encoder(torch.randn(6, 2, 3))
        >>> h_0, c_0 = bridge_states(state)
        >>> h_0.shape
        torch.Size([2, 2, 8])
        >>> decoder(torch.randn(1, 2, 5), (h_0, c_0))[0].shape
        torch.Size([1, 2, 8])
    """
    return _map_state(lambda t: _bridge(t, mode), h_n, "bridge_states", "h_n")


def _packed_final_outputs(output: PackedSequence) -> Directions[Tensor]:
    data, batch_sizes = _packed_data(output, "final_outputs"), output.batch_sizes
    half = _width(data, "final_outputs", "output.data")
    last_step, starts = packed_steps(batch_sizes)
    batch = last_step.shape[0]
    last = torch.from_numpy(starts[last_step] + np.arange(batch))
    last = last.to(data.device, non_blocking=True)
    forward = data[last, ..., :half]
    backward = data[:batch, ..., half:]
    if output.unsorted_indices is not None:
        forward = forward.index_select(0, output.unsorted_indices)
        backward = backward.index_select(0, output.unsorted_indices)
    return Directions(forward, backward)


def _final_outputs(
    output: Tensor, lengths: Tensor | None, batch_first: bool
) -> tuple[Tensor, Tensor]:
    if output.dim() != 3:
        layout = "B x T x 2*H_out" if batch_first else "T x B x 2*H_out"
        raise ValueError(
            f"final_outputs: `output` must be 3-D ({layout}), got shape {format_shape(output)}"
        )
    _width(output, "final_outputs", "output")
    steps = output.shape[1] if batch_first else output.shape[0]
    batch = output.shape[0] if batch_first else output.shape[1]
    if lengths is None:
        if steps == 0:
            raise ValueError("final_outputs: `output` has no time steps (T=0); pass `lengths`")
        return final_steps(output, None, batch_first)
    lens = check_lengths(lengths, batch, steps, output.device, "final_outputs")
    return final_steps(output, lens, batch_first)


def final_steps(output: Tensor, lens: Tensor | None, batch_first: bool) -> tuple[Tensor, Tensor]:
    """The unchecked core of :func:`final_outputs` for a padded ``output``.

    For callers that have checked everything already: ``output`` 3-D with an even last
    dimension, ``lens`` int64 on its device and in ``[0, T]``, or ``None`` for ``T > 0`` steps
    each.
    """
    half = output.shape[-1] // 2
    time_major = output.transpose(0, 1) if batch_first else output
    steps, batch = time_major.shape[0], time_major.shape[1]
    if lens is None:
        return time_major[-1, :, :half], time_major[0, :, half:]
    if steps == 0:
        zeros = output.new_zeros([batch, half])
        return zeros, zeros.clone()
    rows = torch.arange(batch, device=output.device)
    forward = time_major[(lens - 1).clamp(min=0), rows, :half]
    valid = (lens > 0).unsqueeze(1)
    zeros = torch.zeros_like(forward)
    return torch.where(valid, forward, zeros), torch.where(valid, time_major[0, :, half:], zeros)


def final_outputs(
    output: Tensor | PackedSequence,
    lengths: LengthsLike | None = None,
    *,
    batch_first: bool = False,
) -> Directions[Tensor]:
    """The features of each sequence's final step in each direction, from ``output`` alone.

    The forward direction ends at each sequence's **last valid step** ``lengths[b] - 1``; the
    backward direction ends at **t = 0**. Taking ``output[-1]`` instead is the classic bug: it
    reads padding for short sequences, and the backward half there has seen one step only. For a
    packed run, the result equals :func:`final_states` of the top layer.

    Args:
        output: a bidirectional RNN's output, Tensor ``T x B x 2*H_out`` (``B x T x 2*H_out``
            with ``batch_first``), or a ``PackedSequence``.
        lengths: ``B`` valid lengths (1-D integer Tensor on any device, list/tuple of ints, or
            numpy array), each in ``[0, T]``; ``None`` means every sequence has length ``T``.
            Must be ``None`` for a PackedSequence, which carries its own.
        batch_first: whether a Tensor ``output`` is ``B x T x 2*H_out``.

    Returns:
        ``Directions(forward, backward)``, each ``B x H_out``, in the caller's batch order.
        A sequence of length 0 gives zeros in both.

    Raises:
        TypeError: for an ``output`` of another type, or ``lengths`` that are not integers.
        ValueError: for a Tensor that is not 3-D, an odd last dimension, lengths out of range or
            of the wrong count, or ``lengths`` given with a PackedSequence.

    Example:
        >>> import torch
        >>> from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        >>> from birnn_utils import final_outputs, final_states
        >>> gru = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> packed_out, h_n = gru(pack_padded_sequence(x, lengths, batch_first=True))
        >>> output, _ = pad_packed_sequence(packed_out, batch_first=True)
        >>> ends = final_outputs(output, lengths, batch_first=True)
        >>> all(torch.equal(a, b) for a, b in zip(ends, final_states(h_n)))
        True
    """
    if isinstance(output, PackedSequence):
        reject_lengths_for_packed(lengths, "final_outputs")
        return _packed_final_outputs(output)
    output = check_tensor(output, "final_outputs", "output", or_packed=True)
    lens = None if lengths is None else lengths_tensor(lengths, "final_outputs")
    return Directions(*_final_outputs(output, lens, batch_first))
