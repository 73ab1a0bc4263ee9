"""Time Bidirectional against the native biGRU, and run_packed against hand-written packing.

Run from the repository root (with birnn_utils installed or on PYTHONPATH):

    python benchmarks/bench_wrapper.py --threads 1

Prints a Markdown table of ratios, all measured in this one run, float32 forward passes, on the
CPU and, when present, on CUDA. Each time is the fastest block (mean of a block of runs) of
torch.utils.benchmark's blocked_autorange over several rounds; the rounds interleave the
candidates so that load from other processes hits them alike, and the minimum drops its spikes.
torch.utils.benchmark synchronises the accelerator around every measurement.

Targets (issue 5): ``Bidirectional(nn.GRU)`` <= 1.15x the time of the native bidirectional
``nn.GRU`` with the same weights; ``run_packed`` <= 1.05x the time of hand-written
``pack_padded_sequence -> rnn -> pad_packed_sequence``. The row with empty sequences has no
target: hand-written packing cannot take them, so its baseline runs the same batch with no row
emptied.
"""

from __future__ import annotations

import argparse

import torch
from _timing import (
    best_ms,
    devices,
    hand_written,
    markdown_table,
    parse_args,
    print_environment,
    target_note,
)
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from birnn_utils import Bidirectional, run_packed

CASES = [(50, 32, 64, 128), (100, 64, 128, 256)]  # (T, B, input size, hidden size)


def wrapper_like(native: nn.GRU) -> Bidirectional:
    """Two unidirectional GRUs holding copies of the native module's two directions."""
    pair = []
    for suffix in ("", "_reverse"):
        uni = nn.GRU(native.input_size, native.hidden_size, device=native.weight_ih_l0.device)
        with torch.no_grad():
            for name, param in uni.named_parameters():
                param.copy_(getattr(native, name + suffix))
        pair.append(uni)
    return Bidirectional(*pair)


Row = tuple[str, str, str, dict[str, float], float | None]


def measure(
    device: torch.device, case: tuple[int, int, int, int], args: argparse.Namespace
) -> list[Row]:
    """Check ours against the baselines on one case, then time; returns its table rows."""
    steps, batch, features, hidden = case
    generator = torch.Generator().manual_seed(0)
    native = nn.GRU(features, hidden, bidirectional=True).to(device)
    wrapper = wrapper_like(native)
    x = torch.randn(steps, batch, features, generator=generator).to(device)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)  # unsorted, CPU
    with_empty = lengths.masked_fill(torch.arange(batch) % 8 == 0, 0)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)

    torch.testing.assert_close(wrapper(x)[0], native(x)[0])
    torch.testing.assert_close(wrapper(packed)[0].data, native(packed)[0].data)
    torch.testing.assert_close(
        run_packed(native, x, lengths)[0], hand_written(native, x, lengths)[0]
    )

    rows: list[Row] = []
    name = f"T={steps} B={batch} F={features} H={hidden}"
    with torch.no_grad():
        for what, ours, theirs in (
            ("padded", lambda: wrapper(x), lambda: native(x)),
            ("packed", lambda: wrapper(packed), lambda: native(packed)),
            (
                "padded + lengths",
                lambda: wrapper(x, lengths=lengths),
                lambda: hand_written(native, x, lengths),
            ),
        ):
            ms = best_ms({"ours": ours, "theirs": theirs}, args.rounds, args.min_run_time)
            rows.append((name, "Bidirectional(GRU) vs native biGRU", what, ms, 1.15))
        ms = best_ms(
            {
                "ours": lambda: run_packed(native, x, lengths),
                "theirs": lambda: hand_written(native, x, lengths),
            },
            args.rounds,
            args.min_run_time,
        )
        rows.append((name, "run_packed vs pack -> rnn -> pad", "1 <= lengths <= T", ms, 1.05))
        ms = best_ms(
            {
                "ours": lambda: run_packed(native, x, with_empty),
                "theirs": lambda: hand_written(native, x, lengths),
            },
            args.rounds,
            args.min_run_time,
        )
        rows.append(
            (
                name,
                "run_packed vs pack -> rnn -> pad",
                "1/8 of rows empty (baseline: none)",
                ms,
                None,
            )
        )
    return rows


def main() -> None:
    """Time every case and print the table (the options: `--help`)."""
    args = parse_args(__doc__.splitlines()[0], rounds=5, min_run_time=0.2)
    print_environment()
    columns = ["device", "case", "comparison", "input", "ours", "baseline", "ratio (target)"]
    with markdown_table(columns, numeric=3):
        for device in devices():
            for case in CASES:
                for name, comparison, what, ms, target in measure(device, case, args):
                    ratio = ms["ours"] / ms["theirs"]
                    print(
                        f"| {device.type} | {name} | {comparison} | {what} | {ms['ours']:.3f} ms "
                        f"| {ms['theirs']:.3f} ms | {ratio:.3f}x{target_note(ratio, target)} |"
                    )


if __name__ == "__main__":
    main()
