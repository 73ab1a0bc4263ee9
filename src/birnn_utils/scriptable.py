"""The tensor functions of birnn-utils in a form ``torch.jit.script`` compiles.

TorchScript compiles one static signature per function. The main API takes a Tensor *or* a
``PackedSequence`` (a NamedTuple subclass TorchScript cannot type), lengths as a Tensor, list,
tuple *or* numpy array, an LSTM state as a tuple, and returns :class:`~birnn_utils.Directions`,
a generic NamedTuple; none of those can be scripted. This module offers each function for
Tensors only, under the same name, with the same semantics and error messages, for use inside
scripted modules:

- pairs come back as plain ``(forward, backward)`` tuples;
- ``lengths`` must be a 1-D integer Tensor (or ``None``);
- an LSTM's ``(h_n, c_n)`` is handled by calling the function on each;
- options are positional-or-keyword (TorchScript has no keyword-only arguments);
- inside scripted code the value checks (lengths in range, right-padded masks) never run, as
  TorchScript cannot read :func:`~birnn_utils.value_checks`; shape and dtype checks do, and raise
  ``torch.jit.Error`` naming the Python exception.

Each function here is one call into the core that the main API calls for its Tensor inputs, so
the two cannot drift apart.
TorchScript itself is deprecated (torch 2.13 warns so on every ``torch.jit.script``) in favour
of ``torch.compile`` and ``torch.export``, which take the main API as it is.

Example:
    >>> import torch
    >>> from birnn_utils import scriptable
    >>> class Encoder(torch.nn.Module):
    ...     def __init__(self) -> None:
    ...         super().__init__()
    ...         self.gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ...
    ...     def forward(self, x: torch.Tensor) -> torch.Tensor:
    ...         _, h_n = self.gru(x)
    ...         forward, backward = scriptable.final_states(h_n)  # the top layer's
    ...         return scriptable.merge_directions(forward, backward)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     # torch.jit.script's own deprecation notice
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     encoder = torch.jit.script(Encoder())
    >>> encoder(torch.randn(5, 2, 3)).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

from torch import Tensor

from ._layout import (
    _bridge,
    _final_outputs,
    _flatten,
    _layer_pair,
    _merge_directions,
    _split_directions,
    _unflatten,
)
from ._lengths import _lengths_to_mask, _mask_to_lengths
from ._reverse import _reverse_sequences

__all__ = [
    "bridge_states",
    "final_outputs",
    "final_states",
    "flatten_states",
    "lengths_to_mask",
    "mask_to_lengths",
    "merge_directions",
    "reverse_sequences",
    "split_directions",
    "unflatten_states",
]


def split_directions(output: Tensor) -> tuple[Tensor, Tensor]:
    """The Tensor-only form of :func:`birnn_utils.split_directions`.

    Differences: ``output`` is a Tensor (no PackedSequence), and the views come back as a plain
    ``(forward, backward)`` tuple.

    Args:
        output: Tensor ``... x 2*H_out``, a bidirectional RNN's padded output.

    Returns:
        ``(output[..., :H_out], output[..., H_out:])``, views.

    Raises:
        ValueError: if the last dimension is odd.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> forward, backward = scriptable.split_directions(torch.arange(4.0))
        >>> forward, backward
        (tensor([0., 1.]), tensor([2., 3.]))
    """
    return _split_directions(output)


def merge_directions(forward: Tensor, backward: Tensor, mode: str = "concat") -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.merge_directions`.

    Differences: ``forward`` and ``backward`` are Tensors (no PackedSequences); ``mode`` may be
    passed positionally.

    Args:
        forward: Tensor ``... x H``.
        backward: Tensor of the same shape.
        mode: ``"concat"``, ``"sum"``, ``"mean"``, ``"mul"`` or ``"stack"``.

    Returns:
        Tensor ``... x 2H`` (``"concat"``), ``... x H``, or ``... x 2 x H`` (``"stack"``).

    Raises:
        ValueError: for an unknown ``mode``, different shapes, or scalars.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.merge_directions(torch.ones(2), torch.ones(2), "sum")
        tensor([2., 2.])
    """
    return _merge_directions(forward, backward, mode)


def final_states(h_n: Tensor, layer: int = -1) -> tuple[Tensor, Tensor]:
    """The Tensor-only form of :func:`birnn_utils.final_states`.

    Differences: ``h_n`` is one Tensor (for an LSTM, call it on ``h_n`` and ``c_n`` alike), the
    result is a plain ``(forward, backward)`` tuple, and ``layer`` may be passed positionally.

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out`` (or unbatched ``(num_layers * 2) x H_out``).
        layer: which layer, ``-1`` (the top layer) by default.

    Returns:
        Views ``(forward, backward)``, each ``B x H_out``.

    Raises:
        ValueError: if ``h_n`` is not 2-D/3-D or its first dimension is odd.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> h_n = torch.arange(4.0).reshape(4, 1, 1)  # 2 layers
        >>> scriptable.final_states(h_n, 0)
        (tensor([[0.]]), tensor([[1.]]))
    """
    return _layer_pair(h_n, layer)


def final_outputs(
    output: Tensor, lengths: Tensor | None = None, batch_first: bool = False
) -> tuple[Tensor, Tensor]:
    """The Tensor-only form of :func:`birnn_utils.final_outputs`.

    Differences: ``output`` is a padded Tensor (no PackedSequence), ``lengths`` a Tensor or
    ``None`` (no list or numpy array), the result a plain ``(forward, backward)`` tuple, and
    ``batch_first`` may be passed positionally. Under TorchScript the lengths' range is not
    checked.

    Args:
        output: Tensor ``T x B x 2*H_out`` (``B x T x 2*H_out`` with ``batch_first``).
        lengths: 1-D integer Tensor of ``B`` lengths in ``[0, T]`` on any device, or ``None``
            for all ``T``.
        batch_first: whether ``output`` is ``B x T x 2*H_out``.

    Returns:
        ``(forward, backward)``, each ``B x H_out``: forward at step ``lengths[b] - 1``,
        backward at ``t = 0``; zeros for a length of 0.

    Raises:
        TypeError: for non-integer ``lengths``.
        ValueError: for a wrong rank, an odd last dimension, or the wrong number of lengths.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> output = torch.arange(12.0).reshape(3, 2, 2)  # T=3, B=2, H_out=1
        >>> scriptable.final_outputs(output, torch.tensor([3, 1]))
        (tensor([[8.],
                [2.]]), tensor([[1.],
                [3.]]))
    """
    return _final_outputs(output, lengths, batch_first)


def unflatten_states(h_n: Tensor) -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.unflatten_states`.

    Differences: ``h_n`` is one Tensor (for an LSTM, call it on ``h_n`` and ``c_n`` alike).

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out`` (or unbatched 2-D).

    Returns:
        A view ``num_layers x 2 x B x H_out``.

    Raises:
        ValueError: if ``h_n`` is not 2-D/3-D or its first dimension is odd.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.unflatten_states(torch.zeros(6, 3, 4)).shape
        torch.Size([3, 2, 3, 4])
    """
    return _unflatten(h_n, "unflatten_states")


def flatten_states(states: Tensor) -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.flatten_states`.

    Differences: ``states`` is one Tensor (for an LSTM, call it on each).

    Args:
        states: Tensor ``num_layers x 2 x B x H_out`` (or unbatched 3-D).

    Returns:
        Tensor ``(num_layers * 2) x B x H_out``.

    Raises:
        ValueError: if the shape is not ``(num_layers, 2, ...)``.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.flatten_states(torch.zeros(3, 2, 5, 4)).shape
        torch.Size([6, 5, 4])
    """
    return _flatten(states)


def bridge_states(h_n: Tensor, mode: str = "concat") -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.bridge_states`.

    Differences: ``h_n`` is one Tensor (for an LSTM, call it on ``h_n`` and ``c_n`` alike).

    Args:
        h_n: Tensor ``(num_layers * 2) x B x H_out``.
        mode: ``"concat"``, ``"sum"`` or ``"mean"``.

    Returns:
        Tensor ``num_layers x B x 2*H_out`` (``"concat"``) or ``num_layers x B x H_out``.

    Raises:
        ValueError: for an unknown ``mode`` or an odd first dimension.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.bridge_states(torch.zeros(4, 3, 5)).shape
        torch.Size([2, 3, 10])
    """
    return _bridge(h_n, mode)


def reverse_sequences(
    sequences: Tensor, lengths: Tensor | None = None, batch_first: bool = False
) -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.reverse_sequences`.

    Differences: ``sequences`` is a padded Tensor (no PackedSequence), ``lengths`` a Tensor or
    ``None`` (no list or numpy array), and ``batch_first`` may be passed positionally. Under
    TorchScript the lengths' range is not checked.

    Args:
        sequences: Tensor ``T x B x *`` (``B x T x *`` with ``batch_first``), at least 2-D.
        lengths: 1-D integer Tensor of ``B`` lengths in ``[0, T]`` on any device, or ``None``
            to reverse the whole time dimension.
        batch_first: whether ``sequences`` is ``B x T x *``.

    Returns:
        A new Tensor of the same shape: each sequence's first ``lengths[b]`` steps reversed, its
        padding unchanged.

    Raises:
        TypeError: for non-integer ``lengths``.
        ValueError: for fewer than 2 dimensions or the wrong number of lengths.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> x = torch.tensor([[1, 2, 3, 0]])  # B x T, zero-padded
        >>> scriptable.reverse_sequences(x, torch.tensor([3]), True)  # batch_first
        tensor([[3, 2, 1, 0]])
    """
    return _reverse_sequences(sequences, lengths, batch_first)


def lengths_to_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.lengths_to_mask`.

    Differences: ``lengths`` is a Tensor (no list or numpy array). Called from Python it checks
    ``max_length`` and the lengths as the main API does; under TorchScript the lengths' range is
    not checked.

    Args:
        lengths: 1-D integer Tensor of ``B`` lengths.
        max_length: ``T``; ``None`` uses ``max(lengths)``, a host sync on a GPU.

    Returns:
        bool Tensor ``B x T`` on the lengths' device, ``True`` at valid steps.

    Raises:
        TypeError: for non-integer ``lengths``, or (from Python) a ``max_length`` that is not an
            int.
        ValueError: for ``lengths`` that are not 1-D, or a negative ``max_length``; in eager
            Python (value checks on), also for a length outside ``[0, max_length]``.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.lengths_to_mask(torch.tensor([2, 0]), 3)
        tensor([[ True,  True, False],
                [False, False, False]])
    """
    return _lengths_to_mask(lengths, max_length)


def mask_to_lengths(mask: Tensor) -> Tensor:
    """The Tensor-only form of :func:`birnn_utils.mask_to_lengths`, which takes a Tensor already.

    Differences: none from Python; under TorchScript a mask that is not right-padded is not
    detected.

    Args:
        mask: bool Tensor ``B x T``, right-padded.

    Returns:
        int64 Tensor ``(B,)``.

    Raises:
        TypeError: if ``mask`` is not bool.
        ValueError: if ``mask`` is not 2-D.

    Example:
        >>> import torch
        >>> from birnn_utils import scriptable
        >>> scriptable.mask_to_lengths(torch.tensor([[True, False], [True, True]]))
        tensor([1, 2])
    """
    return _mask_to_lengths(mask)
