"""Calls of every tensor function, shared by the compile, script and CUDA tests.

Each case calls one public function in all its Tensor forms through ``api``: the package itself
(``birnn_utils``) or the scriptable variants, so the same call is made eagerly, compiled and
scripted. ``make`` builds its Tensor arguments for a time length ``T`` and batch size ``B``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

H_OUT = 4
INPUT_SIZE = 5
NUM_LAYERS = 2
MERGE_MODES = ["concat", "sum", "mean", "mul", "stack"]
BRIDGE_MODES = ["concat", "sum", "mean"]
# (T, B) pairs, all >= 2 (torch.compile specialises sizes 0 and 1 whatever `dynamic` says), and
# in the first call unequal to every other size (it would assume such equalities, "duck sizing").
SHAPES = [(6, 3), (9, 4), (2, 7)]


class Case(NamedTuple):
    name: str
    call: Callable[..., Any]  # call(api, *tensors)
    make: Callable[[int, int, torch.device, torch.device], tuple[Tensor, ...]]
    syncs: bool = False  # reads tensor values on purpose (a data-dependent size)
    tuples: bool = False  # passes an LSTM's (h_n, c_n), which only the main API takes


def lengths_for(steps: int, batch: int, device: torch.device) -> Tensor:
    """``B`` lengths in ``[0, T]`` that include ``T`` and 0."""
    generator = torch.Generator().manual_seed(steps * 100 + batch)
    lengths = torch.randint(0, steps + 1, (batch,), generator=generator)
    lengths[0], lengths[1] = steps, 0
    return lengths.to(device)


def _output(
    steps: int, batch: int, data: torch.device, lengths: torch.device
) -> tuple[Tensor, ...]:
    return torch.randn(steps, batch, 2 * H_OUT, device=data), lengths_for(steps, batch, lengths)


def _sequences(
    steps: int, batch: int, data: torch.device, lengths: torch.device
) -> tuple[Tensor, ...]:
    return torch.randn(steps, batch, INPUT_SIZE, device=data), lengths_for(steps, batch, lengths)


def _halves(steps: int, batch: int, data: torch.device, _: torch.device) -> tuple[Tensor, ...]:
    return torch.randn(steps, batch, H_OUT, device=data), torch.randn(
        steps, batch, H_OUT, device=data
    )


def _state(steps: int, batch: int, data: torch.device, _: torch.device) -> tuple[Tensor, ...]:
    return (torch.randn(2 * NUM_LAYERS, batch, H_OUT, device=data),)


def _lstm_state(steps: int, batch: int, data: torch.device, _: torch.device) -> tuple[Tensor, ...]:
    return (
        torch.randn(2 * NUM_LAYERS, batch, H_OUT, device=data),
        torch.randn(2 * NUM_LAYERS, batch, 2 * H_OUT, device=data),
    )


def _mask(steps: int, batch: int, data: torch.device, _: torch.device) -> tuple[Tensor, ...]:
    lengths = lengths_for(steps, batch, data)
    return (torch.arange(steps, device=data).unsqueeze(0) < lengths.unsqueeze(1),)


def _split(api: Any, output: Tensor, lengths: Tensor) -> Any:
    return api.split_directions(output)


def _merge(api: Any, forward: Tensor, backward: Tensor) -> Any:
    return [api.merge_directions(forward, backward, mode) for mode in MERGE_MODES]


def _final_states(api: Any, h_n: Tensor) -> Any:
    return api.final_states(h_n), api.final_states(h_n, layer=0)


def _unflatten_flatten(api: Any, h_n: Tensor) -> Any:
    states = api.unflatten_states(h_n)
    return states, api.flatten_states(states)


def _bridge(api: Any, h_n: Tensor) -> Any:
    return [api.bridge_states(h_n, mode) for mode in BRIDGE_MODES]


def _lstm_tuples(api: Any, h_n: Tensor, c_n: Tensor) -> Any:
    states = api.unflatten_states((h_n, c_n))
    return (
        api.final_states((h_n, c_n), layer=0),
        states,
        api.flatten_states(states),
        api.bridge_states((h_n, c_n), "mean"),
    )


def _final_outputs(api: Any, output: Tensor, lengths: Tensor) -> Any:
    return (
        api.final_outputs(output, lengths),
        api.final_outputs(output.transpose(0, 1), lengths, batch_first=True),
        api.final_outputs(output),
    )


def _reverse(api: Any, x: Tensor, lengths: Tensor) -> Any:
    return (
        api.reverse_sequences(x, lengths),
        api.reverse_sequences(x.transpose(0, 1), lengths, batch_first=True),
        api.reverse_sequences(x),
    )


def _mask_of_width(api: Any, x: Tensor, lengths: Tensor) -> Any:
    return api.lengths_to_mask(lengths, x.shape[0])


def _mask_of_max_length(api: Any, x: Tensor, lengths: Tensor) -> Any:
    return api.lengths_to_mask(lengths)


def _mask_to_lengths(api: Any, mask: Tensor) -> Any:
    return api.mask_to_lengths(mask)


CASES = [
    Case("split_directions", _split, _output),
    Case("merge_directions", _merge, _halves),
    Case("final_states", _final_states, _state),
    Case("unflatten_flatten_states", _unflatten_flatten, _state),
    Case("bridge_states", _bridge, _state),
    Case("lstm_state_tuples", _lstm_tuples, _lstm_state, tuples=True),
    Case("final_outputs", _final_outputs, _output),
    Case("reverse_sequences", _reverse, _sequences),
    Case("lengths_to_mask", _mask_of_width, _sequences),
    Case("lengths_to_mask_max_length_none", _mask_of_max_length, _sequences, syncs=True),
    Case("mask_to_lengths", _mask_to_lengths, _mask),
]
