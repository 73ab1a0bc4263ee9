"""Every tensor function under torch.compile(fullgraph=True), equal to eager; no host syncs on CUDA.

``fullgraph=True`` turns any graph break into an error, so a passing case proves the calls trace
into one graph, value checks included (they are skipped while compiling). Each case compiles once
with ``dynamic=True`` and runs at three ``(T, B)``: one compiled frame for all of them proves that
varying T and B does not recompile. The matrix uses the ``aot_eager`` backend (Dynamo and
AOTAutograd without code generation) to stay fast on a CPU; ``test_inductor_pipeline`` compiles
the functions together with the default backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest
import torch
from torch import Tensor
from torch._dynamo.testing import CompileCounterWithBackend
from torch.nn.utils.rnn import pack_padded_sequence
from torch.testing import assert_close

import birnn_utils
from birnn_utils import (
    bridge_states,
    final_outputs,
    final_states,
    lengths_to_mask,
    mask_to_lengths,
    merge_directions,
    reverse_sequences,
    split_directions,
    value_checks,
)

from .portable_cases import CASES, SHAPES, Case, lengths_for


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_compiles_to_one_graph_for_every_shape(
    case: Case, placement: tuple[torch.device, torch.device]
) -> None:
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    call = partial(case.call, birnn_utils)
    compiled = torch.compile(call, fullgraph=True, dynamic=True, backend=counter)
    for steps, batch in SHAPES:
        args = case.make(steps, batch, *placement)
        assert_close(compiled(*args), call(*args))
    assert counter.frame_count == 1


def pipeline(x: Tensor, lengths: Tensor, h_n: Tensor) -> tuple[Tensor, ...]:
    """Every function in one graph, as a model would use them."""
    steps = x.shape[0]
    reversed_back = reverse_sequences(reverse_sequences(x, lengths), lengths)
    forward, backward = split_directions(torch.cat([reversed_back, x.flip(0)], dim=-1))
    mask = lengths_to_mask(lengths, steps).t().unsqueeze(-1)
    pooled = (merge_directions(forward, backward, "mean") * mask).sum(0)
    ends = final_outputs(torch.cat([x, x], dim=-1), lengths)
    top = final_states(h_n)
    counted = mask_to_lengths(mask.squeeze(-1).t())
    return pooled, *ends, *top, bridge_states(h_n), counted, lengths_to_mask(lengths)


# Inductor's CPU code path calls torch.jit.script_method, which warns in torch 2.13.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_inductor_pipeline(placement: tuple[torch.device, torch.device]) -> None:
    data, lengths_device = placement
    torch.compiler.reset()
    compiled = torch.compile(pipeline, fullgraph=True)
    for steps, batch in SHAPES[:2]:
        x = torch.randn(steps, batch, 3, device=data)
        lengths = lengths_for(steps, batch, lengths_device)
        h_n = torch.randn(4, batch, 3, device=data)
        assert_close(compiled(x, lengths, h_n), pipeline(x, lengths, h_n))


def test_value_checks_run_eagerly_and_stay_out_of_compiled_graphs() -> None:
    output, bad = torch.randn(5, 2, 8), torch.tensor([6, 1])
    with pytest.raises(
        ValueError, match=r"final_outputs: `lengths` must be in \[0, 5\], got max 6"
    ):
        final_outputs(output, bad)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(final_outputs, fullgraph=True, backend=counter)
    good = torch.tensor([5, 1])
    assert_close(compiled(output, good), final_outputs(output, good))
    with value_checks(False):  # the switch is not part of the graph: no recompile
        assert_close(compiled(output, good), final_outputs(output, good))
    assert counter.frame_count == 1


@contextmanager
def host_syncs_raise() -> Iterator[None]:
    """Make every CUDA host synchronisation an error, with the value checks off."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with value_checks(False):
            yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("case", [c for c in CASES if not c.syncs], ids=lambda c: c.name)
@pytest.mark.parametrize("lengths_device", ["cpu", "cuda"])
def test_no_host_sync_on_cuda(case: Case, lengths_device: str) -> None:
    args = case.make(5, 3, torch.device("cuda"), torch.device(lengths_device))
    with host_syncs_raise():
        case.call(birnn_utils, *args)


@pytest.mark.cuda
@requires_cuda
def test_no_host_sync_on_cuda_for_packed_sequences() -> None:
    packed = pack_padded_sequence(torch.randn(5, 3, 8, device="cuda"), [2, 5, 3], False, False)
    with host_syncs_raise():
        forward, backward = split_directions(packed)
        merge_directions(forward, backward)
        final_outputs(packed)
        reverse_sequences(packed)
