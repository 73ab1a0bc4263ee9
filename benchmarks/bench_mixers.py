"""Time a tied mixer run once on both directions (2B rows) against two calls of it.

Run from the repository root (with birnn_utils installed or on PYTHONPATH):

    python benchmarks/bench_mixers.py --threads 1

Prints a Markdown table of ratios, all measured in this one run, float32 forward passes under
``torch.no_grad()``, unsorted lengths, on the CPU and, when present, on CUDA. Both candidates
are ``Bidirectional(m, backward=m)`` with the same module, one with ``batch_directions=True``
(one call on the input and its reversal stacked), one with ``batch_directions=False`` (two
calls); the script checks that they agree before timing. Times as in ``_timing.best_ms``.

Targets (issue 12): a minGRU-style mixer that loops over time in Python, B=8 T=128 D=64,
>= 1.25x faster in one call (its cost is per step, not per row); a compute-bound causal
convolution no slower (<= 1.05x the time of two calls).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator

import torch
from _timing import best_ms, devices, markdown_table, parse_args, print_environment, target_note
from torch import Tensor, nn

from birnn_utils import Bidirectional


class MinGRU(nn.Module):
    """``h_t = (1 - z_t) h_{t-1} + z_t c_t``, one Python step per time step."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, dim)
        self.candidate = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        z, c = torch.sigmoid(self.gate(x)), self.candidate(x)
        h = x.new_zeros(x.shape[0], x.shape[2])
        outputs = []
        for t in range(x.shape[1]):
            h = torch.lerp(h, c[:, t], z[:, t])
            outputs.append(h)
        return torch.stack(outputs, 1)


class CausalConv(nn.Module):
    """A dense causal convolution over time, ``B x T x D``."""

    def __init__(self, dim: int, kernel: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel - 1)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(x.transpose(1, 2))
        return out[..., : x.shape[1]].transpose(1, 2)


# (name, module, B, T, D, target as "ratio two calls / one call", at least or at most)
CASES = [
    ("minGRU-style loop", MinGRU, 8, 128, 64, 1.25),
    ("causal conv", CausalConv, 8, 128, 256, None),
]


def measure(device: torch.device, args: argparse.Namespace) -> Iterator[str]:
    """Check that one call equals two, then time both; yields a table row per case."""
    for name, make, batch, steps, dim, target in CASES:
        torch.manual_seed(0)
        module = make(dim).to(device)
        one = Bidirectional(module, module, batch_first=True)
        two = Bidirectional(module, module, batch_first=True, batch_directions=False)
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(batch, steps, dim, generator=generator).to(device)
        lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
        with torch.no_grad():
            torch.testing.assert_close(one(x, lengths=lengths), two(x, lengths=lengths))
            candidates = {
                key: functools.partial(bi, x, lengths=lengths)
                for key, bi in (("one", one), ("two", two))
            }
            ms = best_ms(candidates, args.rounds, args.min_run_time)
        speedup = ms["two"] / ms["one"]
        if target is None:  # no slower: the one call takes at most 1.05x the two
            missed = "" if ms["one"] / ms["two"] <= 1.05 else ", MISSED"
            goal = f" (one call <= 1.05x two{missed})"
        else:
            goal = target_note(speedup, target, at_least=True)
        yield (
            f"| {device.type} | {name} | {batch} x {steps} x {dim} | {ms['one']:.3f} ms "
            f"| {ms['two']:.3f} ms | {speedup:.3f}x{goal} |"
        )


def main() -> None:
    """Time every case and print the table (the options: `--help`)."""
    args = parse_args(__doc__.splitlines()[0], rounds=5, min_run_time=0.2)
    print_environment()
    columns = ["device", "mixer", "B x T x D", "one call", "two calls", "speed-up (target)"]
    with markdown_table(columns, numeric=3):
        for device in devices():
            for row in measure(device, args):
                print(row, flush=True)


if __name__ == "__main__":
    main()
