"""Reference implementations for the tests, written from PyTorch's documented semantics alone.

Nothing here imports birnn_utils: these are what the library is compared against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from torch import Tensor, nn

KINDS: dict[str, tuple[Callable[..., nn.RNNBase], dict[str, Any]]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, {}),
    "lstm": (nn.LSTM, {}),
    "lstm_proj": (nn.LSTM, {"proj_size": 2}),
}
"""Every kind of native recurrent layer: its class and the keyword arguments that make it."""

LAYERS = [1, 2, 3]
"""The stack depths the tests cover: one layer, and layers above that read both directions."""

KINDS_AND_LAYERS = pytest.mark.parametrize(
    ("kind", "num_layers"), [(kind, layers) for kind in KINDS for layers in LAYERS]
)
"""Parametrise a test over every kind of layer times every depth."""


def make_rnn(
    kind: str,
    *,
    input_size: int = 3,
    hidden_size: int = 4,
    dtype: torch.dtype = torch.float64,
    seed: int | None = 0,
    **kwargs: Any,
) -> nn.RNNBase:
    """A native module of ``kind`` (a key of ``KINDS``); ``kwargs`` go to its class.

    ``seed`` seeds the global RNG first (``None`` leaves it: two modules then differ).
    """
    cls, extra = KINDS[kind]
    if seed is not None:
        torch.manual_seed(seed)
    return cls(input_size, hidden_size, dtype=dtype, **extra, **kwargs)


def make_input(rnn: nn.RNNBase, steps: int, batch: int, *, seed: int = 1) -> Tensor:
    """A padded input for ``rnn``, in its layout, dtype and device.

    Drawn on the CPU from its own generator, so it is the same on every device and leaves the
    global RNG alone.
    """
    gen = torch.Generator().manual_seed(seed)
    size = rnn.input_size
    shape = (batch, steps, size) if rnn.batch_first else (steps, batch, size)
    weight = rnn.get_parameter("weight_hh_l0")
    return torch.randn(shape, generator=gen, dtype=weight.dtype).to(weight.device)


def distinct_values(shape: Sequence[int], dtype: torch.dtype) -> Tensor:
    """Values that tell every element apart (alternating for bool), so a misplaced one shows."""
    values = torch.arange(1, int(np.prod(shape)) + 1).reshape(tuple(shape))
    return values % 2 == 0 if dtype == torch.bool else values.to(dtype)


def time_major(x: Tensor, batch_first: bool) -> Tensor:
    """``x`` as ``T x B x *``: transposed if it is ``B x T x *``."""
    return x.transpose(0, 1) if batch_first else x


@st.composite
def padded_batches(
    draw: st.DrawFn, dtypes: Sequence[torch.dtype]
) -> tuple[Tensor, list[int], bool]:
    """A padded batch of distinct values, its lengths (each in ``[0, T]``) and ``batch_first``.

    ``T`` in ``[0, 6]``, ``B`` in ``[0, 5]``, up to two feature dimensions of sizes 0 to 3, a
    dtype from ``dtypes``.
    """
    steps = draw(st.integers(0, 6))
    batch = draw(st.integers(0, 5))
    features = draw(st.lists(st.integers(0, 3), max_size=2))
    batch_first = draw(st.booleans())
    lengths = draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    shape = [batch, steps, *features] if batch_first else [steps, batch, *features]
    return distinct_values(shape, draw(st.sampled_from(dtypes))), lengths, batch_first


LENGTH_KINDS = ["list", "tuple", "numpy", "cpu", "device"]
"""The forms a public function takes ``lengths`` in (see :func:`lengths_as`)."""


def lengths_as(lengths: list[int], kind: str, device: torch.device) -> Any:
    """``lengths`` in the form that ``kind``, one of ``LENGTH_KINDS``, names.

    A list, a tuple, an int32 numpy array, an int32 CPU Tensor, or an int64 Tensor on ``device``.
    """
    if kind == "list":
        return list(lengths)
    if kind == "tuple":
        return tuple(lengths)
    if kind == "numpy":
        return np.array(lengths, dtype=np.int32)
    if kind == "cpu":
        return torch.tensor(lengths, dtype=torch.int32)
    return torch.tensor(lengths, dtype=torch.int64, device=device)


def state_parts(state: Any) -> list[Tensor]:
    """A recurrent module's state as a list: ``[h]``, or ``[h, c]`` for an LSTM's pair."""
    return list(state) if isinstance(state, tuple) else [state]


def as_state(parts: list[Tensor]) -> Any:
    """The inverse of :func:`state_parts`: ``h``, or an LSTM's ``(h, c)`` from two parts."""
    return tuple(parts) if len(parts) == 2 else parts[0]


def state_shapes(rnn: nn.RNNBase, batch: int) -> list[tuple[int, ...]]:
    """The shapes of ``rnn``'s state for ``batch`` sequences: ``[h]``, or ``[h, c]`` for an LSTM."""
    rows = rnn.num_layers * (2 if rnn.bidirectional else 1)
    h_out = rnn.proj_size or rnn.hidden_size
    if isinstance(rnn, nn.LSTM):
        return [(rows, batch, h_out), (rows, batch, rnn.hidden_size)]
    return [(rows, batch, h_out)]


def random_state(rnn: nn.RNNBase, batch: int, *, seed: int = 3) -> Any:
    """A random initial state for ``rnn``, in its dtype and on its device.

    Drawn on the CPU from its own generator, so it is the same on every device and leaves the
    global RNG alone.
    """
    gen = torch.Generator().manual_seed(seed)
    weight = rnn.get_parameter("weight_hh_l0")
    shapes = state_shapes(rnn, batch)
    return as_state(
        [torch.randn(s, generator=gen, dtype=weight.dtype).to(weight.device) for s in shapes]
    )


def flip_rows(x: Tensor, lengths: Sequence[int], batch_first: bool = False) -> Tensor:
    """Each sequence's first ``lengths[b]`` steps flipped one row at a time, the rest copied.

    The per-row reference for reversal within lengths, of a ``T x B x *`` tensor (``B x T x *``
    with ``batch_first``).
    """
    time_major = x.transpose(0, 1) if batch_first else x
    out = time_major.clone()
    for b, n in enumerate(lengths):
        out[:n, b] = time_major[:n, b].flip(0)
    return out.transpose(0, 1) if batch_first else out


def unidirectional_copy(
    rnn: nn.RNNBase, layer: int, suffix: str, *, batch_first: bool = False
) -> nn.RNNBase:
    """A one-layer unidirectional module holding copies of one direction's weights.

    ``suffix`` is ``""`` for the forward direction and ``"_reverse"`` for the backward one, as in
    the classic notebook's hand assignment of ``weight_ih_l0_reverse`` and friends. Time-major
    unless ``batch_first``.
    """
    h_out = rnn.proj_size or rnn.hidden_size
    input_size = rnn.input_size if layer == 0 else 2 * h_out
    weight = rnn.get_parameter("weight_hh_l0")
    kwargs: dict[str, Any] = {
        "bias": rnn.bias,
        "batch_first": batch_first,
        "dtype": weight.dtype,
        "device": weight.device,
    }
    if isinstance(rnn, nn.LSTM):
        kwargs["proj_size"] = rnn.proj_size
    if type(rnn) is nn.RNN:
        kwargs["nonlinearity"] = rnn.nonlinearity
    cls: Callable[..., nn.RNNBase] = type(rnn)
    single = cls(input_size, rnn.hidden_size, **kwargs)
    with torch.no_grad():
        for name, param in single.named_parameters():
            param.copy_(getattr(rnn, name.replace("_l0", f"_l{layer}") + suffix))
    return single


def reference_run(
    rnn: nn.RNNBase, x: Tensor, lengths: list[int]
) -> tuple[Tensor, list[tuple[Tensor, ...]], list[tuple[Tensor, ...]]]:
    """Run a bidirectional ``rnn`` layer by layer, each direction a separate module, row by row.

    Each row is cut to its length and run on its own, so padding never enters a state.

    Args:
        rnn: a bidirectional nn.RNN/GRU/LSTM (any ``batch_first``).
        x: time-major input ``T x B x input_size``.
        lengths: each row's valid length (>= 1).

    Returns:
        The top layer's output ``T x B x 2*H_out`` (zeros at padding), and per layer the forward
        and the backward final states, each a tuple (``(h,)`` or ``(h, c)``) of ``B x H`` tensors.
    """
    steps, batch = x.shape[0], x.shape[1]
    layer_input = x
    forward_states: list[tuple[Tensor, ...]] = []
    backward_states: list[tuple[Tensor, ...]] = []
    for layer in range(rnn.num_layers):
        forward = unidirectional_copy(rnn, layer, "")
        backward = unidirectional_copy(rnn, layer, "_reverse")
        rows_out, rows_fwd, rows_bwd = [], [], []
        for b, n in enumerate(lengths):
            row = layer_input[:n, b : b + 1]
            out_f, state_f = forward(row)
            out_b, state_b = backward(row.flip(0))
            out = torch.cat([out_f, out_b.flip(0)], dim=-1)
            rows_out.append(torch.cat([out, out.new_zeros(steps - n, 1, out.shape[-1])]))
            rows_fwd.append(state_parts(state_f))
            rows_bwd.append(state_parts(state_b))
        layer_input = torch.cat(rows_out, dim=1)
        forward_states.append(tuple(torch.cat(s, dim=1)[0] for s in zip(*rows_fwd, strict=True)))
        backward_states.append(tuple(torch.cat(s, dim=1)[0] for s in zip(*rows_bwd, strict=True)))
        assert layer_input.shape[:2] == (steps, batch)
    return layer_input, forward_states, backward_states


MERGED: dict[str | None, Any] = {
    "concat": lambda f, b: torch.cat([f, b], -1),
    "sum": lambda f, b: f + b,
    "mean": lambda f, b: (f + b) / 2,
    "mul": lambda f, b: f * b,
    "stack": lambda f, b: torch.stack([f, b], -2),
    None: lambda f, b: (f, b),
}
"""Each merge mode of merge_directions, written out (``None``: the pair, unmerged)."""
