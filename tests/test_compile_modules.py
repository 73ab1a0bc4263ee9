"""run_packed, BiRNNEncoder and Bidirectional under torch.compile(fullgraph=True) and export.

References are eager ``pack_padded_sequence(enforce_sorted=False) -> torch.nn module ->
pad_packed_sequence(total_length=T)``, written here. ``fullgraph=True`` turns a graph break
(a host read of the lengths or the mask included) into an error; one compiled frame count over
three ``(T, B)`` proves that T and B stay symbolic. The ``aot_eager`` backend keeps these quick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
import torch
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounterWithBackend
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

import birnn_utils.nn as bnn
from birnn_utils import Bidirectional, BiRNNEncoder, Directions, run_packed

from .reference import unidirectional_copy
from .test_nn_compile import assert_exports_with_dynamic_time_and_batch

SHAPES = [(6, 3), (9, 4), (4, 2)]  # (T, B); B never equals the input size 5 (duck sizing)
INPUT_SIZE = 5


def lengths_for(steps: int, batch: int) -> Tensor:
    """Unsorted, with a full row and an empty row (and a row of length 1 for B > 2)."""
    lengths = torch.arange(batch) % (steps + 1)
    lengths[-1] = steps
    return lengths.flip(0)


def packed_reference(rnn: nn.RNNBase, x: Tensor, lengths: Tensor, hx: Any = None) -> list[Tensor]:
    """Pack -> native module -> pad, rows of length 0 given zero outputs and their ``hx``."""
    batch_dim = 0 if rnn.batch_first else 1
    rows = (lengths > 0).nonzero().squeeze(1)
    packed = pack_padded_sequence(
        x.index_select(batch_dim, rows), lengths[rows], rnn.batch_first, enforce_sorted=False
    )
    sub_hx = None if hx is None else tuple(h.index_select(1, rows) for h in hx)
    if sub_hx is not None and not isinstance(rnn, nn.LSTM):
        sub_hx = sub_hx[0]
    output, state = rnn(packed, sub_hx)
    padded, _ = pad_packed_sequence(output, rnn.batch_first, total_length=x.shape[1 - batch_dim])
    shape = [*x.shape[:2], padded.shape[2]]
    full = padded.new_zeros(shape).index_copy(batch_dim, rows, padded)
    states = state if isinstance(state, tuple) else (state,)
    if hx is None:
        hx = tuple(s.new_zeros(s.shape[0], x.shape[batch_dim], s.shape[2]) for s in states)
    return [full, *(h.index_copy(1, rows, s) for h, s in zip(hx, states, strict=True))]


def flat(result: Any) -> list[Tensor]:
    """The Tensors of a nested result, in order."""
    if isinstance(result, Tensor):
        return [result]
    return [t for part in result for t in flat(part)]


def values_and_grads(
    fn: Callable[..., Any], x: Tensor, params: Sequence[Tensor], *rest: Any
) -> list[Tensor]:
    """``fn(x, *rest)``'s Tensors, then the gradients of a weighted sum wrt ``x`` and ``params``."""
    x = x.detach().clone().requires_grad_()
    result = flat(fn(x, *rest))
    loss = sum((t * torch.linspace(-1, 1, t.numel()).view_as(t)).sum() for t in result if t.numel())
    return result + list(torch.autograd.grad(loss, [x, *params]))  # type: ignore[arg-type]


def compiled_frames(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    params: Sequence[Tensor],
    batch_first: bool,
) -> list[int]:
    """Compile ``fn``, compare it with ``reference`` at each shape; frames compiled after each."""
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(fn, fullgraph=True, dynamic=True, backend=counter)
    frames = []
    for steps, batch in SHAPES:
        torch.manual_seed(steps)
        shape = (batch, steps, INPUT_SIZE) if batch_first else (steps, batch, INPUT_SIZE)
        x, lengths = torch.randn(shape, dtype=torch.float64), lengths_for(steps, batch)
        assert_close(
            values_and_grads(compiled, x, params, lengths),
            values_and_grads(reference, x, params, lengths),
        )
        frames.append(counter.frame_count)
    return frames


def one_graph_for_all_shapes(frames: list[int]) -> None:
    # The first shape compiles (Dynamo may restart its analysis once); later ones reuse it.
    assert frames[0] >= 1
    assert frames == [frames[0]] * len(SHAPES)


RNN_CASES = [
    (nn.LSTM, {"num_layers": 2, "bidirectional": True}),
    (nn.GRU, {"batch_first": True}),
    (nn.RNN, {"nonlinearity": "relu", "bidirectional": True}),
]


@pytest.mark.parametrize(("cls", "kwargs"), RNN_CASES, ids=["bilstm", "gru", "birnn-relu"])
def test_run_packed_compiles_with_a_birnn_utils_module(
    cls: Callable[..., nn.RNNBase], kwargs: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    native = cls(INPUT_SIZE, 4, dtype=torch.float64, **kwargs)
    wrapper = getattr(bnn, type(native).__name__).from_module(native)
    params = list(native.parameters())
    frames = compiled_frames(
        lambda x, lengths: run_packed(wrapper, x, lengths),
        lambda x, lengths: packed_reference(native, x, lengths),
        params,
        native.batch_first,
    )
    one_graph_for_all_shapes(frames)


def test_run_packed_of_a_torch_module_runs_its_kernel_and_keeps_hooks() -> None:
    """The native module's forward is not called (its kernel is); a hooked one is called."""
    torch.manual_seed(0)
    lstm = nn.LSTM(INPUT_SIZE, 4, bidirectional=True, dtype=torch.float64)
    x, lengths = torch.randn(6, 3, INPUT_SIZE, dtype=torch.float64), lengths_for(6, 3)
    h_0 = (torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64))
    calls: list[str] = []
    original = nn.LSTM.forward

    def spy(self: nn.LSTM, *args: Any) -> Any:
        calls.append("forward")
        return original(self, *args)

    nn.LSTM.forward = spy  # type: ignore[method-assign, assignment]
    try:
        # A patched class forward is not torch's own: the module is called.
        assert_close(
            flat(run_packed(lstm, x, lengths, h_0)), packed_reference(lstm, x, lengths, h_0)
        )
        assert calls == ["forward"] * 2  # run_packed's call, then the reference's
    finally:
        nn.LSTM.forward = original  # type: ignore[method-assign]
    calls.clear()
    handle = lstm.register_forward_pre_hook(lambda module, args: calls.append("hook"))
    expected = packed_reference(lstm, x, lengths, h_0)
    calls.clear()
    assert_close(flat(run_packed(lstm, x, lengths, h_0)), expected)
    assert calls == ["hook"]
    handle.remove()
    calls.clear()
    assert_close(flat(run_packed(lstm, x, lengths, h_0)), expected)
    assert calls == []


def test_torch_compile_refuses_a_torch_rnn_module_itself() -> None:
    """Why BiRNNEncoder wraps the module: Dynamo will not touch torch.nn's RNN modules."""
    lstm = nn.LSTM(INPUT_SIZE, 4)
    compiled = torch.compile(
        lambda x, lengths: run_packed(lstm, x, lengths), fullgraph=True, backend="eager"
    )
    with pytest.raises(Exception, match="Attempted to wrap RNN, GRU, or LSTM"):
        compiled(torch.randn(4, 2, INPUT_SIZE), torch.tensor([4, 2]))
    torch.compiler.reset()


class EncoderReference(nn.Module):
    """What BiRNNEncoder computes, by hand: pack -> native -> pad, final outputs row by row."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: Tensor, lengths: Tensor) -> list[Tensor]:
        output, h_n, c_n = packed_reference(self.lstm, x, lengths)
        half = output.shape[-1] // 2
        time_major = output.transpose(0, 1) if self.lstm.batch_first else output
        forward = torch.stack(
            [time_major[max(int(n) - 1, 0), b, :half] for b, n in enumerate(lengths)]
        )
        backward = time_major[0, :, half:]
        return [output, forward, backward, h_n, c_n, lengths]


@pytest.mark.parametrize("with_mask", [False, True], ids=["lengths", "mask"])
def test_compiled_encoder_of_a_torch_lstm(with_mask: bool) -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(INPUT_SIZE, 4, num_layers=2, bidirectional=True, batch_first=True)
    lstm = lstm.double()
    keys = ["rnn." + key for key in lstm.state_dict()]
    encoder = BiRNNEncoder(lstm)
    assert list(encoder.state_dict()) == keys
    assert all(a is b for a, b in zip(encoder.parameters(), lstm.parameters(), strict=True))
    assert isinstance(encoder.rnn, bnn.LSTM) and encoder.output_size == 8

    def encode(x: Tensor, lengths: Tensor) -> Any:
        if with_mask:
            mask = torch.arange(x.shape[1]) < lengths.unsqueeze(1)
            return encoder(x, mask=mask)
        return encoder(x, lengths)

    frames = compiled_frames(encode, EncoderReference(lstm), list(lstm.parameters()), True)
    one_graph_for_all_shapes(frames)


def test_compiled_encoder_with_left_padding_and_a_mask() -> None:
    """Keras-style input (eager checked against native modules in test_encoder.py)."""
    torch.manual_seed(0)
    gru = nn.GRU(INPUT_SIZE, 4, bidirectional=True, batch_first=True)
    encoder = BiRNNEncoder(gru, merge="sum", padding_side="left")
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(encoder, fullgraph=True, dynamic=True, backend=counter)
    for steps, batch in SHAPES:
        lengths = lengths_for(steps, batch)
        mask = (torch.arange(steps) < lengths.unsqueeze(1)).flip(1)
        x = torch.randn(batch, steps, INPUT_SIZE)
        assert_close(flat(compiled(x, mask=mask)), flat(encoder(x, mask=mask)))
    assert counter.frame_count <= 2  # one graph (Dynamo may restart its analysis once)


def test_training_the_compiled_encoder_trains_the_given_module() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(INPUT_SIZE, 4, bidirectional=True)
    weight = lstm.get_parameter("weight_hh_l0_reverse")
    before = weight.detach().clone()
    encoder = BiRNNEncoder(lstm)
    compiled: Callable[..., Any] = torch.compile(encoder, fullgraph=True, backend="aot_eager")
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    loss = torch.cat(compiled(torch.randn(5, 3, INPUT_SIZE), [5, 2, 0]).final, -1).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert not torch.equal(weight, before)
    assert encoder.rnn.get_parameter("weight_hh_l0_reverse") is weight


def test_export_encoder_of_a_torch_lstm_with_dynamic_time_and_batch() -> None:
    torch.manual_seed(0)
    encoder = BiRNNEncoder(nn.LSTM(INPUT_SIZE, 4, num_layers=2, bidirectional=True)).eval()
    assert_exports_with_dynamic_time_and_batch(encoder, lengths_for)


@pytest.mark.parametrize("tied", [False, True], ids=["two", "tied"])
def test_bidirectional_of_birnn_utils_modules_compiles_with_lengths(tied: bool) -> None:
    """Equal to the native bidirectional GRU whose two directions it holds."""
    torch.manual_seed(0)
    native = nn.GRU(INPUT_SIZE, 4, bidirectional=True, dtype=torch.float64)
    if tied:
        with torch.no_grad():  # both directions hold the forward weights
            for name, param in native.named_parameters():
                if name.endswith("_reverse"):
                    param.copy_(native.get_parameter(name.removesuffix("_reverse")))
    forward = bnn.GRU.from_module(cast(nn.GRU, unidirectional_copy(native, 0, "")))
    reverse = cast(nn.GRU, unidirectional_copy(native, 0, "_reverse"))
    backward = forward if tied else bnn.GRU.from_module(reverse)
    bi = Bidirectional(forward, backward)
    params = list(bi.parameters())

    def run(x: Tensor, lengths: Tensor) -> Any:
        output, states = bi(x, lengths=lengths)
        return output, torch.cat(list(states), 0)

    def reference(x: Tensor, lengths: Tensor) -> list[Tensor]:
        # The native module's weights are copies: its gradients are mapped onto ours.
        return packed_reference(native, x, lengths)

    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(run, fullgraph=True, dynamic=True, backend=counter)
    frames = []
    for steps, batch in SHAPES:
        x = torch.randn(steps, batch, INPUT_SIZE, dtype=torch.float64)
        lengths = lengths_for(steps, batch)
        got = values_and_grads(compiled, x, params, lengths)
        native_params = list(native.parameters())
        expected = values_and_grads(reference, x, native_params, lengths)
        count = len(params)
        assert_close(got[:-count], expected[: len(got) - count])
        grads = dict(zip([n for n, _ in native.named_parameters()], expected[-8:], strict=True))
        for (name, _), grad in zip(forward.named_parameters(), got[-count:][:4], strict=True):
            want = grads[name] + grads[name + "_reverse"] if tied else grads[name]
            assert_close(grad, want)
        if not tied:
            for (name, _), grad in zip(backward.named_parameters(), got[-4:], strict=True):
                assert_close(grad, grads[name + "_reverse"])
        frames.append(counter.frame_count)
    one_graph_for_all_shapes(frames)


def test_bidirectional_states_keep_their_directions() -> None:
    """Directions of the states, in the caller's order, with an initial state per direction."""
    torch.manual_seed(0)
    forward, backward = bnn.LSTM(INPUT_SIZE, 3), bnn.LSTM(INPUT_SIZE, 3)
    bi = Bidirectional(forward, backward)
    x, lengths = torch.randn(5, 3, INPUT_SIZE), torch.tensor([2, 5, 0])
    hx = Directions(
        (torch.randn(1, 3, 3), torch.randn(1, 3, 3)), (torch.randn(1, 3, 3), torch.randn(1, 3, 3))
    )
    compiled = torch.compile(
        lambda x, lengths: bi(x, hx, lengths=lengths), fullgraph=True, backend="aot_eager"
    )
    output, states = compiled(x, lengths)
    expected_output, expected_states = bi(x, hx, lengths=lengths)
    assert_close(output, expected_output)
    assert_close(flat(states), flat(expected_states))
    assert_close(states.backward[0][:, 2], hx.backward[0][:, 2])  # length 0 keeps its hx
