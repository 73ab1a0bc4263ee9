"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch

# Every CUDA case carries the `cuda` marker, so that `pytest -m cuda` runs the GPU subset alone.
_CUDA = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
]

_DEVICES = ["cpu", pytest.param("cuda", marks=_CUDA)]

_PLACEMENTS = [
    pytest.param(("cpu", "cpu"), id="cpu"),
    pytest.param(("cuda", "cpu"), id="cuda-lengths_on_cpu", marks=_CUDA),
    pytest.param(("cuda", "cuda"), id="cuda", marks=_CUDA),
]


# Session scope: a device is immutable, and hypothesis rejects function-scoped fixtures in @given.
@pytest.fixture(scope="session", params=_DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each available device in turn: the CPU always, CUDA when present (skipped otherwise)."""
    return torch.device(request.param)


@pytest.fixture(scope="session", params=_PLACEMENTS)
def placement(request: pytest.FixtureRequest) -> tuple[torch.device, torch.device]:
    """``(data device, lengths device)``: where the data and the lengths live.

    All on the CPU; on CUDA with lengths on the CPU (as a DataLoader gives them) and on CUDA.
    """
    data, lengths = request.param
    return torch.device(data), torch.device(lengths)
