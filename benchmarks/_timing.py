"""What every benchmark script shares: its options, the timing loop, the machine header."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Mapping

import torch
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
