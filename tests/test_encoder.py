"""BiRNNEncoder against hand-written pack -> rnn -> pad code and an AllenNLP-style encoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from birnn_utils import BiRNNEncoder, BridgeMode, EncoderOutput, MergeMode

from .reference import KINDS, MERGED, make_input, make_rnn, state_parts

BAD_MODE: Any = "max"
"""A merge mode that BiRNNEncoder refuses, typed Any to reach the runtime check."""

DTYPE = torch.float64


def allennlp_style(rnn: nn.RNNBase, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
    """Sort by length, run the non-empty sequences packed, pad with zeros, restore the order."""
    batch_dim = 0 if rnn.batch_first else 1
    sorted_lengths, order = lengths.sort(descending=True)  # on the CPU, as packing wants them
    restore = order.argsort().to(x.device)
    order = order.to(x.device)
    num_valid = int((sorted_lengths > 0).sum())
    sorted_x = x.index_select(batch_dim, order)
    packed = pack_padded_sequence(
        sorted_x.narrow(batch_dim, 0, num_valid),
        sorted_lengths[:num_valid],
        batch_first=rnn.batch_first,
    )
    packed_out, state = rnn(packed)
    out, _ = pad_packed_sequence(
        packed_out, batch_first=rnn.batch_first, total_length=x.shape[1 - batch_dim]
    )
    missing = list(out.shape)
    missing[batch_dim] = x.shape[batch_dim] - num_valid
    out = torch.cat([out, out.new_zeros(missing)], dim=batch_dim).index_select(batch_dim, restore)
    restored = []
    for part in state_parts(state):
        part = torch.cat(
            [part, part.new_zeros(part.shape[0], missing[batch_dim], part.shape[2])], 1
        )
        restored.append(part.index_select(1, restore))
    return out, tuple(restored) if isinstance(state, tuple) else restored[0]


def top_layer(h_n: Tensor) -> tuple[Tensor, Tensor]:
    return h_n[-2], h_n[-1]


def merged(output: Tensor, merge: MergeMode) -> Tensor:
    """A native module's ``concat`` output merged by ``merge``, as reference.MERGED writes it."""
    forward, backward = output.chunk(2, dim=-1)
    out: Tensor = MERGED[merge](forward, backward)
    return out


def assert_matches(encoded: EncoderOutput, out: Tensor, state: Any, lengths: Tensor) -> None:
    torch.testing.assert_close(encoded.outputs, out)
    torch.testing.assert_close(state_parts(encoded.states), state_parts(state))
    torch.testing.assert_close(tuple(encoded.final), top_layer(state_parts(state)[0]))
    assert encoded.lengths.dtype == torch.int64
    assert torch.equal(encoded.lengths, lengths.to(encoded.lengths.device))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_hand_written_and_allennlp_style(
    device: torch.device, kind: str, num_layers: int, batch_first: bool, bias: bool
) -> None:
    rnn = make_rnn(
        kind,
        bidirectional=True,
        num_layers=num_layers,
        batch_first=batch_first,
        bias=bias,
        device=device,
    )
    encoder = BiRNNEncoder(rnn)
    x = make_input(rnn, steps=6, batch=4)
    lengths = torch.tensor([3, 5, 1, 4])  # unsorted, none reaching T
    packed_out, state = rnn(
        pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    )
    out, _ = pad_packed_sequence(packed_out, batch_first=batch_first, total_length=6)
    assert_matches(encoder(x, lengths), out, state, lengths)

    with_empty = torch.tensor([3, 0, 6, 0])
    out, state = allennlp_style(rnn, x, with_empty)
    assert_matches(encoder(x, with_empty), out, state, with_empty)


@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul", "stack"])
@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_merge_modes_and_output_size(merge: MergeMode, kind: str) -> None:
    rnn = make_rnn(kind, bidirectional=True, batch_first=True)
    encoder = BiRNNEncoder(rnn, merge=merge)
    x = make_input(rnn, steps=5, batch=3)
    lengths = torch.tensor([5, 0, 2])
    out, state = allennlp_style(rnn, x, lengths)
    encoded = encoder(x, lengths)
    torch.testing.assert_close(encoded.outputs, merged(out, merge))
    torch.testing.assert_close(tuple(encoded.final), top_layer(state_parts(state)[0]))
    assert encoded.outputs.shape[-1] == encoder.output_size
    assert encoder.output_size == (2 if kind == "lstm_proj" else 4) * (
        2 if merge == "concat" else 1
    )


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 4), min_size=1, max_size=5),
    extra_steps=st.integers(0, 2),
    batch_first=st.booleans(),
)
def test_mask_and_lengths_agree(lengths: list[int], extra_steps: int, batch_first: bool) -> None:
    rnn = make_rnn("lstm", bidirectional=True, batch_first=batch_first)
    encoder = BiRNNEncoder(rnn)
    steps = max(lengths) + extra_steps
    x = make_input(rnn, steps=steps, batch=len(lengths))
    lens = torch.tensor(lengths)
    mask = torch.arange(steps).unsqueeze(0) < lens.unsqueeze(1)
    by_lengths, by_mask = encoder(x, lengths), encoder(x, mask=mask)
    for a, b in zip(by_lengths, by_mask, strict=True):
        torch.testing.assert_close(a, b)
    if any(lengths):  # the reference cannot pack an all-empty batch
        out, state = allennlp_style(rnn, x, lens)
        assert_matches(by_mask, out, state, lens)


@pytest.mark.parametrize("kind", ["rnn_relu", "lstm"])
def test_without_lengths_every_sequence_is_full(kind: str) -> None:
    rnn = make_rnn(kind, bidirectional=True, num_layers=2)
    x = make_input(rnn, steps=4, batch=3)
    out, state = rnn(x)
    assert_matches(BiRNNEncoder(rnn)(x), out, state, torch.tensor([4, 4, 4]))


def test_empty_time_axis() -> None:
    rnn = make_rnn("lstm", bidirectional=True, batch_first=True)
    encoded = BiRNNEncoder(rnn)(make_input(rnn, steps=0, batch=2))
    assert encoded.outputs.shape == (2, 0, 8)
    assert torch.equal(torch.cat(encoded.final, -1), torch.zeros(2, 8, dtype=DTYPE))
    assert torch.equal(encoded.lengths, torch.tensor([0, 0]))


def test_initial_state_kept_by_empty_sequences() -> None:
    rnn = make_rnn("gru", bidirectional=True, num_layers=2)
    x = make_input(rnn, steps=4, batch=3)
    h_0 = torch.randn(4, 3, 4, dtype=DTYPE)
    encoded = BiRNNEncoder(rnn)(x, [4, 0, 2], initial_state=h_0)
    assert torch.equal(encoded.states[:, 1], h_0[:, 1])
    assert torch.equal(torch.cat(encoded.final, -1)[1], torch.zeros(8, dtype=DTYPE))
    _, h_n = rnn(x[:2, 2:], h_0[:, 2:])
    torch.testing.assert_close(encoded.states[:, 2], h_n[:, 0])


@pytest.mark.parametrize("mode", ["concat", "sum", "mean"])
def test_bridge_gives_the_decoder_state(mode: BridgeMode) -> None:
    rnn = make_rnn("lstm", bidirectional=True, num_layers=2)
    encoder = BiRNNEncoder(rnn)
    encoded = encoder(make_input(rnn, steps=4, batch=3), [4, 1, 3])
    h_n, c_n = encoded.states
    combines: dict[str, Callable[[Tensor], Tensor]] = {
        "concat": lambda t: torch.cat([t[0::2], t[1::2]], 2),  # OpenNMT-py's bridge
        "sum": lambda t: t[0::2] + t[1::2],
        "mean": lambda t: (t[0::2] + t[1::2]) / 2,
    }
    combine = combines[mode]
    h_0, c_0 = encoder.bridge(encoded, mode)
    torch.testing.assert_close((h_0, c_0), (combine(h_n), combine(c_n)))


def test_gradcheck() -> None:
    rnn = make_rnn("gru", bidirectional=True)
    encoder = BiRNNEncoder(rnn, merge="sum")
    x = make_input(rnn, steps=3, batch=3).requires_grad_()

    def fn(x: Tensor) -> tuple[Tensor, ...]:
        encoded = encoder(x, [2, 0, 3])
        return encoded.outputs, *encoded.final

    assert torch.autograd.gradcheck(fn, (x,))


def test_does_not_mutate_arguments() -> None:
    rnn = make_rnn("lstm", bidirectional=True)
    x = make_input(rnn, steps=4, batch=3)
    lengths = torch.tensor([1, 0, 4])
    mask = torch.arange(4).unsqueeze(0) < lengths.unsqueeze(1)
    h_0 = (torch.randn(2, 3, 4, dtype=DTYPE), torch.randn(2, 3, 4, dtype=DTYPE))
    copies = [t.clone() for t in (x, lengths, mask, *h_0)]
    encoder = BiRNNEncoder(rnn)
    encoder(x, lengths, initial_state=h_0)
    encoder(x, mask=mask, initial_state=h_0)
    assert all(torch.equal(a, b) for a, b in zip((x, lengths, mask, *h_0), copies, strict=True))


def test_bad_arguments() -> None:
    rnn = make_rnn("gru", bidirectional=True, batch_first=True)
    encoder = BiRNNEncoder(rnn)
    x = make_input(rnn, steps=3, batch=2)
    with pytest.raises(ValueError, match=r"BiRNNEncoder: pass `lengths` or `mask`, not both"):
        encoder(x, [1, 2], mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(
        TypeError, match=r"BiRNNEncoder: `mask` must be a bool Tensor, got torch.int64"
    ):
        encoder(x, mask=torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(
        ValueError, match=r"BiRNNEncoder: `mask` must be B x T = \(2, 3\) .* got shape \(3, 2\)"
    ):
        encoder(x, mask=torch.ones(3, 2, dtype=torch.bool))
    holes = torch.tensor([[True, True, True], [True, False, True]])
    with pytest.raises(ValueError, match=r"BiRNNEncoder: `mask` must be right-padded .* row 1"):
        encoder(x, mask=holes)
    with pytest.raises(ValueError, match=r"BiRNNEncoder: `lengths` must be in \[0, 3\], got max 4"):
        encoder(x, [1, 4])
    with pytest.raises(ValueError, match=r"BiRNNEncoder: `input` must be 3-D \(B x T x \*"):
        encoder(x[0])
    with pytest.raises(TypeError, match=r"BiRNNEncoder: `input` must be a Tensor, got list"):
        encoder([1.0])
    with pytest.raises(ValueError, match=r"BiRNNEncoder: `rnn` must be bidirectional, got a uni"):
        BiRNNEncoder(nn.GRU(3, 4))
    with pytest.raises(
        TypeError, match=r"BiRNNEncoder: `rnn` must be a bidirectional .* got Linear"
    ):
        BiRNNEncoder(nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"BiRNNEncoder: `merge` must be one of .* got 'max'"):
        BiRNNEncoder(rnn, merge=BAD_MODE)
