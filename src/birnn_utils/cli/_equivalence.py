"""Equivalence checks: does this backend lay out bidirectional RNNs as birnn-utils says?

Each check rebuilds a 2-layer bidirectional module from its per-layer, per-direction modules
(:func:`extract_forward_module`, :func:`extract_reverse_module`, :func:`reverse_sequences`) on a
packed batch of mixed, unsorted lengths, and compares with the native module's output and states.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from .._layout import final_outputs, final_states, merge_directions
from .._reverse import reverse_sequences
from .._surgery import extract_forward_module, extract_reverse_module
from ._demo import quiet_projection_notice

__all__ = ["CheckResult", "available_devices", "run_checks"]

TOLERANCE = 1e-4
"""Largest absolute difference accepted in float32 (cuDNN and oneDNN reorder float sums)."""

_MODES = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM", "LSTM_PROJ")


class CheckResult(NamedTuple):
    """One equivalence check on one device.

    Attributes:
        device: where it ran, e.g. ``"cpu"`` or ``"cuda"``.
        name: what was compared, e.g. ``"GRU h_n"``.
        max_error: the largest absolute difference found.
        tolerance: the largest difference accepted.
    """

    device: str
    name: str
    max_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """Whether ``max_error`` is within ``tolerance``."""
        return self.max_error <= self.tolerance


def available_devices() -> list[str]:
    """The devices this machine can run the checks on: ``"cpu"``, then CUDA and MPS if present.

    Returns:
        Device names usable with ``torch.device``.

    Example:
        >>> from birnn_utils.cli._equivalence import available_devices
        >>> available_devices()[0]
        'cpu'
    """
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def _module(mode: str, device: torch.device, dtype: torch.dtype) -> nn.RNNBase:
    common = {"num_layers": 2, "bidirectional": True, "device": device, "dtype": dtype}
    if mode.startswith("RNN"):
        return nn.RNN(5, 6, nonlinearity=mode[4:].lower(), **common)
    if mode == "GRU":
        return nn.GRU(5, 6, **common)
    return nn.LSTM(5, 6, proj_size=3 if mode == "LSTM_PROJ" else 0, **common)


def _error(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


def _states(state: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _check_mode(mode: str, device: str, dtype: torch.dtype, seed: int) -> list[CheckResult]:
    torch.manual_seed(seed)
    place = torch.device(device)
    rnn = _module(mode, place, dtype)
    lengths = torch.tensor([4, 7, 1, 5])
    x = torch.randn(7, 4, 5, device=place, dtype=dtype)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    with torch.no_grad(), quiet_projection_notice():
        native_out, native_state = rnn(packed)
        layer_input: PackedSequence = packed
        rebuilt: list[tuple[Tensor, ...]] = []
        for layer in range(rnn.num_layers):
            forward = extract_forward_module(rnn, layer=layer)
            reverse = extract_reverse_module(rnn, layer=layer)
            out_f, state_f = forward(layer_input)
            out_r, state_r = reverse(reverse_sequences(layer_input))
            layer_input = merge_directions(out_f, reverse_sequences(out_r))
            rebuilt += [_states(state_f), _states(state_r)]
    tolerance = TOLERANCE
    results = [
        CheckResult(device, f"{mode} output", _error(layer_input.data, native_out.data), tolerance)
    ]
    for position, name in enumerate(("h_n", "c_n")[: len(_states(native_state))]):
        native = _states(native_state)[position]
        mine = torch.cat([states[position] for states in rebuilt])
        results.append(CheckResult(device, f"{mode} {name}", _error(mine, native), tolerance))
    h_n = _states(native_state)[0]
    ends, top = final_outputs(native_out), final_states(h_n)
    error = max(_error(ends.forward, top.forward), _error(ends.backward, top.backward))
    results.append(CheckResult(device, f"{mode} final_outputs", error, tolerance))
    return results


def run_checks(devices: list[str] | None = None, *, seed: int = 0) -> list[CheckResult]:
    """Run the equivalence checks for RNN (tanh, relu), GRU, LSTM and LSTM with projections.

    Args:
        devices: device names; ``None`` means :func:`available_devices`.
        seed: the seed for weights and inputs.

    Returns:
        One :class:`CheckResult` per compared quantity, mode and device.

    Example:
        >>> from birnn_utils.cli._equivalence import run_checks
        >>> results = run_checks(["cpu"])
        >>> all(result.passed for result in results), len(results)
        (True, 17)
    """
    results: list[CheckResult] = []
    for device in devices or available_devices():
        dtype = torch.float32
        for mode in _MODES:
            results += _check_mode(mode, device, dtype, seed)
    return results
