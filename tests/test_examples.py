"""The example scripts run, print their progress, and learn: a few short epochs lower the loss."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["tagger", "seq2seq"])
def test_example_learns(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    losses = load(name).main(epochs=3, seed=0, batches_per_epoch=10, batch_size=16)
    assert len(losses) == 3
    assert losses[-1] < 0.9 * losses[0]
    assert capsys.readouterr().out.count("loss") == 3
