"""Input checks shared by the public functions, and the switch for those that read values.

Checking that every length lies in ``[0, T]`` reads the lengths' values. On a GPU that waits for
the device, and inside ``torch.compile``/``torch.export`` graphs it would break the graph. Shape,
dtype and type checks never read values and always run; the value checks run by default in eager
mode, are skipped while tracing or compiling (and in TorchScript, which cannot read this switch),
and can be switched off with :func:`value_checks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

__all__ = [
    "check_layer",
    "check_padded",
    "check_tensor",
    "check_time_and_batch",
    "format_shape",
    "jit_tracing",
    "value_checks",
    "value_checks_enabled",
]

# A ContextVar, as torch.no_grad's switch is thread-local: a block in one thread or asyncio task
# leaves every other one's checks as they are.
_enabled: ContextVar[bool] = ContextVar("birnn_utils.value_checks", default=True)


def value_checks_enabled() -> bool:
    """Whether checks that read tensor values (and so may sync a GPU) run now.

    Returns:
        ``False`` inside a :func:`value_checks` ``(False)`` block and while ``torch.compile``,
        ``torch.export``, ``torch.onnx.export`` or TorchScript is tracing; ``True`` otherwise.

    Example:
        >>> from birnn_utils import value_checks, value_checks_enabled
        >>> value_checks_enabled()
        True
        >>> with value_checks(False):
        ...     value_checks_enabled()
        False
    """
    # The switch is read last, so that compiled code never reads it: flipping it recompiles nothing.
    return not torch.compiler.is_compiling() and not jit_tracing() and _enabled.get()


def jit_tracing() -> bool:
    """Whether ``torch.jit.trace`` (or the TorchScript-based ONNX exporter) is tracing now."""
    # torch.jit.is_tracing is public but carries no annotations.
    return bool(torch.jit.is_tracing())  # type: ignore[no-untyped-call]


def format_shape(x: Tensor) -> str:
    """``x``'s shape as a Python tuple prints, ``(2, 3)`` or ``(4,)``, also under TorchScript.

    Example:
        >>> import torch
        >>> from birnn_utils._checks import format_shape
        >>> [format_shape(torch.ones(shape)) for shape in [(4,), (2, 3), ()]]
        ['(4,)', '(2, 3)', '()']
    """
    dims = [str(size) for size in x.shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Turn the value checks (lengths in range, right-padded masks) on or off in a block.

    Use ``value_checks(False)`` around a training step on a GPU once the data pipeline is trusted:
    it removes the host synchronisation each check costs. Like ``torch.no_grad``, the switch
    holds for the current thread (and ``contextvars`` context, so one asyncio task) only, and
    leaving the block restores the value it had on entry. Out-of-range lengths are then undefined
    behaviour (wrong values or a device-side assert), as in ``torch.gather``.

    Args:
        enabled: ``True`` to run the checks, ``False`` to skip them.

    Raises:
        TypeError: if ``enabled`` is not a bool.

    Example:
        >>> import torch
        >>> from birnn_utils import lengths_to_mask, value_checks
        >>> with value_checks(False):
        ...     lengths_to_mask(torch.tensor([2, 0]), max_length=3)
        tensor([[ True,  True, False],
                [False, False, False]])
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"value_checks: `enabled` must be a bool, got {type(enabled).__name__}")
    token = _enabled.set(enabled)
    try:
        yield
    finally:
        _enabled.reset(token)


def check_layer(layer: int, num_layers: int, where: str) -> int:
    """Check a ``layer`` argument and return it as an index in ``[0, num_layers)``.

    Typed ``int`` for TorchScript (final_states' core calls it), checked for callers that pass
    anything else.

    Args:
        layer: the user's value; negative values count from the top layer.
        num_layers: how many layers there are.
        where: the public function's name, for error messages.

    Returns:
        ``layer % num_layers``.

    Raises:
        TypeError: if ``layer`` is not an int.
        IndexError: if it is outside ``[-num_layers, num_layers - 1]``.
    """
    if not isinstance(layer, int) or isinstance(layer, bool):
        raise TypeError(f"{where}: `layer` must be an int, got {type(layer).__name__}")
    if not -num_layers <= layer < num_layers:
        raise IndexError(
            f"{where}: `layer` must be in [{-num_layers}, {num_layers - 1}] for "
            f"{num_layers} layer(s), got {layer}"
        )
    return layer % num_layers


def check_tensor(value: object, where: str, name: str, *, or_packed: bool = False) -> Tensor:
    """``value``, if it is a Tensor; callers that also take a PackedSequence handle it first.

    Args:
        value: the user's value.
        where: the public function's name, for error messages.
        name: the argument's name, for error messages.
        or_packed: whether the message should say a PackedSequence is accepted too.

    Raises:
        TypeError: if ``value`` is not a Tensor.
    """
    if not isinstance(value, Tensor):
        expected = "a Tensor or a PackedSequence" if or_packed else "a Tensor"
        raise TypeError(f"{where}: `{name}` must be {expected}, got {type(value).__name__}")
    return value


def check_padded(input: object, batch_first: bool, where: str, name: str = "input") -> None:
    """Check that ``input`` is a padded batch, a 3-D Tensor ``T x B x *`` (``B x T x *``).

    Args:
        input: the user's value.
        batch_first: the layout the module expects.
        where: the public function's or class's name, for error messages.
        name: the argument's name, for error messages.

    Raises:
        TypeError: if ``input`` is not a Tensor.
        ValueError: if it is not 3-D.
    """
    tensor = check_tensor(input, where, name)
    if tensor.dim() != 3:
        layout = "B x T x *" if batch_first else "T x B x *"
        raise ValueError(
            f"{where}: `{name}` must be 3-D ({layout}, batch_first={batch_first}), "
            f"got shape {format_shape(tensor)}"
        )


def check_time_and_batch(x: Tensor, batch_first: bool, where: str, name: str) -> None:
    """Check that the Tensor ``x`` has a time and a batch dimension, ``T x B x *`` (``B x T x *``).

    Args:
        x: the user's Tensor.
        batch_first: the layout the function expects.
        where: the public function's name, for error messages.
        name: the argument's name, for error messages.

    Raises:
        ValueError: if ``x`` has fewer than 2 dimensions.
    """
    if x.dim() < 2:
        layout = "B x T x *" if batch_first else "T x B x *"
        raise ValueError(
            f"{where}: `{name}` must have at least 2 dimensions ({layout}), "
            f"got shape {format_shape(x)}"
        )
