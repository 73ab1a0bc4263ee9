"""The text tables ``birnn-utils explain`` prints from an :func:`~birnn_utils.explain_layout`."""

from __future__ import annotations

from typing import Any

__all__ = ["format_layout"]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_layout(info: dict[str, Any]) -> str:
    """Render :func:`explain_layout`'s result as text tables.

    Args:
        info: what :func:`explain_layout` returned.

    Returns:
        The shapes, the slice table, the parameter table and the reverse modules' input sizes.
    """
    lines = [info["module"], f"H_out = {info['H_out']}", "", "Shapes:"]
    lines += [f"  {name:<7}{shape}" for name, shape in info["shapes"].items()]
    lines += ["", "Which slice is which:"]
    lines += _table(
        [["tensor", "index", "layer", "direction", "shape", "read it with"]]
        + [
            [s["tensor"], s["index"], str(s["layer"]), s["direction"], s["shape"], s["reader"]]
            for s in info["slices"]
        ]
    )
    lines += ["", "Parameters:"]
    lines += _table(
        [["name", "shape", "layer", "direction"]]
        + [
            [p["name"], " x ".join(map(str, p["shape"])), str(p["layer"]), p["direction"]]
            for p in info["parameters"]
        ]
    )
    lines += ["", "The backward direction as a unidirectional module (the reverse module):"]
    lines += _table(
        [["layer", "input_size", "get it with"]]
        + [[str(r["layer"]), str(r["input_size"]), r["reader"]] for r in info["reverse_modules"]]
    )
    lines += ["", *info["notes"]]
    return "\n".join(lines)
