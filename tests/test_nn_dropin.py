"""birnn_utils.nn as a drop-in: the torch tools applied to torch.nn's RNNs work the same on ours.

Issue 18: every weight is read where it is registered, at call time, so ``torch.func``,
parametrizations, ``prune``, the hook-based ``weight_norm``/``spectral_norm`` and attribute
changes act on ours as on ``torch.nn``'s modules; and ours have ``torch.nn.RNNBase``'s public
methods and errors. Each test applies the same operation to a ``torch.nn`` module and to ours,
holding equal weights (float64), and compares values and gradients: with ``lengths``, against
pack -> the ``torch.nn`` module -> pad.
"""

from __future__ import annotations

import contextlib
import copy
import re
import warnings
from collections.abc import Callable
from typing import Any, cast

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils import parametrizations, parametrize, prune
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

import birnn_utils.nn as bnn
from birnn_utils import Bidirectional, BiRNNEncoder

from .reference import KINDS, make_rnn, state_parts
from .test_nn import weighted_sum

DTYPE = torch.float64
OURS: dict[type[nn.RNNBase], Any] = {nn.RNN: bnn.RNN, nn.GRU: bnn.GRU, nn.LSTM: bnn.LSTM}
LENGTHS = [5, 2, 4]  # unsorted, no 0: the reference packs every row as it is


def pair(kind: str, **kwargs: Any) -> tuple[nn.RNNBase, Any]:
    """A ``torch.nn`` module and one of ours with equal (not shared) weights, float64."""
    native = make_rnn(kind, num_layers=2, bidirectional=True, **kwargs)
    return native, OURS[type(native)].from_module(copy.deepcopy(native))


def inputs(module: Any, batch: int = 3, steps: int = 5) -> Tensor:
    gen = torch.Generator().manual_seed(7)
    shape = (batch, steps, 3) if module.batch_first else (steps, batch, 3)
    return torch.randn(shape, generator=gen, dtype=DTYPE)


def flat(result: Any) -> list[Tensor]:
    output, state = result
    return [output, *state_parts(state)]


def call(
    module: nn.Module, x: Tensor, lengths: list[int] | None, params: dict[str, Tensor] | None
) -> list[Tensor]:
    """``module``'s outputs and states, with ``params`` if given.

    With ``lengths``, a ``torch.nn`` module runs on the packed batch, its output padded back.
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        if params is None:
            return module(*args, **kwargs)
        return functional_call(module, params, args, kwargs)

    if lengths is None:
        return flat(run(x))
    if not isinstance(module, nn.RNNBase):
        return flat(run(x, lengths=lengths))
    batch_first = module.batch_first
    packed = pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
    )
    output, state = run(packed)
    steps = x.shape[1 if batch_first else 0]
    padded, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=steps)
    return [padded, *state_parts(state)]


def values_and_grads(module: nn.Module, x: Tensor, lengths: list[int] | None) -> dict[str, Any]:
    """Outputs, and the gradient of every trainable parameter by name."""
    values = call(module, x, lengths, None)
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(weighted_sum(values), [p for _, p in named], allow_unused=True)
    return {
        "values": values,
        **{
            n: torch.zeros_like(p) if g is None else g
            for (n, p), g in zip(named, grads, strict=True)
        },
    }


def assert_same(native: nn.Module, ours: nn.Module, x: Tensor, lengths: list[int] | None) -> None:
    got, expected = values_and_grads(ours, x, lengths), values_and_grads(native, x, lengths)
    assert list(got) == list(expected)
    assert_close(got, expected)


def random_weights(module: nn.Module, seed: int = 3) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn(p.shape, generator=gen, dtype=p.dtype)
        for name, p in module.named_parameters()
    }


BOTH_WAYS = pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["padded", "lengths"])


# --- torch.func -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
@BOTH_WAYS
def test_functional_call_runs_the_given_weights(kind: str, lengths: list[int] | None) -> None:
    native, ours = pair(kind)
    x = inputs(ours)
    weights = random_weights(native)
    got = call(ours, x, lengths, weights)
    assert_close(got, call(native, x, lengths, weights))
    assert not torch.equal(got[0], call(ours, x, lengths, None)[0])


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_func_grad_equals_torchs(kind: str) -> None:
    native, ours = pair(kind)
    x = inputs(ours)
    weights = random_weights(native)

    def loss(module: nn.Module) -> Callable[[dict[str, Tensor]], Tensor]:
        return lambda params: weighted_sum(call(module, x, None, params))

    got = torch.func.grad(loss(ours))(weights)
    assert all(bool(g.ne(0).any()) for g in got.values())
    assert_close(got, torch.func.grad(loss(native))(weights))


def test_func_grad_with_lengths_is_refused_as_packing_is() -> None:
    """Packing and torch's packed kernels refuse torch.func's tensors: for torch.nn's too."""
    native, ours = pair("gru")
    x = inputs(ours)
    weights = random_weights(native)
    for module in (native, ours):
        with pytest.raises(RuntimeError, match="Cannot access data pointer of Tensor"):
            torch.func.grad(lambda p, m=module: weighted_sum(call(m, x, LENGTHS, p)))(weights)


@BOTH_WAYS
def test_vmap_over_weight_sets_is_refused_as_by_torch(lengths: list[int] | None) -> None:
    """No batching rule for torch's RNN kernels: both refuse, never one result for all."""
    native, ours = pair("lstm")
    x = inputs(ours)
    sets = {n: torch.stack([w, 2 * w]) for n, w in random_weights(native).items()}
    for module in (native, ours):
        with pytest.raises(RuntimeError, match=r"Batching rule not implemented for aten::lstm"):
            torch.func.vmap(lambda p, m=module: call(m, x, lengths, p)[0])(sets)


def test_functional_call_on_an_encoder_of_a_torch_lstm() -> None:
    """MAML-style: the encoder's loss and gradients with weights given to functional_call."""
    torch.manual_seed(0)
    encoder = BiRNNEncoder(nn.LSTM(3, 4, bidirectional=True, dtype=DTYPE))
    weights = {n: w.requires_grad_() for n, w in random_weights(encoder).items()}
    loaded = copy.deepcopy(encoder)
    loaded.load_state_dict(weights)
    x = inputs(encoder.rnn)
    got = functional_call(encoder, weights, (x,), {"lengths": LENGTHS}).outputs
    expected = loaded(x, lengths=LENGTHS).outputs
    assert_close(got, expected)
    assert not torch.equal(got, encoder(x, lengths=LENGTHS).outputs)
    grads = torch.autograd.grad(weighted_sum([got]), list(weights.values()))
    assert all(bool(g.ne(0).any()) for g in grads)
    assert_close(grads, torch.autograd.grad(weighted_sum([expected]), list(loaded.parameters())))


# --- parametrizations, prune, hooks ------------------------------------------------------------


class Mask(nn.Module):
    """A fixed 0/1 mask on a weight: the AWD-LSTM weight drop with its draw held still."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.mask = nn.Buffer((torch.rand(shape, generator=gen) > 0.3).to(DTYPE))

    def forward(self, weight: Tensor) -> Tensor:
        return weight * self.mask


def with_mask(module: nn.Module) -> None:
    weight = module.get_parameter("weight_hh_l0")
    parametrize.register_parametrization(module, "weight_hh_l0", Mask(weight.shape))


def with_weight_norm(module: nn.Module) -> None:
    parametrizations.weight_norm(module, "weight_hh_l0")


def with_orthogonal(module: nn.Module) -> None:
    torch.manual_seed(11)
    parametrizations.orthogonal(module, "weight_hh_l1_reverse")


def with_spectral_norm(module: nn.Module) -> None:
    torch.manual_seed(11)
    parametrizations.spectral_norm(module, "weight_ih_l1")


PARAMETRIZATIONS = [with_mask, with_weight_norm, with_orthogonal, with_spectral_norm]


@pytest.mark.parametrize("apply", PARAMETRIZATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm"])
@BOTH_WAYS
def test_parametrizations_act_as_on_torch(
    apply: Callable[[nn.Module], None], kind: str, lengths: list[int] | None
) -> None:
    native, ours = pair(kind)
    for module in (native, ours):
        apply(module)
        with torch.no_grad():  # weight_norm starts as the identity: move g off it
            for name, param in module.named_parameters():
                if name.endswith("original0"):
                    param.mul_(1.5)
    x = inputs(ours)
    # spectral_norm's power iteration runs on each evaluation of the weight, which torch.nn's
    # forward does twice: cached, each module evaluates it once per call.
    with parametrize.cached() if apply is with_spectral_norm else contextlib.nullcontext():
        assert_same(native, ours, x, lengths)
    assert_close(dict(ours.named_buffers()), dict(native.named_buffers()))
    # The parametrization is used: the plain module gives other numbers.
    plain = pair(kind)[1]
    assert not torch.equal(plain(x)[0], ours(x)[0])


def test_weight_norm_g_and_v_get_gradients() -> None:
    native, ours = pair("lstm")
    with_weight_norm(native)
    with_weight_norm(ours)
    x = inputs(ours)
    for lengths in (None, LENGTHS):
        got = values_and_grads(ours, x, lengths)
        for name in ("original0", "original1"):
            assert bool(got[f"parametrizations.weight_hh_l0.{name}"].ne(0).any())


def pruned(amount: float) -> Callable[[nn.Module], None]:
    def apply(module: nn.Module) -> None:
        prune.l1_unstructured(module, "weight_hh_l0", amount=amount)  # type: ignore[no-untyped-call]
        torch.manual_seed(2)
        prune.random_unstructured(module, "weight_ih_l1", amount=amount)  # type: ignore[no-untyped-call]
        prune.ln_structured(module, "weight_ih_l0_reverse", amount=amount, n=2, dim=0)  # type: ignore[no-untyped-call]

    return apply


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
@BOTH_WAYS
def test_prune_then_remove_acts_as_on_torch(kind: str, lengths: list[int] | None) -> None:
    native, ours = pair(kind)
    for module in (native, ours):
        pruned(0.4)(module)
    x = inputs(ours)
    assert_same(native, ours, x, lengths)
    assert bool(ours.weight_hh_l0.eq(0).any())
    for module in (native, ours):
        for name in ("weight_hh_l0", "weight_ih_l1", "weight_ih_l0_reverse"):
            prune.remove(module, name)  # type: ignore[no-untyped-call]
    assert_same(native, ours, x, lengths)
    assert list(ours.state_dict()) == list(native.state_dict())


def hook_weight_norm(module: nn.Module) -> None:
    with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated"):
        torch.nn.utils.weight_norm(module, "weight_hh_l0")


def hook_spectral_norm(module: nn.Module) -> None:
    torch.manual_seed(11)
    torch.nn.utils.spectral_norm(module, "weight_ih_l0")


@pytest.mark.parametrize("apply", [hook_weight_norm, hook_spectral_norm], ids=lambda f: f.__name__)
@BOTH_WAYS
def test_hook_based_weight_norm_and_spectral_norm(
    apply: Callable[[nn.Module], None], lengths: list[int] | None
) -> None:
    native, ours = pair("lstm")
    for module in (native, ours):
        apply(module)
    x = inputs(ours)
    # spectral_norm's power iteration updates its buffers on each training call: twice each.
    assert_same(native, ours, x, lengths)
    assert_same(native, ours, x, lengths)
    assert_close(dict(ours.named_buffers()), dict(native.named_buffers()))


# --- attribute changes -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm"])
@BOTH_WAYS
def test_dropout_set_after_construction_is_used(kind: str, lengths: list[int] | None) -> None:
    native, ours = pair(kind)
    x = inputs(ours)
    results = []
    for module in (ours, native):
        module.dropout = 0.5
        torch.manual_seed(4)
        results.append(call(module, x, lengths, None))
    assert_close(results[0], results[1])
    torch.manual_seed(4)
    ours.dropout = 0.0
    assert not torch.equal(call(ours, x, lengths, None)[0], results[0][0])


@BOTH_WAYS
def test_batch_first_set_after_construction_is_used(lengths: list[int] | None) -> None:
    native, ours = pair("gru")
    for module in (native, ours):
        module.batch_first = True
    x = inputs(ours)
    assert x.shape == (3, 5, 3)
    assert_same(native, ours, x, lengths)


def test_a_deleted_weight_stays_deleted_after_to() -> None:
    native, ours = pair("lstm")
    for module in (native, ours):
        del module.weight_hh_l0
        module.to(torch.float32)
        module.to(DTYPE)
    assert "weight_hh_l0" not in dict(ours.named_parameters())
    assert not hasattr(ours, "weight_hh_l0")
    assert list(ours.state_dict()) == list(native.state_dict())


@BOTH_WAYS
def test_the_old_weight_drop_replaces_a_parameter_by_a_tensor(lengths: list[int] | None) -> None:
    """Salesforce's AWD-LSTM WeightDrop: delete the Parameter, set a computed Tensor per call."""
    native, ours = pair("lstm")
    mask = Mask(native.get_parameter("weight_hh_l0").shape).mask
    modules: list[Any] = [ours, native]
    for module in modules:
        raw = module.weight_hh_l0
        del module.weight_hh_l0
        module.register_parameter("weight_hh_l0_raw", nn.Parameter(raw.detach().clone()))
    x = inputs(ours)
    results = []
    for module in modules:
        module.weight_hh_l0 = module.weight_hh_l0_raw * mask
        results.append(values_and_grads(module, x, lengths))
    assert_close(results[0], results[1])


# --- construction and torch.nn.RNNBase's methods ------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"proj_size": 2},
        {"proj_size": 0},
        {"dropout": 1.5},
        {"dropout": True},
        {"dropout": "0.1"},
        {"bias": 1},
        {"batch_first": None},
        {"input_size": 3.0},
        {"input_size": 0},
        {"hidden_size": 0},
        {"num_layers": 0},
        {"nonlinearity": "sigmoid"},
        {"unknown": 1},
    ],
    ids=str,
)
@pytest.mark.parametrize("cls", [bnn.RNN, bnn.GRU, bnn.LSTM], ids=lambda c: c.__name__)
def test_bad_arguments_raise_torchs_errors(cls: Any, kwargs: dict[str, Any]) -> None:
    native_cls = getattr(nn, cls.__name__)
    arguments = {"input_size": 3, "hidden_size": 4, "num_layers": 2, **kwargs}
    if cls is not bnn.RNN and "nonlinearity" in kwargs:
        arguments.pop("nonlinearity")
        arguments["proj_size"] = 5  # LSTM: not below hidden_size
    try:
        native_cls(**arguments)
    except (TypeError, ValueError) as error:
        expected = error
    else:
        cls(**arguments)  # torch accepts it (an LSTM's proj_size): so do we
        return
    with pytest.raises(type(expected)) as raised:
        cls(**arguments)
    # An unknown keyword: torch's classes take **kwargs for RNNBase, which names itself.
    unqualified = re.compile(r"^\w+\.__init__\(\)")
    assert unqualified.sub("", str(raised.value)) == unqualified.sub("", str(expected))


def test_torchs_warning_for_dropout_on_one_layer_comes_once() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bnn.GRU(3, 4, dropout=0.5)
    assert [str(w.message)[:44] for w in caught] == ["dropout option adds dropout after all but la"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_reset_parameters_draws_what_torch_draws(kind: str) -> None:
    native, ours = pair(kind)
    for module in (native, ours):
        torch.manual_seed(9)
        module.reset_parameters()
    assert_close(dict(ours.named_parameters()), dict(native.named_parameters()), rtol=0, atol=0)


def test_bidirectional_builds_the_backward_copy_by_reset_parameters() -> None:
    torch.manual_seed(0)
    gru = bnn.GRU(3, 4, dtype=DTYPE)
    bidirectional = Bidirectional(gru)
    backward = bidirectional.backward_module
    assert not torch.equal(
        backward.get_parameter("weight_hh_l0"), gru.get_parameter("weight_hh_l0")
    )
    assert bidirectional(inputs(gru), lengths=LENGTHS)[0].shape == (5, 3, 8)


@pytest.mark.parametrize("kind", list(KINDS))
def test_all_weights_and_flatten_parameters(kind: str) -> None:
    native, ours = pair(kind)
    assert [[w.shape for w in ws] for ws in ours.all_weights] == [
        [w.shape for w in ws] for ws in native.all_weights
    ]
    assert_close(ours.all_weights, native.all_weights, rtol=0, atol=0)
    before = [w.clone() for w in ours.parameters()]
    ours.flatten_parameters()
    assert_close(list(ours.parameters()), before, rtol=0, atol=0)
    with_mask(ours)
    assert bool(ours.all_weights[0][1].eq(0).any())  # the parametrized weight, as it is used


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "lstm_proj"])
def test_the_check_methods_behave_as_torchs(kind: str) -> None:
    native, ours = pair(kind, batch_first=True)
    x = inputs(ours)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    for input, sizes in ((x, None), (packed.data, packed.batch_sizes)):
        assert ours.get_expected_hidden_size(input, sizes) == native.get_expected_hidden_size(
            input, sizes
        )
        if kind.startswith("lstm"):
            assert ours.get_expected_cell_size(input, sizes) == cast(
                nn.LSTM, native
            ).get_expected_cell_size(input, sizes)
    good = initial_state(native, 3)
    wrong = tuple(s[:, :2] for s in state_parts(good))
    bad_calls: list[tuple[str, tuple[Any, ...]]] = [
        ("check_input", (x.float(), None)),
        ("check_input", (x[0], None)),
        ("check_input", (x[..., :2], None)),
        ("check_input", (packed.data, None)),
        ("check_hidden_size", (wrong[0], (4, 3, 4))),
        ("check_hidden_size", (wrong[0], (4, 3, 4), "bad {} {}")),
        ("check_forward_args", (x, wrong if len(wrong) == 2 else wrong[0], None)),
        ("check_forward_args", (x[..., :1], good, None)),
    ]
    for name, args in bad_calls:
        with pytest.raises((RuntimeError, ValueError)) as expected:
            getattr(native, name)(*args)
        with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
            getattr(ours, name)(*args)
    ours.check_forward_args(x, good, None)
    ours.check_input(packed.data, packed.batch_sizes)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours.check_input(x.float(), None)
    permutation = torch.tensor([2, 0, 1])
    assert_close(ours.permute_hidden(good, permutation), native.permute_hidden(good, permutation))
    assert ours.permute_hidden(good, None) is good


def initial_state(native: nn.RNNBase, batch: int) -> Any:
    rows = native.num_layers * (2 if native.bidirectional else 1)
    gen = torch.Generator().manual_seed(batch)
    h = torch.randn(rows, batch, native.proj_size or native.hidden_size, generator=gen)
    if isinstance(native, nn.LSTM):
        return h.to(DTYPE), torch.randn(rows, batch, native.hidden_size, generator=gen).to(DTYPE)
    return h.to(DTYPE)


def test_from_module_refuses_a_module_whose_weight_is_not_a_parameter() -> None:
    lstm = nn.LSTM(3, 4, dtype=DTYPE)
    with_mask(lstm)
    with pytest.raises(ValueError, match=r"LSTM.from_module: `module`'s weight_hh_l0 is not one"):
        bnn.LSTM.from_module(lstm)


def test_a_pruned_encoder_module() -> None:
    """BiRNNEncoder holds the birnn_utils.nn counterpart: prune acts on it as on torch.nn's."""
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, bidirectional=True, dtype=DTYPE)
    encoder = BiRNNEncoder(copy.deepcopy(lstm))
    prune.l1_unstructured(encoder.rnn, "weight_hh_l0", amount=0.5)  # type: ignore[no-untyped-call]
    prune.l1_unstructured(lstm, "weight_hh_l0", amount=0.5)  # type: ignore[no-untyped-call]
    x = inputs(encoder.rnn)
    got = encoder(x, lengths=LENGTHS).outputs
    expected = call(lstm, x, LENGTHS, None)[0]
    assert_close(got, expected)


# --- calls as torch.nn's -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_bad_calls_raise_torchs_errors(kind: str) -> None:
    native, ours = pair(kind)
    x = inputs(ours)
    state = initial_state(native, 3)
    parts = state_parts(state)

    def like(parts: list[Tensor]) -> Any:
        return tuple(parts) if len(parts) == 2 else parts[0]

    bad_calls: list[tuple[Any, ...]] = [
        (x[None],),
        (x[0, 0],),
        (x, like([p[0] for p in parts])),
        (x[:, 0], state),
        (x, like([p[:, :2] for p in parts])),
        (x[..., :2],),
        (x.float(),),
    ]
    for args in bad_calls:
        with pytest.raises((RuntimeError, ValueError)) as expected:
            native(*args)
        with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
            ours(*args)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_and_packed_input_with_hx(kind: str, batch_first: bool) -> None:
    native, ours = pair(kind, batch_first=batch_first)
    x = inputs(ours)
    state = initial_state(native, 3)
    unbatched = x[0] if batch_first else x[:, 0]
    one = tuple(p[:, 0] for p in state_parts(state))
    packed = pack_padded_sequence(
        x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False
    )
    for args in [(unbatched, one if len(one) == 2 else one[0]), (packed, state)]:
        got, expected = ours(*args), native(*args)
        assert type(got[0]) is type(expected[0])
        assert_close(got, expected, rtol=0, atol=0)


class Tagger(nn.Module):
    """A model holding a recurrent module, as torch.fx traces it."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(8, 2, dtype=DTYPE)

    def forward(self, x: Tensor) -> Tensor:
        output, (h_n, _) = self.rnn(x)
        return self.head(output) + h_n[-1].sum()  # type: ignore[no-any-return]


def test_fx_symbolic_trace_of_a_model_holding_one() -> None:
    native = make_rnn("lstm", bidirectional=True)
    ours = bnn.LSTM.from_module(native)  # type: ignore[arg-type]
    reference = Tagger(native)
    model = Tagger(ours)
    model.head = reference.head
    traced = torch.fx.symbolic_trace(model)
    x = inputs(ours)
    assert_close(traced(x), torch.fx.symbolic_trace(reference)(x))
    assert_close(traced(x), reference(x))


def test_quantize_dynamic_leaves_ours_in_float() -> None:
    """What docs/portability.md says: quantize_dynamic swaps torch.nn's classes only."""
    model = nn.Sequential(bnn.LSTM(3, 4))
    with pytest.warns(DeprecationWarning, match="torch.ao.quantization is deprecated"):
        quantized = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {nn.LSTM, bnn.LSTM}, dtype=torch.qint8
        )
    assert type(quantized[0]) is bnn.LSTM
    assert quantized[0].weight_ih_l0.dtype == torch.float32


def test_conversions_as_any_module() -> None:
    torch.manual_seed(0)
    native = nn.GRU(3, 4, num_layers=2)
    ours = bnn.GRU.from_module(copy.deepcopy(native))
    for module in (native, ours):
        module.double()
    assert_same(native, ours, inputs(ours), None)
    replica = copy.deepcopy(ours)
    assert list(replica.state_dict()) == list(native.state_dict())
    assert all(a is not b for a, b in zip(replica.parameters(), ours.parameters(), strict=True))


# --- compiled -----------------------------------------------------------------------------------


def compiled_equals_eager(fn: Callable[..., Any], *args: Any) -> None:
    """``fn`` under compile(fullgraph=True, backend="aot_eager"): eager's values and grads."""
    torch.compiler.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    results = []
    for run in (compiled, fn):
        leaves = [a.detach().clone().requires_grad_() for a in args]
        values = [t for part in run(*leaves) for t in state_parts(part)]
        results.append([*values, *torch.autograd.grad(weighted_sum(values), leaves)])
    assert_close(results[0], results[1])


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
@pytest.mark.parametrize("with_hx", [False, True])
def test_unbatched_input_compiles(kind: str, with_hx: bool) -> None:
    native, ours = pair(kind, batch_first=True)
    x = inputs(ours)[0]
    one = [p[:, 0] for p in state_parts(initial_state(native, 3))]

    def run(x: Tensor, *hx: Tensor) -> Any:
        state = None if not hx else hx[0] if len(hx) == 1 else (hx[0], hx[1])
        return ours(x, state)

    compiled_equals_eager(run, x, *(one if with_hx else []))
    assert_close(ours(x), native(x))


@pytest.mark.parametrize("lengths", [None, torch.tensor(LENGTHS)], ids=["padded", "lengths"])
def test_a_parametrized_module_compiles(lengths: Tensor | None) -> None:
    ours = pair("lstm")[1]
    with_mask(ours)
    parametrizations.weight_norm(ours, "weight_ih_l0")
    x = inputs(ours)
    g = ours.parametrizations.weight_ih_l0.original0

    def run(x: Tensor, g: Tensor) -> Any:
        name = "parametrizations.weight_ih_l0.original0"
        return functional_call(ours, {name: g}, (x,), {"lengths": lengths})

    compiled_equals_eager(run, x, 1.5 * g)


def test_functional_call_compiles() -> None:
    native, ours = pair("gru")
    x = inputs(ours)
    weight = random_weights(native)["weight_hh_l1"]
    compiled_equals_eager(lambda x, w: functional_call(ours, {"weight_hh_l1": w}, (x,)), x, weight)
    assert_close(
        functional_call(ours, {"weight_hh_l1": weight}, (x,)),
        functional_call(native, {"weight_hh_l1": weight}, (x,)),
    )


# --- the AWD-LSTM recipe: weight drop as a parametrization --------------------------------------


class WeightDrop(nn.Module):
    """DropConnect: a new dropout mask on the weight at each training call."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, weight: Tensor) -> Tensor:
        return nn.functional.dropout(weight, self.p, self.training)


def weight_dropped_lstm() -> tuple[bnn.LSTM, nn.Linear, Tensor]:
    torch.manual_seed(0)
    lstm = bnn.LSTM(3, 4, batch_first=True)
    parametrize.register_parametrization(lstm, "weight_hh_l0", WeightDrop(0.5))
    return lstm, nn.Linear(4, 1), lstm.get_parameter("parametrizations.weight_hh_l0.original")


@pytest.mark.parametrize("lengths", [None, [4, 1, 3]], ids=["padded", "lengths"])
def test_weight_drop_runs_the_mask_just_drawn(lengths: list[int] | None) -> None:
    lstm, _, raw = weight_dropped_lstm()
    x = torch.randn(3, 4, 3)
    native = nn.LSTM(3, 4, batch_first=True)
    with parametrize.cached():
        weight = lstm.weight_hh_l0
        output = call(lstm, x, lengths, None)[0]
        with torch.no_grad():
            for name in native._flat_weights_names:
                native.get_parameter(name).copy_(getattr(lstm, name))
    assert_close(output, call(native, x, lengths, None)[0])
    (grad,) = torch.autograd.grad(weighted_sum([output]), [raw])
    assert bool(grad[weight == 0].eq(0).all())
    assert bool(grad[weight != 0].ne(0).any())
    lstm.eval()
    assert torch.equal(cast(Tensor, lstm.weight_hh_l0), raw)


# Inductor's CPU code path calls torch.jit.script_method, which warns in torch 2.13.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_weight_drop_trains_under_inductor_with_lengths() -> None:
    lstm, head, raw = weight_dropped_lstm()
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.05)
    x, y, lengths = torch.randn(3, 4, 3), torch.randn(3, 1), torch.tensor([4, 1, 3])

    def step(x: Tensor, lengths: Tensor, y: Tensor) -> Tensor:
        _, (h_n, _) = lstm(x, lengths=lengths)
        return nn.functional.mse_loss(head(h_n[-1]), y)

    torch.compiler.reset()
    compiled = torch.compile(step, fullgraph=True)
    losses, grads = [], []
    for _ in range(20):
        optimizer.zero_grad()
        loss = compiled(x, lengths, y)
        loss.backward()  # type: ignore[no-untyped-call]
        assert raw.grad is not None
        grads.append(raw.grad.clone())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2
    # A new mask each step: some entries of the raw weight get no gradient, others differ.
    assert not torch.equal(grads[0].eq(0), grads[1].eq(0))


def test_on_each_device_as_torch(device: torch.device) -> None:
    """On CUDA the weights share one cuDNN buffer, and changed ones are packed again.

    As torch.nn does; cuDNN's warning about weights apart would be an error here.
    """
    native, ours = pair("lstm")
    for module in (native, ours):
        module.to(device)
    storages = {p.untyped_storage().data_ptr() for p in ours.parameters()}
    assert len(storages) == (1 if device.type == "cuda" else len(list(ours.parameters())))
    x = inputs(ours).to(device)
    weights = {n: w.to(device) for n, w in random_weights(native).items()}
    for lengths in (None, LENGTHS):
        assert_close(call(ours, x, lengths, weights), call(native, x, lengths, weights))
    for module in (native, ours):
        with_mask(module.to("cpu"))
        module.to(device)
    for lengths in (None, LENGTHS):
        assert_same(native, ours, x, lengths)
