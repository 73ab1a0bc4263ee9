"""birnn_utils.interop and left padding against real Keras 3 layers (torch backend).

Keras is a test extra (``pip install -e ".[test,keras]"``); CI installs it, so these run there.
``python tests/test_keras.py`` prints the largest difference from Keras per layer type.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import itertools
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

from birnn_utils import (  # noqa: E402 (Keras's backend is chosen before it is imported)
    BiRNNEncoder,
    MergeMode,
    PaddingSide,
    lengths_to_mask,
    mask_to_lengths,
    merge_directions,
    run_packed,
    split_directions,
)
from birnn_utils.interop import (  # noqa: E402
    from_keras,
    from_keras_states,
    keras_states,
    keras_weights,
    load_keras_weights,
)

LAYERS = {
    "LSTM": lambda units, **kw: keras.layers.LSTM(units, **kw),
    "GRU": lambda units, **kw: keras.layers.GRU(units, **kw),
    "SimpleRNN-tanh": lambda units, **kw: keras.layers.SimpleRNN(units, **kw),
    "SimpleRNN-relu": lambda units, **kw: keras.layers.SimpleRNN(units, activation="relu", **kw),
}
MERGE: dict[str | None, MergeMode | None] = {
    "concat": "concat",
    "sum": "sum",
    "ave": "mean",
    "mul": "mul",
    None: None,
}
"""Keras's merge_mode -> this library's merge mode (None: the two directions apart)."""
PADDINGS = ["full", "right", "left"]
B, T, F, H = 4, 6, 3, 5
LENGTHS = [6, 3, 0, 1]  # unsorted, with a row of length 0
ATOL = 1e-6  # float32; the measured differences are below 3e-7 (see the module's docstring)


def numpy(value: Any) -> np.ndarray[Any, Any]:
    return np.asarray(keras.ops.convert_to_numpy(value))


def batch(padding: str, seed: int = 0) -> tuple[np.ndarray[Any, Any], list[int]]:
    """Inputs ``B x T x F``, zero at padding, and their lengths."""
    x = np.random.default_rng(seed).normal(size=(B, T, F)).astype(np.float32)
    if padding == "full":
        return x, [T] * B
    mask = lengths_to_mask(LENGTHS, T, padding_side=padding).numpy()  # type: ignore[arg-type]
    return x * mask[..., None], list(LENGTHS)


def compare(
    kind: str,
    merge_mode: str | None,
    padding: str,
    return_sequences: bool,
    initial: bool,
) -> float:
    """Run a Keras Bidirectional and its conversion on one batch; the largest difference."""
    keras.utils.set_random_seed(1)
    layer = LAYERS[kind](H, return_sequences=return_sequences, return_state=True)
    bidirectional = keras.layers.Bidirectional(layer, merge_mode=merge_mode)
    x, lengths = batch(padding)
    states = 4 if kind == "LSTM" else 2
    rng = np.random.default_rng(2)
    initial_state = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(states)]
    kwargs: dict[str, Any] = {"initial_state": initial_state} if initial else {}
    if padding != "full":
        mask = lengths_to_mask(lengths, T, padding_side=padding)  # type: ignore[arg-type]
        kwargs["mask"] = mask.numpy()
    result = [numpy(r) for r in bidirectional(x, **kwargs)]

    rnn = from_keras(bidirectional)
    side: PaddingSide = "left" if padding == "left" else "right"
    inputs = torch.from_numpy(x)
    with torch.no_grad():
        hx = from_keras_states(initial_state) if initial else None
        if return_sequences:
            output, state = run_packed(rnn, inputs, lengths, hx, padding_side=side)
            directions = split_directions(output)
        else:  # Keras's last output: zeros for a length-0 row, where the state is the initial one
            encoded = BiRNNEncoder(rnn, padding_side=side)(inputs, lengths, initial_state=hx)
            directions, state = encoded.final, encoded.states
        flat_states = keras_states(state)
        mode = MERGE[merge_mode]
        merged = list(directions) if mode is None else [merge_directions(*directions, mode)]
    expected_outputs, expected_states = result[: len(merged)], result[len(merged) :]
    assert [r.shape for r in expected_outputs] == [tuple(m.shape) for m in merged]
    assert len(expected_states) == len(flat_states)
    got = [*merged, *flat_states]
    return max(float(np.abs(g.numpy() - e).max()) for g, e in zip(got, result, strict=True))


# Each case costs a Keras call (0.1-0.2 s): every merge mode on masked sequences, and every
# padding, output kind and initial state with concat. `python tests/test_keras.py` runs all.
CASES = [
    *[(merge_mode, "right", True, True) for merge_mode in MERGE],
    *[
        ("concat", padding, return_sequences, initial)
        for padding, return_sequences, initial in itertools.product(
            PADDINGS, [True, False], [False, True]
        )
        if (padding, return_sequences, initial) != ("right", True, True)
    ],
]


@pytest.mark.parametrize(("merge_mode", "padding", "return_sequences", "initial"), CASES, ids=str)
@pytest.mark.parametrize("kind", list(LAYERS))
def test_bidirectional_equals_keras(
    kind: str, merge_mode: str | None, padding: str, return_sequences: bool, initial: bool
) -> None:
    assert compare(kind, merge_mode, padding, return_sequences, initial) <= ATOL


@pytest.mark.parametrize("kind", list(LAYERS))
def test_unidirectional_equals_keras(kind: str) -> None:
    keras.utils.set_random_seed(3)
    layer = LAYERS[kind](H, return_sequences=True, return_state=True)
    x, lengths = batch("right", seed=4)
    output, *states = (numpy(r) for r in layer(x, mask=lengths_to_mask(lengths, T).numpy()))
    rnn = from_keras(layer)
    with torch.no_grad():
        got, state = run_packed(rnn, torch.from_numpy(x), lengths)
    assert not rnn.bidirectional
    # A lone Keras layer repeats its last valid output over the padding (zero_output_for_mask
    # is False unless a Bidirectional sets it); torch gives zeros there. Valid steps agree.
    valid = lengths_to_mask(lengths, T).numpy()
    np.testing.assert_allclose(got.numpy()[valid], output[valid], rtol=0, atol=ATOL)
    torch_states = [s[-1] for s in (state if isinstance(state, tuple) else (state,))]
    for got_state, want in zip(torch_states, states, strict=True):
        np.testing.assert_allclose(got_state.numpy(), want, rtol=0, atol=ATOL)


def test_pad_sequences_and_masking_layer_pipeline() -> None:
    """Keras's usual pipeline: pad_sequences (left) and a Masking layer, ported as it is."""
    rng = np.random.default_rng(5)
    sequences = [rng.normal(size=(n, F)).astype(np.float32) for n in LENGTHS]
    padded = keras.utils.pad_sequences(sequences, maxlen=T, dtype="float32")  # padding="pre"
    keras.utils.set_random_seed(6)
    bidirectional = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True))
    model = keras.Sequential([keras.Input((T, F)), keras.layers.Masking(0.0), bidirectional])
    expected = numpy(model(padded))

    x = torch.from_numpy(padded)
    mask = x.ne(0).any(-1)
    lengths = mask_to_lengths(mask, padding_side="left")
    assert lengths.tolist() == LENGTHS
    lstm = from_keras(bidirectional)
    with torch.no_grad():
        output, _ = run_packed(lstm, x, lengths, padding_side="left")
        encoded = BiRNNEncoder(lstm, padding_side="left")(x, mask=mask)
    np.testing.assert_allclose(output.numpy(), expected, rtol=0, atol=ATOL)
    np.testing.assert_allclose(encoded.outputs.numpy(), expected, rtol=0, atol=ATOL)
    assert encoded.lengths.tolist() == LENGTHS


def test_stacked_keras_layers_load_into_one_torch_module() -> None:
    """Two stacked Bidirectional(GRU) layers into one nn.GRU(num_layers=2): layer 1 reads 2H."""
    keras.utils.set_random_seed(7)
    first = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True))
    second = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True))
    x, lengths = batch("right", seed=8)
    mask = lengths_to_mask(lengths, T).numpy()
    expected = numpy(second(first(x, mask=mask), mask=mask))
    gru = torch.nn.GRU(F, H, num_layers=2, bidirectional=True, batch_first=True)
    load_keras_weights(gru, first.get_weights())
    load_keras_weights(gru, second.get_weights(), layer=1)
    with torch.no_grad():
        output, _ = run_packed(gru, torch.from_numpy(x), lengths)
    np.testing.assert_allclose(output.numpy(), expected, rtol=0, atol=ATOL)
    for got, want in zip(keras_weights(gru, layer=1), second.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


class WholeModel(torch.nn.Module):
    """Embedding -> 2-layer bidirectional LSTM -> Linear, per step or on the final features."""

    def __init__(
        self, lstm: torch.nn.LSTM, vocab: int, classes: int, padding: PaddingSide, per_step: bool
    ) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, lstm.input_size)
        self.encoder = BiRNNEncoder(lstm, padding_side=padding)
        self.head = torch.nn.Linear(2 * lstm.hidden_size, classes)
        self.per_step = per_step

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        encoded = self.encoder(self.embed(tokens), mask=tokens != 0)
        features = encoded.outputs if self.per_step else torch.cat(encoded.final, dim=-1)
        return self.head(features)  # type: ignore[no-any-return]


def whole_model_case(
    keras_padding: str, torch_padding: PaddingSide, per_step: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Keras's and the ported model's outputs for one batch, and where the tokens are valid."""
    vocab, dim, classes = 30, F, 3
    keras.utils.set_random_seed(11)
    embedding = keras.layers.Embedding(vocab, dim, mask_zero=True)
    first = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True))
    second = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=per_step))
    dense = keras.layers.Dense(classes)
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, dense(second(first(embedding(ids)))))
    rng = np.random.default_rng(12)
    sequences = [rng.integers(1, vocab, size=n) for n in (6, 2, 4, 1)]
    tokens = keras.utils.pad_sequences(sequences, padding=keras_padding)
    expected = numpy(model(tokens))

    lstm = torch.nn.LSTM(dim, H, num_layers=2, bidirectional=True, batch_first=True)
    load_keras_weights(lstm, first.get_weights())
    load_keras_weights(lstm, second.get_weights(), layer=1)
    ported = WholeModel(lstm, vocab, classes, torch_padding, per_step).eval()
    with torch.no_grad():
        ported.embed.weight.copy_(torch.from_numpy(embedding.get_weights()[0]))
        kernel, bias = dense.get_weights()
        ported.head.weight.copy_(torch.from_numpy(kernel.T))
        ported.head.bias.copy_(torch.from_numpy(bias))
        got = ported(torch.from_numpy(tokens)).numpy()
    return got, expected, tokens != 0


@pytest.mark.parametrize("per_step", [False, True], ids=["classifier", "tagger"])
@pytest.mark.parametrize(("keras_padding", "torch_padding"), [("pre", "left"), ("post", "right")])
def test_whole_keras_model_with_mask_zero(
    keras_padding: str, torch_padding: PaddingSide, per_step: bool
) -> None:
    """Embedding(mask_zero=True) -> 2 x Bidirectional(LSTM) -> Dense, as docs/porting.md ports it.

    Keras's variable lengths are its mask; the port reads the same mask. A tagger's steps are
    compared where the tokens are valid (at padding Keras's layers and torch's fill differently).
    """
    got, expected, valid = whole_model_case(keras_padding, torch_padding, per_step)
    if per_step:
        got, expected = got[valid], expected[valid]
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


def test_whole_keras_model_on_the_wrong_padding_side_is_refused() -> None:
    """pad_sequences's left padding read as right padding: an error, not wrong values."""
    with pytest.raises(ValueError, match=r"`mask` must be right-padded \(no True after a False\)"):
        whole_model_case("pre", "right", per_step=False)


def test_torch_weights_into_keras() -> None:
    """The other way: a torch module's weights set into a Keras layer compute the same."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(F, H, bidirectional=True, batch_first=True)
    bidirectional = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True))
    bidirectional.build((None, T, F))
    bidirectional.set_weights(keras_weights(lstm))
    x, _ = batch("full", seed=9)
    with torch.no_grad():
        expected, _ = lstm(torch.from_numpy(x))
    np.testing.assert_allclose(numpy(bidirectional(x)), expected.numpy(), rtol=0, atol=ATOL)


def test_refusals_name_the_keras_setting() -> None:
    gru = keras.layers.GRU(H, reset_after=False)
    gru.build((None, T, F))
    with pytest.raises(ValueError, match=r"GRU\(reset_after=False\) applies the reset gate"):
        from_keras(gru)
    with pytest.raises(ValueError, match=r"a \(3H,\) bias is Keras's GRU\(reset_after=False\)"):
        load_keras_weights(torch.nn.GRU(F, H), gru.get_weights())
    hard = keras.layers.LSTM(H, recurrent_activation="hard_sigmoid")
    hard.build((None, T, F))
    with pytest.raises(ValueError, match="`recurrent_activation` must be 'sigmoid'"):
        from_keras(hard)
    relu = keras.layers.Bidirectional(keras.layers.GRU(H, activation="relu"))
    relu.build((None, T, F))
    with pytest.raises(ValueError, match="`activation` must be 'tanh' for a torch GRU, got relu"):
        from_keras(relu)
    lstm = keras.layers.LSTM(H)
    lstm.build((None, T, F))
    with pytest.raises(ValueError, match=r"the forward `kernel` must have shape \(4, 20\)"):
        load_keras_weights(torch.nn.LSTM(4, H), lstm.get_weights())
    with pytest.raises(ValueError, match="is not built"):
        from_keras(keras.layers.LSTM(H))
    with pytest.raises(TypeError, match="got Dense"):
        from_keras(keras.layers.Dense(H))


def test_keras_leaves_torch_as_it_was() -> None:
    """Keras's torch backend changes none of torch's global settings that other tests rely on.

    Checked in a fresh process: here Keras may already be imported.
    """
    script = """if True:
        import os, torch
        def settings():
            return (torch.get_default_dtype(), torch.get_default_device(),
                    torch.get_num_threads(), torch.is_grad_enabled(),
                    torch.are_deterministic_algorithms_enabled(), torch.initial_seed())
        torch.manual_seed(0)
        before = settings()
        import keras
        keras.layers.Bidirectional(keras.layers.LSTM(2))(keras.ops.ones((1, 3, 2)))
        assert keras.backend.backend() == "torch", keras.backend.backend()
        assert settings() == before, (settings(), before)
    """
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert torch.__version__.startswith("2.13.0")


if __name__ == "__main__":
    largest: dict[str, float] = {}
    for case in itertools.product(LAYERS, MERGE, PADDINGS, [True, False], [False, True]):
        largest[case[0]] = max(largest.get(case[0], 0.0), compare(*case))
    print("| Layer (float32, Bidirectional, every merge mode and padding) | Largest difference |")
    print("|---|---|")
    for kind, difference in largest.items():
        print(f"| {kind} | {difference:.1e} |")
