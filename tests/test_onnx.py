"""Models built on the library, exported to ONNX with a dynamic time axis, equal eager PyTorch.

They run in onnxruntime, at the export's sequence length and at another one.

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
    final_states,
    flatten_states,
    lengths_to_mask,
    mask_to_lengths,
    merge_directions,
    reverse_sequences,
    split_directions,
    unflatten_states,
)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SOURCE = Path(birnn_utils.__file__).parent
BATCH, INPUT_SIZE, H_OUT = 3, 3, 4
EXPORT_STEPS, OTHER_STEPS = 6, 9


def features(output: Tensor, lengths: Tensor, h_n: Tensor) -> tuple[Tensor, ...]:
    """Every tensor function of the library on a bidirectional RNN's output and final state."""
    ends = final_outputs(output, lengths)
    mask = lengths_to_mask(lengths, output.shape[0])
    summed = merge_directions(*split_directions(output), "sum") * mask.t().unsqueeze(-1)
    return (
        torch.cat(ends, dim=-1),
        summed,
        mask_to_lengths(mask),
        torch.cat(final_states(h_n), dim=-1),
        flatten_states(unflatten_states(h_n).flip(1)),
        bridge_states(h_n),
    )


class GRUModel(nn.Module):
    """A bidirectional GRU run on each sequence reversed within its length, reversed back."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(INPUT_SIZE, H_OUT, num_layers=2, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        output, h_n = self.gru(reverse_sequences(x, lengths))
        return features(reverse_sequences(output, lengths), lengths, h_n)

    @staticmethod
    def example(steps: int) -> tuple[Tensor, ...]:
        generator = torch.Generator().manual_seed(steps)
        return torch.randn(steps, BATCH, INPUT_SIZE, generator=generator), lengths_for(steps)


class FeaturesModel(nn.Module):
    """The library's functions alone, on a given bidirectional output and state."""

    def forward(self, output: Tensor, lengths: Tensor, h_n: Tensor) -> tuple[Tensor, ...]:
        return features(reverse_sequences(output, lengths), lengths, h_n)

    @staticmethod
    def example(steps: int) -> tuple[Tensor, ...]:
        generator = torch.Generator().manual_seed(steps)
        output = torch.randn(steps, BATCH, 2 * H_OUT, generator=generator)
        return output, lengths_for(steps), torch.randn(4, BATCH, H_OUT, generator=generator)


def lengths_for(steps: int) -> Tensor:
    return torch.tensor([steps, 2, 0])


def assert_onnx_matches_eager(path: Path, model: GRUModel | FeaturesModel) -> None:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for steps in (EXPORT_STEPS, OTHER_STEPS):
        example = model.example(steps)
        got = session.run(None, {n: t.numpy() for n, t in zip(names, example, strict=True)})
        with torch.no_grad():
            expected = model(*example)
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


def export_dynamo(model: GRUModel | FeaturesModel, path: Path) -> None:
    example = model.example(EXPORT_STEPS)

    def export() -> None:
        torch.onnx.export(
            model,
            example,
            path,
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("T", min=2)}, *[None] * (len(example) - 1)),
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
            model.example(EXPORT_STEPS),
            path,
            dynamo=False,
            input_names=["x", "lengths"],
            dynamic_axes={"x": {0: "T"}},
        )

    # Tracing turns the library's shape checks into constants, and says so. They test sizes that
    # stay fixed (features, batch, layers), or T == 0, an input nn.GRU rejects anyway.
    ours = warnings_of_the_library(export)
    assert {w.category for w in ours} <= {torch.jit.TracerWarning}
    assert_onnx_matches_eager(path, model)


def test_library_functions_with_the_dynamo_exporter(tmp_path: Path) -> None:
    model = FeaturesModel().eval()
    export_dynamo(model, tmp_path / "features.onnx")
    assert_onnx_matches_eager(tmp_path / "features.onnx", model)


@pytest.mark.xfail(
    raises=ort.capi.onnxruntime_pybind11_state.Fail,
    strict=True,
    reason="pytorch#191855: torch.onnx.export(dynamo=True) fixes a bidirectional GRU's output "
    "time length to the example's; fixed by pytorch#193192, not in torch 2.13",
)
def test_gru_model_with_the_dynamo_exporter(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GRUModel().eval()
    export_dynamo(model, tmp_path / "model.onnx")
    assert_onnx_matches_eager(tmp_path / "model.onnx", model)
