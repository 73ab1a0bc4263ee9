"""Time reverse_sequences against a copy of the same data and the loops it replaces.

Run from the repository root (with birnn_utils installed or on PYTHONPATH):

    python benchmarks/bench_reverse.py

Prints a Markdown table of ratios, all measured in this one run, float32, on the CPU and, when
present, on CUDA. Each time is the fastest block (mean of a block of runs) of
torch.utils.benchmark's blocked_autorange over several rounds; the rounds interleave the
candidates so that load from other processes hits them alike, and the minimum drops its spikes.
torch.utils.benchmark synchronises the accelerator around every measurement.

Targets (issue 3): padded reversal <= 2x ``x.clone()`` and >= 3x faster than a per-row flip loop;
packed reversal <= 2x ``packed.data.clone()`` and >= 50x faster than unpack -> reverse -> repack.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import torch
from _timing import best_ms, devices, markdown_table, parse_args, print_environment, target_note
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from birnn_utils import reverse_sequences

CASES = [(200, 64, 256), (1000, 128, 512)]  # (T, B, D)


def per_row_flip(x: Tensor, lengths: list[int]) -> Tensor:
    """The loop reverse_sequences replaces: flip each sequence's valid steps, one row at a time."""
    out = x.clone()
    for b, n in enumerate(lengths):
        out[:n, b] = x[:n, b].flip(0)
    return out


def unpack_reverse_repack(packed: PackedSequence) -> PackedSequence:
    """The route without reverse_sequences: pad, flip each row, pack again."""
    padded, lengths = pad_packed_sequence(packed)
    flipped = per_row_flip(padded, lengths.tolist())
    return pack_padded_sequence(flipped, lengths, enforce_sorted=False)


def table_row(label: str, ms: dict[str, float], max_ratio: float, min_speedup: float) -> str:
    """One Markdown row: the times, the ratio to a clone and the speed-up over the baseline."""
    ratio, speedup = ms["ours"] / ms["clone"], ms["baseline"] / ms["ours"]
    return (
        f"| {label} | {ms['ours']:.3f} | {ms['clone']:.3f} "
        f"| {ratio:.2f}x{target_note(ratio, max_ratio)} | {ms['baseline']:.3f} "
        f"| {speedup:.1f}x{target_note(speedup, min_speedup, at_least=True)} |"
    )


def measure(
    device: torch.device, steps: int, batch: int, features: int, args: argparse.Namespace
) -> Iterator[str]:
    """Check the results against the baselines, then time; yields the two table rows."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps, batch, features, generator=generator).to(device)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)  # unsorted
    as_list = lengths.tolist()
    lengths_on_device = lengths.to(device)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)

    assert torch.equal(reverse_sequences(x, lengths_on_device), per_row_flip(x, as_list))
    assert torch.equal(reverse_sequences(packed).data, unpack_reverse_repack(packed).data)

    case = f"{device.type} | T={steps} B={batch} D={features}"
    padded = {
        "ours": lambda: reverse_sequences(x, lengths_on_device),
        "clone": x.clone,
        "baseline": lambda: per_row_flip(x, as_list),
    }
    yield table_row(f"{case} | padded", best_ms(padded, args.rounds, args.min_run_time), 2, 3)
    packed_candidates: dict[str, Callable[[], object]] = {
        "ours": lambda: reverse_sequences(packed),
        "clone": packed.data.clone,
        "baseline": lambda: unpack_reverse_repack(packed),
    }
    timings = best_ms(packed_candidates, args.rounds, args.min_run_time)
    yield table_row(f"{case} | packed", timings, 2, 50)


def main() -> None:
    """Time every case and print the table (the options: `--help`)."""
    args = parse_args(__doc__.splitlines()[0], rounds=10, min_run_time=0.05)
    print_environment()
    print("Baselines: padded, a per-row flip loop; packed, unpack -> per-row flip -> repack.")
    print()
    columns = [
        *("device", "case", "input", "reverse_sequences (ms)", "clone (ms)", "ratio to clone"),
        *("baseline (ms)", "speedup over baseline"),
    ]
    with markdown_table(columns, numeric=5):
        for device in devices():
            for steps, batch, features in CASES:
                for line in measure(device, steps, batch, features, args):
                    print(line, flush=True)


if __name__ == "__main__":
    main()
