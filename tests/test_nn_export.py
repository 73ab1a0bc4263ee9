"""birnn_utils.nn exported to ONNX with onnx_translation_table, run in onnxruntime.

One export per case with dynamic T and B; onnxruntime must give eager PyTorch's values at several
(T, B) with unsorted lengths, rows of length 1, T and 0, and a given initial state. Needs the
``onnx`` extra (onnx, onnxruntime, onnxscript), installed in CI.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

import birnn_utils.nn as bnn
from birnn_utils import BiRNNEncoder, onnx_translation_table

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

INPUT_SIZE, HIDDEN = 3, 5
# (T, B, lengths). The export (of SHAPES[0]) declares Dim("T", min=2) and Dim("B", min=2), as
# torch.export assumes of a dynamic size; the ONNX file must still run B = 1 and T = 1 (issue 20).
SHAPES = [
    (6, 3, [2, 6, 1]),
    (9, 4, [9, 3, 0, 5]),
    (2, 2, [0, 0]),
    (1, 1, [1]),
    (1, 3, [1, 0, 1]),
    (4, 1, [3]),
]


class Call(nn.Module):
    """``rnn(x, hx, lengths=lengths)`` with the state's parts as separate inputs and outputs."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: Tensor, lengths: Tensor, *hx: Tensor) -> tuple[Tensor, ...]:
        state = None if not hx else hx[0] if len(hx) == 1 else (hx[0], hx[1])
        output, final = self.rnn(x, state, lengths=lengths)
        return (output, *final) if isinstance(final, tuple) else (output, final)


def example(rnn: Any, steps: int, batch: int, lengths: list[int]) -> tuple[Tensor, ...]:
    generator = torch.Generator().manual_seed(steps * 10 + batch)
    shape = (batch, steps, INPUT_SIZE) if rnn.batch_first else (steps, batch, INPUT_SIZE)
    rows = rnn.num_layers * (2 if rnn.bidirectional else 1)
    state = [torch.randn(rows, batch, HIDDEN, generator=generator)]
    if isinstance(rnn, bnn.LSTM):
        state.append(torch.randn(rows, batch, HIDDEN, generator=generator))
    return (torch.randn(shape, generator=generator), torch.tensor(lengths), *state)


def export(model: nn.Module, args: tuple[Tensor, ...], path: Path, batch_first: bool) -> None:
    steps, batch = torch.export.Dim("T", min=2), torch.export.Dim("B", min=2)
    # The state's parts are one input, the `*hx` tuple.
    shapes = (
        {0: batch, 1: steps} if batch_first else {0: steps, 1: batch},
        {0: batch},
        tuple({1: batch} for _ in args[2:]),
    )
    with warnings.catch_warnings():
        # torch's exporter issues and catches its own warnings; errors would change its course.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            args,
            dynamo=True,
            custom_translation_table=onnx_translation_table(),
            dynamic_shapes=shapes,
        )
    assert program is not None
    program.save(str(path))


KINDS: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "rnn_tanh": (bnn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (bnn.RNN, {"nonlinearity": "relu"}),
    "gru": (bnn.GRU, {}),
    "lstm": (bnn.LSTM, {}),
}
LAYOUTS = [
    pytest.param(1, False, False, id="1-layer-uni"),
    pytest.param(2, True, True, id="2-layers-bi-batch_first"),
    pytest.param(3, True, False, id="3-layers-bi"),
    pytest.param(2, False, True, id="2-layers-uni-batch_first"),
]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("num_layers", "bidirectional", "batch_first"), LAYOUTS)
def test_onnxruntime_equals_pytorch(
    kind: str, num_layers: int, bidirectional: bool, batch_first: bool, tmp_path: Path
) -> None:
    cls, kwargs = KINDS[kind]
    torch.manual_seed(0)
    rnn = cls(
        INPUT_SIZE,
        HIDDEN,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **kwargs,
    )
    model = Call(rnn).eval()
    path = tmp_path / "model.onnx"
    export(model, example(rnn, *SHAPES[0]), path, batch_first)
    assert_onnxruntime_matches(path, model, rnn)


def assert_onnxruntime_matches(path: Path, model: nn.Module, rnn: Any) -> None:
    """Check that onnxruntime runs ``path`` as eager ``model`` runs, at each of SHAPES."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for shape in SHAPES:
        args = example(rnn, *shape)
        got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})
        with torch.no_grad():
            expected = model(*args)
        assert_close([torch.from_numpy(g) for g in got], list(expected))


def test_projections_are_refused_at_export(tmp_path: Path) -> None:
    rnn = bnn.LSTM(INPUT_SIZE, HIDDEN, proj_size=2)
    h0, c0 = torch.zeros(1, 2, 2), torch.zeros(1, 2, HIDDEN)
    args = (torch.randn(4, 2, INPUT_SIZE), torch.tensor([4, 2]), h0, c0)
    with pytest.raises(Exception, match=r"an LSTM with `proj_size` > 0 has no ONNX equivalent"):
        export(Call(rnn).eval(), args, tmp_path / "model.onnx", False)


def test_without_onnxscript_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ImportError, match=r"`pip install -e '\.\[onnx\]'` in a clone") as error:
        onnx_translation_table()
    assert "py3-none-any.whl[onnx]" in str(error.value)  # the wheel the site publishes


def test_importing_the_library_does_not_import_onnxscript() -> None:
    code = "import sys, birnn_utils, birnn_utils.nn; assert 'onnxscript' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class Encode(nn.Module):
    """A BiRNNEncoder's outputs as a flat tuple, as onnxruntime returns them."""

    def __init__(self, encoder: BiRNNEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: Tensor, lengths: Tensor, *hx: Tensor) -> tuple[Tensor, ...]:
        encoded = self.encoder(x, lengths, initial_state=(hx[0], hx[1]))
        return (encoded.outputs, *encoded.final, *encoded.states, encoded.lengths)


def test_encoder_of_a_torch_lstm_in_onnxruntime(tmp_path: Path) -> None:
    """BiRNNEncoder(torch.nn.LSTM) exports: its module runs as ONNX's LSTM with sequence_lens."""
    torch.manual_seed(0)
    lstm = nn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
    encoder = BiRNNEncoder(lstm).eval()
    model = Encode(encoder)
    path = tmp_path / "encoder.onnx"
    export(model, example(encoder.rnn, *SHAPES[0]), path, True)
    assert_onnxruntime_matches(path, model, encoder.rnn)
