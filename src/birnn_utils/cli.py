"""The ``birnn-utils`` command (also ``python -m birnn_utils``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._demo import format_notebook, run_notebook

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the notebook reproduction and print it.

    Args:
        argv: command-line arguments (unused for now); ``None`` reads ``sys.argv``.

    Returns:
        0 if the findings hold, 1 otherwise.
    """
    del argv
    result = run_notebook()
    print(format_notebook(result))
    return 0 if result.holds else 1


if __name__ == "__main__":
    sys.exit(main())
