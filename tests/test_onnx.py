"""Models built on the library exported to ONNX with a dynamic time axis equal eager PyTorch in
onnxruntime, at the export's sequence length and at another one.

Needs the ``onnx`` test extra (onnx, onnxruntime, onnxscript); skipped without it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

import birnn_utils
from birnn_utils import (
    bridge_states,
    final_outputs,
    lengths_to_mask,
    merge_directions,
    reverse_sequences,
    split_directions,
)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SOURCE = Path(birnn_utils.__file__).parent
BATCH, INPUT_SIZE = 3, 3
EXPORT_STEPS, OTHER_STEPS = 6, 9


def features(output: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Each sequence's two final outputs, and the sum of the two directions at valid steps."""
    ends = final_outputs(output, lengths)
    mask = lengths_to_mask(lengths, output.shape[0]).t().unsqueeze(-1)
    return torch.cat(ends, dim=-1), merge_directions(*split_directions(output), "sum") * mask


class GRUModel(nn.Module):
    """A bidirectional GRU run on each sequence reversed within its length, reversed back."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(INPUT_SIZE, 4, num_layers=2, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        output, h_n = self.gru(reverse_sequences(x, lengths))
        return (*features(reverse_sequences(output, lengths), lengths), bridge_states(h_n))


class FeaturesModel(nn.Module):
    """The library's functions alone, on a given bidirectional output."""

    def forward(self, output: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        return features(reverse_sequences(output, lengths), lengths)


def inputs(steps: int, features_size: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(steps)
    x = torch.randn(steps, BATCH, features_size, generator=generator)
    return x, torch.tensor([steps, 2, 0])


def assert_onnx_matches_eager(path: Path, model: nn.Module, features_size: int) -> None:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for steps in (EXPORT_STEPS, OTHER_STEPS):
        x, lengths = inputs(steps, features_size)
        got = session.run(None, dict(zip(names, (x.numpy(), lengths.numpy()), strict=True)))
        with torch.no_grad():
            expected = model(x, lengths)
        assert_close([torch.from_numpy(np.asarray(g)) for g in got], list(expected))


def warnings_of_the_library(export: Callable[[], object]) -> list[warnings.WarningMessage]:
    """Run ``export`` with warnings recorded, not raised, and return those the library issued.

    torch's exporters issue and catch their own deprecation and user warnings; turned into
    errors (as this suite does) they would make the exporters fail or change strategy.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export()
    return [w for w in caught if Path(w.filename).is_relative_to(SOURCE)]


def export_dynamo(model: nn.Module, features_size: int, path: Path) -> None:
    def export() -> None:
        torch.onnx.export(
            model,
            inputs(EXPORT_STEPS, features_size),
            path,
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("T", min=2)}, None),
        )

    assert warnings_of_the_library(export) == []


def test_gru_model_with_the_torchscript_exporter(tmp_path: Path) -> None:
    # Deprecated in torch 2.13, this exporter is the one that exports a bidirectional GRU with a
    # dynamic time axis correctly there (see the dynamo test below).
    torch.manual_seed(0)
    model = GRUModel().eval()
    path = tmp_path / "model.onnx"

    def export() -> None:
        torch.onnx.export(
            model,
            inputs(EXPORT_STEPS, INPUT_SIZE),
            path,
            dynamo=False,
            input_names=["x", "lengths"],
            dynamic_axes={"x": {0: "T"}},
        )

    # Tracing turns the library's shape checks into constants, and says so. They test sizes that
    # stay fixed (features, batch, layers), or T == 0, an input nn.GRU rejects anyway.
    ours = warnings_of_the_library(export)
    assert {w.category for w in ours} <= {torch.jit.TracerWarning}
    assert_onnx_matches_eager(path, model, INPUT_SIZE)


def test_library_functions_with_the_dynamo_exporter(tmp_path: Path) -> None:
    model = FeaturesModel().eval()
    export_dynamo(model, 8, tmp_path / "features.onnx")
    assert_onnx_matches_eager(tmp_path / "features.onnx", model, 8)


@pytest.mark.xfail(
    raises=ort.capi.onnxruntime_pybind11_state.Fail,
    strict=True,
    reason="pytorch#191855: torch.onnx.export(dynamo=True) fixes a bidirectional GRU's output "
    "time length to the example's; fixed by pytorch#193192, not in torch 2.13",
)
def test_gru_model_with_the_dynamo_exporter(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GRUModel().eval()
    export_dynamo(model, INPUT_SIZE, tmp_path / "model.onnx")
    assert_onnx_matches_eager(tmp_path / "model.onnx", model, INPUT_SIZE)
