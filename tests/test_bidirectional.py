"""Bidirectional against native bidirectional modules with the same weights, and a custom RNN."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, cast

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import birnn_utils._encoder
import birnn_utils._lengths
import birnn_utils.nn
from birnn_utils import (
    Bidirectional,
    BiRNNEncoder,
    Directions,
    MergeMode,
    make_bidirectional,
    padded_to_varlen,
    run_packed,
    value_checks_enabled,
)

from .reference import (
    KINDS,
    MERGED,
    as_state,
    make_rnn,
    random_state,
    state_parts,
    unidirectional_copy,
)

DTYPE = torch.float64
BAD_MODE: Any = "max"
"""A merge mode that Bidirectional refuses, typed Any to reach the runtime check."""


def directions_of(bi: nn.RNNBase, layer: int) -> tuple[nn.RNNBase, nn.RNNBase]:
    """Single-layer unidirectional modules holding copies of one layer's two directions."""
    forward, backward = (
        unidirectional_copy(bi, layer, suffix, batch_first=bi.batch_first)
        for suffix in ("", "_reverse")
    )
    return forward, backward


def native_layout(state: Directions) -> list[Tensor]:
    """A single-layer wrapper's Directions of states as native ``(2, B, H)`` tensors."""
    pairs = zip(state_parts(state.forward), state_parts(state.backward), strict=True)
    return [torch.cat([forward, backward]) for forward, backward in pairs]


def initial_of(h_0: Any, layer: int) -> Directions:
    """One layer's rows of a native ``h_0`` as a wrapper's Directions of initial states."""
    return Directions(
        *(
            as_state([h[2 * layer + d : 2 * layer + d + 1] for h in state_parts(h_0)])
            for d in (0, 1)
        )
    )


def run_stack(
    bi: nn.RNNBase, x: Tensor | PackedSequence, lengths: Tensor | None, h_0: Any
) -> tuple[Any, list[Tensor]]:
    """A native multi-layer bidirectional module rebuilt as a stack of single-layer wrappers."""
    finals = []
    for layer in range(bi.num_layers):
        x, state = Bidirectional(*directions_of(bi, layer))(
            x, initial_of(h_0, layer), lengths=lengths
        )
        finals.append(native_layout(state))
    return x, [torch.cat(parts) for parts in zip(*finals, strict=True)]


def make_input(
    batch_first: bool, steps: int, batch: int, features: int = 3, device: str = "cpu"
) -> Tensor:
    """Drawn on the CPU, so the same on every device."""
    gen = torch.Generator().manual_seed(1)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    return torch.randn(shape, generator=gen, dtype=DTYPE).to(device)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_native_bidirectional(
    device: torch.device, kind: str, num_layers: int, batch_first: bool, bias: bool
) -> None:
    bi = make_rnn(
        kind,
        num_layers=num_layers,
        bidirectional=True,
        batch_first=batch_first,
        bias=bias,
        device=device,
    )
    x = make_input(batch_first, steps=6, batch=4, device=device.type)
    lengths = torch.tensor([4, 6, 1, 3])  # unsorted
    h_0 = random_state(bi, 4)

    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    expected_packed, expected_state = bi(packed, h_0)
    output, state = run_stack(bi, packed, None, h_0)
    assert isinstance(output, PackedSequence)
    torch.testing.assert_close(output.data, expected_packed.data)
    assert torch.equal(output.batch_sizes, expected_packed.batch_sizes)
    torch.testing.assert_close(output.unsorted_indices, expected_packed.unsorted_indices)
    torch.testing.assert_close(state, state_parts(expected_state))

    expected, _ = pad_packed_sequence(expected_packed, batch_first=batch_first, total_length=6)
    output, state = run_stack(bi, x, lengths, h_0)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(state, state_parts(expected_state))

    expected, expected_state = bi(x, h_0)
    output, state = run_stack(bi, x, None, h_0)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(state, state_parts(expected_state))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_equals_make_bidirectional_of_the_same_modules(kind: str, batch_first: bool) -> None:
    forward, backward = (
        make_rnn(kind, batch_first=batch_first),
        make_rnn(kind, batch_first=batch_first),
    )
    with torch.no_grad():
        for param in backward.parameters():
            param.normal_()
    native = make_bidirectional(forward, backward)
    wrapper = Bidirectional(forward, backward)
    x = make_input(batch_first, steps=5, batch=3)
    lengths = torch.tensor([2, 5, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    expected_packed, expected_state = native(packed)
    output, state = wrapper(packed)
    torch.testing.assert_close(output.data, expected_packed.data)
    torch.testing.assert_close(native_layout(state), state_parts(expected_state))
    expected, _ = pad_packed_sequence(expected_packed, batch_first=batch_first, total_length=5)
    output, state = wrapper(x, lengths=lengths)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(native_layout(state), state_parts(expected_state))


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_empty_sequences_keep_their_initial_state(kind: str) -> None:
    bi = make_rnn(kind, bidirectional=True, batch_first=True)
    wrapper = Bidirectional(*directions_of(bi, 0))
    x = make_input(True, steps=5, batch=3)
    h_0 = random_state(bi, 3)
    kept = [0, 2]
    expected_packed, expected_state = bi(
        pack_padded_sequence(x[kept], [3, 5], batch_first=True, enforce_sorted=False),
        as_state([h[:, kept] for h in state_parts(h_0)]),
    )
    expected, _ = pad_packed_sequence(expected_packed, batch_first=True, total_length=5)
    for output, state in (
        wrapper(x, initial_of(h_0, 0), lengths=[3, 0, 5]),
        run_packed(wrapper, x, [3, 0, 5], initial_of(h_0, 0)),
    ):
        assert not output[1].any()
        torch.testing.assert_close(output[kept], expected)
        state = native_layout(state)
        torch.testing.assert_close([h[:, kept] for h in state], state_parts(expected_state))
        assert all(
            torch.equal(h[:, 1], h0[:, 1]) for h, h0 in zip(state, state_parts(h_0), strict=True)
        )


def data_of(output: Any) -> Any:
    if isinstance(output, Directions):
        return Directions(*map(data_of, output))
    return output.data if isinstance(output, PackedSequence) else output


@pytest.mark.parametrize("merge", sorted(MERGED, key=str))
def test_merge_modes(merge: MergeMode | None) -> None:
    bi = make_rnn("gru", bidirectional=True)
    wrapper = Bidirectional(*directions_of(bi, 0), merge=merge)
    x = make_input(False, steps=4, batch=3)
    packed = pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
    for given in (x, packed):
        native = data_of(bi(given)[0])
        output, _ = wrapper(given)
        assert isinstance(data_of(output), Directions) == (merge is None)
        expected = MERGED[merge](native[..., :4], native[..., 4:])
        torch.testing.assert_close(
            tuple(data_of(output)) if merge is None else data_of(output), expected
        )


def test_run_packed_with_unmerged_outputs_and_all_empty_batches() -> None:
    bi = make_rnn("lstm", bidirectional=True)
    wrapper = Bidirectional(*directions_of(bi, 0), merge=None)
    x = make_input(False, steps=4, batch=3)
    expected, _ = run_packed(bi, x, [4, 0, 2])
    output, _ = run_packed(wrapper, x, [4, 0, 2])
    assert isinstance(output, Directions)
    torch.testing.assert_close(tuple(output), (expected[..., :4], expected[..., 4:]))

    output, state = run_packed(wrapper, x, [0, 0, 0])
    zeros = torch.zeros(4, 3, 4, dtype=DTYPE)
    torch.testing.assert_close(tuple(output), (zeros, zeros))
    assert [h.shape for h in native_layout(state)] == [(2, 3, 4), (2, 3, 4)]
    assert not any(h.any() for h in native_layout(state))


class LayerNormGRU(nn.Module):
    """A unidirectional GRU with layer-normalised gates, one step at a time (``T x B x F``)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 3 * hidden_size, dtype=DTYPE)
        self.hh = nn.Linear(hidden_size, 3 * hidden_size, bias=False, dtype=DTYPE)
        self.norm_ih = nn.LayerNorm(3 * hidden_size, dtype=DTYPE)
        self.norm_hh = nn.LayerNorm(3 * hidden_size, dtype=DTYPE)

    def forward(self, input: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = input.new_zeros(input.shape[1], self.hidden_size) if state is None else state[0]
        outputs = []
        for x in input.unbind(0):
            ir, iz, in_ = self.norm_ih(self.ih(x)).chunk(3, -1)
            hr, hz, hn = self.norm_hh(self.hh(h)).chunk(3, -1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            h = (1 - z) * torch.tanh(in_ + r * hn) + z * h
            outputs.append(h)
        return torch.stack(outputs), h.unsqueeze(0)


def custom_pair() -> tuple[LayerNormGRU, LayerNormGRU]:
    torch.manual_seed(5)
    return LayerNormGRU(3, 2), LayerNormGRU(3, 2)


def test_custom_module_matches_per_sequence_runs() -> None:
    forward, backward = custom_pair()
    wrapper = Bidirectional(forward, backward, batch_first=False)
    x = make_input(False, steps=5, batch=4)
    lengths = [3, 5, 0, 1]
    output, state = wrapper(x, lengths=lengths)
    for b, n in enumerate(lengths):
        assert torch.equal(output[n:, b], torch.zeros(5 - n, 4, dtype=DTYPE))
        if n == 0:
            continue
        row = x[:n, b : b + 1]
        forward_out, forward_h = forward(row)
        backward_out, backward_h = backward(row.flip(0))
        torch.testing.assert_close(
            output[:n, b], torch.cat([forward_out, backward_out.flip(0)], -1)[:, 0]
        )
        if n == 5:  # only a sequence that fills T has no padding in its final states
            torch.testing.assert_close(state.forward[:, b], forward_h[:, 0])
            torch.testing.assert_close(state.backward[:, b], backward_h[:, 0])

    full, full_state = wrapper(x)
    forward_out, forward_h = forward(x)
    backward_out, backward_h = backward(x.flip(0))
    torch.testing.assert_close(full, torch.cat([forward_out, backward_out.flip(0)], -1))
    torch.testing.assert_close(tuple(full_state), (forward_h, backward_h))


def test_custom_module_gradients_reach_both_directions() -> None:
    wrapper = Bidirectional(*custom_pair(), batch_first=False)
    x = make_input(False, steps=3, batch=2).requires_grad_()
    output, _ = wrapper(x, lengths=[3, 2])
    output.pow(2).sum().backward()
    for module in (wrapper.forward_module, wrapper.backward_module):
        for name, param in module.named_parameters():
            assert param.grad is not None, name
            assert param.grad.abs().sum() > 0, name
    assert torch.autograd.gradcheck(lambda x: wrapper(x, lengths=[3, 2])[0], (x,))


def test_gradcheck_native_packed_path() -> None:
    bi = make_rnn("lstm", bidirectional=True)
    wrapper = Bidirectional(*directions_of(bi, 0))
    x = make_input(False, steps=3, batch=3).requires_grad_()

    def fn(x: Tensor) -> tuple[Tensor, ...]:
        output, state = wrapper(x, lengths=[2, 0, 3])
        return output, *native_layout(state)

    assert torch.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("make", [lambda: make_rnn("lstm_proj"), lambda: custom_pair()[0]])
def test_backward_none_is_a_reinitialised_copy(make: Any) -> None:
    forward = make()
    before = {k: v.clone() for k, v in forward.state_dict().items()}
    wrapper = Bidirectional(forward, batch_first=False)
    copy = wrapper.backward_module
    assert type(copy) is type(forward)
    assert copy is not forward
    after = forward.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    weights = [k for k in before if "weight" in k and "norm" not in k]
    assert weights
    assert all(not torch.equal(copy.state_dict()[k], before[k]) for k in weights)
    assert all(a is not b for a, b in zip(copy.parameters(), forward.parameters(), strict=True))


def test_encoder_accepts_a_wrapper() -> None:
    bi = make_rnn("lstm", bidirectional=True, batch_first=True)
    wrapper = Bidirectional(*directions_of(bi, 0))
    x = make_input(True, steps=4, batch=3)
    for merge in ("concat", "mean"):
        native, wrapped = BiRNNEncoder(bi, merge=merge), BiRNNEncoder(wrapper, merge=merge)
        expected, got = native(x, [4, 0, 2]), wrapped(x, [4, 0, 2])
        torch.testing.assert_close(got.outputs, expected.outputs)
        torch.testing.assert_close(tuple(got.final), tuple(expected.final))
        torch.testing.assert_close(native_layout(got.states), state_parts(expected.states))
        torch.testing.assert_close(wrapped.bridge(got), native.bridge(expected))
        h_0 = random_state(bi, 3)
        expected = native(x, initial_state=h_0)
        got = wrapped(x, initial_state=initial_of(h_0, 0))
        torch.testing.assert_close(got.outputs, expected.outputs)
        torch.testing.assert_close(native_layout(got.states), state_parts(expected.states))
        assert wrapped.output_size == native.output_size
    custom = BiRNNEncoder(Bidirectional(*custom_pair(), batch_first=False))
    encoded = custom(make_input(False, steps=4, batch=2), [4, 1])
    assert encoded.outputs.shape == (4, 2, custom.output_size)
    torch.testing.assert_close(
        tuple(encoded.final), (encoded.outputs[[3, 0], [0, 1], :2], encoded.outputs[0, :, 2:])
    )


def test_does_not_mutate_arguments() -> None:
    bi = make_rnn("lstm", bidirectional=True)
    wrapper = Bidirectional(*directions_of(bi, 0))
    x = make_input(False, steps=4, batch=3)
    lengths = torch.tensor([2, 0, 4])
    h_0 = random_state(bi, 3)
    initial = initial_of(h_0, 0)
    copies = [t.clone() for t in (x, lengths, *state_parts(h_0))]
    wrapper(x, initial, lengths=lengths)
    wrapper(x, initial)
    wrapper(pack_padded_sequence(x, [2, 1, 4], enforce_sorted=False), initial)
    originals = (x, lengths, *state_parts(h_0))
    assert all(torch.equal(a, b) for a, b in zip(originals, copies, strict=True))


def test_bad_arguments() -> None:
    gru = make_rnn("gru")
    wrapper = Bidirectional(gru, make_rnn("gru"))
    x = make_input(False, steps=3, batch=2)
    with pytest.raises(
        TypeError, match=r"Bidirectional: `forward` must be an nn.Module .* got builtin_function"
    ):
        Bidirectional(torch.tanh)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"Bidirectional: `backward` must be unidirectional, got a bidirectional GRU",
    ):
        Bidirectional(gru, make_rnn("gru", bidirectional=True))
    with pytest.raises(
        ValueError, match=r"Bidirectional: .* the same batch_first, got False and True"
    ):
        Bidirectional(gru, make_rnn("gru", batch_first=True))
    with pytest.raises(
        ValueError, match=r"Bidirectional: `merge` must be one of .* or None, got 'max'"
    ):
        Bidirectional(gru, merge=BAD_MODE)

    class Bare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

    with pytest.raises(
        ValueError, match=r"Bidirectional: cannot re-initialise a copy of `forward` \(Bare\)"
    ):
        Bidirectional(Bare())
    with pytest.raises(TypeError, match=r"Bidirectional: `hx` must be a Directions"):
        wrapper(x, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(
        TypeError, match=r"Bidirectional: `input` must be a Tensor or a PackedSequence, got list"
    ):
        wrapper([1.0])
    with pytest.raises(ValueError, match=r"Bidirectional: `input` must be 3-D \(T x B x \*"):
        wrapper(x[:, 0])
    with pytest.raises(
        ValueError, match=r"Bidirectional: `lengths` must be None for a PackedSequence"
    ):
        wrapper(pack_padded_sequence(x, [3, 2]), lengths=[3, 2])
    for module in (wrapper, Bidirectional(*custom_pair(), batch_first=False)):
        with pytest.raises(
            ValueError, match=r"Bidirectional: `lengths` must be in \[0, 3\], got max 4"
        ):
            module(x, lengths=[4, 1])
        with pytest.raises(ValueError, match=r"Bidirectional: `lengths` must have one entry per"):
            module(x, lengths=[1])
    with pytest.raises(
        ValueError, match=r"BiRNNEncoder: a Bidirectional `rnn` must have merge='concat'"
    ):
        BiRNNEncoder(Bidirectional(gru, merge="sum"))


def test_hx_must_be_directions_on_every_path() -> None:
    bi = Bidirectional(nn.GRU(3, 4, dtype=DTYPE))
    x, h = torch.randn(5, 3, 3, dtype=DTYPE), torch.randn(1, 3, 4, dtype=DTYPE)
    for lengths in (None, [5, 3, 3]):  # the padded path and the packed-internally path
        with pytest.raises(TypeError, match=r"`hx` must be a Directions.*got tuple"):
            bi(x, (h, h), lengths=lengths)


@pytest.mark.parametrize("lengths", [[5, 0, 3], [0, 0, 0], [5, 2, 3]])
def test_a_default_half_of_hx_is_zeros(lengths: list[int]) -> None:
    bi = Bidirectional(nn.GRU(3, 4, dtype=DTYPE))
    x, h = torch.randn(5, 3, 3, dtype=DTYPE), torch.randn(1, 3, 4, dtype=DTYPE)
    output, state = bi(x, Directions(h, None), lengths=lengths)
    expected_output, expected_state = bi(x, Directions(h, torch.zeros_like(h)), lengths=lengths)
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(tuple(state), tuple(expected_state))


def test_a_copy_that_cannot_be_reinitialised_is_refused() -> None:
    """#13 defect 7: weights outside every reset_parameters() gave two equal directions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notice for quantized tensors
        quantized = torch.ao.nn.quantized.dynamic.LSTM(3, 4)  # type: ignore[no-untyped-call]
    with pytest.raises(
        ValueError,
        match=r"Bidirectional: cannot re-initialise a copy of `forward` \(LSTM\): "
        r"`_all_weight_values.0.param` .* pass `backward` explicitly",
    ):
        Bidirectional(quantized)

    class InBuffer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(3, 3)
            self.register_buffer("weight", torch.randn(3))
            self.register_buffer("causal", torch.ones(3, dtype=torch.bool))  # not a weight

        def forward(self, x: Tensor) -> Tensor:
            out: Tensor = self.proj(x) * self.get_buffer("weight")
            return out

    with pytest.raises(ValueError, match=r"\(InBuffer\): `weight` is reset by no reset_parameters"):
        Bidirectional(InBuffer(), batch_first=True)

    class Constant(InBuffer):
        def reset_parameters(self) -> None:
            nn.init.normal_(self.get_buffer("weight"))

    fresh = Bidirectional(Constant(), batch_first=True)
    weights = [m.get_buffer("weight") for m in (fresh.forward_module, fresh.backward_module)]
    assert not torch.equal(*weights)


def test_encoder_with_a_default_half_of_the_state() -> None:
    """#13 defect 2 through BiRNNEncoder: a Directions state with a None half and empty rows."""
    encoder = BiRNNEncoder(Bidirectional(nn.LSTM(3, 4, dtype=DTYPE)))
    x = make_input(False, steps=5, batch=2)
    expected = encoder(x, [5, 0])
    got = encoder(x, [5, 0], initial_state=Directions(None, None))
    torch.testing.assert_close(got.outputs, expected.outputs)
    torch.testing.assert_close(tuple(got.final), tuple(expected.final))


@pytest.fixture
def value_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each value check that reads tensor values (a host sync for device tensors)."""
    reads: list[str] = []
    for module, name in (
        (birnn_utils._lengths, "_check_range"),
        (birnn_utils._lengths, "_check_offsets"),
        (birnn_utils._encoder, "check_right_padded"),
        (birnn_utils._lengths, "check_right_padded"),
    ):
        original = getattr(module, name)

        def counting(*args: Any, _original: Any = original, _name: str = name) -> Any:
            if value_checks_enabled():
                reads.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, counting)
    return reads


def test_one_value_read_per_public_call(value_reads: list[str]) -> None:
    """Validation happens once, at the boundary: internal callers use unchecked cores."""
    lstm = make_rnn("lstm", bidirectional=True)
    wrapper = Bidirectional(*directions_of(lstm, 0))
    custom = Bidirectional(*custom_pair(), batch_first=False)
    tied_gru = nn.GRU(3, 4, dtype=DTYPE)
    tied = Bidirectional(tied_gru, tied_gru)
    x = make_input(False, steps=4, batch=3)
    lengths = torch.tensor([4, 0, 2])
    mask = torch.arange(4).unsqueeze(0) < lengths.unsqueeze(1)
    flat, cu = padded_to_varlen(x, lengths)

    class VarlenIdentity(nn.Module):
        def forward(self, x: Tensor, *, cu_seqlens: Tensor) -> Tensor:
            return x

    mixer = Bidirectional(VarlenIdentity(), batch_first=False)
    ours = birnn_utils.nn.LSTM.from_module(cast(nn.LSTM, lstm))
    ours_pair = Bidirectional(
        *(birnn_utils.nn.LSTM.from_module(cast(nn.LSTM, m)) for m in directions_of(lstm, 0))
    )
    left_encoder = BiRNNEncoder(wrapper, padding_side="left")
    calls: dict[str, Callable[[], object]] = {
        "Bidirectional(native, lengths)": lambda: wrapper(x, lengths=lengths),
        "Bidirectional(tied, lengths)": lambda: tied(x, lengths=lengths),
        "Bidirectional(custom, lengths)": lambda: custom(x, lengths=lengths),
        "Bidirectional(mixer, cu_seqlens)": lambda: mixer(flat, cu_seqlens=cu),
        "run_packed(native)": lambda: run_packed(lstm, x, lengths),
        "run_packed(Bidirectional)": lambda: run_packed(wrapper, x, lengths),
        "run_packed(all empty)": lambda: run_packed(wrapper, x, [0, 0, 0]),
        "BiRNNEncoder(native)": lambda: BiRNNEncoder(lstm)(x, lengths),
        "BiRNNEncoder(native, mask)": lambda: BiRNNEncoder(lstm)(x, mask=mask),
        "BiRNNEncoder(Bidirectional)": lambda: BiRNNEncoder(wrapper)(x, lengths),
        "BiRNNEncoder(Bidirectional, mask)": lambda: BiRNNEncoder(wrapper)(x, mask=mask),
        "BiRNNEncoder(Bidirectional(custom))": lambda: BiRNNEncoder(custom)(x, lengths),
        "run_packed(birnn_utils.nn)": lambda: run_packed(ours, x, lengths),
        "Bidirectional(birnn_utils.nn)": lambda: ours_pair(x, lengths=lengths),
        "BiRNNEncoder(birnn_utils.nn)": lambda: BiRNNEncoder(ours)(x, lengths),
        "BiRNNEncoder(birnn_utils.nn, mask)": lambda: BiRNNEncoder(ours)(x, mask=mask),
        "BiRNNEncoder(Bidirectional(birnn_utils.nn))": lambda: BiRNNEncoder(ours_pair)(x, lengths),
        "run_packed(left)": lambda: run_packed(lstm, x, lengths, padding_side="left"),
        "Bidirectional(native, left)": lambda: wrapper(x, lengths=lengths, padding_side="left"),
        "Bidirectional(custom, left)": lambda: custom(x, lengths=lengths, padding_side="left"),
        "BiRNNEncoder(left)": lambda: BiRNNEncoder(lstm, padding_side="left")(x, lengths),
        "BiRNNEncoder(left, mask)": lambda: left_encoder(x, mask=mask.flip(1)),
    }
    counts = {}
    for name, call in calls.items():
        value_reads.clear()
        call()
        counts[name] = len(value_reads)
    assert counts == dict.fromkeys(calls, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("tying", ["untied", "tied", "tied_two_calls"])
@pytest.mark.parametrize("pre", [False, True], ids=["hook", "pre_hook"])
def test_hooked_library_modules_are_packed_like_hooked_torch_ones(
    kind: str, batch_first: bool, tying: str, pre: bool
) -> None:
    """#18: a hooked birnn_utils.nn module ran over the padding: its final states were wrong."""
    bi = make_rnn(kind, bidirectional=True, batch_first=batch_first)
    natives = list(directions_of(bi, 0))
    ours = [getattr(birnn_utils.nn, type(m).__name__).from_module(m) for m in natives]
    calls = {"torch": 0, "ours": 0}

    def counter(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            calls[name] += 1

        return hook

    for name, modules in (("torch", natives), ("ours", ours)):
        for module in modules:
            hook = counter(name)
            if pre:
                module.register_forward_pre_hook(hook)
            else:
                module.register_forward_hook(hook)
    x = make_input(batch_first, steps=5, batch=4)
    lengths = [3, 0, 5, 1]
    h_0 = initial_of(random_state(bi, 4), 0)

    def wrap(modules: list[Any]) -> Bidirectional:
        if tying == "untied":
            return Bidirectional(*modules)
        return Bidirectional(modules[0], modules[0], batch_directions=tying == "tied")

    expected_plain = run_stack(bi, x, torch.tensor(lengths), random_state(bi, 4))
    for initial in (None, h_0):
        expected, expected_state = wrap(natives)(x, initial, lengths=lengths)
        output, state = wrap(ours)(x, initial, lengths=lengths)
        torch.testing.assert_close(output, expected, rtol=0, atol=0)
        torch.testing.assert_close(
            native_layout(state), native_layout(expected_state), rtol=0, atol=0
        )
        if tying == "untied" and initial is not None:  # against the native bidirectional module
            torch.testing.assert_close(output, expected_plain[0])
            torch.testing.assert_close(native_layout(state), expected_plain[1])
    assert calls["torch"] == calls["ours"] > 0
