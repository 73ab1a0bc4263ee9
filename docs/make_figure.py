"""Draw docs/img/layout.svg: the halves of `output` and the rows of `h_n` of a 2-layer biRNN.

Plain SVG written by hand, so the docs need no plotting library. Run from the repository root:
``python docs/make_figure.py``.
"""

from __future__ import annotations

from pathlib import Path

FORWARD, BACKWARD, INK = "#4c72b0", "#dd8452", "#333333"
STEPS = 5
CELL_W, CELL_H = 70, 34
LEFT, TOP = 150, 70


def rect(x: float, y: float, w: float, h: float, fill: str, label: str = "") -> str:
    text = (
        f'<text x="{x + w / 2}" y="{y + h / 2 + 5}" text-anchor="middle" fill="white" '
        f'font-size="13">{label}</text>'
        if label
        else ""
    )
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" stroke="white" '
        f'stroke-width="2" rx="3"/>{text}'
    )


def text(x: float, y: float, body: str, size: int = 14, anchor: str = "start") -> str:
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" fill="{INK}" text-anchor="{anchor}">'
        f"{body}</text>"
    )


def arrow(x1: float, y1: float, x2: float, y2: float, color: str) -> str:
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2" '
        f'marker-end="url(#head-{color[1:]})"/>'
    )


def figure() -> str:
    parts = [text(20, 30, "output (T x B x 2H), one sequence b, top layer", 16)]
    for t in range(STEPS):
        x = LEFT + t * CELL_W
        parts.append(text(x + CELL_W / 2, TOP - 8, f"t = {t}", 12, "middle"))
        parts.append(rect(x, TOP, CELL_W, CELL_H, FORWARD, f"fwd {t}"))
        parts.append(rect(x, TOP + CELL_H, CELL_W, CELL_H, BACKWARD, f"bwd {t}"))
    parts.append(text(LEFT - 10, TOP + 22, "output[..., :H]", 13, "end"))
    parts.append(text(LEFT - 10, TOP + CELL_H + 22, "output[..., H:]", 13, "end"))
    right = LEFT + STEPS * CELL_W
    parts.append(arrow(LEFT, TOP + 2 * CELL_H + 18, right - 4, TOP + 2 * CELL_H + 18, FORWARD))
    parts.append(text(right + 8, TOP + 2 * CELL_H + 23, "forward reads t = 0 .. T-1", 12))
    parts.append(arrow(right, TOP + 2 * CELL_H + 40, LEFT + 4, TOP + 2 * CELL_H + 40, BACKWARD))
    parts.append(text(right + 8, TOP + 2 * CELL_H + 45, "backward reads t = T-1 .. 0", 12))

    rows_top = TOP + 2 * CELL_H + 100
    parts.append(text(20, rows_top - 20, "h_n (num_layers * 2 x B x H), layer-major", 16))
    labels = ["layer 0 forward", "layer 0 backward", "layer 1 forward", "layer 1 backward"]
    for row, label in enumerate(labels):
        y = rows_top + row * CELL_H
        color = FORWARD if row % 2 == 0 else BACKWARD
        parts.append(text(LEFT - 10, y + 22, f"h_n[{row}]", 13, "end"))
        parts.append(rect(LEFT, y, 2 * CELL_W, CELL_H, color, label))
    # The top layer's final states: forward at the last step, backward at t = 0.
    last_fwd = (LEFT + (STEPS - 0.5) * CELL_W, TOP + CELL_H / 2)
    first_bwd = (LEFT + 0.5 * CELL_W, TOP + 1.5 * CELL_H)
    parts.append(
        f'<path d="M {LEFT + 2 * CELL_W} {rows_top + 2.5 * CELL_H} '
        f"C {last_fwd[0]} {rows_top + 2.5 * CELL_H}, {last_fwd[0]} {TOP + 120}, "
        f'{last_fwd[0]} {last_fwd[1] + 12}" fill="none" stroke="{FORWARD}" stroke-width="2" '
        f'stroke-dasharray="5 4" marker-end="url(#head-{FORWARD[1:]})"/>'
    )
    parts.append(
        f'<path d="M {LEFT} {rows_top + 3.5 * CELL_H} C {LEFT - 70} {rows_top + 3.5 * CELL_H}, '
        f'{first_bwd[0] - 40} {TOP + 130}, {first_bwd[0]} {first_bwd[1] + 14}" fill="none" '
        f'stroke="{BACKWARD}" stroke-width="2" stroke-dasharray="5 4" '
        f'marker-end="url(#head-{BACKWARD[1:]})"/>'
    )
    note_x = last_fwd[0] + 30
    parts.append(
        text(note_x, rows_top + 2 * CELL_H + 22, "= output[T-1, b, :H] (last valid step)", 13)
    )
    parts.append(
        text(note_x, rows_top + 3 * CELL_H + 22, "= output[0, b, H:] (t = 0, not T-1)", 13)
    )
    markers = "".join(
        f'<marker id="head-{c[1:]}" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        f'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="{c}"/></marker>'
        for c in (FORWARD, BACKWARD)
    )
    height = rows_top + 4 * CELL_H + 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="820" height="{height}" '
        f'viewBox="0 0 820 {height}" font-family="sans-serif">'
        f'<rect width="820" height="{height}" fill="white"/><defs>{markers}</defs>'
        + "".join(parts)
        + "</svg>\n"
    )


if __name__ == "__main__":
    out = Path(__file__).parent / "img" / "layout.svg"
    out.write_text(figure())
    print(f"wrote {out}")
