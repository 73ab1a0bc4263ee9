"""Time nn.Recurrent against a hand-written loop, and nn.StackedRecurrent against packing.

Run from the repository root (with birnn_utils installed or on PYTHONPATH):

    python benchmarks/bench_recurrent.py --threads 1

Prints a Markdown table of ratios, all measured in this one run, float32, on the CPU: forward
passes, and forward plus backward. T=100, B=32, D=H=128, unsorted lengths drawn uniformly from
``[1, T]`` (seed 0). Each time is the fastest block of torch.utils.benchmark's
blocked_autorange over several rounds that interleave the candidates, so that load from other
processes hits them alike (see benchmarks/_timing.py).

Targets (issue 19): ``Recurrent(nn.LSTMCell)`` with lengths <= 1.15x a hand-written Python loop
over the same cell without lengths (the floor any loop has); ``StackedRecurrent.from_module``
of a 2-layer bidirectional ``nn.LSTM``, with lengths, <= 1.8x the native module on packed input
(``pack_padded_sequence -> nn.LSTM -> pad_packed_sequence``), with a moonshot of <= 1.2x. The
row without lengths has no target: it shows the runner's own cost over the same loop.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

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

from birnn_utils.nn import Recurrent, StackedRecurrent

STEPS, BATCH, FEATURES, HIDDEN = 100, 32, 128, 128


def python_loop(cell: nn.LSTMCell, x: Tensor) -> Tensor:
    """The floor: a plain loop over every step of every row, no lengths, outputs stacked."""
    h = x.new_zeros(x.shape[1], cell.hidden_size)
    state = (h, h)
    outputs = []
    for step in x:
        state = cell(step, state)
        outputs.append(state[0])
    return torch.stack(outputs)


Row = tuple[str, str, dict[str, float], float | None]


def timed(
    ours: Callable[[], Tensor], theirs: Callable[[], Tensor], args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float]]:
    """Forward times, then forward plus backward times, of the two candidates."""
    with torch.no_grad():
        forward = best_ms({"ours": ours, "theirs": theirs}, args.rounds, args.min_run_time)
    both = best_ms(
        {
            "ours": lambda: torch.autograd.backward(ours().sum()),
            "theirs": lambda: torch.autograd.backward(theirs().sum()),
        },
        args.rounds,
        args.min_run_time,
    )
    return forward, both


def measure(args: argparse.Namespace) -> list[Row]:
    """Check each candidate against its baseline, then time; returns the table rows."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, BATCH, FEATURES, generator=generator)
    lengths = torch.randint(1, STEPS + 1, (BATCH,), generator=generator)  # unsorted, CPU
    cell = nn.LSTMCell(FEATURES, HIDDEN)
    runner = Recurrent(cell)
    lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True)
    stack = StackedRecurrent.from_module(lstm)

    full = torch.full((BATCH,), STEPS)
    torch.testing.assert_close(runner(x)[0], python_loop(cell, x))
    torch.testing.assert_close(runner(x, lengths=full)[0], python_loop(cell, x))
    torch.testing.assert_close(
        stack(x, lengths=lengths)[0], hand_written(lstm, x, lengths)[0], rtol=1e-4, atol=1e-5
    )

    rows: list[Row] = []
    loop = "hand-written loop, no lengths"
    for name, ours, theirs, baseline, target in (
        (
            "Recurrent(LSTMCell) + lengths",
            lambda: runner(x, lengths=lengths)[0],
            lambda: python_loop(cell, x),
            loop,
            1.15,
        ),
        (
            "Recurrent(LSTMCell), no lengths",
            lambda: runner(x)[0],
            lambda: python_loop(cell, x),
            loop,
            None,
        ),
        (
            "StackedRecurrent.from_module(2-layer biLSTM) + lengths",
            lambda: stack(x, lengths=lengths)[0],
            lambda: hand_written(lstm, x, lengths)[0],
            "pack -> nn.LSTM -> pad",
            1.8,
        ),
    ):
        forward, both = timed(ours, theirs, args)
        rows.append((name, f"{baseline}, forward", forward, target))
        rows.append((name, f"{baseline}, fwd+bwd", both, None))
    return rows


def main() -> None:
    """Time every comparison and print the table (the options: `--help`)."""
    args = parse_args(__doc__.splitlines()[0], rounds=5, min_run_time=0.2)
    print_environment()
    columns = ["ours", "baseline", "ours (ms)", "baseline (ms)", "ratio (target)"]
    with markdown_table(columns, numeric=3):
        for name, baseline, ms, target in measure(args):
            ratio = ms["ours"] / ms["theirs"]
            print(
                f"| {name} | {baseline} | {ms['ours']:.2f} | {ms['theirs']:.2f} "
                f"| {ratio:.3f}x{target_note(ratio, target)} |"
            )


if __name__ == "__main__":
    main()
