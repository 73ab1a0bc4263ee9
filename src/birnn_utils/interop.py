"""Weights and states between Keras / TensorFlow recurrent layers and torch's, both ways.

The mapping is exact; only the storage differs:

- Keras keeps ``kernel`` ``(input, G*H)`` and ``recurrent_kernel`` ``(H, G*H)``; torch keeps
  their transposes, ``weight_ih`` ``(G*H, input)`` and ``weight_hh`` ``(G*H, H)``.
- ``LSTM``: Keras's gates ``i, f, c, o`` are torch's ``i, f, g, o``. Keras has one bias: it goes
  to ``bias_ih``, and ``bias_hh`` is 0 (torch adds the two).
- ``GRU`` (``reset_after=True``, Keras's default): Keras's gates ``z, r, h`` are torch's
  ``r, z, n`` reordered; its bias ``(2, 3H)`` holds the input bias (row 0, ``bias_ih``) and the
  recurrent one (row 1, ``bias_hh``), as torch's ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``
  needs. ``reset_after=False`` applies ``r`` before the recurrent product, which torch's GRU
  cannot express.
- ``SimpleRNN``: one gate; the bias goes to ``bias_ih``.
- TensorFlow 1's ``LSTMCell`` fuses both kernels in one ``(input + H_out, 4H)`` matrix with the
  gates ``i, j, f, o`` (``j`` is the cell candidate) and adds ``forget_bias`` (1.0 by default)
  to ``f`` at run time, outside its stored bias.

Keras's ``Bidirectional`` stores the forward layer's weights first, then the backward layer's;
its states are the flat list ``[h_f, c_f, h_b, c_b]`` (``[h_f, h_b]`` for GRU and SimpleRNN),
each ``B x H``, where torch returns ``h_n`` (and ``c_n``) ``(2 * num_layers) x B x H``.

Nothing here imports Keras: :func:`from_keras` reads a layer through its ``get_config()`` and
``get_weights()``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_layer, format_shape
from ._layout import Directions, State, final_states, output_size
from ._surgery import _check_rnn

__all__ = [
    "from_keras",
    "from_keras_states",
    "keras_states",
    "keras_weights",
    "load_keras_weights",
    "load_tf1_lstm_weights",
]

ArrayLike = Any
"""A numpy array or a Tensor (what ``get_weights()`` and Keras's states are)."""

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}

# Gate blocks of torch's layout, listed by their position in the other layout. Each permutation
# is its own inverse, so the same one converts both ways.
_KERAS_ORDER = {"LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_TF1_ORDER = [0, 2, 1, 3]  # i, j, f, o <-> i, f, g, o

_KERAS_CLASS = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "SimpleRNN", "RNN_RELU": "SimpleRNN"}


def _reorder(x: Tensor, order: list[int], dim: int) -> Tensor:
    blocks = x.chunk(len(order), dim=dim)
    return torch.cat([blocks[i] for i in order], dim=dim)


def _as_tensor(value: ArrayLike, where: str, name: str) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value
    else:
        try:
            tensor = torch.from_numpy(np.array(value))
        except TypeError:
            raise TypeError(
                f"{where}: `{name}` must be a numpy array or a Tensor, got {type(value).__name__}"
            ) from None
    if not tensor.is_floating_point():
        raise TypeError(f"{where}: `{name}` must be floating point, got dtype {tensor.dtype}")
    return tensor


def _suffixes(rnn: nn.RNNBase) -> list[str]:
    return ["", "_reverse"] if rnn.bidirectional else [""]


def _layer_input_size(rnn: nn.RNNBase, layer: int) -> int:
    return rnn.input_size if layer == 0 else len(_suffixes(rnn)) * output_size(rnn)


def _index(layer: int) -> int:
    """A numpy integer ``layer`` (an index read from an array) as the int it holds."""
    return int(layer) if isinstance(layer, np.integer) else layer


def _check_layer(layer: int, num_layers: int, where: str) -> int:
    """:func:`check_layer`, also for a numpy integer."""
    return check_layer(_index(layer), num_layers, where)


def _check_keras_module(rnn: object, layer: int, where: str) -> tuple[nn.RNNBase, int]:
    module = _check_rnn(rnn, where, "rnn")
    if module.proj_size > 0:
        raise ValueError(
            f"{where}: `rnn` has proj_size={module.proj_size}, and Keras's LSTM has no "
            "projection: use proj_size=0"
        )
    return module, _check_layer(layer, module.num_layers, where)


def _describe(rnn: nn.RNNBase) -> str:
    kind = "bidirectional" if rnn.bidirectional else "unidirectional"
    return f"a {kind} {type(rnn).__name__}(bias={rnn.bias})"


def load_keras_weights(rnn: nn.RNNBase, weights: Sequence[ArrayLike], *, layer: int = 0) -> None:
    """Load a Keras recurrent layer's weights into one layer of a torch RNN, GRU or LSTM.

    ``weights`` is what ``layer.get_weights()`` returns for a Keras ``LSTM``, ``GRU``
    (``reset_after=True``) or ``SimpleRNN``, or for a ``Bidirectional`` of one: ``kernel``,
    ``recurrent_kernel`` and (with ``use_bias``) ``bias`` per direction, forward first. Keras
    itself is not needed. Every shape is checked before anything is written: on an error
    ``rnn`` is unchanged. Afterwards ``rnn`` computes what the Keras layer computes (see the
    module's notes for the mapping); ``bias_hh`` of an LSTM or RNN is set to 0.

    Args:
        rnn: an ``nn.RNN`` (tanh or relu, matching the Keras ``activation``), ``nn.GRU`` or
            ``nn.LSTM`` without ``proj_size``, uni- or bidirectional as the Keras layer is,
            with ``bias`` as its ``use_bias``. Layer ``layer`` must read the Keras layer's
            input width (``2 * hidden_size`` above layer 0 when bidirectional).
        weights: 2 or 3 numpy arrays (or Tensors) per direction, forward first.
        layer: which layer of ``rnn`` receives them; negative values count from the top.

    Raises:
        TypeError: if ``rnn`` is not an ``nn.RNNBase``, ``layer`` not an int, or a weight not a
            floating-point array.
        ValueError: for a ``proj_size``, a wrong number of arrays, a shape that does not match
            (with a GRU's ``(3H,)`` bias: ``reset_after=False``, which torch cannot express).
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import numpy as np, torch
        >>> from birnn_utils.interop import keras_weights, load_keras_weights
        >>> lstm = torch.nn.LSTM(3, 4, bidirectional=True)
        >>> # Keras's shapes (kernel, recurrent kernel, bias), for each direction
        >>> weights = [np.ones((3, 16)), np.ones((4, 16)), np.zeros(16)] * 2
        >>> load_keras_weights(lstm, weights)
        >>> lstm.weight_ih_l0.shape, lstm.bias_hh_l0.count_nonzero().item()
        (torch.Size([16, 3]), 0)
        >>> [w.shape for w in keras_weights(lstm)][:3]
        [(3, 16), (4, 16), (16,)]
    """
    where = "load_keras_weights"
    module, layer = _check_keras_module(rnn, layer, where)
    if not isinstance(weights, (list, tuple)):
        raise TypeError(
            f"{where}: `weights` must be a list of arrays (layer.get_weights()), "
            f"got {type(weights).__name__}"
        )
    per_direction = 3 if module.bias else 2
    suffixes = _suffixes(module)
    if len(weights) != per_direction * len(suffixes):
        names = "kernel, recurrent_kernel" + (", bias" if module.bias else "")
        raise ValueError(
            f"{where}: `weights` must hold {per_direction * len(suffixes)} arrays for "
            f"{_describe(module)} ({names} per direction, forward first), got {len(weights)}"
        )
    mode, hidden = module.mode, module.hidden_size
    order, width = _KERAS_ORDER[mode], _GATES[mode] * hidden
    expected = {
        "kernel": (_layer_input_size(module, layer), width),
        "recurrent_kernel": (hidden, width),
        "bias": (2, width) if mode == "GRU" else (width,),
    }
    values: dict[str, Tensor] = {}
    for d, suffix in enumerate(suffixes):
        arrays: dict[str, Tensor] = {}
        for i, name in enumerate(list(expected)[:per_direction]):
            index = d * per_direction + i
            tensor = _as_tensor(weights[index], where, f"weights[{index}]")
            if tuple(tensor.shape) != expected[name]:
                raise ValueError(
                    _shape_error(where, name, suffix, expected[name], tensor, module, layer)
                )
            arrays[name] = tensor
        values[f"weight_ih_l{layer}{suffix}"] = _reorder(arrays["kernel"].t(), order, 0)
        values[f"weight_hh_l{layer}{suffix}"] = _reorder(arrays["recurrent_kernel"].t(), order, 0)
        if module.bias:
            bias = arrays["bias"]
            if mode == "GRU":
                ih, hh = _reorder(bias[0], order, 0), _reorder(bias[1], order, 0)
            else:
                ih, hh = bias, torch.zeros_like(bias)
            values[f"bias_ih_l{layer}{suffix}"] = ih
            values[f"bias_hh_l{layer}{suffix}"] = hh
    _write(module, values)


def _shape_error(
    where: str,
    name: str,
    suffix: str,
    expected: tuple[int, ...],
    tensor: Tensor,
    module: nn.RNNBase,
    layer: int,
) -> str:
    direction = "backward" if suffix else "forward"
    message = (
        f"{where}: the {direction} `{name}` must have shape {expected} for {_describe(module)} "
        f"with hidden_size={module.hidden_size}, got {format_shape(tensor)}"
    )
    if module.mode == "GRU" and name == "bias" and tuple(tensor.shape) == (expected[1],):
        message += (
            "; a (3H,) bias is Keras's GRU(reset_after=False), which applies the reset gate "
            "before the recurrent product: torch's GRU cannot express it"
        )
    elif name == "kernel" and tensor.dim() == 2 and tensor.shape[1] == expected[1]:
        message += (
            f"; layer {layer} reads {expected[0]} features (input_size at layer 0, "
            "num_directions * hidden_size above): is `layer` the right one?"
        )
    return message


def _write(module: nn.RNNBase, values: dict[str, Tensor]) -> None:
    with torch.no_grad():
        for name, value in values.items():
            module.get_parameter(name).copy_(value)


def keras_weights(rnn: nn.RNNBase, *, layer: int = 0) -> list[np.ndarray[Any, Any]]:
    """One layer of a torch RNN, GRU or LSTM as the weights of the equivalent Keras layer.

    The inverse of :func:`load_keras_weights`: the list ``set_weights`` of a Keras ``LSTM``,
    ``GRU(reset_after=True)`` or ``SimpleRNN`` (``Bidirectional`` of one when ``rnn`` is
    bidirectional) takes. An LSTM's or RNN's two biases are added into Keras's one.

    Args:
        rnn: an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` without ``proj_size``.
        layer: which layer; negative values count from the top.

    Returns:
        New numpy arrays of the parameters' dtype: ``kernel`` ``(input, G*H)``,
        ``recurrent_kernel`` ``(H, G*H)`` and, with ``bias``, ``bias`` (``(2, 3H)`` for a GRU,
        ``(G*H,)`` otherwise) per direction, forward first (``G`` gates: 4, 3 or 1).

    Raises:
        TypeError: if ``rnn`` is not an ``nn.RNNBase`` or ``layer`` not an int.
        ValueError: for an LSTM with ``proj_size``.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils.interop import keras_weights
        >>> gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
        >>> [w.shape for w in keras_weights(gru, layer=1)]
        [(8, 12), (4, 12), (2, 12), (8, 12), (4, 12), (2, 12)]
    """
    module, layer = _check_keras_module(rnn, layer, "keras_weights")
    order = _KERAS_ORDER[module.mode]
    arrays: list[Tensor] = []
    for suffix in _suffixes(module):

        def param(base: str, suffix: str = suffix) -> Tensor:
            return module.get_parameter(f"{base}_l{layer}{suffix}").detach()

        arrays += [
            _reorder(param("weight_ih"), order, 0).t(),
            _reorder(param("weight_hh"), order, 0).t(),
        ]
        if module.bias:
            if module.mode == "GRU":
                bias = torch.stack([_reorder(param(b), order, 0) for b in ("bias_ih", "bias_hh")])
            else:
                bias = param("bias_ih") + param("bias_hh")
            arrays.append(bias)
    return [np.array(a.cpu().numpy()) for a in arrays]


def _activation(config: dict[str, Any], key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else repr(value)


def from_keras(keras_layer: Any) -> nn.RNNBase:
    """A torch module computing what a built Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` computes.

    Reads the layer's ``get_config()`` and ``get_weights()`` (Keras must be installed to have
    such a layer; this function does not import it). A ``Bidirectional`` of one gives a
    bidirectional module. The module is ``batch_first=True`` (Keras's layout), of the weights'
    dtype, on the CPU, in training mode (call ``.eval()``; Keras's dropouts are not carried
    over). It returns what torch's modules return: apply Keras's ``merge_mode`` with
    :func:`~birnn_utils.merge_directions` (Keras's ``"ave"`` is ``"mean"``; ``None`` is
    :func:`~birnn_utils.split_directions`), take ``return_sequences=False``'s features with
    :func:`~birnn_utils.final_outputs`, and Keras's state list with :func:`keras_states`.

    Args:
        keras_layer: a built ``keras.layers.LSTM``, ``GRU`` or ``SimpleRNN``, or a
            ``keras.layers.Bidirectional`` wrapping one.

    Returns:
        An ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` (``nonlinearity`` from the ``activation``),
        one layer, with the layer's weights (see :func:`load_keras_weights`).

    Raises:
        TypeError: for another kind of layer.
        ValueError: for what torch cannot compute: a GRU with ``reset_after=False``, a
            ``recurrent_activation`` other than sigmoid, an ``activation`` other than tanh
            (LSTM, GRU) or tanh/relu (SimpleRNN), ``go_backwards=True`` on a lone layer, a
            ``Bidirectional`` whose two layers differ; or for a layer not built yet.

    Example:
        >>> import numpy as np, torch
        >>> from birnn_utils.interop import from_keras
        >>> class FakeKerasLSTM:  # what from_keras reads of a keras.layers.LSTM
        ...     def get_config(self):
        ...         return {"units": 2, "activation": "tanh",
        ...                 "recurrent_activation": "sigmoid",
        ...                 "use_bias": True, "go_backwards": False}
        ...     def get_weights(self):
        ...         return [np.zeros((3, 8), np.float32), np.zeros((2, 8), np.float32),
        ...                 np.zeros(8, np.float32)]
        >>> FakeKerasLSTM.__name__ = "LSTM"
        >>> from_keras(FakeKerasLSTM())
        LSTM(3, 2, batch_first=True)
    """
    where = "from_keras"
    kind = type(keras_layer).__name__
    bidirectional = kind == "Bidirectional"
    inner = keras_layer.forward_layer if bidirectional else keras_layer
    inner_kind = type(inner).__name__
    if inner_kind not in ("LSTM", "GRU", "SimpleRNN"):
        shown = f"Bidirectional({inner_kind})" if bidirectional else kind
        raise TypeError(
            f"{where}: `keras_layer` must be a Keras LSTM, GRU or SimpleRNN, or a "
            f"Bidirectional of one, got {shown}"
        )
    config = dict(inner.get_config())
    if bidirectional:
        _check_same_layers(inner_kind, config, keras_layer.backward_layer, where)
    elif config.get("go_backwards"):
        raise ValueError(
            f"{where}: `keras_layer` has go_backwards=True: its output is in reversed time "
            "order, which no torch module gives; convert it with go_backwards=False and reverse "
            "the input with birnn_utils.reverse_sequences"
        )
    activation = _activation(config, "activation")
    allowed = ("tanh", "relu") if inner_kind == "SimpleRNN" else ("tanh",)
    if activation not in allowed:
        raise ValueError(
            f"{where}: `activation` must be {' or '.join(map(repr, allowed))} for a torch "
            f"{inner_kind}, got {activation}"
        )
    if inner_kind != "SimpleRNN":
        recurrent = _activation(config, "recurrent_activation")
        if recurrent != "sigmoid":
            raise ValueError(
                f"{where}: `recurrent_activation` must be 'sigmoid' (torch's gates use it), "
                f"got {recurrent}"
            )
    if inner_kind == "GRU" and not config.get("reset_after", True):
        raise ValueError(
            f"{where}: GRU(reset_after=False) applies the reset gate before the recurrent "
            "product, which torch's GRU cannot express (its closest one is off by about 0.1): "
            "use reset_after=True, Keras's default"
        )
    weights = keras_layer.get_weights()
    if not weights:
        raise ValueError(
            f"{where}: `keras_layer` is not built (no weights yet): call it on an input or "
            "call .build(input_shape) first"
        )
    kernel = np.asarray(weights[0])
    kwargs: dict[str, Any] = {
        "bias": bool(config.get("use_bias", True)),
        "batch_first": True,
        "bidirectional": bidirectional,
        "dtype": torch.from_numpy(kernel[:0]).dtype,
    }
    if inner_kind == "SimpleRNN":
        kwargs["nonlinearity"] = activation
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "SimpleRNN": nn.RNN}[inner_kind]
    module: nn.RNNBase = cls(kernel.shape[0], int(config["units"]), **kwargs)
    load_keras_weights(module, weights)
    return module


def _check_same_layers(kind: str, config: dict[str, Any], backward: Any, where: str) -> None:
    other = dict(backward.get_config())
    keys = ("units", "activation", "recurrent_activation", "use_bias", "reset_after")
    differs = [key for key in keys if config.get(key) != other.get(key)]
    if type(backward).__name__ != kind:
        differs.insert(0, f"class ({kind} and {type(backward).__name__})")
    if differs:
        raise ValueError(
            f"{where}: the Bidirectional's forward and backward layers must have the same "
            f"settings to form one torch module, they differ in {', '.join(differs)}"
        )


def load_tf1_lstm_weights(
    rnn: nn.LSTM,
    kernel: ArrayLike,
    bias: ArrayLike,
    *,
    forget_bias: float = 1.0,
    layer: int = 0,
    direction: str = "forward",
) -> None:
    """Load one direction of one layer of an ``nn.LSTM`` from a TensorFlow 1 ``LSTMCell``.

    TensorFlow 1's ``LSTMCell`` (and ``BasicLSTMCell``, and the checkpoints of ELMo) stores one
    fused ``kernel`` ``(input + H_out, 4H)`` acting on ``[x, h]``, with the gates ``i, j, f, o``,
    and a ``bias`` ``(4H,)``; at run time it adds ``forget_bias`` to the forget gate. Here the
    kernel is split and transposed into ``weight_ih``/``weight_hh``, the gates reordered to
    torch's ``i, f, g, o``, and ``forget_bias`` folded into ``bias_ih`` (``bias_hh`` is 0).
    With ``proj_size`` (``LSTMCell(num_proj=...)``), ``weight_hr`` is left as it is: set it to
    TensorFlow's projection kernel transposed. TensorFlow's ``cell_clip``/``proj_clip`` have
    no torch equivalent.

    Args:
        rnn: an ``nn.LSTM`` with ``bias=True``.
        kernel: numpy array (or Tensor) ``(input + H_out, 4 * hidden_size)``; ``input`` is the
            layer's input width, ``H_out`` is ``proj_size`` or ``hidden_size``.
        bias: ``(4 * hidden_size,)``.
        forget_bias: the cell's ``forget_bias``, a real number (a numpy scalar too; 1.0 is
            TensorFlow's default; 0.0 when the checkpoint's bias already includes it).
        layer: which layer (an int or a numpy integer); negative values count from the top.
        direction: ``"forward"``, or ``"backward"`` for a bidirectional ``rnn``'s reverse
            direction.

    Raises:
        TypeError: if ``rnn`` is not an ``nn.LSTM``, or an array is not floating point.
        ValueError: for ``bias=False``, a ``direction`` the module lacks, or shapes that do not
            match.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import numpy as np, torch
        >>> from birnn_utils.interop import load_tf1_lstm_weights
        >>> lstm = torch.nn.LSTM(3, 2)
        >>> load_tf1_lstm_weights(lstm, np.zeros((3 + 2, 8)), np.zeros(8))
        >>> lstm.bias_ih_l0.tolist()  # i, f (with the forget bias), g, o
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    where = "load_tf1_lstm_weights"
    if not isinstance(rnn, nn.LSTM):
        raise TypeError(f"{where}: `rnn` must be an nn.LSTM, got {type(rnn).__name__}")
    if not rnn.bias:
        raise ValueError(
            f"{where}: `rnn` must have bias=True: TensorFlow's LSTMCell always has a bias"
        )
    if direction not in ("forward", "backward"):
        raise ValueError(f"{where}: `direction` must be 'forward' or 'backward', got {direction!r}")
    if direction == "backward" and not rnn.bidirectional:
        raise ValueError(f"{where}: direction='backward' needs a bidirectional `rnn`")
    layer = _check_layer(layer, rnn.num_layers, where)
    # numbers.Real: numpy scalars too (np.float32(1.0) read from a checkpoint or a config).
    if isinstance(forget_bias, (bool, np.bool_)) or not isinstance(forget_bias, numbers.Real):
        raise TypeError(f"{where}: `forget_bias` must be a float, got {type(forget_bias).__name__}")
    forget_bias = float(forget_bias)
    hidden, inputs = rnn.hidden_size, _layer_input_size(rnn, layer)
    h_out = output_size(rnn)
    fused = _as_tensor(kernel, where, "kernel")
    bias_tensor = _as_tensor(bias, where, "bias")
    for name, tensor, shape in (
        ("kernel", fused, (inputs + h_out, 4 * hidden)),
        ("bias", bias_tensor, (4 * hidden,)),
    ):
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"{where}: `{name}` must have shape {shape} for layer {layer} of "
                f"{_describe(rnn)} with input {inputs}, hidden_size={hidden}"
                + (f", proj_size={rnn.proj_size}" if rnn.proj_size else "")
                + f", got {format_shape(tensor)}"
            )
    weight = _reorder(fused.t(), _TF1_ORDER, 0)
    bias_ih = _reorder(bias_tensor, _TF1_ORDER, 0).clone()
    bias_ih[hidden : 2 * hidden] += forget_bias
    suffix = "_reverse" if direction == "backward" else ""
    _write(
        rnn,
        {
            f"weight_ih_l{layer}{suffix}": weight[:, :inputs],
            f"weight_hh_l{layer}{suffix}": weight[:, inputs:],
            f"bias_ih_l{layer}{suffix}": bias_ih,
            f"bias_hh_l{layer}{suffix}": torch.zeros_like(bias_ih),
        },
    )


def _direction_states(state: Any, layer: int, where: str) -> list[Tensor]:
    """One direction's state as Keras lists it: ``[h]`` or ``[h, c]``, each ``B x H``."""
    parts = list(state) if isinstance(state, tuple) else [state]
    if not parts or not all(isinstance(p, Tensor) for p in parts):
        raise TypeError(
            f"{where}: each direction's state must be a Tensor or a tuple of Tensors, "
            f"got {type(state).__name__}"
        )
    out = []
    for part in parts:
        if part.dim() == 3:  # a unidirectional module's h_n: (num_layers, B, H)
            part = part[_check_layer(layer, part.shape[0], where)]
        elif part.dim() != 2:
            raise ValueError(
                f"{where}: a direction's state must be B x H, or (num_layers, B, H), got shape "
                f"{format_shape(part)}"
            )
        out.append(part)
    return out


def keras_states(states: Any, *, layer: int = -1) -> list[Tensor]:
    """One layer's final states of a bidirectional module as Keras lists them.

    Keras's ``Bidirectional(..., return_state=True)`` returns ``[h_f, c_f, h_b, c_b]`` (LSTM)
    or ``[h_f, h_b]`` (GRU, SimpleRNN) after its output, each ``B x H``, and takes the same
    list as ``initial_state``. :func:`from_keras_states` is the inverse.

    Args:
        states: a bidirectional ``nn.RNN``/``nn.GRU``'s ``h_n`` or ``nn.LSTM``'s
            ``(h_n, c_n)``, each ``(2 * num_layers) x B x H``; what
            :func:`~birnn_utils.final_states` returns for them; or a ``Directions`` of the two
            directions' states (as a :class:`~birnn_utils.Bidirectional` returns them).
        layer: which layer of a multi-layer state; negative values count from the top.

    Returns:
        A list of views ``B x H``: forward states first, ``h`` before ``c``.

    Raises:
        TypeError: for another kind of ``states``, or a non-int ``layer``.
        ValueError: for shapes that are not a bidirectional state.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils.interop import keras_states
        >>> lstm = torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True)
        >>> _, (h_n, c_n) = lstm(torch.randn(2, 5, 3))
        >>> h_f, c_f, h_b, c_b = keras_states((h_n, c_n))
        >>> torch.equal(c_b, c_n[1]), h_f.shape
        (True, torch.Size([2, 4]))
    """
    where = "keras_states"
    layer = _index(layer)
    if isinstance(states, Directions):
        forward = _direction_states(states.forward, layer, where)
        backward = _direction_states(states.backward, layer, where)
        return forward + backward
    if isinstance(states, tuple) and states and all(isinstance(s, Directions) for s in states):
        pairs: list[Directions] = list(states)
        return [p.forward for p in pairs] + [p.backward for p in pairs]
    if isinstance(states, Tensor) or (
        isinstance(states, tuple) and states and all(isinstance(s, Tensor) for s in states)
    ):
        try:
            per_layer = final_states(states, layer=layer)
        except (ValueError, IndexError, TypeError) as error:
            raise type(error)(str(error).replace("final_states", where)) from None
        return keras_states(per_layer if isinstance(per_layer, tuple) else (per_layer,))
    raise TypeError(
        f"{where}: `states` must be a bidirectional h_n, an LSTM's (h_n, c_n), final_states' "
        f"result or a Directions of states, got {type(states).__name__}"
    )


def from_keras_states(states: Sequence[ArrayLike]) -> State:
    """Keras's flat state list as the state of a one-layer bidirectional torch module.

    The inverse of :func:`keras_states`: ``[h_f, h_b]`` gives ``h_n`` and
    ``[h_f, c_f, h_b, c_b]`` gives ``(h_n, c_n)``, each ``2 x B x H``, which
    ``nn.GRU``/``nn.LSTM(bidirectional=True)`` take as ``hx`` (Keras's ``initial_state``).

    Args:
        states: 2 or 4 arrays or Tensors ``B x H`` (numpy arrays become Tensors on the CPU).

    Returns:
        ``h_n`` ``2 x B x H``, or the tuple ``(h_n, c_n)`` for 4 states (new tensors).

    Raises:
        TypeError: if ``states`` is not a list or tuple of floating-point arrays.
        ValueError: for a count other than 2 or 4, or states that are not ``B x H`` of one
            shape.

    Example:
        >>> import torch
        >>> from birnn_utils.interop import from_keras_states, keras_states
        >>> h_f, c_f, h_b, c_b = (torch.randn(2, 4) for _ in range(4))
        >>> h_0, c_0 = from_keras_states([h_f, c_f, h_b, c_b])
        >>> h_0.shape, torch.equal(c_0[1], c_b)
        (torch.Size([2, 2, 4]), True)
        >>> back = keras_states((h_0, c_0))  # and back to Keras's order
        >>> all(torch.equal(a, b) for a, b in zip(back, [h_f, c_f, h_b, c_b]))
        True
    """
    where = "from_keras_states"
    if not isinstance(states, (list, tuple)):
        raise TypeError(f"{where}: `states` must be a list of arrays, got {type(states).__name__}")
    if len(states) not in (2, 4):
        raise ValueError(
            f"{where}: `states` must hold 2 arrays ([h_f, h_b]: GRU, SimpleRNN) or 4 "
            f"([h_f, c_f, h_b, c_b]: LSTM), got {len(states)}"
        )
    tensors = [_as_tensor(s, where, f"states[{i}]") for i, s in enumerate(states)]
    if any(t.dim() != 2 for t in tensors) or len({tuple(t.shape) for t in tensors}) != 1:
        raise ValueError(
            f"{where}: the states must be B x H, all of one shape, got shapes "
            f"{[format_shape(t) for t in tensors]}"
        )
    half = len(tensors) // 2
    stacked = [torch.stack([tensors[i], tensors[half + i]]) for i in range(half)]
    return stacked[0] if half == 1 else (stacked[0], stacked[1])
