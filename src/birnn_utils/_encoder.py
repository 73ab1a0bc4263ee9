"""A ready bidirectional encoder: lengths or mask in, per-step and final features out."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from . import nn as birnn_nn
from ._bidirectional import Bidirectional
from ._checks import check_padded
from ._layout import (
    BridgeMode,
    Directions,
    MergeMode,
    State,
    bridge_states,
    check_mode,
    final_steps,
    flatten_states,
    merge_directions,
    output_size,
    split_directions,
)
from ._lengths import LengthsLike, PaddingSide, check_padding_side, check_right_padded
from ._packed import RECURRENT, cpu_lengths, run_packed_core, runs_kernel
from ._padding import _move_padding
from ._tree import tree_map

__all__ = ["BiRNNEncoder", "EncoderOutput"]


class EncoderOutput(NamedTuple):
    """What :class:`BiRNNEncoder` returns, in the caller's batch order.

    Attributes:
        outputs: per-step features ``T x B x F`` (``B x T x F`` with ``batch_first``), zeros at
            padding (on the encoder's ``padding_side``), the two directions merged by the
            encoder's ``merge`` (``F`` is its ``output_size``; ``"stack"`` gives
            ``... x 2 x H_out``).
        final: ``Directions(forward, backward)``, each ``B x H_out``: the top layer's final
            states, the forward one at each sequence's last valid step and the backward one at
            its first (``t = 0`` when right-padded); zeros for a sequence of length 0.
            ``torch.cat(final, -1)`` is the usual classifier feature.
        states: the module's own final state, ``h_n`` or ``(h_n, c_n)`` (for a
            :class:`~birnn_utils.Bidirectional`, its ``Directions`` of states).
        lengths: int64 ``(B,)`` on the input's device.

    Example:
        >>> import torch
        >>> from birnn_utils import BiRNNEncoder
        >>> encoder = BiRNNEncoder(torch.nn.GRU(3, 4, bidirectional=True))
        >>> encoded = encoder(torch.randn(5, 2, 3), lengths=[5, 3])
        >>> encoded.outputs.shape, torch.cat(encoded.final, -1).shape, encoded.lengths
        (torch.Size([5, 2, 8]), torch.Size([2, 8]), tensor([5, 3]))
    """

    outputs: Tensor
    final: Directions
    states: Any
    lengths: Tensor


def _check_rnn(rnn: nn.Module) -> None:
    if isinstance(rnn, Bidirectional):  # what it merges is checked here, once
        if rnn.merge != "concat":
            raise ValueError(
                "BiRNNEncoder: a Bidirectional `rnn` must have merge='concat', got "
                f"{rnn.merge!r}: set the merge mode on BiRNNEncoder instead"
            )
        return
    if not isinstance(rnn, RECURRENT):
        raise TypeError(
            "BiRNNEncoder: `rnn` must be a bidirectional nn.RNN, nn.GRU or nn.LSTM, or a "
            f"Bidirectional, got {type(rnn).__name__}"
        )
    if not rnn.bidirectional:
        raise ValueError(
            "BiRNNEncoder: `rnn` must be bidirectional, got a unidirectional "
            f"{type(rnn).__name__}: build it with bidirectional=True"
        )


_WRAPPERS: dict[type[nn.Module], Any] = {
    nn.RNN: birnn_nn.RNN,
    nn.GRU: birnn_nn.GRU,
    nn.LSTM: birnn_nn.LSTM,
}


def _compilable(rnn: nn.Module) -> nn.Module:
    """``rnn``, or for a plain ``torch.nn`` RNN/GRU/LSTM its :mod:`birnn_utils.nn` counterpart.

    ``torch.compile`` does not trace ``torch.nn``'s RNN modules (a graph break: the module runs
    eagerly; an error under ``fullgraph=True``); the counterpart holds the very same Parameters
    under the same names. Subclasses, parametrized modules and modules with forward
    hooks are kept as they are: their forward is not the kernel alone.
    """
    wrapper = _WRAPPERS.get(type(rnn))
    if wrapper is None or not runs_kernel(rnn):
        return rnn
    return wrapper.from_module(rnn)  # type: ignore[no-any-return]


def _h_out(rnn: nn.Module) -> int:
    module = rnn.forward_module if isinstance(rnn, Bidirectional) else rnn
    if isinstance(module, RECURRENT):
        return output_size(module)
    # Another module: whatever width it declares.
    size = getattr(module, "proj_size", 0) or getattr(module, "hidden_size", None)
    if not isinstance(size, int):
        raise TypeError(
            f"BiRNNEncoder.output_size: cannot tell the output width of a {type(module).__name__}"
            ": it has no int `hidden_size` (or `proj_size`)"
        )
    return size


def _encode_lengths(
    lengths: LengthsLike | None, mask: Tensor | None, batch: int, steps: int, padding_side: str
) -> Tensor | None:
    """The lengths the caller gave, directly or as a mask, checked and on the CPU.

    Packing needs them there. Lengths or a mask on a GPU are copied once, then checked on the
    host: one transfer, the call's only value read.
    """
    if mask is None:
        return None if lengths is None else cpu_lengths(lengths, batch, steps, "BiRNNEncoder")
    if lengths is not None:
        raise ValueError("BiRNNEncoder: pass `lengths` or `mask`, not both")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"BiRNNEncoder: `mask` must be a bool Tensor, got {got}")
    if mask.shape != (batch, steps):
        raise ValueError(
            f"BiRNNEncoder: `mask` must be B x T = {(batch, steps)} (True at valid steps), "
            f"got shape {tuple(mask.shape)}"
        )
    mask = mask.to("cpu")
    check_right_padded(mask, "BiRNNEncoder", padding_side)
    return mask.sum(dim=1, dtype=torch.int64)


def _encode(
    rnn: nn.Module,
    input: Tensor,
    lengths: LengthsLike | None,
    mask: Tensor | None,
    hx: Any,
    merge: MergeMode,
    padding_side: str,
) -> EncoderOutput:
    batch_first = bool(getattr(rnn, "batch_first", False))
    check_padded(input, batch_first, "BiRNNEncoder")
    batch_dim = 0 if batch_first else 1
    batch, steps = input.shape[batch_dim], input.shape[1 - batch_dim]
    lens = _encode_lengths(lengths, mask, batch, steps, padding_side)
    if lens is None and (steps == 0 or batch == 0):
        lens = torch.zeros(batch, dtype=torch.int64)  # T = 0, or no sequences at all
    here = None if lens is None else lens.to(input.device, non_blocking=True)
    # Without lengths every sequence fills T, and the padding side does not matter.
    left = here if padding_side == "left" else None
    if left is not None:
        input = _move_padding(input, left, "right", batch_first)
    if lens is None:
        # Every sequence fills T: packing would only copy.
        output, states = rnn(input, hx)
    elif isinstance(rnn, Bidirectional):
        # It packs its native modules itself, and runs others on the padded input.
        output, states = rnn._forward_with_lengths(input, hx, lens, {})
    else:
        output, states = run_packed_core(rnn, input, lens, hx, batch_first, "BiRNNEncoder")
    final = Directions(*final_steps(output, here, batch_first))  # lengths checked above
    if here is None:
        here = torch.full((batch,), steps, dtype=torch.int64, device=input.device)
    if merge != "concat":
        output = merge_directions(*split_directions(output), mode=merge)
    if left is not None:  # after the merge: "sum", "mean" and "mul" leave half to move
        output = _move_padding(output, left, "left", batch_first)
    return EncoderOutput(output, final, states, here)


class BiRNNEncoder(nn.Module):
    """A bidirectional RNN encoder that takes lengths or a mask and returns ready features.

    It wraps the usual encoder code: pack (unsorted lengths and empty sequences allowed), run,
    unpack to the input's ``T``, read each sequence's final features at the right steps, and
    merge the two directions, returning everything in the caller's batch order.

    The encoder compiles: ``torch.compile(encoder, fullgraph=True, dynamic=True)`` gives one
    graph, with lengths or a mask, for any ``T`` and ``B``, and ``torch.export`` takes it with
    dynamic ``T`` and ``B``; the recurrence is one node, the custom op
    ``birnn_utils::packed_rnn``. For that, a plain ``torch.nn.RNN``/``GRU``/``LSTM`` (which
    ``torch.compile`` does not trace: a graph break, the module runs eagerly; an error under
    ``fullgraph=True``) is replaced by its :mod:`birnn_utils.nn` counterpart built with
    ``from_module``: ``encoder.rnn`` is that module, holding the very Parameters of the one
    given, under the same names, so the ``state_dict`` keys stay ``rnn.weight_ih_l0``, ... and
    training the encoder trains the given module. Subclasses, parametrized modules and modules
    with forward hooks are kept as given (and do not compile); a
    :class:`~birnn_utils.Bidirectional` compiles when its modules are :mod:`birnn_utils.nn` ones.

    Args:
        rnn: a bidirectional ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (any ``num_layers``,
            ``proj_size``, ``batch_first``) or :mod:`birnn_utils.nn` counterpart, or a
            :class:`~birnn_utils.Bidirectional` with ``merge="concat"`` (its modules' states
            must have the batch on dim 1, as ``h_n`` has, for sequences of length 0 and for
            :meth:`bridge`).
        merge: how :attr:`EncoderOutput.outputs` combines the directions, one of the modes of
            :func:`~birnn_utils.merge_directions`: ``"concat"``, ``"sum"``, ``"mean"``,
            ``"mul"``, ``"stack"``.
        padding_side: where the inputs (and masks) hold their padding: ``"right"``, or
            ``"left"`` (Keras's ``pad_sequences`` default: sequence ``b`` at steps
            ``T - lengths[b] .. T - 1``). Left-padded input is moved to the right (one gather,
            see :func:`~birnn_utils.move_padding`), encoded, and its outputs moved back, so
            :attr:`EncoderOutput.outputs` comes in the caller's layout; ``final``, ``states``
            and ``lengths`` do not depend on the side.

    Attributes:
        rnn: the module.
        merge: the merge mode.
        padding_side: the side of the padding.

    Raises:
        TypeError: if ``rnn`` is not one of the modules above.
        ValueError: if ``rnn`` is unidirectional, a Bidirectional that does not concatenate,
            ``merge`` is unknown, or ``padding_side`` is not ``"left"`` or ``"right"``.

    Example:
        >>> import torch
        >>> from birnn_utils import BiRNNEncoder
        >>> lstm = torch.nn.LSTM(
        ...     3, 4, num_layers=2, bidirectional=True, batch_first=True
        ... )
        >>> encoder = BiRNNEncoder(lstm, merge="sum")
        >>> mask = torch.tensor([[True, True, False], [False, False, False]])
        >>> encoded = encoder(torch.randn(2, 3, 3), mask=mask)
        >>> encoded.outputs.shape, encoder.output_size, encoded.lengths
        (torch.Size([2, 3, 4]), 4, tensor([2, 0]))
        >>> bool(torch.cat(encoded.final, -1)[1].eq(0).all())  # the empty sequence
        True
        >>> h_0, c_0 = encoder.bridge(encoded)  # a 2-layer decoder of hidden size 8
        >>> h_0.shape
        torch.Size([2, 2, 8])
        >>> keras_style = BiRNNEncoder(lstm, merge="sum", padding_side="left")
        >>> left_mask = mask.flip(1)  # padding on the left
        >>> encoded = keras_style(torch.randn(2, 3, 3), mask=left_mask)
        >>> encoded.outputs[0, 0].abs().sum().item(), encoded.lengths
        (0.0, tensor([2, 0]))
    """

    def __init__(
        self,
        rnn: nn.Module,
        *,
        merge: MergeMode = "concat",
        padding_side: PaddingSide = "right",
    ) -> None:
        super().__init__()
        _check_rnn(rnn)
        check_mode(merge, "BiRNNEncoder", "merge")
        self.rnn = _compilable(rnn)
        self.merge = merge
        self.padding_side = check_padding_side(padding_side, "BiRNNEncoder")

    @property
    def output_size(self) -> int:
        """``F``, the width of the merged per-step features.

        ``2 * H_out`` for ``"concat"``, ``H_out`` otherwise (``"stack"`` adds a dimension of 2
        before it).
        """
        h_out = _h_out(self.rnn)
        return 2 * h_out if self.merge == "concat" else h_out

    def forward(
        self,
        input: Tensor,
        lengths: LengthsLike | None = None,
        *,
        mask: Tensor | None = None,
        initial_state: Any = None,
    ) -> EncoderOutput:
        """Encode padded sequences (padded on the encoder's ``padding_side``).

        Args:
            input: Tensor ``T x B x *`` (``B x T x *`` with the module's ``batch_first``).
            lengths: ``B`` valid lengths in ``[0, T]`` (1-D integer Tensor, list/tuple of ints
                or numpy array), any order; or ``None``.
            mask: bool ``B x T``, ``True`` at valid steps and padded on ``padding_side``; or
                ``None``. Pass ``lengths`` or ``mask``, or neither for sequences that all fill
                ``T``.
            initial_state: the module's initial state in the caller's batch order, or ``None``.

        Returns:
            An :class:`EncoderOutput`.

        Raises:
            TypeError: for an ``input`` that is not a Tensor, a ``mask`` that is not bool, or
                ``lengths`` that are not integers.
            ValueError: for an ``input`` that is not 3-D, both ``lengths`` and ``mask``, a mask
                of the wrong shape or not padded on ``padding_side``, or lengths out of range.
        """
        return _encode(self.rnn, input, lengths, mask, initial_state, self.merge, self.padding_side)

    def bridge(self, encoded: EncoderOutput, mode: BridgeMode = "concat") -> State:
        """The initial state of a unidirectional decoder, from an encoding's final states.

        Args:
            encoded: what :meth:`forward` returned.
            mode: see :func:`~birnn_utils.bridge_states`: ``"concat"`` (the decoder's hidden
                size is ``2 * H_out``), ``"sum"`` or ``"mean"``.

        Returns:
            ``h_0`` ``num_layers x B x H``, or ``(h_0, c_0)`` for an LSTM. For a
            :class:`~birnn_utils.Bidirectional` of unidirectional modules, each layer's
            forward and backward states are combined the same way.
        """
        states: State = encoded.states
        if isinstance(states, Directions):
            # A Bidirectional's states: interleave them into the native layer-major layout.
            states = tree_map(
                lambda forward, backward: flatten_states(torch.stack([forward, backward], 1)),
                states.forward,
                states.backward,
                where="BiRNNEncoder.bridge",
                name="encoded.states",
            )
        return bridge_states(states, mode)
