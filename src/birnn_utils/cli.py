"""The ``birnn-utils`` command (also ``python -m birnn_utils``).

Sub-commands: ``demo`` (the default) reproduces the classic experiment and checks it; ``explain``
prints what is where for given RNN settings; ``check`` runs the equivalence checks on each
available device.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._demo import format_notebook, run_notebook
from ._explain import explain_layout, format_layout

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


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
    explain.add_argument("--input-size", required=True, type=_positive)
    explain.add_argument("--hidden-size", required=True, type=_positive)
    explain.add_argument("--num-layers", default=1, type=_positive)
    explain.add_argument("--proj-size", default=0, type=_non_negative, help="LSTM only")
    explain.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"])
    explain.add_argument("--batch-first", action="store_true")
    explain.add_argument("--json", action="store_true", help="print JSON")
    return parser


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
    print(json.dumps(info, indent=2) if args.json else format_layout(info))
    return 0


def _demo() -> int:
    result = run_notebook()
    print(format_notebook(result))
    return 0 if result.holds else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``birnn-utils`` command.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 1 if a check failed, 2 for bad arguments.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if args.command == "explain":
        return _explain(args)
    return _demo()


if __name__ == "__main__":
    sys.exit(main())
