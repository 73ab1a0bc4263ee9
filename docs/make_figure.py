"""Draw docs/img/layout.svg: the halves of `output` and the rows of `h_n` of a 2-layer biRNN.

Plain SVG written by hand, so the docs need no plotting library. Run from the repository root:
``python docs/make_figure.py``.

The drawing is narrow (480 units) with large text, so that on a phone, where it is scaled to the
column (about 350 px), the text stays about 11 px high. No arrow crosses a label: the direction
arrows run under the grid with their labels below them, and the final states are matched to their
output cells by a thick outline instead of connecting lines. The sequence is shorter than the
batch's ``T`` (one padding step), so the forward final state is at the last valid step, not at
``T - 1``.
"""

from __future__ import annotations

from pathlib import Path

FORWARD, BACKWARD, PADDING, INK = "#4c72b0", "#dd8452", "#b0b0b0", "#222222"
WIDTH = 480
STEPS, LENGTH = 5, 4  # T, and the length of the drawn sequence b
CELL_W, CELL_H, ROW_H = 66, 40, 36
LEFT = 136  # the row labels end here
CODE = "font-family: monospace"


def text(
    x: float,
    y: float,
    body: str,
    size: int = 16,
    anchor: str = "start",
    code: bool = False,
) -> str:
    """An SVG ``<text>`` at ``(x, y)``, in monospace when ``code``."""
    style = f' style="{CODE}"' if code else ""
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" fill="{INK}" text-anchor="{anchor}"{style}>'
        f"{body}</text>"
    )


def box(
    x: float, y: float, w: float, h: float, fill: str, label: str, marked: bool
) -> str:
    """A labelled cell, outlined in ink when ``marked``."""
    outline = (
        f'stroke="{INK}" stroke-width="4"'
        if marked
        else 'stroke="white" stroke-width="2"'
    )
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" {outline} rx="3"/>'
        f'<text x="{x + w / 2}" y="{y + h / 2 + 5}" text-anchor="middle" fill="white" '
        f'font-size="15">{label}</text>'
    )


def arrow(x1: float, x2: float, y: float, color: str) -> str:
    """A horizontal arrow from ``x1`` to ``x2`` with the head of its colour."""
    return (
        f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="3" '
        f'marker-end="url(#head-{color[1:]})"/>'
    )


def figure() -> str:
    """The whole SVG document."""
    parts = [
        text(10, 26, "output of a packed run: top layer, sequence b", 18),
        text(
            10,
            50,
            f"T x B x 2*H_out; here T = {STEPS}, L = lengths[b] = {LENGTH}",
            15,
        ),
    ]
    top = 90
    for t in range(STEPS):
        x = LEFT + t * CELL_W
        parts.append(text(x + CELL_W / 2, top - 8, f"t = {t}", 14, "middle"))
        valid = t < LENGTH
        parts.append(
            box(x, top, CELL_W, CELL_H, FORWARD if valid else PADDING,
                f"fwd {t}" if valid else "pad", marked=t == LENGTH - 1)
        )  # fmt: skip
        parts.append(
            box(x, top + CELL_H, CELL_W, CELL_H, BACKWARD if valid else PADDING,
                f"bwd {t}" if valid else "pad", marked=t == 0)
        )  # fmt: skip
    parts.append(
        text(LEFT - 8, top + 25, "[..., :H_out]", 15, "end", code=True)
    )
    parts.append(
        text(LEFT - 8, top + CELL_H + 25, "[..., H_out:]", 15, "end", code=True)
    )

    end = LEFT + LENGTH * CELL_W
    below = top + 2 * CELL_H
    parts.append(arrow(LEFT + 4, end - 6, below + 20, FORWARD))
    parts.append(text(LEFT, below + 42, "forward reads t = 0 .. L-1", 15))
    parts.append(arrow(end - 4, LEFT + 6, below + 66, BACKWARD))
    parts.append(text(LEFT, below + 88, "backward reads t = L-1 .. 0", 15))

    rows_title = below + 132
    parts.append(text(10, rows_title, "h_n, (num_layers*2) x B x H_out", 18))
    parts.append(
        text(10, rows_title + 22, "layer-major; here num_layers = 2", 15)
    )
    rows_top = rows_title + 36
    labels = [
        "layer 0 forward",
        "layer 0 backward",
        "layer 1 forward",
        "layer 1 backward",
    ]
    for row, label in enumerate(labels):
        y = rows_top + row * ROW_H
        parts.append(
            text(LEFT - 8, y + 23, f"h_n[{row}]", 15, "end", code=True)
        )
        color = FORWARD if row % 2 == 0 else BACKWARD
        parts.append(
            box(LEFT, y, 3 * CELL_W, ROW_H, color, label, marked=row >= 2)
        )

    notes_top = rows_top + 4 * ROW_H + 32
    notes = [
        ("h_n[2] = output[L-1, b, :H_out]", True),
        ("forward: at the last valid step", False),
        ("h_n[3] = output[0, b, H_out:]", True),
        ("backward: at t = 0, not at T-1", False),
    ]
    for line, (body, code) in enumerate(notes):
        y = notes_top + line * 22 + (8 if line >= 2 else 0)
        parts.append(text(10, y, body, 15, code=code))
    parts.append(
        text(10, notes_top + 4 * 22 + 14, "(outlined: the same values)", 14)
    )

    markers = "".join(
        f'<marker id="head-{c[1:]}" markerWidth="8" markerHeight="8" refX="6" refY="4" '
        f'orient="auto" markerUnits="strokeWidth"><path d="M0,0 L8,4 L0,8 z" fill="{c}"/>'
        "</marker>"
        for c in (FORWARD, BACKWARD)
    )
    height = notes_top + 4 * 22 + 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">'
        f'<rect width="{WIDTH}" height="{height}" fill="white"/><defs>{markers}</defs>'
        + "".join(parts)
        + "</svg>\n"
    )


if __name__ == "__main__":
    out = Path(__file__).parent / "img" / "layout.svg"
    out.write_text(figure())
    print(f"wrote {out}")
