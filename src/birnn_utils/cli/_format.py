"""The text tables ``birnn-utils explain`` prints from an :func:`~birnn_utils.explain_layout`."""

from __future__ import annotations

import textwrap
from typing import Any

__all__ = ["format_layout"]

INDENT = "    "
"""Where a row's last column goes when the table is too wide for one line per row."""


def _aligned(rows: list[list[str]]) -> list[str]:
    """The rows in aligned columns, with a rule under the header row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _fits(lines: list[str], width: int | None) -> bool:
    return width is None or max(map(len, lines)) <= width


def _table(rows: list[list[str]], width: int | None) -> list[str]:
    """A table in at most ``width`` columns, in the widest of three layouts that fits.

    One line per row; else each row's last column (the answer: how to read it) on a line of
    its own under the others; else one record per row, a ``header: value`` line per column.
    """
    full = _aligned(rows)
    if _fits(full, width):
        return full
    header, *body = rows
    first = _aligned([row[:-1] for row in rows])
    stacked = [first[0], INDENT + header[-1], first[1]]
    for line, row in zip(first[2:], body, strict=True):
        stacked += [line, INDENT + row[-1]]
    if _fits(stacked, width):
        return stacked
    records: list[str] = []
    for row in body:
        records += [
            row[0],
            *(f"  {name}: {cell}" for name, cell in zip(header[1:], row[1:], strict=True)),
        ]
    return records


def _wrap(text: str, width: int | None, indent: str = "") -> list[str]:
    if width is None:
        return [text]
    return textwrap.wrap(
        text,
        width,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def format_layout(info: dict[str, Any], width: int | None = None) -> str:
    """Render :func:`explain_layout`'s result as text tables.

    Args:
        info: what :func:`explain_layout` returned.
        width: the most characters a line may take (the terminal's width), or ``None`` for one
            line per table row however long. A table too wide for it puts each row's last
            column (how to read that slice) on a line of its own, or, narrower still, shows
            one record per row; prose is wrapped. Only a single value longer than ``width``
            (a long parameter name, say) still sticks out.

    Returns:
        The shapes, the slice table, the parameter table and the reverse modules' input sizes.

    Example:
        >>> from birnn_utils import explain_layout
        >>> from birnn_utils.cli._format import format_layout
        >>> text = format_layout(explain_layout("LSTM", 3, 4, 2, 2), width=60)
        >>> max(len(line) for line in text.splitlines()) <= 60
        True
        >>> for line in text.splitlines()[10:18]:
        ...     print(line)
        Which slice is which:
        tensor  index             layer  direction  shape
            read it with
        ------  ----------------  -----  ---------  ---------
        output  output[..., 0:2]  1      forward    T x B x 2
            split_directions(output).forward
        output  output[..., 2:4]  1      backward   T x B x 2
            split_directions(output).backward
    """
    lines = [*_wrap(info["module"], width, INDENT), f"H_out = {info['H_out']}", "", "Shapes:"]
    lines += [f"  {name:<7}{shape}" for name, shape in info["shapes"].items()]
    lines += ["", "Which slice is which:"]
    lines += _table(
        [["tensor", "index", "layer", "direction", "shape", "read it with"]]
        + [
            [s["tensor"], s["index"], str(s["layer"]), s["direction"], s["shape"], s["reader"]]
            for s in info["slices"]
        ],
        width,
    )
    lines += ["", "Parameters:"]
    lines += _table(
        [["name", "shape", "layer", "direction"]]
        + [
            [p["name"], " x ".join(map(str, p["shape"])), str(p["layer"]), p["direction"]]
            for p in info["parameters"]
        ],
        width,
    )
    title = "The backward direction as a unidirectional module (the reverse module):"
    lines += ["", *_wrap(title, width)]
    lines += _table(
        [["layer", "input_size", "get it with"]]
        + [[str(r["layer"]), str(r["input_size"]), r["reader"]] for r in info["reverse_modules"]],
        width,
    )
    lines.append("")
    for note in info["notes"]:
        lines += _wrap(note, width, "  ")
    return "\n".join(lines)
