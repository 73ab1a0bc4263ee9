"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch

_DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
    ),
]


# Session scope: a device is immutable, and hypothesis rejects function-scoped fixtures in @given.
@pytest.fixture(scope="session", params=_DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each available device in turn: the CPU always, CUDA when present (skipped otherwise)."""
    return torch.device(request.param)
