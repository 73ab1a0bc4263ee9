"""Write the sample output that docs/cli.md shows, by running the real command.

Run from the repository root: ``python docs/make_cli_output.py``. ``tests/test_docs.py`` runs the
same commands and checks that the committed files still show what they print.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SNIPPETS = Path(__file__).parent / "snippets"
# The file under docs/snippets/ and the arguments of `birnn-utils` that produce it.
COMMANDS = {
    "explain.txt": ["explain", "--mode", "LSTM", "--input-size", "3", "--hidden-size", "4",
                    "--num-layers", "2", "--proj-size", "2"],
    "check.txt": ["check", "--device", "cpu"],
}  # fmt: skip


def console(arguments: list[str]) -> str:
    """The command line and what it prints, as a console session."""
    result = subprocess.run(
        [sys.executable, "-m", "birnn_utils", *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"$ birnn-utils {' '.join(arguments)}\n{result.stdout}"


if __name__ == "__main__":
    for name, arguments in COMMANDS.items():
        (SNIPPETS / name).write_text(console(arguments))
        print(f"wrote {SNIPPETS / name}")
