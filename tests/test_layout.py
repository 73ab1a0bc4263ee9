"""The layout functions, proven against the native bidirectional modules and the notebook."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from birnn_utils import (
    Directions,
    MergeMode,
    bridge_states,
    final_outputs,
    final_states,
    flatten_states,
    merge_directions,
    split_directions,
    unflatten_states,
)

from . import reference
from .reference import KINDS, KINDS_AND_LAYERS, reference_run

MODES = list(KINDS)
# Modes the functions refuse, typed Any: as literals, the type checker would refuse them first.
BAD_MODE: Any = "max"
STACK: Any = "stack"  # a merge mode, not a bridge mode


def make_rnn(mode: str, **kwargs: Any) -> nn.RNNBase:
    return reference.make_rnn(mode, bidirectional=True, **kwargs)


def same_storage(view: Tensor, base: Tensor) -> bool:
    return view.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()


# --- the notebook, exactly -------------------------------------------------------------------


def test_notebook_experiment() -> None:
    torch.manual_seed(0)
    random_input = torch.randn(5, 1, 1)
    bi_grus = nn.GRU(input_size=1, hidden_size=1, num_layers=1, bidirectional=True)
    reverse_gru = nn.GRU(input_size=1, hidden_size=1, num_layers=1)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            reverse_gru.get_parameter(name).copy_(bi_grus.get_parameter(f"{name}_reverse"))
        bi_output, bi_hidden = bi_grus(random_input)
        reverse_output, reverse_hidden = reverse_gru(random_input[torch.arange(4, -1, -1)])

    # Finding 1: the second half of the last dim is the reverse GRU's output, read backwards.
    assert_close(bi_output[:, 0, 1], reverse_output[torch.arange(4, -1, -1), 0, 0])
    assert_close(split_directions(bi_output).backward[:, 0, 0], reverse_output.flip(0)[:, 0, 0])
    # Finding 2: the odd row of h_n is the reverse GRU's final state, at t = 0 of the output.
    assert_close(bi_hidden[1], reverse_hidden[0])
    assert_close(final_states(bi_hidden).backward, reverse_hidden[0])
    assert_close(final_states(bi_hidden).backward, bi_output[0, :, 1:])
    assert not torch.allclose(bi_output[-1, :, 1:], bi_hidden[1])  # output[-1] is the wrong place
    assert_close(final_outputs(bi_output).backward, reverse_hidden[0])


# --- the findings generalised ----------------------------------------------------------------

LENGTHS = [5, 2, 4, 1]  # unsorted, mixed


def run_native(
    rnn: nn.RNNBase, x: Tensor, lengths: list[int], kind: str
) -> tuple[Tensor, object, Tensor | PackedSequence]:
    """Run ``rnn`` on time-major ``x``; returns the padded time-major output, state, raw output."""
    inputs = x.transpose(0, 1) if rnn.batch_first else x
    if kind == "padded":
        raw, state = rnn(inputs)
        output = raw.transpose(0, 1) if rnn.batch_first else raw
        return output, state, raw
    enforce_sorted = kind == "packed_sorted"
    packed = pack_padded_sequence(
        inputs, torch.tensor(lengths), batch_first=rnn.batch_first, enforce_sorted=enforce_sorted
    )
    raw, state = rnn(packed)
    output, _ = pad_packed_sequence(raw, total_length=x.shape[0])
    return output, state, raw


@KINDS_AND_LAYERS
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("batch", ["padded", "packed_sorted", "packed_unsorted"])
@pytest.mark.parametrize("bias", [True, False])
def test_findings_against_per_direction_modules(
    device: torch.device, kind: str, num_layers: int, batch_first: bool, batch: str, bias: bool
) -> None:
    rnn = make_rnn(kind, num_layers=num_layers, batch_first=batch_first, bias=bias, device=device)
    lengths = [5] * 4 if batch == "padded" else sorted(LENGTHS, reverse=batch == "packed_sorted")
    x = torch.randn(5, 4, 3, dtype=torch.float64, device=device)
    output, state, raw = run_native(rnn, x, lengths, batch)
    expected_out, forward_states, backward_states = reference_run(rnn, x, lengths)

    forward, backward = split_directions(output)
    h_out = rnn.proj_size or rnn.hidden_size
    assert_close(forward, expected_out[..., :h_out])
    assert_close(backward, expected_out[..., h_out:])

    states = state if isinstance(state, tuple) else (state,)
    for layer in range(num_layers):
        for position, tensor in enumerate(states):
            pair = final_states(tensor, layer=layer)
            assert_close(pair.forward, forward_states[layer][position])
            assert_close(pair.backward, backward_states[layer][position])
    top = final_states(states[0])
    from_padded = final_outputs(output, lengths)
    from_raw = final_outputs(
        raw, lengths if batch == "padded" else None, batch_first=batch_first and batch == "padded"
    )
    for ends in (from_padded, from_raw):
        assert_close(ends.forward, top.forward)
        assert_close(ends.backward, top.backward)


@pytest.mark.parametrize("mode", MODES)
def test_findings_in_float32(device: torch.device, mode: str) -> None:
    rnn = make_rnn(mode, num_layers=2, dtype=torch.float32, device=device)
    x = torch.randn(5, 4, 3, device=device)
    output, state, _ = run_native(rnn, x, LENGTHS, "packed_unsorted")
    h_n = state[0] if isinstance(state, tuple) else state
    assert isinstance(h_n, Tensor)
    expected_out, _, backward_states = reference_run(rnn, x, LENGTHS)
    # cuDNN may compute float32 RNNs in TF32 (torch's default on Ampere and later), whose error
    # differs between the batched and the per-row runs; a layout error would be of order 1. The
    # float64 test above compares every device at full precision.
    tolerance: dict[str, Any] = {"rtol": 1e-2, "atol": 1e-2} if device.type == "cuda" else {}
    assert_close(merge_directions(*split_directions(output)), expected_out, **tolerance)
    assert_close(final_states(h_n).backward, backward_states[-1][0], **tolerance)


def test_lstm_tuple_results_mirror_h_and_c_widths(device: torch.device) -> None:
    rnn = make_rnn("lstm_proj", num_layers=2, device=device)
    _, (h_n, c_n) = rnn(torch.randn(5, 3, 3, dtype=torch.float64, device=device))
    h_pair, c_pair = final_states((h_n, c_n), layer=0)
    assert h_pair.forward.shape == (3, 2) and c_pair.forward.shape == (3, 4)
    assert torch.equal(h_pair.backward, h_n[1]) and torch.equal(c_pair.backward, c_n[1])
    h, c = unflatten_states((h_n, c_n))
    assert h.shape == (2, 2, 3, 2) and c.shape == (2, 2, 3, 4)
    h_0, c_0 = bridge_states((h_n, c_n))
    assert h_0.shape == (2, 3, 4) and c_0.shape == (2, 3, 8)
    assert torch.equal(c_0, torch.cat([c_n[0::2], c_n[1::2]], 2))


# --- views, round trips, modes ---------------------------------------------------------------


def test_split_gives_views_of_tensors_and_packed(device: torch.device) -> None:
    output = torch.randn(5, 3, 8, device=device)
    forward, backward = split_directions(output)
    assert same_storage(forward, output) and same_storage(backward, output)
    assert forward.data_ptr() == output.data_ptr()
    assert backward.data_ptr() == output.data_ptr() + 4 * output.element_size()

    packed = pack_padded_sequence(output, torch.tensor([2, 5, 3]), enforce_sorted=False)
    pf, pb = split_directions(packed)
    for half in (pf, pb):
        assert isinstance(half, PackedSequence)
        assert same_storage(half.data, packed.data)
        assert half.batch_sizes is packed.batch_sizes
        assert half.sorted_indices is packed.sorted_indices
        assert half.unsorted_indices is packed.unsorted_indices
    assert torch.equal(pad_packed_sequence(pb)[0], pad_packed_sequence(packed)[0][..., 4:])


def test_state_functions_give_views(device: torch.device) -> None:
    h_n = torch.randn(6, 3, 4, device=device)
    assert same_storage(unflatten_states(h_n), h_n)
    assert same_storage(flatten_states(unflatten_states(h_n)), h_n)
    for half in final_states(h_n, layer=1):
        assert same_storage(half, h_n)


@pytest.mark.parametrize("mode", ["concat", "sum", "mean", "mul", "stack"])
def test_merge_modes(device: torch.device, mode: MergeMode) -> None:
    f, b = torch.randn(5, 3, 4, device=device), torch.randn(5, 3, 4, device=device)
    expected = {
        "concat": torch.cat([f, b], -1),
        "sum": f + b,
        "mean": (f + b) / 2,
        "mul": f * b,
        "stack": torch.stack([f, b], -2),
    }[mode]
    assert_close(merge_directions(f, b, mode), expected)
    packed_f = pack_padded_sequence(f, [2, 5, 3], enforce_sorted=False)
    packed_b = packed_f._replace(data=pack_padded_sequence(b, [2, 5, 3], enforce_sorted=False).data)
    merged = merge_directions(packed_f, packed_b, mode)
    assert isinstance(merged, PackedSequence)
    assert merged.unsorted_indices is packed_f.unsorted_indices
    padded, _ = pad_packed_sequence(merged, total_length=5)
    mask = (
        torch.arange(5, device=device)[:, None] < torch.tensor([2, 5, 3], device=device)
    ).reshape(5, 3, *[1] * (expected.dim() - 2))
    assert_close(padded, expected * mask)


@settings(max_examples=40, deadline=None)
@given(
    layers=st.integers(1, 4),
    batch=st.integers(0, 5),
    width=st.integers(1, 6),
    unbatched=st.booleans(),
)
def test_state_round_trips(
    device: torch.device, layers: int, batch: int, width: int, unbatched: bool
) -> None:
    shape = (2 * layers, width) if unbatched else (2 * layers, batch, width)
    h_n = torch.randn(shape, device=device)
    states = unflatten_states(h_n)
    assert states.shape == (layers, 2, *shape[1:])
    assert torch.equal(flatten_states(states), h_n)
    for k in range(-layers, layers):
        pair = final_states(h_n, layer=k)
        assert torch.equal(pair.forward, h_n[2 * (k % layers)])
        assert torch.equal(pair.backward, h_n[2 * (k % layers) + 1])
    assert torch.equal(bridge_states(h_n), torch.cat([h_n[0::2], h_n[1::2]], -1))
    assert_close(bridge_states(h_n, "sum"), h_n[0::2] + h_n[1::2])
    assert_close(bridge_states(h_n, "mean"), (h_n[0::2] + h_n[1::2]) / 2)


@settings(max_examples=40, deadline=None)
@given(
    leading=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    half=st.integers(1, 5),
)
def test_split_merge_round_trip(device: torch.device, leading: list[int], half: int) -> None:
    x = torch.randn(*leading, 2 * half, device=device)
    pair = split_directions(x)
    assert isinstance(pair, Directions)
    assert pair.forward.shape == (*leading, half)
    assert torch.equal(merge_directions(*pair), x)
    assert torch.equal(merge_directions(*pair, mode="stack").flatten(-2), x)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    steps=st.integers(1, 6),
    batch=st.integers(1, 5),
    batch_first=st.booleans(),
)
def test_final_outputs_matches_per_row_reference(
    device: torch.device, data: st.DataObject, steps: int, batch: int, batch_first: bool
) -> None:
    lengths = data.draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    output = torch.randn(steps, batch, 6, dtype=torch.float64, device=device)
    ends = final_outputs(
        output.transpose(0, 1) if batch_first else output, lengths, batch_first=batch_first
    )
    for b, n in enumerate(lengths):
        expected_f = output[n - 1, b, :3] if n else output.new_zeros(3)
        expected_b = output[0, b, 3:] if n else output.new_zeros(3)
        assert torch.equal(ends.forward[b], expected_f)
        assert torch.equal(ends.backward[b], expected_b)


def test_final_outputs_of_packed_is_in_caller_order(device: torch.device) -> None:
    rnn = make_rnn("gru", device=device)
    x = torch.randn(5, 4, 3, dtype=torch.float64, device=device)
    packed_out, h_n = rnn(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    ends = final_outputs(packed_out)
    assert torch.equal(ends.forward, h_n[0]) and torch.equal(ends.backward, h_n[1])
    padded, _ = pad_packed_sequence(packed_out)
    wrong = padded[-1, :, 4:]  # the output[-1] mistake reads padding for short rows
    assert not torch.allclose(wrong, h_n[1])


def test_differentiable(device: torch.device) -> None:
    output = torch.randn(4, 3, 6, dtype=torch.float64, device=device, requires_grad=True)
    lengths = torch.tensor([4, 0, 2])
    assert torch.autograd.gradcheck(lambda o: tuple(final_outputs(o, lengths)), (output,))
    assert torch.autograd.gradcheck(
        lambda o: merge_directions(*split_directions(o), mode="mul"), (output,)
    )
    h_n = torch.randn(4, 3, 2, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: bridge_states(h, "mean"), (h_n,))


def test_no_argument_is_mutated(device: torch.device) -> None:
    output = torch.randn(5, 3, 8, device=device)
    h_n = torch.randn(4, 3, 4, device=device)
    lengths = torch.tensor([5, 0, 2], device=device)
    copies = (output.clone(), h_n.clone(), lengths.clone())
    merge_directions(*split_directions(output), mode="mean")
    final_outputs(output, lengths)
    bridge_states(h_n, "sum")
    flatten_states(unflatten_states(h_n))
    final_states(h_n)
    for before, after in zip(copies, (output, h_n, lengths), strict=True):
        assert torch.equal(before, after)


# --- bad input -------------------------------------------------------------------------------


def test_lengths_out_of_range_are_caught_on_every_device(
    placement: tuple[torch.device, torch.device],
) -> None:
    data, lengths_device = placement
    output = torch.randn(5, 2, 4, device=data)
    with pytest.raises(ValueError, match=r"`lengths` must be in \[0, 5\], got max 9"):
        final_outputs(output, torch.tensor([9, 1], device=lengths_device))
    with pytest.raises(ValueError, match=r"`lengths` must be in \[0, 5\], got min -1"):
        final_outputs(output, torch.tensor([-1, 1], device=lengths_device))


def test_errors_on_scalars_and_empty_time() -> None:
    with pytest.raises(ValueError, match="split_directions: `output` must have at least 1 dim"):
        split_directions(torch.tensor(1.0))
    with pytest.raises(ValueError, match="merge_directions: `forward` and `backward` must not be"):
        merge_directions(torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match=r"final_outputs: `output` has no time steps \(T=0\)"):
        final_outputs(torch.randn(0, 2, 4))
    with pytest.raises(TypeError, match="final_outputs: `output` must be a Tensor or a Packed"):
        final_outputs([1.0])  # type: ignore[arg-type]


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"split_directions: the last dimension of `output` \(=5\) must be even"
    ):
        split_directions(torch.randn(2, 3, 5))
    with pytest.raises(
        TypeError, match="split_directions: `output` must be a Tensor or a PackedSequence, got list"
    ):
        split_directions([1, 2])  # type: ignore[type-var]
    with pytest.raises(
        ValueError, match=r"merge_directions: `mode` must be one of 'concat'.*got 'max'"
    ):
        merge_directions(torch.ones(2), torch.ones(2), BAD_MODE)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(2, 4\)"):
        merge_directions(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(
        TypeError, match="both Tensors or both PackedSequences, got Tensor and PackedSequence"
    ):
        merge_directions(torch.ones(3, 1), pack_padded_sequence(torch.ones(3, 1), [3]))  # type: ignore[call-overload]
    a = pack_padded_sequence(torch.ones(3, 2, 1), [3, 2])
    b = pack_padded_sequence(torch.ones(3, 2, 1), [3, 1])
    with pytest.raises(ValueError, match=r"same batch_sizes, got \[2, 2, 1\] and \[2, 1, 1\]"):
        merge_directions(a, b)
    with pytest.raises(ValueError, match=r"first dimension of `h_n` \(=3\) must be even"):
        unflatten_states(torch.randn(3, 2, 4))
    with pytest.raises(ValueError, match=r"`h_n` must be 3-D .* got shape \(4,\)"):
        final_states(torch.randn(4))
    with pytest.raises(TypeError, match="`h_n` must be a Tensor or a tuple of Tensors"):
        final_states([torch.randn(2, 1, 1)])  # type: ignore[call-overload]
    with pytest.raises(IndexError, match=r"`layer` must be in \[-2, 1\] for 2 layer\(s\), got 2"):
        final_states(torch.randn(4, 1, 3), layer=2)
    with pytest.raises(
        ValueError, match=r"flatten_states: `states` must be \(num_layers, 2, B, H_out\)"
    ):
        flatten_states(torch.randn(2, 3, 1, 4))
    with pytest.raises(
        ValueError,
        match="bridge_states: `mode` must be one of 'concat', 'sum', 'mean', got 'stack'",
    ):
        bridge_states(torch.randn(2, 1, 3), STACK)
    with pytest.raises(
        ValueError, match=r"final_outputs: `lengths` must be in \[0, 5\], got max 9"
    ):
        final_outputs(torch.randn(5, 2, 4), [9, 1])
    with pytest.raises(
        ValueError, match=r"final_outputs: `lengths` must be in \[0, 5\], got min -1"
    ):
        final_outputs(torch.randn(5, 2, 4), torch.tensor([-1, 1]))
    with pytest.raises(ValueError, match=r"one entry per sequence \(2\), got 3"):
        final_outputs(torch.randn(5, 2, 4), [1, 1, 1])
    with pytest.raises(
        TypeError, match=r"`lengths` must be an integer tensor, got dtype torch\.float32"
    ):
        final_outputs(torch.randn(5, 2, 4), torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="`lengths` must hold ints, got float"):
        final_outputs(torch.randn(5, 2, 4), [1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(
        ValueError, match=r"final_outputs: `output` must be 3-D \(B x T x 2\*H_out\)"
    ):
        final_outputs(torch.randn(5, 4), batch_first=True)
    with pytest.raises(ValueError, match="`lengths` must be None for a PackedSequence"):
        final_outputs(pack_padded_sequence(torch.ones(3, 2, 2), [3, 2]), [3, 2])


def test_merging_packed_halves_of_different_batch_orders_fails() -> None:
    # Same batch_sizes, different orders: merging would pair rows of different sequences.
    x = torch.randn(3, 2, 1)
    a = pack_padded_sequence(x, [3, 2], enforce_sorted=False)
    b = pack_padded_sequence(x.flip(1), [2, 3], enforce_sorted=False)
    assert torch.equal(a.batch_sizes, b.batch_sizes)
    with pytest.raises(ValueError, match="must have the same sorted_indices and unsorted_indices"):
        merge_directions(a, b)
    sorted_b = pack_padded_sequence(x, [3, 2])  # no indices at all
    with pytest.raises(ValueError, match="must have the same sorted_indices and unsorted_indices"):
        merge_directions(a, sorted_b)
    # Equal indices held in different tensors are the same order.
    assert a.sorted_indices is not None and a.unsorted_indices is not None
    copy = a._replace(
        sorted_indices=a.sorted_indices.clone(), unsorted_indices=a.unsorted_indices.clone()
    )
    assert torch.equal(merge_directions(a, copy).data, torch.cat([a.data, a.data], -1))


@pytest.mark.parametrize("function", [split_directions, final_outputs])
def test_packed_data_without_a_feature_dimension_is_rejected(function: Any) -> None:
    # #13 defect 4: 1-D data was split along the packed steps (or raised IndexError).
    packed = pack_padded_sequence(torch.randn(4, 2), [4, 2])
    name = function.__name__
    with pytest.raises(ValueError, match=rf"{name}: `output.data` must be at least 2-D .*\(6,\)"):
        function(packed)


@pytest.mark.parametrize("function", [final_states, bridge_states, unflatten_states])
def test_a_bidirectional_s_directions_of_states_is_not_an_lstm_pair(function: Any) -> None:
    # #13 defect 11: Directions(forward h_n, backward h_n) is a tuple of two Tensors, like an
    # LSTM's (h_n, c_n); read as one, it mixed the layers of the two directions.
    gru = nn.GRU(3, 4, num_layers=2)
    states = Directions(gru(torch.randn(5, 2, 3))[1], gru(torch.randn(5, 2, 3))[1])
    name = function.__name__
    with pytest.raises(TypeError, match=rf"{name}: `h_n` must be .* got a Directions pair"):
        function(states)
    native = flatten_states(torch.stack([states.forward, states.backward], 1))
    assert torch.equal(final_states(native, layer=0).backward, states.backward[0])


def test_directions_is_a_generic_named_tuple() -> None:
    pair = Directions[Tensor](torch.zeros(1), torch.ones(1))
    assert type(pair) is Directions and pair._fields == ("forward", "backward")
    forward, backward = pair
    assert (forward.item(), backward.item()) == (0.0, 1.0)
    assert Directions[int](1, 2) == (1, 2)
