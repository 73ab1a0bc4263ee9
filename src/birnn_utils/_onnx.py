"""The translation of ``birnn_utils::packed_rnn`` to ONNX's own RNN, GRU and LSTM operators.

``torch.onnx.export(..., dynamo=True, custom_translation_table=onnx_translation_table())``
writes each layer of a ``birnn_utils.nn`` module as one ONNX ``RNN``/``GRU``/``LSTM`` node with
``sequence_lens``, so onnxruntime runs each sequence on its valid steps only, as packing does.
onnxscript, which writes the nodes, is an optional dependency (the ``onnx`` extra): it is
imported when the table is asked for, never by ``import birnn_utils``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._ops import OP_NAME

__all__ = ["onnx_translation_table"]

# Gate blocks of torch's weights in ONNX's order: torch LSTM is (i, f, g, o) and ONNX's
# (i, o, f, c); torch GRU is (r, z, n) and ONNX's (z, r, h).
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def onnx_translation_table() -> dict[Any, Callable[..., Any]]:
    """The ``custom_translation_table`` that exports ``birnn_utils.nn`` modules to ONNX.

    Pass it to ``torch.onnx.export(model, args, dynamo=True, custom_translation_table=...)``.
    Each layer of a :class:`birnn_utils.nn.RNN`, ``GRU`` or ``LSTM`` called with ``lengths``
    becomes ONNX's ``RNN`` (tanh or relu), ``GRU`` (``linear_before_reset=1``, torch's
    formulation) or ``LSTM`` operator with ``sequence_lens``: onnxruntime then gives PyTorch's
    results for any ``T`` and ``B`` and mixed lengths, zeros at padding and each sequence's
    final state. Rows of length 0 are supported: their outputs are zero and their final state is
    their initial one, as in PyTorch. Modules called without ``lengths`` export the same way.

    Returns:
        A dict from the op ``torch.ops.birnn_utils.packed_rnn.default`` to its translation.

    Raises:
        ImportError: if onnxscript is not installed: install the ``onnx`` extra
            (``pip install -e '.[onnx]'`` in a clone or the unpacked sdist, or the site's
            wheel with ``[onnx]``; there is no published release).
        ValueError: at export, for an LSTM with ``proj_size > 0``, which ONNX's LSTM cannot
            express.

    Example:
        >>> import torch
        >>> from birnn_utils import onnx_translation_table
        >>> table = onnx_translation_table()
        >>> list(table) == [torch.ops.birnn_utils.packed_rnn.default]
        True
    """
    try:
        from onnxscript import opset18
    except ImportError as error:
        raise ImportError(
            "onnx_translation_table needs onnxscript, part of the `onnx` extra (there is no "
            "published release): `pip install -e '.[onnx]'` in a clone or the unpacked sdist, "
            "or `pip install './birnn_utils-<version>-py3-none-any.whl[onnx]'` with the wheel "
            "the documentation site publishes"
        ) from error

    def packed_rnn(
        input: Any,
        lengths: Any,
        h0: Any,
        c0: Any,
        weights: Any,
        mode: str,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        bidirectional: bool,
    ) -> tuple[Any, Any, Any]:
        op: Any = opset18  # its stubs type values narrower than the graph has them
        weights = list(weights)
        directions = 2 if bidirectional else 1
        per_direction = len(weights) // (num_layers * directions)
        if mode == "LSTM" and per_direction != (4 if bias else 2):
            raise ValueError(
                "onnx_translation_table: an LSTM with `proj_size` > 0 has no ONNX equivalent "
                "(ONNX's LSTM has no projection); export an LSTM without proj_size"
            )
        gates = len(_GATE_ORDER[mode])

        def ints(*values: int) -> Any:
            return op.Constant(value_ints=list(values))

        x = op.Transpose(input, perm=[1, 0, 2]) if batch_first else input
        steps_and_batch = op.Shape(x, start=0, end=2)
        if lengths is None:
            steps, batch = op.Shape(x, start=0, end=1), op.Shape(x, start=1, end=2)
            sequence_lens = op.Expand(op.Cast(steps, to=6), batch)
        else:
            sequence_lens = op.Cast(lengths, to=6)  # int32
        h_states, c_states = [], []
        # onnxruntime gives rows of length 0 a zero final state; PyTorch keeps their initial one.
        zero = op.Cast(op.Constant(value_int=0), to=6)
        empty = op.Reshape(op.Equal(sequence_lens, zero), ints(1, -1, 1))
        for layer in range(num_layers):
            first = (layer * directions) * per_direction
            block = [
                weights[first + d * per_direction : first + (d + 1) * per_direction]
                for d in range(directions)
            ]
            w = op.Concat(
                *[op.Unsqueeze(_reorder(op, p[0], mode, gates), ints(0)) for p in block], axis=0
            )
            r = op.Concat(
                *[op.Unsqueeze(_reorder(op, p[1], mode, gates), ints(0)) for p in block], axis=0
            )
            b = (
                op.Concat(
                    *[
                        op.Unsqueeze(
                            op.Concat(
                                _reorder(op, p[2], mode, gates),
                                _reorder(op, p[3], mode, gates),
                                axis=0,
                            ),
                            ints(0),
                        )
                        for p in block
                    ],
                    axis=0,
                )
                if bias
                else None
            )
            rows = [layer * directions, (layer + 1) * directions]
            init_h = op.Slice(h0, ints(rows[0]), ints(rows[1]), ints(0))
            direction = "bidirectional" if bidirectional else "forward"
            size = _hidden_size(weights[first + 1])
            if mode == "LSTM":
                init_c = op.Slice(c0, ints(rows[0]), ints(rows[1]), ints(0))
                y, y_h, y_c = op.LSTM(
                    x,
                    w,
                    r,
                    b,
                    sequence_lens,
                    init_h,
                    init_c,
                    hidden_size=size,
                    direction=direction,
                )
                c_states.append(op.Where(empty, init_c, y_c))
            elif mode == "GRU":
                y, y_h = op.GRU(
                    x,
                    w,
                    r,
                    b,
                    sequence_lens,
                    init_h,
                    hidden_size=size,
                    direction=direction,
                    linear_before_reset=1,
                )
            else:
                activation = "Tanh" if mode == "RNN_TANH" else "Relu"
                y, y_h = op.RNN(
                    x,
                    w,
                    r,
                    b,
                    sequence_lens,
                    init_h,
                    hidden_size=size,
                    direction=direction,
                    activations=[activation] * directions,
                )
            h_states.append(op.Where(empty, init_h, y_h))
            # Y is T x dirs x B x H: to T x B x dirs*H, the next layer's input and the output.
            x = op.Reshape(
                op.Transpose(y, perm=[0, 2, 1, 3]), op.Concat(steps_and_batch, ints(-1), axis=0)
            )
        output = op.Transpose(x, perm=[1, 0, 2]) if batch_first else x
        h_n = op.Concat(*h_states, axis=0) if num_layers > 1 else h_states[0]
        if mode != "LSTM":
            return output, h_n, op.CastLike(op.ConstantOfShape(ints(0)), h_n)  # no c_n
        c_n = op.Concat(*c_states, axis=0) if num_layers > 1 else c_states[0]
        return output, h_n, c_n

    namespace, name = OP_NAME.split("::")
    return {getattr(getattr(torch.ops, namespace), name).default: packed_rnn}


def _hidden_size(weight_hh: Any) -> int:
    return int(weight_hh.shape[1])


def _reorder(op: Any, weight: Any, mode: str, gates: int) -> Any:
    order = _GATE_ORDER[mode]
    if order == list(range(gates)):
        return weight
    blocks = op.Split(weight, axis=0, num_outputs=gates)
    return op.Concat(*[blocks[i] for i in order], axis=0)
