"""Bidirectional: two unidirectional sequence modules run as the two directions of one."""

from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ._checks import check_padded
from ._layout import _MERGE_MODES, Directions, MergeMode, merge_directions
from ._lengths import LengthsLike, as_lengths, lengths_to_mask
from ._packed import run_packed
from ._reverse import reverse_sequences

__all__ = ["Bidirectional"]


def _check_unidirectional(module: Any, name: str) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"Bidirectional: `{name}` must be an nn.Module with the nn.RNN calling convention, "
            f"got {type(module).__name__}"
        )
    if getattr(module, "bidirectional", False):
        raise ValueError(
            f"Bidirectional: `{name}` must be unidirectional, got a bidirectional "
            f"{type(module).__name__}: build it with bidirectional=False"
        )


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every submodule's ``reset_parameters()`` called."""
    fresh = copy.deepcopy(module)
    resets = [r for m in fresh.modules() if callable(r := getattr(m, "reset_parameters", None))]
    if not resets and any(True for _ in fresh.parameters()):
        raise ValueError(
            f"Bidirectional: cannot re-initialise a copy of `forward` ({type(module).__name__}): "
            "none of its submodules has reset_parameters(); pass `backward` explicitly"
        )
    for reset in resets:
        reset()
    return fresh


def _bidirectional(
    forward: nn.Module,
    backward: nn.Module,
    input: Tensor | PackedSequence,
    lengths: LengthsLike | None,
    initial_state: Directions | None,
    merge: str | None,
    batch_first: bool,
) -> tuple[Any, Directions]:
    """Run ``forward`` on ``input`` and ``backward`` on it reversed, then align and merge."""
    if initial_state is None:
        initial_state = Directions(None, None)
    lens = padding = None
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError(
                "Bidirectional: `lengths` must be None for a PackedSequence, which carries its "
                f"own lengths, got {type(lengths).__name__} (an initial state goes in "
                "`initial_state=`)"
            )
    elif isinstance(input, Tensor):
        check_padded(input, batch_first, "Bidirectional")
        if lengths is not None:
            lens = as_lengths(
                lengths,
                batch_size=input.shape[0 if batch_first else 1],
                max_length=input.shape[1 if batch_first else 0],
                device=input.device,
                where="Bidirectional",
            )
            # Steps past each end hold what the modules made of the padding: they are zeroed,
            # as pad_packed_sequence does.
            valid = lengths_to_mask(lens, input.shape[1 if batch_first else 0])
            padding = ~(valid if batch_first else valid.t()).unsqueeze(-1)
    else:
        raise TypeError(
            "Bidirectional: `input` must be a Tensor or a PackedSequence, "
            f"got {type(input).__name__}"
        )

    def reverse(x: Any) -> Any:
        return reverse_sequences(x, lens, batch_first=batch_first)

    forward_output, forward_state = forward(input, initial_state.forward)
    backward_output, backward_state = backward(reverse(input), initial_state.backward)
    backward_output = reverse(backward_output)
    if padding is not None:
        forward_output = forward_output.masked_fill(padding, 0)
        backward_output = backward_output.masked_fill(padding, 0)
    output = (
        Directions(forward_output, backward_output)
        if merge is None
        else merge_directions(forward_output, backward_output, merge)
    )
    return output, Directions(forward_state, backward_state)


class Bidirectional(nn.Module):
    """Run any unidirectional sequence module as a bidirectional one.

    ``forward`` reads each sequence from its start; ``backward`` (the reverse module) reads it
    from its last valid step back to ``t = 0``, and its output is reversed back so both are
    aligned with the input's steps, as ``nn.GRU(bidirectional=True)`` aligns them. Any module
    with the ``nn.RNN`` calling convention works: ``module(input, state=None) -> (output,
    state)``, ``input`` a padded Tensor or (when the module takes one) a PackedSequence.

    With the weights of a native single-layer bidirectional ``nn.RNN``/``nn.GRU``/``nn.LSTM``,
    ``Bidirectional(forward, backward)`` gives its outputs and final states exactly. A native
    ``num_layers``-layer bidirectional module is a stack of single-layer ones (each layer reads
    both directions of the one below); ``Bidirectional`` of two multi-layer modules instead runs
    two independent stacks.

    With a padded Tensor and ``lengths``, the backward module reads each sequence reversed
    within its length, so padding never precedes valid steps in either direction and every
    output at a valid step is exact; outputs at padding steps are zeros. When both modules are
    ``nn.RNN``/``nn.GRU``/``nn.LSTM``, the input is packed internally (with
    :func:`~birnn_utils.run_packed`), so the final states are taken at each sequence's last
    valid step and sequences of length 0 keep their initial state. Other modules cannot be
    told where each sequence ends: they run over the padding after it, and their final states
    are those after step ``T - 1``; give them a PackedSequence if they accept one.

    Args:
        forward: the module for the forward direction, unidirectional. Its ``batch_first``
            attribute (``False`` if absent) sets the layout of padded inputs.
        backward: the reverse module for the backward direction, with the same
            ``batch_first``. ``None`` makes a deep copy of ``forward`` and re-initialises it
            (``reset_parameters()`` of each submodule that has one), so the two directions do
            not start equal.
        merge: how the two outputs are combined, a mode of
            :func:`~birnn_utils.merge_directions` (``"concat"`` gives the native layout
            ``... x 2*H_out``), or ``None`` to return ``Directions`` of the two outputs.

    Attributes:
        forward_module: the module for the forward direction (``forward``).
        backward_module: the reverse module for the backward direction (``backward``, or the
            re-initialised copy of ``forward``).
        merge: the ``merge`` argument.

    Raises:
        TypeError: if a module is not an ``nn.Module``.
        ValueError: if a module is bidirectional, their ``batch_first`` differ, ``merge`` is
            unknown, or ``forward`` cannot be re-initialised (no ``reset_parameters()``).

    Example:
        >>> import torch
        >>> from birnn_utils import Bidirectional
        >>> bi = Bidirectional(torch.nn.GRU(3, 4, batch_first=True))
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> output, (h_forward, h_backward) = bi(x, lengths)
        >>> output.shape, h_forward.shape, h_backward.shape
        (torch.Size([2, 5, 8]), torch.Size([1, 2, 4]), torch.Size([1, 2, 4]))
        >>> torch.equal(output[1, 0, 4:], h_backward[0, 1])  # backward ends at t = 0
        True
    """

    def __init__(
        self,
        forward: nn.Module,
        backward: nn.Module | None = None,
        *,
        merge: MergeMode | str | None = "concat",
    ) -> None:
        super().__init__()
        _check_unidirectional(forward, "forward")
        if backward is None:
            backward = _fresh_copy(forward)
        _check_unidirectional(backward, "backward")
        batch_first = (
            getattr(forward, "batch_first", False),
            getattr(backward, "batch_first", False),
        )
        if batch_first[0] != batch_first[1]:
            raise ValueError(
                "Bidirectional: `forward` and `backward` must have the same batch_first, got "
                f"{batch_first[0]} and {batch_first[1]}"
            )
        if merge is not None and merge not in _MERGE_MODES:
            raise ValueError(
                f"Bidirectional: `merge` must be one of {', '.join(map(repr, _MERGE_MODES))} "
                f"or None, got {merge!r}"
            )
        self.forward_module = forward
        self.backward_module = backward
        self.merge = merge

    @property
    def batch_first(self) -> bool:
        """Whether padded inputs and outputs are ``B x T x *``: the modules' ``batch_first``."""
        return bool(getattr(self.forward_module, "batch_first", False))

    def forward(
        self,
        input: Tensor | PackedSequence,
        lengths: LengthsLike | None = None,
        initial_state: Directions | None = None,
    ) -> tuple[Any, Directions]:
        """Run both directions.

        Args:
            input: a padded Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``) or a
                PackedSequence.
            lengths: for a padded Tensor, ``B`` valid lengths in ``[0, T]`` (1-D integer Tensor,
                list/tuple of ints, or numpy array), any order; ``None`` means every sequence
                fills ``T`` (the whole time axis is flipped). Must be ``None`` for a
                PackedSequence.
            initial_state: ``Directions(forward, backward)`` of the modules' initial states
                (an LSTM's ``(h_0, c_0)`` stays a tuple), in the caller's batch order; or
                ``None`` for the modules' defaults.

        Returns:
            ``(output, Directions(forward_state, backward_state))``. ``output`` is the merged
            outputs, a Tensor (zeros at padding when ``lengths`` are given) or a PackedSequence
            like ``input``; with ``merge=None``, ``Directions`` of the two outputs.

        Raises:
            TypeError: for an ``input`` that is neither a Tensor nor a PackedSequence, or an
                ``initial_state`` that is not a ``Directions``.
            ValueError: for a padded ``input`` that is not 3-D, ``lengths`` out of range or of
                the wrong count, or ``lengths`` given with a PackedSequence.
        """
        if initial_state is not None and not isinstance(initial_state, Directions):
            raise TypeError(
                "Bidirectional: `initial_state` must be a Directions(forward, backward) of the "
                f"two modules' initial states, or None, got {type(initial_state).__name__}"
            )
        if (
            lengths is not None
            and isinstance(input, Tensor)
            and input.dim() == 3
            and isinstance(self.forward_module, nn.RNNBase)
            and isinstance(self.backward_module, nn.RNNBase)
        ):
            # Checked here so that errors name Bidirectional, not run_packed.
            batch_dim = 0 if self.batch_first else 1
            lengths = as_lengths(
                lengths,
                batch_size=input.shape[batch_dim],
                max_length=input.shape[1 - batch_dim],
                where="Bidirectional",
            )
            return run_packed(self, input, lengths, initial_state)
        return _bidirectional(
            self.forward_module,
            self.backward_module,
            input,
            lengths,
            initial_state,
            self.merge,
            self.batch_first,
        )
