"""What is where in a bidirectional RNN's outputs, states and parameters, for given settings."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from ._layout import output_size

__all__ = ["explain_layout"]

Mode = Literal["RNN", "GRU", "LSTM"]

# Far beyond any real model, and below what overflows a parameter's size or makes torch's
# constructor (quadratic in `num_layers`) run for minutes.
_LIMITS = {
    "input_size": (1, 1_000_000),
    "hidden_size": (1, 1_000_000),
    "num_layers": (1, 1_000),
    "proj_size": (0, 1_000_000),
}


def _build(
    mode: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    proj_size: int,
    batch_first: bool,
    nonlinearity: str,
) -> nn.RNNBase:
    sizes = {
        "input_size": input_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "proj_size": proj_size,
    }
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"explain_layout: `{name}` must be an int, got {type(value).__name__}")
        low, high = _LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"explain_layout: `{name}` must be in [{low}, {high}], got {value}")
    common: dict[str, Any] = {
        "num_layers": num_layers,
        "batch_first": batch_first,
        "bidirectional": True,
        "device": "meta",
    }
    if mode == "RNN":
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"explain_layout: `nonlinearity` must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        module: nn.RNNBase = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, **common)
    elif mode == "GRU":
        module = nn.GRU(input_size, hidden_size, **common)
    elif mode == "LSTM":
        if proj_size >= hidden_size:
            raise ValueError(
                f"explain_layout: `proj_size` (={proj_size}) must be smaller than "
                f"`hidden_size` (={hidden_size})"
            )
        module = nn.LSTM(input_size, hidden_size, proj_size=proj_size, **common)
    else:
        raise ValueError(f"explain_layout: `mode` must be 'RNN', 'GRU' or 'LSTM', got {mode!r}")
    if proj_size and mode != "LSTM":
        raise ValueError(
            f"explain_layout: `proj_size` is only for LSTM, got {proj_size} for {mode}"
        )
    if nonlinearity != "tanh" and mode != "RNN":
        raise ValueError(
            f"explain_layout: `nonlinearity` is only for RNN, got {nonlinearity!r} for {mode}"
        )
    return module


def explain_layout(
    mode: Mode | str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    proj_size: int = 0,
    *,
    batch_first: bool = False,
    nonlinearity: str = "tanh",
) -> dict[str, Any]:
    """Describe where each layer and direction lives for a bidirectional RNN with these settings.

    The module is built on the ``meta`` device (no memory, no computation) so the parameter names
    and shapes are PyTorch's own.

    Args:
        mode: ``"RNN"``, ``"GRU"`` or ``"LSTM"``.
        input_size: features of the input.
        hidden_size: features of the hidden state.
        num_layers: stacked layers.
        proj_size: LSTM projection size (0 for none); then ``H_out = proj_size``.
        batch_first: whether input and output are ``B x T x *``.
        nonlinearity: ``"tanh"`` or ``"relu"``, for ``"RNN"`` only (other modes take the
            default).

    Returns:
        A JSON-serialisable dict with keys ``module`` (the constructor call), ``H_out``,
        ``shapes`` (of ``input``, ``output``, ``h_n`` and, for an LSTM, ``c_n``), ``slices`` (one
        entry per output half and state row: tensor, index, layer, direction, the function of
        birnn-utils that reads it), ``parameters`` (name, shape, layer, direction) and
        ``reverse_modules`` (per layer, the ``input_size`` of the unidirectional module that
        computes the backward direction) and ``notes``.

    Raises:
        TypeError: if a size is not an int.
        ValueError: for an unknown mode or nonlinearity, a size out of range (sizes
            are at most 1,000,000, ``num_layers`` at most 1,000), ``proj_size`` not smaller
            than ``hidden_size`` or given for a mode other than LSTM, or a ``nonlinearity``
            other than ``"tanh"`` for a mode other than RNN.

    Example:
        >>> from birnn_utils import explain_layout
        >>> info = explain_layout(
        ...     "LSTM", input_size=3, hidden_size=4, num_layers=2, proj_size=2
        ... )
        >>> info["shapes"]["h_n"], info["shapes"]["c_n"]
        ('4 x B x 2', '4 x B x 4')
        >>> [s["index"] for s in info["slices"] if s["tensor"] == "h_n"]
        ['h_n[0]', 'h_n[1]', 'h_n[2]', 'h_n[3]']
    """
    module = _build(mode, input_size, hidden_size, num_layers, proj_size, batch_first, nonlinearity)
    h_out = output_size(module)
    seq = "B x T" if batch_first else "T x B"
    shapes = {
        "input": f"{seq} x {input_size}",
        "output": f"{seq} x {2 * h_out}",
        "h_n": f"{2 * num_layers} x B x {h_out}",
    }
    state_widths = {"h_n": h_out}
    if mode == "LSTM":
        shapes["c_n"] = f"{2 * num_layers} x B x {hidden_size}"
        state_widths["c_n"] = hidden_size
    top = num_layers - 1
    slices: list[dict[str, Any]] = [
        {
            "tensor": "output",
            "index": f"output[..., {start}:{start + h_out}]",
            "layer": top,
            "direction": direction,
            "shape": f"{seq} x {h_out}",
            "reader": f"split_directions(output).{direction}",
        }
        for start, direction in ((0, "forward"), (h_out, "backward"))
    ]
    for tensor, width in state_widths.items():
        for layer in range(num_layers):
            for offset, direction in enumerate(("forward", "backward")):
                slices.append(
                    {
                        "tensor": tensor,
                        "index": f"{tensor}[{2 * layer + offset}]",
                        "layer": layer,
                        "direction": direction,
                        "shape": f"B x {width}",
                        "reader": f"final_states({tensor}, layer={layer}).{direction}",
                    }
                )
    parameters = [
        {
            "name": name,
            "shape": list(param.shape),
            "layer": int(name.split("_l")[-1].removesuffix("_reverse")),
            "direction": "backward" if name.endswith("_reverse") else "forward",
        }
        for name, param in module.named_parameters()
    ]
    reverse_modules = [
        {
            "layer": layer,
            "input_size": input_size if layer == 0 else 2 * h_out,
            "reader": f"extract_reverse_module(rnn, layer={layer})",
        }
        for layer in range(num_layers)
    ]
    call = f"nn.{mode}({input_size}, {hidden_size}, num_layers={num_layers}"
    if mode == "RNN":
        call += f", nonlinearity={nonlinearity!r}"
    if proj_size:
        call += f", proj_size={proj_size}"
    call += f", batch_first={batch_first}, bidirectional=True)"
    first = "output[:, 0" if batch_first else "output[0, :"
    notes = [
        f"Layers above 0 read both directions of the layer below, concatenated ({2 * h_out}).",
        f"The forward final state is at each sequence's last valid step; the backward one at "
        f"t = 0: {first}, {h_out}:] for the top layer (final_outputs reads both).",
    ]
    return {
        "module": call,
        "H_out": h_out,
        "shapes": shapes,
        "slices": slices,
        "parameters": parameters,
        "reverse_modules": reverse_modules,
        "notes": notes,
    }
