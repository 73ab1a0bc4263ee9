"""birnn_utils.interop against Keras's and TensorFlow 1's equations, written here in numpy.

Runs without Keras: tests/test_keras.py compares with real Keras layers.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from birnn_utils import (
    Bidirectional,
    BiRNNEncoder,
    Directions,
    bridge_states,
    final_states,
    interop,
    merge_directions,
)
from birnn_utils.interop import (
    from_keras,
    from_keras_states,
    keras_states,
    keras_weights,
    load_keras_weights,
    load_tf1_lstm_weights,
)

Array = np.ndarray[Any, Any]


def sigmoid(z: Array) -> Array:
    return 1 / (1 + np.exp(-z))


def keras_step(kind: str, weights: list[Array], x: Array, state: list[Array]) -> list[Array]:
    """One step of Keras's cell (as keras/src/layers/rnn documents it): new ``[h]``/``[h, c]``."""
    kernel, recurrent = weights[0], weights[1]
    width = kernel.shape[1]
    no_bias = np.zeros((2, width) if kind == "gru" else width)
    bias = weights[2] if len(weights) == 3 else no_bias
    h = state[0]
    if kind == "lstm":
        z = x @ kernel + h @ recurrent + bias.reshape(-1)
        i, f, c_bar, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * state[1] + sigmoid(i) * np.tanh(c_bar)
        return [sigmoid(o) * np.tanh(c), c]
    if kind == "gru":  # reset_after=True: the reset gate multiplies the recurrent product
        x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ recurrent + bias[1], 3, axis=-1)
        z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
        return [z * h + (1 - z) * np.tanh(x_h + r * h_h)]
    pre = x @ kernel + h @ recurrent + bias.reshape(-1)
    return [np.tanh(pre) if kind == "rnn_tanh" else np.maximum(pre, 0)]


def keras_run(kind: str, weights: list[Array], x: Array) -> tuple[Array, list[Array]]:
    """A unidirectional Keras layer over ``x`` ``B x T x F`` from zero states."""
    hidden = weights[1].shape[0]
    state = [np.zeros((x.shape[0], hidden)) for _ in range(2 if kind == "lstm" else 1)]
    outputs = []
    for t in range(x.shape[1]):
        state = keras_step(kind, weights, x[:, t], state)
        outputs.append(state[0])
    return np.stack(outputs, 1), state


def keras_bidirectional(kind: str, weights: list[Array], x: Array) -> tuple[Array, list[Array]]:
    """Keras's Bidirectional(merge_mode="concat", return_state=True) over full-length rows."""
    half = len(weights) // 2
    forward, forward_state = keras_run(kind, weights[:half], x)
    backward, backward_state = keras_run(kind, weights[half:], x[:, ::-1])
    return np.concatenate([forward, backward[:, ::-1]], -1), forward_state + backward_state


def random_keras_weights(
    kind: str, inputs: int, hidden: int, *, directions: int = 2, bias: bool = True, seed: int = 0
) -> list[Array]:
    rng = np.random.default_rng(seed)
    gates = {"lstm": 4, "gru": 3}.get(kind, 1)
    shapes: list[tuple[int, ...]] = [(inputs, gates * hidden), (hidden, gates * hidden)]
    if bias:
        shapes.append((2, 3 * hidden) if kind == "gru" else (gates * hidden,))
    return [rng.normal(size=shape) * 0.5 for _ in range(directions) for shape in shapes]


def torch_module(kind: str, inputs: int, hidden: int, **kwargs: Any) -> nn.RNNBase:
    cls: Any = {"lstm": nn.LSTM, "gru": nn.GRU}.get(kind, nn.RNN)
    if cls is nn.RNN:
        kwargs["nonlinearity"] = kind.removeprefix("rnn_")
    module: nn.RNNBase = cls(inputs, hidden, batch_first=True, dtype=torch.float64, **kwargs)
    return module


KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
# Keras's name for "mean", which the mode checks refuse; typed Any, or the type checker would first.
KERAS_AVE: Any = "ave"


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_layer_equals_keras_equations(kind: str, bias: bool) -> None:
    weights = random_keras_weights(kind, 3, 4, bias=bias)
    before = [w.copy() for w in weights]
    rnn = torch_module(kind, 3, 4, bidirectional=True, bias=bias)
    x = np.random.default_rng(1).normal(size=(2, 5, 3))

    load_keras_weights(rnn, weights)

    assert all(np.array_equal(a, b) for a, b in zip(weights, before, strict=True))
    output, state = rnn(torch.from_numpy(x))
    expected_output, expected_state = keras_bidirectional(kind, weights, x)
    torch.testing.assert_close(output, torch.from_numpy(expected_output))
    got_state = keras_states(state)
    assert len(got_state) == len(expected_state)
    for got, want in zip(got_state, expected_state, strict=True):
        torch.testing.assert_close(got, torch.from_numpy(want))


@pytest.mark.parametrize("kind", KINDS)
def test_unidirectional_and_upper_layers_equal_keras_equations(kind: str) -> None:
    """Layer 1 of a stack reads layer 0's output: 2H wide when bidirectional, H otherwise."""
    x = np.random.default_rng(2).normal(size=(3, 4, 3))
    for directions in (1, 2):
        rnn = torch_module(kind, 3, 5, num_layers=3, bidirectional=directions == 2)
        bottom = random_keras_weights(kind, 3, 5, directions=directions, seed=3)
        middle = random_keras_weights(kind, 5 * directions, 5, directions=directions, seed=4)
        top = random_keras_weights(kind, 5 * directions, 5, directions=directions, seed=5)
        load_keras_weights(rnn, bottom)
        load_keras_weights(rnn, middle, layer=1)
        load_keras_weights(rnn, top, layer=-1)
        run = keras_bidirectional if directions == 2 else keras_run
        expected = run(kind, top, run(kind, middle, run(kind, bottom, x)[0])[0])[0]
        torch.testing.assert_close(rnn(torch.from_numpy(x))[0], torch.from_numpy(expected))
        for layer, weights in enumerate([bottom, middle, top]):
            for got, want in zip(keras_weights(rnn, layer=layer), weights, strict=True):
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_keras_weights_round_trips_any_torch_module(kind: str) -> None:
    torch.manual_seed(0)
    rnn = torch_module(kind, 3, 4, num_layers=2, bidirectional=True)
    state = {k: v.clone() for k, v in rnn.state_dict().items()}
    copy = torch_module(kind, 3, 4, num_layers=2, bidirectional=True)

    for layer in range(2):
        weights = keras_weights(rnn, layer=layer)
        assert all(isinstance(w, np.ndarray) and w.dtype == np.float64 for w in weights)
        load_keras_weights(copy, weights, layer=layer)

    assert all(torch.equal(v, rnn.state_dict()[k]) for k, v in state.items())
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    # torch's two biases add into Keras's one (except the GRU's n gate): same function.
    for got, want in zip(copy(x), rnn(x), strict=True):
        torch.testing.assert_close(got, want)


def test_keras_weights_are_new_arrays_in_keras_gate_order() -> None:
    rnn = torch_module("gru", 2, 3)
    before = rnn.get_parameter("weight_ih_l0").detach().clone()
    for weight in keras_weights(rnn):
        weight += 1
    assert torch.equal(rnn.get_parameter("weight_ih_l0"), before)
    r, z, n = before.numpy()[:3], before.numpy()[3:6], before.numpy()[6:]
    np.testing.assert_array_equal(keras_weights(rnn)[0], np.concatenate([z, r, n]).T)


def test_gradients_flow_into_loaded_parameters_only() -> None:
    rnn = torch_module("lstm", 2, 3)
    weights = [
        torch.randn(2, 12, dtype=torch.float64, requires_grad=True),
        torch.randn(3, 12),
        torch.randn(12),
    ]
    load_keras_weights(rnn, weights)
    assert rnn.weight_ih_l0.requires_grad and rnn.weight_ih_l0.grad_fn is None
    assert weights[0].grad is None


def tf1_lstm_run(
    kernel: Array, bias: Array, forget_bias: float, x: Array, proj: Array | None
) -> Array:
    """TensorFlow 1's LSTMCell: [x, h] @ kernel + bias, gates i, j, f, o, forget_bias added."""
    units = bias.shape[0] // 4
    h = np.zeros((x.shape[0], units if proj is None else proj.shape[1]))
    c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        i, j, f, o = np.split(np.concatenate([x[:, t], h], -1) @ kernel + bias, 4, axis=-1)
        c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
        h = sigmoid(o) * np.tanh(c)
        if proj is not None:
            h = h @ proj
        outputs.append(h)
    return np.stack(outputs, 1)


@pytest.mark.parametrize("proj_size", [0, 2])
@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 0.5])
def test_tf1_lstm_equals_tensorflow_equations(forget_bias: float, proj_size: int) -> None:
    rng = np.random.default_rng(0)
    h_out = proj_size or 4
    rnn = nn.LSTM(
        3, 4, bidirectional=True, proj_size=proj_size, batch_first=True, dtype=torch.float64
    )
    x = rng.normal(size=(2, 5, 3))
    cells = []
    for direction in ("forward", "backward"):
        kernel, bias = rng.normal(size=(3 + h_out, 16)), rng.normal(size=16)
        proj = rng.normal(size=(4, proj_size)) if proj_size else None
        kernel_before = kernel.copy()
        load_tf1_lstm_weights(rnn, kernel, bias, forget_bias=forget_bias, direction=direction)
        assert np.array_equal(kernel, kernel_before)
        if proj is not None:
            suffix = "_reverse" if direction == "backward" else ""
            with torch.no_grad():
                getattr(rnn, f"weight_hr_l0{suffix}").copy_(torch.from_numpy(proj.T))
        cells.append((kernel, bias, proj))
    forward = tf1_lstm_run(*cells[0][:2], forget_bias, x, cells[0][2])
    backward = tf1_lstm_run(*cells[1][:2], forget_bias, x[:, ::-1], cells[1][2])[:, ::-1]
    expected = np.concatenate([forward, backward], -1)
    torch.testing.assert_close(rnn(torch.from_numpy(x))[0], torch.from_numpy(expected))


def test_tf1_lstm_loads_an_upper_layer() -> None:
    rnn = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    load_tf1_lstm_weights(rnn, np.ones((8 + 4, 16)), np.zeros(16), layer=1, direction="backward")
    assert torch.equal(rnn.get_parameter("weight_ih_l1_reverse"), torch.ones(16, 8).double())
    assert rnn.get_parameter("bias_ih_l1_reverse").tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8


@pytest.mark.parametrize(
    "forget_bias", [np.float32(1.5), np.float64(1.5), np.float16(1.5), np.int64(1), 1]
)
def test_tf1_lstm_takes_numpy_scalars(forget_bias: Any) -> None:
    """A forget_bias read from a checkpoint or a config is often a numpy scalar."""
    rnn = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    kernel, bias = np.ones((8 + 4, 16)), np.zeros(16)
    load_tf1_lstm_weights(rnn, kernel, bias, forget_bias=forget_bias, layer=1)
    expected = [0.0] * 4 + [float(forget_bias)] * 4 + [0.0] * 8
    assert rnn.get_parameter("bias_ih_l1").tolist() == expected
    not_a_number: Any = np.bool_(True)
    with pytest.raises(TypeError, match=r"load_tf1_lstm_weights: `forget_bias` must be a float"):
        load_tf1_lstm_weights(rnn, kernel, bias, forget_bias=not_a_number)


def test_layer_may_be_a_numpy_integer() -> None:
    torch.manual_seed(0)
    top: Any = np.int64(-1)
    rnn = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    weights = keras_weights(rnn, layer=top)
    expected = keras_weights(rnn, layer=1)
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected, strict=True))
    load_keras_weights(rnn, weights, layer=top)
    lstm = nn.LSTM(3, 4, num_layers=2)
    load_tf1_lstm_weights(lstm, np.ones((8, 16)), np.zeros(16), layer=top)
    assert torch.equal(lstm.get_parameter("weight_ih_l1"), torch.ones(16, 4))
    h_n = rnn(torch.randn(5, 2, 3))[1]
    bottom: Any = np.int32(0)
    states = zip(keras_states(h_n, layer=bottom), keras_states(h_n, layer=0), strict=True)
    assert all(torch.equal(a, b) for a, b in states)


def test_keras_states_and_back() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    _, (h_n, c_n) = lstm(torch.randn(5, 2, 3))
    h_before, c_before = h_n.clone(), c_n.clone()
    top = keras_states((h_n, c_n))
    assert [t.shape for t in top] == [torch.Size([2, 4])] * 4
    (h_f, h_b), (c_f, c_b) = final_states((h_n, c_n))
    assert all(torch.equal(a, b) for a, b in zip(top, [h_f, c_f, h_b, c_b], strict=True))
    assert all(
        torch.equal(a, b) for a, b in zip(keras_states(final_states((h_n, c_n))), top, strict=True)
    )
    bottom = keras_states((h_n, c_n), layer=0)
    assert torch.equal(bottom[3], c_n[1])
    h_0, c_0 = from_keras_states(bottom)
    assert torch.equal(h_0, h_n[:2]) and torch.equal(c_0, c_n[:2])
    h_0 += 1  # new tensors, not views of the states given
    assert torch.equal(h_n, h_before) and torch.equal(c_n, c_before)
    gru_h = torch.randn(2, 3, 4)
    assert all(
        torch.equal(a, b) for a, b in zip(keras_states(gru_h), [gru_h[0], gru_h[1]], strict=True)
    )
    restored = from_keras_states(keras_states(gru_h))
    assert isinstance(restored, Tensor) and torch.equal(restored, gru_h)
    # A Bidirectional's Directions of per-direction states, unidirectional h_n each.
    per_direction = Directions((h_n[:1], c_n[:1]), (h_n[1:2], c_n[1:2]))
    assert all(torch.equal(a, b) for a, b in zip(keras_states(per_direction), bottom, strict=True))
    assert all(
        torch.equal(a, b)
        for a, b in zip(keras_states(Directions(h_f, h_b)), [h_f, h_b], strict=True)
    )
    numpy_states = from_keras_states([np.ones((2, 3)), np.zeros((2, 3))])
    assert isinstance(numpy_states, Tensor) and numpy_states.shape == (2, 2, 3)


def test_state_converters_gradcheck() -> None:
    states = [torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    assert torch.autograd.gradcheck(lambda *s: from_keras_states(list(s)), tuple(states))
    h_n = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: tuple(keras_states(h, layer=0)), (h_n,))


class FakeKerasLayer:
    """What from_keras reads of a Keras recurrent layer: its class name, config and weights."""

    def __init__(self, kind: str, weights: list[Array], **config: Any) -> None:
        self.kind, self.weights = kind, weights
        self.config = {"activation": "tanh", "use_bias": True}
        if weights:
            self.config["units"] = weights[1].shape[0]
        if kind != "SimpleRNN":
            self.config["recurrent_activation"] = "sigmoid"
        self.config |= config

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def get_weights(self) -> list[Array]:
        return self.weights


def fake(kind: str, weights: list[Array], **config: Any) -> Any:
    return type(kind, (FakeKerasLayer,), {})(kind, weights, **config)


def fake_bidirectional(forward: Any, backward: Any) -> Any:
    layer = type("Bidirectional", (), {})()
    layer.forward_layer, layer.backward_layer = forward, backward
    layer.get_weights = lambda: forward.get_weights() + backward.get_weights()
    return layer


@pytest.mark.parametrize(
    ("keras_kind", "kind", "config"),
    [
        ("LSTM", "lstm", {}),
        ("GRU", "gru", {}),
        ("SimpleRNN", "rnn_tanh", {}),
        ("SimpleRNN", "rnn_relu", {"activation": "relu"}),
    ],
)
def test_from_keras_builds_the_matching_module(
    keras_kind: str, kind: str, config: dict[str, Any]
) -> None:
    weights = [w.astype(np.float32) for w in random_keras_weights(kind, 3, 4)]
    forward = fake(keras_kind, weights[:3], **config)
    backward = fake(keras_kind, weights[3:], go_backwards=True, **config)
    before = [w.copy() for w in weights]
    rnn = from_keras(fake_bidirectional(forward, backward))
    assert all(np.array_equal(a, b) for a, b in zip(weights, before, strict=True))
    assert (rnn.bidirectional, rnn.batch_first, rnn.hidden_size, rnn.input_size) == (
        True,
        True,
        4,
        3,
    )
    assert rnn.weight_ih_l0.dtype == torch.float32
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    expected, _ = keras_bidirectional(kind, weights, x)
    torch.testing.assert_close(rnn.double()(torch.from_numpy(x))[0], torch.from_numpy(expected))
    single = from_keras(forward)
    assert not single.bidirectional and isinstance(single, type(rnn))


REFUSED = {
    "reset_after=False": (
        fake("GRU", random_keras_weights("gru", 3, 4, directions=1), reset_after=False),
        ValueError,
        "from_keras: GRU(reset_after=False) applies the reset gate before the recurrent product",
    ),
    "hard_sigmoid": (
        fake(
            "LSTM",
            random_keras_weights("lstm", 3, 4, directions=1),
            recurrent_activation="hard_sigmoid",
        ),
        ValueError,
        "from_keras: `recurrent_activation` must be 'sigmoid' (torch's gates use it), got "
        "hard_sigmoid",
    ),
    "relu LSTM": (
        fake("LSTM", random_keras_weights("lstm", 3, 4, directions=1), activation="relu"),
        ValueError,
        "from_keras: `activation` must be 'tanh' for a torch LSTM, got relu",
    ),
    "selu SimpleRNN": (
        fake("SimpleRNN", random_keras_weights("rnn_tanh", 3, 4, directions=1), activation="selu"),
        ValueError,
        "from_keras: `activation` must be 'tanh' or 'relu' for a torch SimpleRNN, got selu",
    ),
    "go_backwards": (
        fake("GRU", random_keras_weights("gru", 3, 4, directions=1), go_backwards=True),
        ValueError,
        "from_keras: `keras_layer` has go_backwards=True",
    ),
    "not built": (
        fake("GRU", [], units=4),
        ValueError,
        "from_keras: `keras_layer` is not built (no weights yet)",
    ),
    "Dense": (
        fake("Dense", [np.zeros((3, 4)), np.zeros((4, 4))]),
        TypeError,
        "from_keras: `keras_layer` must be a Keras LSTM, GRU or SimpleRNN, or a Bidirectional "
        "of one, got Dense",
    ),
    "mixed Bidirectional": (
        fake_bidirectional(
            fake("GRU", random_keras_weights("gru", 3, 4, directions=1)),
            fake("GRU", random_keras_weights("gru", 3, 4, directions=1), units=5),
        ),
        ValueError,
        "from_keras: the Bidirectional's forward and backward layers must have the same "
        "settings to form one torch module, they differ in units",
    ),
}


@pytest.mark.parametrize(("layer", "error", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_from_keras_refuses_what_torch_cannot_compute(
    layer: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        from_keras(layer)


def test_load_keras_weights_refuses_mismatches_and_writes_nothing() -> None:
    gru = torch_module("gru", 3, 4, bidirectional=True)
    before = {k: v.clone() for k, v in gru.state_dict().items()}
    good = random_keras_weights("gru", 3, 4)
    cases: list[tuple[Any, Any, type[Exception], str]] = [
        (
            gru,
            good[:3],
            ValueError,
            "load_keras_weights: `weights` must hold 6 arrays for a bidirectional "
            "GRU(bias=True) (kernel, recurrent_kernel, bias per direction, forward first), "
            "got 3",
        ),
        (
            gru,
            [*good[:5], np.zeros(12)],
            ValueError,
            "load_keras_weights: the backward `bias` must have shape (2, 12) for a "
            "bidirectional GRU(bias=True) with hidden_size=4, got (12,); a (3H,) bias is "
            "Keras's GRU(reset_after=False)",
        ),
        (
            gru,
            [np.zeros((5, 12)), *good[1:]],
            ValueError,
            "load_keras_weights: the forward `kernel` must have shape (3, 12)",
        ),
        (
            gru,
            [*good[:3], np.zeros((3, 12), dtype=np.int64), *good[4:]],
            TypeError,
            "load_keras_weights: `weights[3]` must be floating point, got dtype torch.int64",
        ),
        (
            gru,
            {"kernel": 1},
            TypeError,
            "load_keras_weights: `weights` must be a list of arrays (layer.get_weights()), got "
            "dict",
        ),
        (
            gru,
            [*good[:5], "bias"],
            TypeError,
            "load_keras_weights: `weights[5]` must be a numpy array or a Tensor, got str",
        ),
        (
            nn.Linear(3, 4),
            good,
            TypeError,
            "load_keras_weights: `rnn` must be an nn.RNN, nn.GRU or nn.LSTM",
        ),
        (
            nn.LSTM(3, 4, proj_size=2),
            good,
            ValueError,
            "load_keras_weights: `rnn` has proj_size=2, and Keras's LSTM has no projection",
        ),
    ]
    for rnn, weights, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            load_keras_weights(rnn, weights)
    upper = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=re.escape("layer 1 reads 8 features (input_size at")):
        load_keras_weights(upper, good, layer=1)
    with pytest.raises(
        IndexError, match=re.escape("load_keras_weights: `layer` must be in [-1, 0]")
    ):
        load_keras_weights(gru, good, layer=1)
    assert all(torch.equal(v, gru.state_dict()[k]) for k, v in before.items())


def test_tf1_and_state_converters_refuse_bad_input() -> None:
    lstm = nn.LSTM(3, 4)
    cases: list[tuple[Any, type[Exception], str]] = [
        (
            lambda: load_tf1_lstm_weights(nn.GRU(3, 4), np.zeros((7, 16)), np.zeros(16)),  # type: ignore[arg-type]
            TypeError,
            "load_tf1_lstm_weights: `rnn` must be an nn.LSTM, got GRU",
        ),
        (
            lambda: load_tf1_lstm_weights(
                nn.LSTM(3, 4, bias=False), np.zeros((7, 16)), np.zeros(16)
            ),
            ValueError,
            "load_tf1_lstm_weights: `rnn` must have bias=True",
        ),
        (
            lambda: load_tf1_lstm_weights(
                lstm, np.zeros((7, 16)), np.zeros(16), direction="backward"
            ),
            ValueError,
            "load_tf1_lstm_weights: direction='backward' needs a bidirectional `rnn`",
        ),
        (
            lambda: load_tf1_lstm_weights(lstm, np.zeros((7, 16)), np.zeros(16), direction="up"),
            ValueError,
            "load_tf1_lstm_weights: `direction` must be 'forward' or 'backward', got 'up'",
        ),
        (
            lambda: load_tf1_lstm_weights(lstm, np.zeros((3, 16)), np.zeros(16)),
            ValueError,
            "load_tf1_lstm_weights: `kernel` must have shape (7, 16) for layer 0 of a "
            "unidirectional LSTM(bias=True) with input 3, hidden_size=4, got (3, 16)",
        ),
        (
            lambda: load_tf1_lstm_weights(lstm, np.zeros((7, 16)), np.zeros(16), forget_bias="1"),  # type: ignore[arg-type]
            TypeError,
            "load_tf1_lstm_weights: `forget_bias` must be a float, got str",
        ),
        (
            lambda: from_keras_states([torch.zeros(2, 3)] * 3),
            ValueError,
            "from_keras_states: `states` must hold 2 arrays ([h_f, h_b]: GRU, SimpleRNN) or 4 "
            "([h_f, c_f, h_b, c_b]: LSTM), got 3",
        ),
        (
            lambda: from_keras_states([torch.zeros(2, 3), torch.zeros(2, 4)]),
            ValueError,
            "from_keras_states: the states must be B x H, all of one shape, got shapes ['(2, "
            "3)', '(2, 4)']",
        ),
        (
            lambda: from_keras_states(torch.zeros(2, 2, 3)),  # type: ignore[arg-type]
            TypeError,
            "from_keras_states: `states` must be a list of arrays, got Tensor",
        ),
        (
            lambda: keras_states(torch.zeros(3, 2, 4)),
            ValueError,
            "keras_states: the first dimension of `h_n` (=3) must be even",
        ),
        (
            lambda: keras_states([torch.zeros(2, 2, 4)]),
            TypeError,
            "keras_states: `states` must be a bidirectional h_n, an LSTM's (h_n, c_n)",
        ),
        (
            lambda: keras_states(torch.zeros(2, 2, 4), layer=1),
            IndexError,
            "keras_states: `layer` must be in [-1, 0]",
        ),
        (
            lambda: keras_states(Directions(torch.zeros(4), torch.zeros(4))),
            ValueError,
            "keras_states: a direction's state must be B x H, or (num_layers, B, H), got shape "
            "(4,)",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


def test_interop_names_are_documented_with_examples() -> None:
    api = (Path(__file__).resolve().parents[1] / "docs" / "api" / "interop.md").read_text()
    for name in interop.__all__:
        obj = getattr(interop, name)
        doc = inspect.getdoc(obj) or ""
        assert "Example:" in doc and ">>>" in doc, name
        assert "Returns:" in doc or inspect.signature(obj).return_annotation == "None", name
        assert f"::: birnn_utils.interop.{name}\n" in api, name
    assert sorted(interop.__all__) == interop.__all__


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: merge_directions(torch.ones(2), torch.ones(2), KERAS_AVE),
            "merge_directions: `mode` must be one of 'concat', 'sum', 'mean', 'mul', 'stack', ",
        ),
        (
            lambda: bridge_states(torch.ones(2, 1, 3), KERAS_AVE),
            "bridge_states: `mode` must be one of 'concat', 'sum', 'mean', ",
        ),
        (
            lambda: Bidirectional(nn.GRU(3, 4), merge=KERAS_AVE),
            "Bidirectional: `merge` must be one of 'concat', 'sum', 'mean', 'mul', 'stack' or "
            "None, ",
        ),
        (
            lambda: BiRNNEncoder(nn.GRU(3, 4, bidirectional=True), merge=KERAS_AVE),
            "BiRNNEncoder: `merge` must be one of 'concat', 'sum', 'mean', 'mul', 'stack', ",
        ),
    ],
)
def test_keras_merge_mode_names_point_to_ours(call: Any, message: str) -> None:
    hint = "got 'ave' (Keras's 'ave' is 'mean' here)"
    with pytest.raises(ValueError, match=re.escape(message + hint)):
        call()


def test_merge_mode_of_another_type_is_shown() -> None:
    with pytest.raises(ValueError, match=re.escape("or None, got 3")):
        Bidirectional(nn.GRU(3, 4), merge=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("'stack', got None")):
        BiRNNEncoder(nn.GRU(3, 4, bidirectional=True), merge=None)  # type: ignore[arg-type]
