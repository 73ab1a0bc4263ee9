"""Module surgery against native modules.

Covers extract_forward_module, extract_reverse_module and make_bidirectional.

References are the native bidirectional modules themselves, modules whose Parameters are
assigned by hand, and a per-row loop that reverses sequences within their lengths.
"""

from __future__ import annotations

import io
import warnings
from functools import partial
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from birnn_utils import extract_forward_module, extract_reverse_module, make_bidirectional

from .reference import (
    KINDS,
    KINDS_AND_LAYERS,
    flip_rows,
    make_rnn,
    state_parts,
    unidirectional_copy,
)

INPUT, HIDDEN, PROJ = 3, 4, 2
STEPS, BATCH = 5, 4
# (lengths, enforce_sorted); None: full-length padded batches, run without packing.
BATCHES = {
    "padded": (None, False),
    "packed_sorted": ([5, 4, 2, 1], True),
    "packed_unsorted": ([2, 5, 1, 4], False),
}
ONEDNN = "LSTM with projections is not supported with oneDNN"
exact = partial(assert_close, rtol=0, atol=0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make(
    kind: str,
    *,
    input_size: int = INPUT,
    num_layers: int = 1,
    bidirectional: bool = True,
    dtype: torch.dtype = torch.float64,
    **kwargs: Any,
) -> nn.RNNBase:
    # Unseeded: modules made one after the other hold different weights.
    return make_rnn(
        kind,
        input_size=input_size,
        hidden_size=HIDDEN,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dtype=dtype,
        seed=None,
        **kwargs,
    )


def h_out(kind: str) -> int:
    return PROJ if kind == "lstm_proj" else HIDDEN


def inputs(batch_first: bool, steps: int = STEPS, batch: int = BATCH, size: int = INPUT) -> Tensor:
    shape = (batch, steps, size) if batch_first else (steps, batch, size)
    return torch.randn(shape, dtype=torch.float64)


def run(
    module: nn.RNNBase, x: Tensor, lengths: list[int] | None = None, enforce_sorted: bool = False
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The module's padded output and its ``(h_n,)`` or ``(h_n, c_n)``; packs when given lengths."""
    if lengths is None:
        output, state = module(x)
        return output, tuple(state_parts(state))
    steps = x.shape[1] if module.batch_first else x.shape[0]
    packed = pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=enforce_sorted
    )
    packed_output, state = module(packed)
    output, _ = pad_packed_sequence(
        packed_output, batch_first=module.batch_first, total_length=steps
    )
    return output, tuple(state_parts(state))


def snapshot(*modules: nn.Module) -> list[Any]:
    return [
        (
            module.training,
            [(n, p, p.data_ptr(), p.requires_grad) for n, p in module.named_parameters()],
            {k: v.clone() for k, v in module.state_dict().items()},
        )
        for module in modules
    ]


def assert_unchanged(before: list[Any], *modules: nn.Module) -> None:
    for (training, params, values), module in zip(before, modules, strict=True):
        assert module.training == training
        now = [(n, p, p.data_ptr(), p.requires_grad) for n, p in module.named_parameters()]
        assert [(n, ptr, grad) for n, _, ptr, grad in now] == [
            (n, ptr, grad) for n, _, ptr, grad in params
        ]
        assert all(a[1] is b[1] for a, b in zip(params, now, strict=True))
        state = module.state_dict()
        assert list(state) == list(values)
        for key, value in values.items():
            exact(state[key], value)


# The classic experiment ------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_hand_assignment_matches_extract_reverse_module(kind: str, bias: bool) -> None:
    bi = make(kind, bias=bias)
    by_hand = unidirectional_copy(bi, 0, "_reverse")
    x = inputs(batch_first=False)
    expected_output, expected_state = run(by_hand, x.flip(0))

    output, state = run(extract_reverse_module(bi), x.flip(0))

    exact(output, expected_output)
    for got, want in zip(state, expected_state, strict=True):
        exact(got, want)
    bi_output, bi_state = run(bi, x)
    assert_close(output.flip(0), bi_output[..., h_out(kind) :])
    for got, want in zip(state, bi_state, strict=True):
        assert_close(got[0], want[1])


# Rebuilding a native stack from its per-layer modules ------------------------------------------


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@KINDS_AND_LAYERS
def test_bidirectional_stack_rebuilt_from_extracted_modules(
    kind: str, num_layers: int, bias: bool, batch_first: bool, batch: str
) -> None:
    rnn = make(kind, num_layers=num_layers, bias=bias, batch_first=batch_first)
    lengths, enforce_sorted = BATCHES[batch]
    x = inputs(batch_first)
    full = lengths or [STEPS] * BATCH
    expected_output, expected_state = run(rnn, x, lengths, enforce_sorted)

    layer_input, rows = x, []
    for layer in range(num_layers):
        forward = extract_forward_module(rnn, layer=layer)
        reverse = extract_reverse_module(rnn, layer=layer)
        forward_output, forward_state = run(forward, layer_input, lengths, enforce_sorted)
        reversed_input = flip_rows(layer_input, full, batch_first)
        reverse_output, reverse_state = run(reverse, reversed_input, lengths, enforce_sorted)
        backward_output = flip_rows(reverse_output, full, batch_first)
        layer_input = torch.cat([forward_output, backward_output], dim=-1)
        rows += [forward_state, reverse_state]

    assert_close(layer_input, expected_output)
    for i, want in enumerate(expected_state):
        assert_close(torch.cat([row[i] for row in rows]), want)


@pytest.mark.parametrize("kind", KINDS)
def test_unidirectional_stack_rebuilt_from_forward_modules(kind: str) -> None:
    rnn = make(kind, num_layers=3, bidirectional=False)
    x = inputs(batch_first=False)
    lengths = [2, 5, 1, 4]
    expected_output, expected_state = run(rnn, x, lengths)

    layer_input, rows = x, []
    for layer in range(3):
        layer_input, state = run(extract_forward_module(rnn, layer=layer), layer_input, lengths)
        rows.append(state)

    assert_close(layer_input, expected_output)
    for i, want in enumerate(expected_state):
        assert_close(torch.cat([row[i] for row in rows]), want)


# make_bidirectional ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    extra_steps=st.integers(0, 2),
    batch_first=st.booleans(),
    bias=st.booleans(),
)
def test_make_bidirectional_runs_both_modules_in_one_call(
    kind: str, lengths: list[int], extra_steps: int, batch_first: bool, bias: bool
) -> None:
    forward = make(kind, bidirectional=False, bias=bias, batch_first=batch_first)
    reverse = make(kind, bidirectional=False, bias=bias, batch_first=batch_first)
    x = inputs(batch_first, steps=max(lengths) + extra_steps, batch=len(lengths))

    output, state = run(make_bidirectional(forward, reverse), x, lengths)

    forward_output, forward_state = run(forward, x, lengths)
    reverse_output, reverse_state = run(reverse, flip_rows(x, lengths, batch_first), lengths)
    backward_output = flip_rows(reverse_output, lengths, batch_first)
    assert_close(output, torch.cat([forward_output, backward_output], dim=-1))
    for got, f, r in zip(state, forward_state, reverse_state, strict=True):
        assert_close(got, torch.cat([f, r]))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_extract_then_make_bidirectional_round_trips(
    kind: str, bias: bool, batch_first: bool, batch: str
) -> None:
    rnn = make(kind, bias=bias, batch_first=batch_first)
    lengths, enforce_sorted = BATCHES[batch]
    x = inputs(batch_first)

    rebuilt = make_bidirectional(extract_forward_module(rnn), extract_reverse_module(rnn))

    assert type(rebuilt) is type(rnn)
    assert list(rebuilt.state_dict()) == list(rnn.state_dict())
    output, state = run(rebuilt, x, lengths, enforce_sorted)
    expected_output, expected_state = run(rnn, x, lengths, enforce_sorted)
    exact(output, expected_output)
    for got, want in zip(state, expected_state, strict=True):
        exact(got, want)


@pytest.mark.parametrize(("layer", "index"), [(0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0)])
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_a_layer_holds_that_layers_weights(kind: str, layer: int, index: int) -> None:
    rnn = make(kind, num_layers=3)
    rebuilt = make_bidirectional(
        extract_forward_module(rnn, layer=layer), extract_reverse_module(rnn, layer=layer)
    )
    source = rnn.state_dict()
    assert rebuilt.input_size == (INPUT if index == 0 else 2 * h_out(kind))
    for name, value in rebuilt.state_dict().items():
        exact(value, source[name.replace("_l0", f"_l{index}")])


# Settings, copies and shared Parameters ---------------------------------------------------------

SETTINGS = (
    "mode",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "proj_size",
)


def assert_like(module: nn.RNNBase, reference: nn.RNNBase) -> None:
    assert type(module) is type(reference)
    for field in SETTINGS:
        assert getattr(module, field) == getattr(reference, field), field
    assert getattr(module, "nonlinearity", None) == getattr(reference, "nonlinearity", None)
    assert [(n, p.shape, p.dtype, p.device) for n, p in module.named_parameters()] == [
        (n, p.shape, p.dtype, p.device) for n, p in reference.named_parameters()
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_modules_have_the_settings_of_native_modules(
    kind: str, bias: bool, batch_first: bool, dtype: torch.dtype
) -> None:
    common: dict[str, Any] = {"bias": bias, "batch_first": batch_first, "dtype": dtype}
    rnn = make(kind, num_layers=3, dropout=0.5, **common)
    for layer, input_size in [(0, INPUT), (1, 2 * h_out(kind)), (-1, 2 * h_out(kind))]:
        reference = make(kind, input_size=input_size, bidirectional=False, **common)
        assert_like(extract_forward_module(rnn, layer=layer), reference)
        assert_like(extract_reverse_module(rnn, layer=layer, share_parameters=True), reference)
    forward = make(kind, bidirectional=False, **common)
    assert_like(
        make_bidirectional(forward, make(kind, bidirectional=False, **common)), make(kind, **common)
    )
    uni = make(kind, num_layers=2, bidirectional=False, **common)
    assert_like(
        extract_forward_module(uni, layer=1),
        make(kind, input_size=h_out(kind), bidirectional=False, **common),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_device_is_kept(kind: str) -> None:
    rnn = make(kind, num_layers=2, device="meta")
    module = extract_reverse_module(rnn, layer=1)
    assert {p.device.type for p in module.parameters()} == {"meta"}
    both = make_bidirectional(extract_forward_module(rnn), extract_reverse_module(rnn))
    assert {p.device.type for p in both.parameters()} == {"meta"}


@pytest.mark.parametrize("kind", KINDS)
def test_copies_are_independent(kind: str) -> None:
    rnn = make(kind, num_layers=2)
    module = extract_reverse_module(rnn, layer=1)
    x = inputs(batch_first=False, size=2 * h_out(kind))
    rnn_values = {k: v.clone() for k, v in rnn.state_dict().items()}
    module_output, _ = run(module, x)
    storages = {p.untyped_storage().data_ptr() for p in rnn.parameters()}
    assert not storages & {p.untyped_storage().data_ptr() for p in module.parameters()}

    with torch.no_grad():
        for param in rnn.parameters():
            param.mul_(2)
    exact(run(module, x)[0], module_output)

    with torch.no_grad():
        for param in module.parameters():
            param.add_(1)
    for key, value in rnn.state_dict().items():
        exact(value, 2 * rnn_values[key])

    both = make_bidirectional(module, extract_forward_module(rnn, layer=1, share_parameters=True))
    with torch.no_grad():
        for param in both.parameters():
            param.zero_()
    for key, value in rnn.state_dict().items():
        exact(value, 2 * rnn_values[key])
    assert all(param.abs().sum() > 0 for param in module.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_copies_keep_requires_grad(kind: str) -> None:
    rnn = make(kind, num_layers=2)
    rnn.weight_hh_l1_reverse.requires_grad_(False)
    module = extract_reverse_module(rnn, layer=1)
    assert not module.weight_hh_l0.requires_grad
    assert module.weight_ih_l0.requires_grad
    forward = extract_forward_module(rnn, layer=1)
    forward.requires_grad_(False)
    both = make_bidirectional(forward, module)
    assert [n for n, p in both.named_parameters() if p.requires_grad] == [
        n for n, _ in both.named_parameters() if n.endswith("_reverse") and "weight_hh" not in n
    ]


@pytest.mark.parametrize("extract", [extract_forward_module, extract_reverse_module])
@pytest.mark.parametrize("kind", KINDS)
def test_shared_modules_hold_and_compute_with_the_source_parameters(
    kind: str, extract: Any
) -> None:
    rnn = make(kind, num_layers=2)
    suffix = "_reverse" if extract is extract_reverse_module else ""
    module = extract(rnn, layer=1, share_parameters=True)
    names = [n for n, _ in module.named_parameters()]
    assert names == list(make(kind, bidirectional=False).state_dict())
    in_rnn = {name: name.replace("_l0", f"_l1{suffix}") for name in names}
    for name in names:
        assert module.get_parameter(name) is rnn.get_parameter(in_rnn[name])
    x = inputs(batch_first=False, size=2 * h_out(kind))
    exact(run(module, x)[0], run(extract(rnn, layer=1), x)[0])

    # An in-place change to the source shows in the module: its flat weights are the shared ones.
    with torch.no_grad():
        rnn.get_parameter(f"weight_ih_l1{suffix}").mul_(-1)
    output, state = run(module, x)
    exact(output, run(extract(rnn, layer=1), x)[0])

    # Gradients reach the source's Parameters, and only the extracted direction's.
    copy = extract(rnn, layer=1)
    torch.autograd.backward([s.sum() for s in (output, *state)])
    copy_output, copy_state = run(copy, x)
    torch.autograd.backward([s.sum() for s in (copy_output, *copy_state)])
    for name in names:
        exact(rnn.get_parameter(in_rnn[name]).grad, copy.get_parameter(name).grad)
    assert {n for n, p in rnn.named_parameters() if p.grad is not None} == set(in_rnn.values())


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_no_warning_on_cpu(kind: str, share: bool) -> None:
    x = inputs(batch_first=True, size=2 * h_out(kind))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rnn = make(kind, num_layers=2, dropout=0.5, batch_first=True)
        forward = extract_forward_module(rnn, layer=1, share_parameters=share)
        reverse = extract_reverse_module(rnn, layer=1, share_parameters=share)
        for module in (forward, reverse, make_bidirectional(forward, reverse)):
            output, state = run(module, x, [5, 1, 3, 2])
            torch.autograd.backward([s.sum() for s in (output, *state)])
    assert [str(w.message) for w in caught if ONEDNN not in str(w.message)] == []
    assert forward.dropout == reverse.dropout == 0.0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_keys_are_the_standard_ones(kind: str, bias: bool) -> None:
    rnn = make(kind, num_layers=2, bias=bias)
    unidirectional = list(make(kind, bias=bias, bidirectional=False).state_dict())
    for extract in (extract_forward_module, extract_reverse_module):
        for share in (False, True):
            assert (
                list(extract(rnn, layer=1, share_parameters=share).state_dict()) == unidirectional
            )
    both = make_bidirectional(extract_forward_module(rnn), extract_reverse_module(rnn))
    assert list(both.state_dict()) == list(make(kind, bias=bias).state_dict())
    if kind == "lstm_proj" and bias:
        assert unidirectional == [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_hr_l0",
        ]


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_arguments_are_not_mutated(kind: str, share: bool) -> None:
    rnn = make(kind, num_layers=2).eval()
    before = snapshot(rnn)
    forward = extract_forward_module(rnn, layer=1, share_parameters=share)
    reverse = extract_reverse_module(rnn, layer=-1, share_parameters=share)
    run(reverse, inputs(batch_first=False, size=2 * h_out(kind)))
    assert_unchanged(before, rnn)
    pair = snapshot(forward, reverse)
    make_bidirectional(forward, reverse)
    assert_unchanged(pair, forward, reverse)
    assert_unchanged(before, rnn)


# Subclasses -------------------------------------------------------------------------------------


class TaggedGRU(nn.GRU):
    """Passes its arguments through: extracted modules are TaggedGRUs."""

    def tag(self) -> str:
        return "tagged"


class SquareLSTM(nn.LSTM):
    """Takes arguments of its own: extracted modules are native nn.LSTMs."""

    def __init__(self, size: int) -> None:
        super().__init__(size, size, num_layers=2, bidirectional=True, dtype=torch.float64)


class AlwaysBidirectionalRNN(nn.RNN):
    """Ignores `bidirectional`: extracted modules are native nn.RNNs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["bidirectional"] = True
        super().__init__(*args, **kwargs)


class NoDropoutGRU(nn.GRU):
    """Refuses any `dropout` argument with a ValueError: extracted modules are native nn.GRUs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "dropout" in kwargs:
            raise ValueError("NoDropoutGRU takes no dropout")
        super().__init__(*args, **kwargs)


@pytest.mark.parametrize(
    ("rnn", "expected_class"),
    [
        (
            TaggedGRU(INPUT, HIDDEN, num_layers=2, bidirectional=True, dtype=torch.float64),
            TaggedGRU,
        ),
        (SquareLSTM(INPUT), nn.LSTM),
        (AlwaysBidirectionalRNN(INPUT, HIDDEN, 2, "relu", dtype=torch.float64), nn.RNN),
        # #13 defect 8: only a TypeError from the constructor used to fall back.
        (NoDropoutGRU(INPUT, HIDDEN, 2, bidirectional=True, dtype=torch.float64), nn.GRU),
    ],
    ids=["passes-arguments", "own-arguments", "ignores-arguments", "raises-value-error"],
)
def test_subclasses(rnn: nn.RNNBase, expected_class: type[nn.RNNBase]) -> None:
    x = torch.randn(STEPS, 2, INPUT, dtype=torch.float64)
    _, state = run(rnn, x)
    forward = extract_forward_module(rnn)
    reverse = extract_reverse_module(rnn, share_parameters=True)
    assert type(forward) is type(reverse) is expected_class
    assert (forward.mode, forward.bidirectional) == (rnn.mode, False)
    forward_output, forward_state = run(forward, x)
    reverse_output, reverse_state = run(reverse, x.flip(0))
    both = make_bidirectional(forward, reverse)
    assert type(both) is expected_class

    layer_output, layer_state = run(both, x)
    assert_close(layer_output, torch.cat([forward_output, reverse_output.flip(0)], dim=-1))
    for got, want, f, r in zip(layer_state, state, forward_state, reverse_state, strict=True):
        assert_close(got, want[:2])
        assert_close(got, torch.cat([f, r]))


# Parametrised weights (#13 defects 5, 6) ------------------------------------------------------


def new_weight_norm(rnn: nn.RNNBase, name: str) -> None:
    nn.utils.parametrizations.weight_norm(rnn, name)


def new_spectral_norm(rnn: nn.RNNBase, name: str) -> None:
    nn.utils.parametrizations.spectral_norm(rnn, name)


def old_weight_norm(rnn: nn.RNNBase, name: str) -> None:
    with warnings.catch_warnings():
        # torch deprecates the hook-based form (a FutureWarning) in favour of parametrizations.
        warnings.simplefilter("ignore", FutureWarning)
        nn.utils.weight_norm(rnn, name)


def old_spectral_norm(rnn: nn.RNNBase, name: str) -> None:
    nn.utils.spectral_norm(rnn, name)


PARAMETRISATIONS = {
    "parametrizations.weight_norm": (new_weight_norm, "_WeightNorm"),
    "parametrizations.spectral_norm": (new_spectral_norm, "_SpectralNorm"),
    "old-style weight_norm": (old_weight_norm, "WeightNorm"),
    "old-style spectral_norm": (old_spectral_norm, "SpectralNorm"),
}


@pytest.mark.parametrize("parametrisation", PARAMETRISATIONS)
@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_extraction_uses_the_effective_weight_of_a_parametrised_direction(
    kind: str, parametrisation: str
) -> None:
    rnn = make(kind, num_layers=2)
    parametrise, _ = PARAMETRISATIONS[parametrisation]
    parametrise(rnn, "weight_hh_l1_reverse")
    before = {name: tensor.clone() for name, tensor in rnn.state_dict().items()}
    reverse = extract_reverse_module(rnn, layer=1)
    forward = extract_forward_module(rnn, layer=1)
    # Reading spectral_norm's weight in training mode would have run a power-iteration step.
    after = rnn.state_dict()
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        exact(after[name], tensor, msg=name)
    assert type(reverse) is type(forward) is type(make(kind))
    rnn.eval()  # spectral_norm computes the same weight at every call only in eval mode
    x = inputs(False)
    output, state = run(rnn, x)
    layer_input = run(
        make_bidirectional(extract_forward_module(rnn), extract_reverse_module(rnn)), x
    )[0]
    reverse_output, reverse_state = run(reverse, layer_input.flip(0))
    assert_close(reverse_output.flip(0), output[..., h_out(kind) :])
    forward_output, _ = run(forward, layer_input)
    assert_close(forward_output, output[..., : h_out(kind)])
    for mine, native in zip(reverse_state, state, strict=True):
        assert_close(mine[0], native[3])


@pytest.mark.parametrize("parametrisation", PARAMETRISATIONS)
def test_make_bidirectional_of_parametrised_modules(parametrisation: str) -> None:
    forward, reverse = (
        make("lstm_proj", bidirectional=False),
        make("lstm_proj", bidirectional=False),
    )
    parametrise, _ = PARAMETRISATIONS[parametrisation]
    parametrise(forward, "weight_hr_l0")
    parametrise(reverse, "weight_ih_l0")
    both = make_bidirectional(forward, reverse)
    assert type(both) is nn.LSTM
    forward.eval()  # spectral_norm: the weight make_bidirectional read
    reverse.eval()
    x = inputs(False)
    output, _ = run(both, x)
    assert_close(output[..., :PROJ], run(forward, x)[0])
    assert_close(output[..., PROJ:], run(reverse, x.flip(0))[0].flip(0))


@pytest.mark.parametrize("parametrisation", PARAMETRISATIONS)
def test_parametrised_weights_cannot_be_shared(parametrisation: str) -> None:
    rnn = make("gru")
    parametrise, kind = PARAMETRISATIONS[parametrisation]
    parametrise(rnn, "weight_ih_l0")
    with pytest.raises(
        ValueError,
        match=rf"extract_forward_module: `share_parameters=True` needs Parameters to share, but "
        rf"`weight_ih_l0` is computed by {kind}; share_parameters=False copies",
    ):
        extract_forward_module(rnn, share_parameters=True)
    # The other direction's Parameters are still shared.
    assert (
        extract_reverse_module(rnn, share_parameters=True).weight_ih_l0 is rnn.weight_ih_l0_reverse
    )


def test_a_weight_that_is_neither_a_parameter_nor_computed_is_named() -> None:
    rnn = make("gru")
    weight = rnn.get_parameter("weight_hh_l0").detach()
    del rnn.weight_hh_l0
    rnn.weight_hh_l0 = weight  # a plain Tensor attribute
    with pytest.raises(
        TypeError,
        match=r"extract_forward_module: `rnn.weight_hh_l0` must be a Parameter or computed by a "
        r"parametrisation, got Tensor",
    ):
        extract_forward_module(rnn)


def test_modules_extracted_next_to_a_parametrised_direction_are_plain_and_save() -> None:
    rnn = make("gru")
    new_weight_norm(rnn, "weight_ih_l0")
    assert type(rnn).__name__ == "ParametrizedGRU"
    for module in (
        extract_reverse_module(rnn),
        extract_forward_module(rnn),
        make_bidirectional(extract_forward_module(rnn), extract_reverse_module(rnn)),
    ):
        assert type(module) is nn.GRU
        buffer = io.BytesIO()
        torch.save(module, buffer)  # torch refuses to pickle a Parametrized* class
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        exact(loaded.weight_hh_l0, module.weight_hh_l0)


# The global RNG (#13 defect 9) ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_surgery_leaves_the_global_rng_alone(kind: str) -> None:
    rnn = make(kind, num_layers=2)
    subclass = NoDropoutGRU(INPUT, HIDDEN, bidirectional=True)  # built by the fallback
    state = torch.random.get_rng_state()
    forward = extract_forward_module(rnn, layer=1)
    reverse = extract_reverse_module(rnn, layer=1, share_parameters=True)
    make_bidirectional(forward, reverse)
    extract_forward_module(subclass)
    assert torch.equal(torch.random.get_rng_state(), state)


# Errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("extract", [extract_forward_module, extract_reverse_module])
@pytest.mark.parametrize("not_an_rnn", [nn.Linear(3, 4), nn.LSTMCell(3, 4), torch.zeros(3)])
def test_extract_rejects_modules_that_are_not_rnns(extract: Any, not_an_rnn: object) -> None:
    name = extract.__name__
    got = type(not_an_rnn).__name__
    with pytest.raises(
        TypeError,
        match=rf"^{name}: `rnn` must be an nn\.RNN, nn\.GRU or nn\.LSTM \(an nn\.RNNBase\), "
        rf"got {got}$",
    ):
        extract(not_an_rnn)


def test_extract_reverse_module_needs_a_bidirectional_rnn() -> None:
    with pytest.raises(
        ValueError,
        match=r"^extract_reverse_module: `rnn` must be bidirectional to have a reverse "
        r"direction, got a unidirectional GRU; its only direction is the forward one "
        r"\(extract_forward_module\)$",
    ):
        extract_reverse_module(nn.GRU(3, 4, num_layers=2))


@pytest.mark.parametrize("extract", [extract_forward_module, extract_reverse_module])
@pytest.mark.parametrize("layer", [3, -4, 10])
def test_extract_rejects_a_layer_out_of_range(extract: Any, layer: int) -> None:
    rnn = nn.LSTM(3, 4, num_layers=3, bidirectional=True)
    with pytest.raises(
        IndexError,
        match=rf"^{extract.__name__}: `layer` must be in \[-3, 2\] for 3 layer\(s\), "
        rf"got {layer}$",
    ):
        extract(rnn, layer=layer)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": True}, "`layer` must be an int, got bool"),
        ({"layer": 1.0}, "`layer` must be an int, got float"),
        ({"share_parameters": 1}, "`share_parameters` must be a bool, got int"),
    ],
)
@pytest.mark.parametrize("extract", [extract_forward_module, extract_reverse_module])
def test_extract_rejects_arguments_of_the_wrong_type(
    extract: Any, kwargs: dict[str, Any], message: str
) -> None:
    rnn = nn.RNN(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(TypeError, match=rf"^{extract.__name__}: {message}$"):
        extract(rnn, **kwargs)


def test_make_bidirectional_rejects_modules_that_are_not_rnns() -> None:
    with pytest.raises(
        TypeError,
        match=r"^make_bidirectional: `reverse` must be an nn\.RNN, nn\.GRU or nn\.LSTM "
        r"\(an nn\.RNNBase\), got GRUCell$",
    ):
        make_bidirectional(nn.GRU(3, 4), nn.GRUCell(3, 4))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("forward", "reverse", "message"),
    [
        (
            nn.GRU(3, 4, bidirectional=True),
            nn.GRU(3, 4),
            "`forward`.*bidirectional=True, num_layers=1",
        ),
        (nn.GRU(3, 4), nn.GRU(3, 4, num_layers=2), "`reverse`.*bidirectional=False, num_layers=2"),
    ],
)
def test_make_bidirectional_needs_unidirectional_single_layer_modules(
    forward: nn.RNNBase, reverse: nn.RNNBase, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^make_bidirectional: {message}$") as info:
        make_bidirectional(forward, reverse)
    assert "must be unidirectional with one layer, got" in str(info.value)


@pytest.mark.parametrize(
    ("forward", "reverse", "message"),
    [
        (nn.GRU(3, 4), nn.LSTM(3, 4), "class, got GRU and LSTM"),
        (nn.RNN(3, 4), nn.RNN(3, 4, nonlinearity="relu"), "mode, got 'RNN_TANH' and 'RNN_RELU'"),
        (nn.LSTM(3, 4), nn.LSTM(2, 4), "input_size, got 3 and 2"),
        (nn.LSTM(3, 4), nn.LSTM(3, 5), "hidden_size, got 4 and 5"),
        (nn.LSTM(3, 4), nn.LSTM(3, 4, proj_size=2), "proj_size, got 0 and 2"),
        (nn.GRU(3, 4), nn.GRU(3, 4, bias=False), "bias, got True and False"),
        (nn.GRU(3, 4), nn.GRU(3, 4, batch_first=True), "batch_first, got False and True"),
        (
            nn.GRU(3, 4),
            nn.GRU(3, 4, dtype=torch.float64),
            "dtype, got torch.float32 and torch.float64",
        ),
        (
            nn.GRU(3, 4),
            nn.GRU(3, 4, device="meta"),
            r"device, got device\(type='cpu'\) and device\(type='meta'\)",
        ),
    ],
)
def test_make_bidirectional_names_the_setting_that_differs(
    forward: nn.RNNBase, reverse: nn.RNNBase, message: str
) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^make_bidirectional: `forward` and `reverse` must have the same {message}$",
    ):
        make_bidirectional(forward, reverse)
