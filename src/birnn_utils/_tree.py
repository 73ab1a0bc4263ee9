"""Mapping a function over the nested tuples that recurrent modules return as states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

__all__ = ["tree_map"]


def tree_map(fn: Callable[..., Any], tree: Any, *others: Any, where: str, name: str) -> Any:
    """Apply ``fn`` to the Tensors and PackedSequences of nested tuples, keeping their types.

    Outputs and states of recurrent modules nest: an LSTM's ``(h_n, c_n)``, a
    :class:`~birnn_utils.Bidirectional`'s ``Directions`` of those. ``others`` are trees of the
    same structure whose leaves are passed alongside. ``None`` is a leaf too: a ``Directions``
    state may leave one module's state to its default.

    Raises:
        TypeError: naming ``where`` and ``name``, for a leaf of another type.
    """
    if tree is None or isinstance(tree, (Tensor, PackedSequence)):
        return fn(tree, *others)
    if isinstance(tree, tuple):
        parts = zip(tree, *others, strict=True)
        items = [tree_map(fn, *part, where=where, name=name) for part in parts]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)
    raise TypeError(
        f"{where}: `{name}` must be a Tensor or a (nested) tuple of Tensors such as an LSTM's "
        f"(h_n, c_n), got {type(tree).__name__}"
    )
