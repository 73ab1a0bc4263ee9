"""What every benchmark script shares: options, timing loop, baseline, table, machine header."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.benchmark import Timer


def parse_args(description: str, *, rounds: int, min_run_time: float) -> argparse.Namespace:
    """The common options; applies ``--threads`` before anything is timed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds (min taken)")
    parser.add_argument(
        "--min-run-time", type=float, default=min_run_time, help="seconds per round"
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def best_ms(
    candidates: Mapping[str, Callable[[], object]], rounds: int, min_run_time: float
) -> dict[str, float]:
    """The fastest block time of each candidate, in ms, over interleaved rounds.

    Interleaving makes load from other processes hit every candidate alike; the minimum drops its
    spikes. ``torch.utils.benchmark`` synchronises an accelerator around each measurement.
    """
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for name, fn in candidates.items():
            timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
            best[name] = min(best[name], *timer.blocked_autorange(min_run_time=min_run_time).times)
    return {name: seconds * 1e3 for name, seconds in best.items()}


def hand_written(rnn: nn.Module, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
    """The baseline route for padded input with lengths: ``pack -> rnn -> pad`` (time first)."""
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    output, state = rnn(packed)
    return pad_packed_sequence(output, total_length=x.shape[0])[0], state


def target_note(ratio: float, target: float | None, *, at_least: bool = False) -> str:
    """`` (<= 1.05x)``, or `` (>= 1.25x, MISSED)`` when ``ratio`` misses it; empty without one."""
    if target is None:
        return ""
    met = ratio >= target if at_least else ratio <= target
    return f" ({'>=' if at_least else '<='} {target:g}x{'' if met else ', MISSED'})"


@contextmanager
def markdown_table(columns: Sequence[str], numeric: int) -> Iterator[None]:
    """Print a Markdown table's header on entry and the load average on exit.

    The last ``numeric`` columns are right-aligned; what is printed inside are the rows.
    """
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(columns) - numeric) + "---:|" * numeric)
    yield
    print()
    print_load_at_end()


def devices() -> list[torch.device]:
    """The CPU, then CUDA when present."""
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def print_environment() -> None:
    """The lines that say where and with what the numbers were measured."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, ", end="")
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    if torch.cuda.is_available():
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print()


def print_load_at_end() -> None:
    """The load average after the run, to judge how noisy it was."""
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
