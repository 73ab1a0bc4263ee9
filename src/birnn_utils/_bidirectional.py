"""Bidirectional: two unidirectional sequence modules run as the two directions of one."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ._checks import check_padded
from ._layout import Directions, MergeMode, _merge_directions, check_mode
from ._lengths import (
    LengthsLike,
    PaddingSide,
    as_lengths,
    check_cu_seqlens,
    check_padding_side,
    reject_lengths_for_packed,
)
from ._packed import cpu_lengths, run_packed_core, runs_kernel, takes_lengths
from ._padding import _move_output_padding, _move_padding, run_on_the_right
from ._reverse import _reverse_packed, _reverse_padded, _reverse_varlen
from ._tree import tree_map
from ._varlen import seq_idx_of, varlen_tokens

__all__ = ["Bidirectional"]


def _check_module(module: object, name: str) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"Bidirectional: `{name}` must be an nn.Module (a recurrent module or a sequence "
            f"mixer), got {type(module).__name__}"
        )
    if getattr(module, "bidirectional", False):
        raise ValueError(
            f"Bidirectional: `{name}` must be unidirectional, got a bidirectional "
            f"{type(module).__name__}: build it with bidirectional=False"
        )


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every submodule's ``reset_parameters()`` called.

    Raises:
        ValueError: if some floating-point state (a Parameter, a buffer, or state a module
            saves its own way, as quantized modules do) lies outside every submodule that has
            ``reset_parameters()``: the copy would start equal to ``module`` there.
    """
    fresh = copy.deepcopy(module)
    covered: set[int] = set()
    for sub in fresh.modules():
        if callable(getattr(sub, "reset_parameters", None)):
            covered.update(id(m) for m in sub.modules())
    for prefix, sub in fresh.named_modules():
        if id(sub) in covered:
            continue
        own = [
            key
            for key, value in sub.state_dict(keep_vars=True).items()
            if "." not in key and (not isinstance(value, Tensor) or value.is_floating_point())
        ]
        if own:
            raise ValueError(
                f"Bidirectional: cannot re-initialise a copy of `forward` "
                f"({type(module).__name__}): `{prefix + '.' if prefix else ''}{own[0]}` is "
                "reset by no reset_parameters(), so both directions would start equal; pass "
                "`backward` explicitly"
            )
    for sub in fresh.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return fresh


def _resolve_batch_first(forward: nn.Module, backward: nn.Module, batch_first: Any) -> bool:
    if batch_first is not None and not isinstance(batch_first, bool):
        raise TypeError(
            f"Bidirectional: `batch_first` must be a bool or None, got {type(batch_first).__name__}"
        )
    own = [getattr(m, "batch_first", None) for m in (forward, backward)]
    if all(isinstance(b, bool) for b in own) and own[0] != own[1]:
        raise ValueError(
            "Bidirectional: `forward` and `backward` must have the same batch_first, got "
            f"{own[0]} and {own[1]}"
        )
    known = next((b for b in own if isinstance(b, bool)), None)
    if batch_first is None:
        if known is None:
            raise ValueError(
                "Bidirectional: `batch_first` is None and neither module has a `batch_first` "
                f"attribute ({type(forward).__name__}): pass batch_first=True for B x T x * "
                "inputs (most sequence mixers) or batch_first=False for T x B x *"
            )
        return known
    if known is not None and known != batch_first:
        raise ValueError(
            f"Bidirectional: `batch_first` (={batch_first}) differs from the modules' "
            f"batch_first ({known})"
        )
    return batch_first


def _outcome(result: object, name: str) -> tuple[Any, Any, bool]:
    """``(output, state, is_rnn)``: the convention is read from what the module returned."""
    if isinstance(result, Tensor):
        return result, None, False
    if isinstance(result, tuple) and len(result) == 2:
        return result[0], result[1], True
    raise TypeError(
        f"Bidirectional: `{name}` returned {type(result).__name__}; expected a Tensor (a sequence "
        "mixer) or an (output, state) pair (the nn.RNN convention)"
    )


def _call(module: nn.Module, x: Any, h: Any, kwargs: dict[str, Any]) -> Any:
    # A mixer takes no state: it is called with none when there is none.
    if h is None:
        return module(x, **kwargs)
    try:
        inspect.signature(module.forward).bind(x, h, **kwargs)
    except TypeError:
        raise TypeError(
            f"Bidirectional: `hx` must be None for a stateless mixer: {type(module).__name__} "
            "takes no state"
        ) from None
    return module(x, h, **kwargs)


_SEQ_IDX: dict[Callable[..., Any], bool] = {}
"""Whether each ``forward`` function seen has a ``seq_idx`` parameter. A plain dict, not
``functools.lru_cache``, which ``torch.compile`` warns about."""


def _takes_seq_idx(module: nn.Module) -> bool:
    """Whether ``module.forward`` has a ``seq_idx`` parameter, as Mamba2's has.

    The signature is read once per ``forward`` function, not at every call.
    """
    forward = module.forward
    function = getattr(forward, "__func__", forward)
    if function not in _SEQ_IDX:
        parameter = inspect.signature(forward).parameters.get("seq_idx")
        _SEQ_IDX[function] = parameter is not None and parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    return _SEQ_IDX[function]


def _with_seq_idx(module: nn.Module, kwargs: dict[str, Any], seq_idx: Tensor | None) -> Any:
    """``kwargs`` with ``seq_idx=`` added for a module that takes it."""
    if seq_idx is None or not _takes_seq_idx(module):
        return kwargs
    return {**kwargs, "seq_idx": seq_idx}


def _stack_states(hx: Directions | None) -> Any:
    """The two directions' states as one state of ``2B`` rows (batch on dim 1), or None."""
    if hx is None or hx.forward is None:
        return None
    return tree_map(
        lambda f, b: torch.cat([f, b], 1), hx.forward, hx.backward, where="Bidirectional", name="hx"
    )


def _halves(x: Tensor, size: int, dim: int) -> tuple[Tensor, Tensor]:
    """The two directions of a tied call's output; ``split`` would give one piece for size 0."""
    return x.narrow(dim, 0, size), x.narrow(dim, size, size)


def _split_state(state: Any, batch: int) -> tuple[Any, Any]:
    def check(s: Tensor) -> Tensor:
        if s.dim() < 2 or s.shape[1] != 2 * batch:
            raise ValueError(
                "Bidirectional: the tied module's state must have the batch on dim 1 (as h_n "
                f"has) to run both directions in one call, got shape {tuple(s.shape)} for "
                f"2 x {batch} rows: pass batch_directions=False"
            )
        return s

    where, name = "Bidirectional", "state"
    state = tree_map(check, state, where=where, name=name)
    forward = tree_map(lambda s: s.narrow(1, 0, batch), state, where=where, name=name)
    backward = tree_map(lambda s: s.narrow(1, batch, batch), state, where=where, name=name)
    return forward, backward


def _reject_left_padding(side: str, because: str, where: str) -> None:
    """Raise for ``padding_side="left"`` on an input that has no padding to move."""
    if side == "left":
        raise ValueError(f"{where}: `padding_side` must be 'right' {because}, got 'left'")


class Bidirectional(nn.Module):
    """Run any unidirectional sequence module as a bidirectional one.

    ``forward`` reads each sequence from its start; ``backward`` (the reverse module) reads it
    from its last valid step back to ``t = 0``, and its output is reversed back so both are
    aligned with the input's steps, as ``nn.GRU(bidirectional=True)`` aligns them. Two kinds of
    module work, told apart by what they return:

    - the ``nn.RNN`` convention, ``module(input, hx=None) -> (output, state)``: the wrapper
      returns ``(output, Directions(forward_state, backward_state))``;
    - stateless sequence mixers (Mamba-style scans, causal convolutions, linear attention),
      ``module(x, **kwargs) -> Tensor``: the wrapper returns the merged Tensor only.

    With the weights of a native single-layer bidirectional ``nn.RNN``/``nn.GRU``/``nn.LSTM``,
    ``Bidirectional(forward, backward)`` gives its outputs and final states exactly. A native
    ``num_layers``-layer bidirectional module is a stack of single-layer ones; a
    ``Bidirectional`` of two multi-layer modules runs two independent stacks instead.

    With a padded Tensor and ``lengths``, the backward module reads each sequence reversed
    within its length, so padding never precedes a valid step in either direction: for causal
    modules every output at a valid step equals running that sequence alone, unpadded (a
    whole-tensor ``flip`` puts the padding first instead). Outputs at padding are zeros. When
    both modules are ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (or their :mod:`birnn_utils.nn`
    counterparts, with hooks or without), the input is packed internally, so the final states
    are taken at each sequence's last valid step and sequences of length 0 keep their initial
    state; other modules run over the padding after each sequence, and their final states are
    those after step ``T - 1``. With :mod:`birnn_utils.nn` modules this compiles
    (``torch.compile(fullgraph=True, dynamic=True)``): each direction is one call of the op
    ``birnn_utils::packed_rnn``.
    ``torch.compile`` refuses ``torch.nn``'s RNN modules, which this wrapper keeps as given.

    ``Bidirectional(m, backward=m)`` ties the weights: one module for both directions, its
    parameters listed once, the gradients of both directions added up in them (partial tying,
    two modules sharing submodules, works as well). With ``batch_directions=True`` a tied module
    runs once, on the input and its reversal as one batch of ``2B`` rows (``2 * total`` tokens
    for ``cu_seqlens``), which is faster for modules whose cost is per call or per step; a
    PackedSequence, or an ``hx`` with one half ``None``, still takes two calls. The states of a
    tied ``nn.RNN``-style module must have the batch on dim 1, as ``h_n`` has.

    Args:
        forward: the module for the forward direction, unidirectional.
        backward: the reverse module, for the backward direction. ``None`` makes a deep copy of
            ``forward`` and re-initialises it (``reset_parameters()`` of each submodule that has
            one), so the two directions do not start equal; ``forward`` itself ties the weights.
        merge: how the two outputs are combined, a mode of
            :func:`~birnn_utils.merge_directions` (``"concat"`` gives the native layout
            ``... x 2*H_out``), or ``None`` to return ``Directions`` of the two outputs.
        batch_first: whether padded inputs are ``B x T x *`` (varlen ones ``(1, total, *)``);
            ``None`` takes the modules' ``batch_first`` attribute.
        batch_directions: run a tied module once on both directions (``True``) or twice
            (``False``, for modules whose rows interact, such as BatchNorm in training).

    Attributes:
        forward_module: the module for the forward direction (``forward``).
        backward_module: the reverse module (``backward``, its re-initialised copy, or
            ``forward`` itself when tied).
        merge: the merge mode.
        batch_first: the layout, resolved from the modules when it was given as ``None``.
        batch_directions: as given.

    Raises:
        TypeError: if a module is not an ``nn.Module``.
        ValueError: if a module is bidirectional, the ``batch_first`` of the modules differ or
            none is known, ``merge`` is unknown, or ``forward`` cannot be re-initialised.

    Example:
        >>> import torch
        >>> from birnn_utils import Bidirectional
        >>> bi = Bidirectional(torch.nn.GRU(3, 4, batch_first=True))
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> output, (h_forward, h_backward) = bi(x, lengths=lengths)
        >>> output.shape, h_forward.shape, h_backward.shape
        (torch.Size([2, 5, 8]), torch.Size([1, 2, 4]), torch.Size([1, 2, 4]))
        >>> torch.equal(output[1, 0, 4:], h_backward[0, 1])  # backward ends at t = 0
        True
        >>> class CausalConv(torch.nn.Module):  # a stateless causal mixer, B x T x D
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv = torch.nn.Conv1d(3, 3, 2, padding=1)
        ...     def forward(self, x):
        ...         return self.conv(x.transpose(1, 2))[..., :-1].transpose(1, 2)
        >>> mixer = CausalConv()
        >>> # one module for both directions: one call on 2B rows
        >>> tied = Bidirectional(mixer, backward=mixer, batch_first=True)
        >>> tied(x, lengths=lengths).shape
        torch.Size([2, 5, 6])
    """

    def __init__(
        self,
        forward: nn.Module,
        backward: nn.Module | None = None,
        *,
        merge: MergeMode | None = "concat",
        batch_first: bool | None = None,
        batch_directions: bool = True,
    ) -> None:
        super().__init__()
        _check_module(forward, "forward")
        if backward is None:
            backward = _fresh_copy(forward)
        _check_module(backward, "backward")
        check_mode(merge, "Bidirectional", "merge", allow_none=True)
        if not isinstance(batch_directions, bool):
            raise TypeError(
                "Bidirectional: `batch_directions` must be a bool, got "
                f"{type(batch_directions).__name__}"
            )
        self.batch_first = _resolve_batch_first(forward, backward, batch_first)
        self.forward_module = forward
        self.backward_module = backward
        self.merge = merge
        self.batch_directions = batch_directions

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Directions | None = None,
        *,
        lengths: LengthsLike | None = None,
        cu_seqlens: Tensor | None = None,
        padding_side: PaddingSide = "right",
        **kwargs: Any,
    ) -> Any:
        """Run both directions.

        Args:
            input: a padded Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), a
                PackedSequence (modules that take one), or with ``cu_seqlens`` a varlen Tensor
                ``(total, *)`` (``(1, total, *)`` with ``batch_first``).
            hx: ``Directions(forward, backward)`` of the modules' initial states (an LSTM's
                ``(h_0, c_0)`` stays a tuple; either may be ``None``), in the caller's batch
                order; or ``None``. Must be ``None`` for stateless mixers.
            lengths: for a padded Tensor, ``B`` valid lengths in ``[0, T]`` (1-D integer
                Tensor, list/tuple of ints, or numpy array), any order; ``None`` means every
                sequence fills ``T`` (the whole time axis is flipped).
            cu_seqlens: for a varlen ``input``, the ``B + 1`` offsets of its sequences (see
                :func:`~birnn_utils.padded_to_varlen`). The backward module reads each segment
                reversed, and both modules get ``cu_seqlens=`` as a keyword argument; a module
                whose ``forward`` has a ``seq_idx`` parameter (Mamba2's) also gets ``seq_idx=``,
                each token's sequence index (:func:`~birnn_utils.cu_seqlens_to_seq_idx`), int32
                ``(1, n)`` for the ``n`` tokens of that call: a tied module's ``2 * total``
                tokens hold ``2B`` sequences, the second copy numbered ``B .. 2B - 1``.
            padding_side: where a padded ``input`` holds its padding: ``"right"``, or
                ``"left"`` (Keras's ``pad_sequences`` default: sequence ``b`` at steps
                ``T - lengths[b] .. T - 1``). Left-padded input is moved to the right (one
                gather, see :func:`~birnn_utils.move_padding`), run, and its outputs moved
                back; the states need no move. Without ``lengths`` every sequence fills ``T``
                and the side does not matter. A PackedSequence or a varlen input has no
                padding: ``"left"`` is refused there.
            **kwargs: passed unchanged to both modules; not ``seq_idx``, which is built from
                ``cu_seqlens``.

        Returns:
            For the ``nn.RNN`` convention, ``(output, Directions(forward_state,
            backward_state))``; for a mixer, ``output`` alone. ``output`` is the merged outputs,
            shaped as ``input`` but for the features (zeros at padding, on ``padding_side``,
            when ``lengths`` are given), a PackedSequence for a PackedSequence; with
            ``merge=None``, ``Directions`` of the two outputs.

        Raises:
            TypeError: for an ``input`` that is neither a Tensor nor a PackedSequence, an
                ``hx`` that is not a ``Directions``, an ``hx`` given to a mixer, or a module
                that returns something else than a Tensor or an ``(output, state)`` pair.
            ValueError: for a padded ``input`` that is not 3-D, ``lengths`` out of range or of
                the wrong count, bad ``cu_seqlens``, ``lengths`` together with ``cu_seqlens``,
                either with a PackedSequence, a ``padding_side`` other than ``"left"`` or
                ``"right"``, ``"left"`` with a PackedSequence or ``cu_seqlens``, or a
                ``seq_idx`` keyword (derived from ``cu_seqlens``).

        Example:
            >>> import torch
            >>> from birnn_utils import Bidirectional
            >>> bi = Bidirectional(torch.nn.GRU(3, 4, batch_first=True))
            >>> x = torch.tensor([[[0.0] * 3, [1, 2, 3]]])  # B=1, T=2; t=0 is padding
            >>> output, states = bi(x, lengths=[1], padding_side="left")
            >>> output[0, 0].abs().sum().item()  # zero at the padding step
            0.0
            >>> torch.equal(output[0, 1, :4], states.forward[0, 0])
            True
        """
        where = "Bidirectional"
        side = check_padding_side(padding_side, where)
        if "seq_idx" in kwargs:
            raise ValueError(
                f"{where}: `seq_idx` must not be passed: Bidirectional derives each call's "
                "`seq_idx` from `cu_seqlens` (for modules whose forward takes `seq_idx`); pass "
                "the varlen input with cu_seqlens= instead"
            )
        if hx is not None and not isinstance(hx, Directions):
            raise TypeError(
                "Bidirectional: `hx` must be a Directions(forward, backward) of the two modules' "
                f"initial states, or None, got {type(hx).__name__}"
            )
        if isinstance(input, PackedSequence):
            reject_lengths_for_packed(lengths, where)
            if cu_seqlens is not None:
                raise ValueError(f"{where}: `cu_seqlens` must be None for a PackedSequence")
            _reject_left_padding(side, "for a PackedSequence, which holds no padding", where)
            return self._run(input, hx, _reverse_packed, None, kwargs)
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{where}: `input` must be a Tensor or a PackedSequence, got {type(input).__name__}"
            )
        if cu_seqlens is not None:
            if lengths is not None:
                raise ValueError(f"{where}: pass `lengths` or `cu_seqlens`, not both")
            _reject_left_padding(side, "with `cu_seqlens`: a varlen input holds no padding", where)
            tokens = varlen_tokens(input, self.batch_first, where)
            cu = check_cu_seqlens(cu_seqlens, tokens.shape[0], tokens.device, where)

            def reverse_varlen(x: Tensor) -> Tensor:
                return _reverse_varlen(x[0] if self.batch_first else x, cu).view(x.shape)

            modules = (self.forward_module, self.backward_module)
            seq_idx = seq_idx_of(cu, tokens.shape[0]) if any(map(_takes_seq_idx, modules)) else None
            return self._run(input, hx, reverse_varlen, cu_seqlens, kwargs, seq_idx=seq_idx)
        check_padded(input, self.batch_first, where)
        time_dim = 1 if self.batch_first else 0
        steps, batch = input.shape[time_dim], input.shape[1 - time_dim]
        if lengths is None:
            return self._run(input, hx, lambda x: x.flip(time_dim), None, kwargs)
        if self._native():
            lens = cpu_lengths(lengths, batch, steps, where)
        else:
            lens = as_lengths(
                lengths, batch_size=batch, max_length=steps, device=input.device, where=where
            )
        return self._forward_with_lengths(input, hx, lens, kwargs, side)

    def _native(self) -> bool:
        # Hooked birnn_utils.nn modules too: packed (through their `lengths=`), as torch.nn's.
        return all(
            isinstance(m, nn.RNNBase) or takes_lengths(m)
            for m in (self.forward_module, self.backward_module)
        )

    def _forward_with_lengths(
        self,
        input: Tensor,
        hx: Directions | None,
        lens: Tensor,
        kwargs: dict[str, Any],
        padding_side: str = "right",
    ) -> Any:
        """:meth:`forward` on a checked padded ``input`` with checked int64 lengths ``lens``.

        For callers that checked the lengths already (:class:`~birnn_utils.BiRNNEncoder`):
        nothing is read again.
        """
        batch_first, left = self.batch_first, padding_side == "left"
        if self._native():
            if kwargs:
                raise TypeError(
                    f"Bidirectional: {type(self.forward_module).__name__} takes no keyword "
                    f"arguments, got {', '.join(map(repr, kwargs))}"
                )
            cpu = lens.to("cpu")
            if not left:
                return self._run_packed(input, hx, cpu)
            return run_on_the_right(
                lambda right: self._run_packed(right, hx, cpu),
                input,
                lens.to(input.device, non_blocking=lens.is_cpu),
                batch_first,
                "Bidirectional",
            )
        lens = lens.to(input.device, non_blocking=lens.is_cpu)
        steps = input.shape[1 if batch_first else 0]
        valid = torch.arange(steps, device=input.device) < lens.unsqueeze(1)
        return self._run(
            _move_padding(input, lens, "right", batch_first) if left else input,
            hx,
            lambda x: _reverse_padded(x, lens, batch_first),
            None,
            kwargs,
            valid if batch_first else valid.t(),
            lens if left else None,
        )

    def _tied_batch(self, hx: Directions | None) -> bool:
        """Whether both directions go through the module in one call."""
        return (
            self.batch_directions
            and self.forward_module is self.backward_module
            and (hx is None or (hx.forward is None) == (hx.backward is None))
        )

    def _merge(self, forward: Any, backward: Any) -> Any:
        if self.merge is None:
            return Directions(forward, backward)
        if isinstance(forward, PackedSequence):
            # The two share batch_sizes and indices by construction: no need to compare them.
            return forward._replace(data=_merge_directions(forward.data, backward.data, self.merge))
        return _merge_directions(forward, backward, self.merge)

    def _run(
        self,
        input: Tensor | PackedSequence,
        hx: Directions | None,
        reverse: Callable[[Any], Any],
        cu_seqlens: Tensor | None,
        kwargs: dict[str, Any],
        valid: Tensor | None = None,
        left_lengths: Tensor | None = None,
        seq_idx: Tensor | None = None,
    ) -> Any:
        """Both directions on checked input, ``reverse`` reversing each sequence in its place.

        ``valid`` (padded input with lengths) marks the valid steps, ``B x T`` (``T x B``).
        ``left_lengths``: the caller's input was left-padded and moved to the right; the
        masked outputs are moved back. ``seq_idx``: varlen input's ``(1, total)`` sequence
        indices, for the modules that take them.
        """
        h_forward, h_backward = Directions(None, None) if hx is None else hx
        reversed_input = reverse(input)
        if self._tied_batch(hx) and isinstance(input, Tensor):
            # Padded: the batch axis; varlen: the token axis (the second copy's offsets follow).
            time_dim = 1 if self.batch_first else 0
            dim = time_dim if cu_seqlens is not None else 1 - time_dim
            size = input.shape[dim]
            if cu_seqlens is not None:
                kwargs = {**kwargs, "cu_seqlens": torch.cat([cu_seqlens, cu_seqlens[1:] + size])}
                if seq_idx is not None:  # the second copy's sequences follow the first's B
                    seq_idx = torch.cat([seq_idx, seq_idx + (cu_seqlens.shape[0] - 1)], 1)
                kwargs = _with_seq_idx(self.forward_module, kwargs, seq_idx)
            h = _stack_states(hx)
            both = torch.cat([input, reversed_input], dim)
            output, state, is_rnn = _outcome(_call(self.forward_module, both, h, kwargs), "forward")
            forward_output, backward_output = _halves(output, size, dim)
            # One state per sequence: B rows each, also for varlen input (not `size` tokens).
            rows = size if cu_seqlens is None else cu_seqlens.shape[0] - 1
            forward_state, backward_state = _split_state(state, rows) if is_rnn else (None, None)
        else:
            if cu_seqlens is not None:
                kwargs = {**kwargs, "cu_seqlens": cu_seqlens}
            forward, backward = self.forward_module, self.backward_module
            forward_output, forward_state, is_rnn = _outcome(
                _call(forward, input, h_forward, _with_seq_idx(forward, kwargs, seq_idx)), "forward"
            )
            backward_output, backward_state, backward_is_rnn = _outcome(
                _call(
                    backward, reversed_input, h_backward, _with_seq_idx(backward, kwargs, seq_idx)
                ),
                "backward",
            )
            if backward_is_rnn != is_rnn:
                raise TypeError(
                    "Bidirectional: `forward` and `backward` must follow the same convention, "
                    "both an (output, state) pair or both a Tensor"
                )
        if not is_rnn and hx is not None:
            raise TypeError(
                "Bidirectional: `hx` must be None for a stateless mixer (the modules return a "
                "Tensor, not an (output, state) pair)"
            )
        output = self._merge(forward_output, reverse(backward_output))
        if valid is not None:
            # Steps past each end hold what the modules made of the padding: zeroed, as
            # pad_packed_sequence does. Every merge mode maps zeros to zeros, so the merged
            # output is masked in one pass.
            output = tree_map(
                lambda out: out.masked_fill(~valid.view(*valid.shape, *[1] * (out.dim() - 2)), 0),
                output,
                where="Bidirectional",
                name="output",
            )
        if left_lengths is not None:
            output = _move_output_padding(output, left_lengths, self.batch_first, "Bidirectional")
        return (output, Directions(forward_state, backward_state)) if is_rnn else output

    def _run_packed(self, input: Tensor, hx: Directions | None, lens: Tensor) -> Any:
        """Native recurrent modules on padded input, packed so that the final states are exact.

        A tied module: the input and its reversal are packed together, ``2B`` sequences, and
        run in one call. Two modules that run their kernel (see
        :func:`~birnn_utils._packed.runs_kernel`), or :mod:`birnn_utils.nn` modules with hooks
        (called with ``lengths=``): each direction is one kernel call, the backward one on the
        input reversed within each length, so that the whole forward compiles (the recurrences
        are ``birnn_utils::packed_rnn`` nodes). Other native modules (``torch.nn``'s with hooks,
        subclasses): the input is packed once and this wrapper runs on the
        PackedSequence (its reversal is a gather of the packed data).
        """
        batch_first = self.batch_first
        tied = self._tied_batch(hx)
        modules = (self.forward_module, self.backward_module)
        if not tied and not all(runs_kernel(m) or takes_lengths(m) for m in modules):
            return run_packed_core(self, input, lens, hx, batch_first, "Bidirectional")
        batch_dim = 0 if batch_first else 1
        batch = input.shape[batch_dim]
        lens_here = lens.to(input.device, non_blocking=True)
        reversed_input = _reverse_padded(input, lens_here, batch_first)
        if tied:
            output, state = run_packed_core(
                self.forward_module,
                torch.cat([input, reversed_input], batch_dim),
                torch.cat([lens, lens]),
                _stack_states(hx),
                batch_first,
                "Bidirectional",
            )
            forward_output, backward_output = _halves(output, batch, batch_dim)
            states = Directions(*_split_state(state, batch))
        else:
            h_forward, h_backward = Directions(None, None) if hx is None else hx
            forward_output, forward_state = run_packed_core(
                modules[0], input, lens, h_forward, batch_first, "Bidirectional"
            )
            backward_output, backward_state = run_packed_core(
                modules[1], reversed_input, lens, h_backward, batch_first, "Bidirectional"
            )
            states = Directions(forward_state, backward_state)
        backward_output = _reverse_padded(backward_output, lens_here, batch_first)
        return self._merge(forward_output, backward_output), states
