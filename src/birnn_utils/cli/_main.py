"""The ``birnn-utils`` command: argument parsing and the sub-commands.

``demo`` (the default) reproduces the classic experiment and checks it; ``explain`` prints what is
where for given RNN settings; ``check`` runs the equivalence checks on each available device.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence

from .._explain import explain_layout
from ._demo import format_comparison, format_notebook, run_lstm, run_notebook, run_padded_batch
from ._equivalence import available_devices, run_checks
from ._format import format_layout

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="birnn-utils",
        description="Bidirectional RNNs in PyTorch: see, explain and check their layout.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{demo,explain,check}")
    commands.add_parser(
        "demo",
        help="reproduce the classic experiment and check it (the default)",
        description="Reproduce 'Figuring how bidirectional RNN works in PyTorch' and check "
        "its findings; exit code 0 only if every check holds.",
    )
    explain = commands.add_parser(
        "explain",
        help="what is where in output, h_n, c_n and the parameters",
        description="Print the shapes of output, h_n and c_n, which slice or row is which "
        "layer and direction, the parameters per layer and direction, and the input size of "
        "each layer's reverse module.",
    )
    explain.add_argument("--mode", required=True, choices=["RNN", "GRU", "LSTM"])
    explain.add_argument("--input-size", required=True, type=int)
    explain.add_argument("--hidden-size", required=True, type=int)
    explain.add_argument("--num-layers", default=1, type=int)
    explain.add_argument("--proj-size", default=0, type=int, help="LSTM only")
    explain.add_argument(
        "--nonlinearity", default="tanh", choices=["tanh", "relu"], help="RNN only"
    )
    explain.add_argument("--batch-first", action="store_true")
    explain.add_argument("--json", action="store_true", help="print JSON")
    check = commands.add_parser(
        "check",
        help="run the equivalence checks on each available device",
        description="Rebuild 2-layer bidirectional RNN, GRU, LSTM and LSTM-with-projection "
        "modules from their per-direction modules on a packed batch of mixed lengths, compare "
        "with the native module, and print a pass/fail table with the max error per check. "
        "Exit code 1 if any check fails.",
    )
    check.add_argument(
        "--device",
        default="all",
        choices=["cpu", "cuda", "mps", "all"],
        help="where to run (default: all available devices)",
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _check(args: argparse.Namespace) -> int:
    available = available_devices()
    if args.device != "all" and args.device not in available:
        print(
            f"birnn-utils check: error: device {args.device!r} is not available here "
            f"(available: {', '.join(available)})",
            file=sys.stderr,
        )
        return 2
    results = run_checks(available if args.device == "all" else [args.device])
    if args.json:
        rows = [{**result._asdict(), "passed": result.passed} for result in results]
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(result.name) for result in results)
        print(f"{'device':<7} {'check':<{width}}  {'max error':>10}  {'tolerance':>9}  result")
        for result in results:
            verdict = "pass" if result.passed else "FAIL"
            print(
                f"{result.device:<7} {result.name:<{width}}  {result.max_error:>10.3g}  "
                f"{result.tolerance:>9.0e}  {verdict}"
            )
        failed = sum(not result.passed for result in results)
        print(f"{len(results) - failed} passed, {failed} failed")
    return 0 if all(result.passed for result in results) else 1


def _explain(args: argparse.Namespace) -> int:
    try:
        info = explain_layout(
            args.mode,
            args.input_size,
            args.hidden_size,
            args.num_layers,
            args.proj_size,
            batch_first=args.batch_first,
            nonlinearity=args.nonlinearity,
        )
    except ValueError as error:
        print(f"birnn-utils explain: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        # COLUMNS if set, else the terminal's width, else 80 (output piped or redirected).
        print(format_layout(info, width=shutil.get_terminal_size(fallback=(80, 24)).columns))
    return 0


def _demo() -> int:
    notebook = run_notebook()
    print(format_notebook(notebook))
    comparisons = run_lstm()
    padded, naive_error = run_padded_batch()
    comparisons += padded
    for comparison in comparisons:
        print()
        print(format_comparison(comparison))
    print(
        f"\nFor contrast, flipping the whole padded tensor instead of each sequence within its "
        f"length\nlets padding into the backward direction: max |difference| {naive_error:.3g} "
        "at valid steps."
    )
    holds = notebook.holds and all(comparison.holds for comparison in comparisons)
    print("\nall checks hold" if holds else "\nSOME CHECKS FAIL")
    return 0 if holds else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``birnn-utils`` command.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 1 if a check failed, 2 for bad arguments, 141 (as a process
        killed by SIGPIPE) when the reader of the output closed it early (``| head``).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        if args.command == "explain":
            return _explain(args)
        if args.command == "check":
            return _check(args)
        return _demo()
    except BrokenPipeError:
        # Python's recommended handling: later writes (and the flush at exit) go nowhere, so
        # that no second BrokenPipeError is printed at interpreter shutdown.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
