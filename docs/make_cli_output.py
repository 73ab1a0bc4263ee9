"""Write the sample output that docs/cli.md shows, by running the real command.

Run from the repository root: ``python docs/make_cli_output.py``. ``tests/test_docs.py`` runs the
same commands and checks that the committed files still show what they print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SNIPPETS = Path(__file__).parent / "snippets"
WIDTH = 80
"""The terminal the samples are printed for: what the CLI page's code blocks show unscrolled."""
# The file under docs/snippets/ and the arguments of `birnn-utils` that produce it.
COMMANDS = {
    "explain.txt": ["explain", "--mode", "LSTM", "--input-size", "3", "--hidden-size", "4",
                    "--num-layers", "2", "--proj-size", "2"],
    "check.txt": ["check", "--device", "cpu"],
}  # fmt: skip


def command_line(arguments: list[str]) -> str:
    """``$ birnn-utils ...`` in lines of at most WIDTH, continued with backslashes.

    An option and its value stay on one line.
    """
    words = ["birnn-utils"]
    for argument in arguments:
        if argument.startswith("-") or len(words) == 1:
            words.append(argument)
        else:
            words[-1] += f" {argument}"
    lines = ["$"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) + len(" \\") > WIDTH:
            lines[-1] += " \\"
            lines.append("   ")
        lines[-1] += f" {word}"
    return "\n".join(lines)


def console(arguments: list[str]) -> str:
    """The command line and what it prints in a WIDTH-column terminal, as a console session."""
    result = subprocess.run(
        [sys.executable, "-m", "birnn_utils", *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": str(WIDTH)},
    )
    return f"{command_line(arguments)}\n{result.stdout}"


if __name__ == "__main__":
    for name, arguments in COMMANDS.items():
        (SNIPPETS / name).write_text(console(arguments))
        print(f"wrote {SNIPPETS / name}")
