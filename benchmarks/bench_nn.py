"""Time birnn_utils.nn.LSTM against hand-written packing, compiled, and in onnxruntime.

Run from the repository root (with birnn_utils installed or on PYTHONPATH):

    python benchmarks/bench_nn.py --threads 1

Prints a Markdown table of ratios, all measured in this one run, float32, CPU. Each time is the
fastest block of torch.utils.benchmark's blocked_autorange over interleaved rounds (see
_timing.py). Unsorted lengths drawn from [T/2, T] (seed 0); each candidate is checked against its
baseline before timing.

Targets (issue 11):
- eager ``birnn_utils.nn.LSTM(x, lengths=...)`` <= 1.05x hand-written
  ``pack_padded_sequence -> torch.nn.LSTM -> pad_packed_sequence``, forward and forward+backward;
- ``torch.compile`` of a tagger (``birnn_utils.nn.LSTM`` + ``Linear``) <= 1.0x the same model in
  eager mode, and likewise of a ``BiRNNEncoder`` of a ``torch.nn.LSTM`` + ``Linear``;
- onnxruntime against eager torch for a 2-layer biLSTM, T=100, B=32, D=H=128: reported.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from _timing import (
    best_ms,
    hand_written,
    markdown_table,
    parse_args,
    print_environment,
    target_note,
)
from torch import Tensor, nn

import birnn_utils.nn as bnn
from birnn_utils import BiRNNEncoder, onnx_translation_table

STEPS, BATCH, FEATURES, HIDDEN, LAYERS = 100, 32, 128, 128, 2


class Tagger(nn.Module):
    """A bidirectional LSTM and a linear head over each step."""

    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        self.lstm = lstm
        self.head = nn.Linear(2 * HIDDEN, 10)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        output, _ = self.lstm(x, lengths=lengths)
        return self.head(output)  # type: ignore[no-any-return]


class EncoderTagger(nn.Module):
    """A ``BiRNNEncoder`` of a ``torch.nn.LSTM`` and a linear head over each step."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.encoder = BiRNNEncoder(lstm)
        self.head = nn.Linear(2 * HIDDEN, 10)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.encoder(x, lengths).outputs)  # type: ignore[no-any-return]


def training_step(fn: Callable[[], Tensor], params: Sequence[Tensor]) -> Callable[[], None]:
    """A call of ``fn`` and the gradients of its sum with respect to ``params``."""

    def step() -> None:
        torch.autograd.grad(fn().sum(), params)

    return step


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """Hide the exporter's notes on its own work, for this block only.

    In torch 2.13 with onnxscript 0.7.2 they are about 20 lines: a logged warning per skipped
    constant folding (onnxscript's optimizer), one per torchvision op it cannot register
    (torch.onnx), and Python warnings from torch's internals.

    Yields:
        Nothing; the loggers get their levels back afterwards.
    """
    loggers = [logging.getLogger(name) for name in ("onnxscript", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def onnx_session(model: nn.Module, x: Tensor, lengths: Tensor) -> object:
    """``model`` exported with dynamic T and B, in an onnxruntime session on the CPU."""
    import onnxruntime as ort

    path = Path(tempfile.mkdtemp()) / "lstm.onnx"
    steps, batch = torch.export.Dim("T", min=2), torch.export.Dim("B", min=2)
    with quiet_exporter():
        program = torch.onnx.export(
            model,
            (x, lengths),
            dynamo=True,
            custom_translation_table=onnx_translation_table(),
            dynamic_shapes=({0: steps, 1: batch}, {0: batch}),
            verbose=False,  # no progress lines
        )
    assert program is not None
    program.save(str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> None:
    """Time every case and print the table (the options: `--help`)."""
    args = parse_args(__doc__.splitlines()[0], rounds=5, min_run_time=0.5)
    print_environment()
    generator = torch.Generator().manual_seed(0)
    native = nn.LSTM(FEATURES, HIDDEN, num_layers=LAYERS, bidirectional=True)
    ours = bnn.LSTM.from_module(native)
    x = torch.randn(STEPS, BATCH, FEATURES, generator=generator)
    lengths = torch.randint(STEPS // 2, STEPS + 1, (BATCH,), generator=generator)
    torch.testing.assert_close(ours(x, lengths=lengths)[0], hand_written(native, x, lengths)[0])
    params = list(native.parameters())
    rows: list[tuple[str, str, dict[str, float], float | None]] = []

    with torch.no_grad():
        ms = best_ms(
            {
                "ours": lambda: ours(x, lengths=lengths),
                "theirs": lambda: hand_written(native, x, lengths),
            },
            args.rounds,
            args.min_run_time,
        )
    rows.append(("nn.LSTM(lengths) vs pack -> torch LSTM -> pad", "forward", ms, 1.05))
    ms = best_ms(
        {
            "ours": training_step(lambda: ours(x, lengths=lengths)[0], params),
            "theirs": training_step(lambda: hand_written(native, x, lengths)[0], params),
        },
        args.rounds,
        args.min_run_time,
    )
    rows.append(("nn.LSTM(lengths) vs pack -> torch LSTM -> pad", "forward+backward", ms, 1.05))

    tagger = Tagger(ours).eval()
    session = onnx_session(tagger, x, lengths)
    feeds = {"x": x.numpy(), "lengths": lengths.numpy()}
    got = session.run(None, feeds)[0]  # type: ignore[attr-defined]
    with torch.no_grad():
        expected = tagger(x, lengths)
        torch.testing.assert_close(torch.from_numpy(np.asarray(got)), expected)
        ms = best_ms(
            {
                "ours": lambda: session.run(None, feeds),  # type: ignore[attr-defined]
                "theirs": lambda: tagger(x, lengths),
            },
            args.rounds,
            args.min_run_time,
        )
    rows.append(("onnxruntime vs eager torch, tagger", "forward", ms, None))

    with warnings.catch_warnings():
        # Inductor's CPU code path calls torch.jit.script_method, deprecated in torch 2.13.
        warnings.simplefilter("ignore", DeprecationWarning)
        compiled = torch.compile(tagger, fullgraph=True, dynamic=True)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x, lengths), expected)
            ms = best_ms(
                {"ours": lambda: compiled(x, lengths), "theirs": lambda: tagger(x, lengths)},
                args.rounds,
                args.min_run_time,
            )
        rows.append(("torch.compile vs eager, tagger", "forward", ms, 1.0))

        encoder_tagger = EncoderTagger(native).eval()
        compiled_encoder = torch.compile(encoder_tagger, fullgraph=True, dynamic=True)
        with torch.no_grad():
            torch.testing.assert_close(compiled_encoder(x, lengths), encoder_tagger(x, lengths))
            ms = best_ms(
                {
                    "ours": lambda: compiled_encoder(x, lengths),
                    "theirs": lambda: encoder_tagger(x, lengths),
                },
                args.rounds,
                args.min_run_time,
            )
        rows.append(("torch.compile vs eager, BiRNNEncoder + Linear", "forward", ms, 1.0))

    print(f"Case: 2-layer biLSTM, T={STEPS} B={BATCH} D=H={HIDDEN}, float32, CPU")
    print()
    with markdown_table(["comparison", "pass", "ours", "baseline", "ratio (target)"], numeric=3):
        for comparison, what, result, target in rows:
            ratio = result["ours"] / result["theirs"]
            print(
                f"| {comparison} | {what} | {result['ours']:.2f} ms | {result['theirs']:.2f} ms "
                f"| {ratio:.3f}x{target_note(ratio, target)} |"
            )


if __name__ == "__main__":
    main()
