"""run_packed against the native modules run one sequence at a time, and hand-written packing."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounterWithBackend
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import birnn_utils.nn
from birnn_utils import Bidirectional, Directions, run_packed, value_checks

from .reference import (
    KINDS,
    as_state,
    make_input,
    make_rnn,
    random_state,
    state_parts,
    state_shapes,
)

DTYPE = torch.float64


def reference(
    rnn: nn.RNNBase, x: Tensor, lengths: list[int], h_0: list[Tensor] | None
) -> tuple[Tensor, list[Tensor]]:
    """Each sequence on its own, unpadded; a sequence of length 0 keeps zeros and its h_0."""
    time_major = x.transpose(0, 1) if rnn.batch_first else x
    steps, batch = time_major.shape[:2]
    width = (rnn.proj_size or rnn.hidden_size) * (2 if rnn.bidirectional else 1)
    output = x.new_zeros(steps, batch, width)
    if h_0 is None:
        h_0 = [x.new_zeros(shape) for shape in state_shapes(rnn, batch)]
    finals = [h.clone() for h in h_0]
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        row = time_major[:n, b : b + 1]
        if rnn.batch_first:
            row = row.transpose(0, 1)
        out, state = rnn(row, as_state([h[:, b : b + 1] for h in h_0]))
        output[:n, b] = (out.transpose(0, 1) if rnn.batch_first else out)[:, 0]
        for final, part in zip(finals, state_parts(state), strict=True):
            final[:, b] = part[:, 0]
    return (output.transpose(0, 1) if rnn.batch_first else output), finals


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_native_rows(
    device: torch.device,
    kind: str,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    bias: bool,
) -> None:
    rnn = make_rnn(
        kind,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
        device=device,
    )
    lengths = [3, 0, 5, 1]  # unsorted, with an empty sequence
    x = make_input(rnn, steps=6, batch=4)
    gen = torch.Generator().manual_seed(2)
    h_0 = [
        torch.randn(shape, generator=gen, dtype=DTYPE).to(device) for shape in state_shapes(rnn, 4)
    ]
    for initial in (None, h_0):
        output, state = run_packed(rnn, x, lengths, None if initial is None else as_state(initial))
        expected_output, expected_state = reference(rnn, x, lengths, initial)
        torch.testing.assert_close(output, expected_output)
        torch.testing.assert_close(state_parts(state), expected_state)
        assert isinstance(state, tuple) == isinstance(rnn, nn.LSTM)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_equals_hand_written_pack_run_pad(
    device: torch.device, kind: str, batch_first: bool
) -> None:
    rnn = make_rnn(kind, num_layers=2, bidirectional=True, batch_first=batch_first, device=device)
    x = make_input(rnn, steps=7, batch=3)  # T=7 is longer than every sequence
    lengths = torch.tensor([2, 6, 4])
    packed_out, expected_state = rnn(
        pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    )
    expected, _ = pad_packed_sequence(packed_out, batch_first=batch_first, total_length=7)
    output, state = run_packed(rnn, x, lengths)
    assert torch.equal(output, expected)
    assert all(
        torch.equal(a, b)
        for a, b in zip(state_parts(state), state_parts(expected_state), strict=True)
    )


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 4), min_size=0, max_size=5),
    extra_steps=st.integers(0, 2),
    batch_first=st.booleans(),
    lstm=st.booleans(),
)
def test_any_lengths(
    device: torch.device, lengths: list[int], extra_steps: int, batch_first: bool, lstm: bool
) -> None:
    kind = "lstm_proj" if lstm else "gru"
    rnn = make_rnn(kind, bidirectional=True, batch_first=batch_first, device=device)
    steps = max(lengths, default=0) + extra_steps
    x = make_input(rnn, steps=steps, batch=len(lengths))
    output, state = run_packed(rnn, x, np.array(lengths, dtype=np.int32))
    expected_output, expected_state = reference(rnn, x, lengths, None)
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(state_parts(state), expected_state)


def test_all_empty_keeps_initial_state_and_gradient(device: torch.device) -> None:
    rnn = make_rnn("lstm_proj", num_layers=2, bidirectional=True, device=device)
    x = make_input(rnn, steps=3, batch=2)
    h_0 = [
        torch.randn(s, dtype=DTYPE, device=device, requires_grad=True) for s in state_shapes(rnn, 2)
    ]
    output, (h_n, c_n) = run_packed(rnn, x, [0, 0], tuple(h_0))
    assert output.shape == (3, 2, 4)
    assert not output.any()
    assert torch.equal(h_n, h_0[0])
    assert torch.equal(c_n, h_0[1])
    (h_n.sum() + c_n.sum()).backward()
    assert all(torch.equal(h.grad, torch.ones_like(h)) for h in h_0)  # type: ignore[arg-type]


def test_empty_time_axis(device: torch.device) -> None:
    rnn = make_rnn("gru", num_layers=2, batch_first=True, device=device)
    output, h_n = run_packed(rnn, make_input(rnn, steps=0, batch=3), [0, 0, 0])
    assert output.shape == (3, 0, 4)
    assert torch.equal(h_n, torch.zeros(2, 3, 4, dtype=DTYPE, device=device))


def test_gradcheck_with_empty_rows(device: torch.device) -> None:
    rnn = make_rnn("lstm", bidirectional=True, device=device)
    x = make_input(rnn, steps=3, batch=3).requires_grad_()
    h_0, c_0 = (
        torch.randn(s, dtype=DTYPE, device=device, requires_grad=True) for s in state_shapes(rnn, 3)
    )

    def fn(x: Tensor, h_0: Tensor, c_0: Tensor) -> tuple[Tensor, ...]:
        output, (h_n, c_n) = run_packed(rnn, x, [2, 0, 3], (h_0, c_0))
        return output, h_n, c_n

    assert torch.autograd.gradcheck(fn, (x, h_0, c_0))


def test_lengths_on_any_container_and_value_checks_off(device: torch.device) -> None:
    rnn = make_rnn("gru", device=device)
    x = make_input(rnn, steps=4, batch=3)
    expected, _ = run_packed(rnn, x, torch.tensor([4, 0, 2]))
    on_device = torch.tensor([4, 0, 2], device=device)
    for lengths in ([4, 0, 2], (4, 0, 2), np.array([4, 0, 2]), on_device.int(), on_device):
        torch.testing.assert_close(run_packed(rnn, x, lengths)[0], expected)
    with value_checks(False):
        torch.testing.assert_close(run_packed(rnn, x, [4, 0, 2])[0], expected)


def test_does_not_mutate_arguments(device: torch.device) -> None:
    rnn = make_rnn("lstm", bidirectional=True, device=device)
    x = make_input(rnn, steps=4, batch=3)
    lengths = torch.tensor([1, 0, 4], device=device)
    h_0 = tuple(torch.randn(s, dtype=DTYPE, device=device) for s in state_shapes(rnn, 3))
    copies = [t.clone() for t in (x, lengths, *h_0)]
    run_packed(rnn, x, lengths, h_0)
    assert all(torch.equal(a, b) for a, b in zip((x, lengths, *h_0), copies, strict=True))


def test_bad_input() -> None:
    rnn = make_rnn("gru", batch_first=True)
    x = make_input(rnn, steps=4, batch=2)
    with pytest.raises(TypeError, match=r"run_packed: `input` must be a Tensor, got list"):
        run_packed(rnn, [[1.0]], [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"run_packed: `input` must be 3-D \(B x T x \*"):
        run_packed(rnn, x[0], [1, 2])
    with pytest.raises(ValueError, match=r"run_packed: `lengths` must have one entry per seq"):
        run_packed(rnn, x, [1, 2, 3])
    with pytest.raises(ValueError, match=r"run_packed: `lengths` must be in \[0, 4\], got max 5"):
        run_packed(rnn, x, [1, 5])
    with pytest.raises(TypeError, match=r"run_packed: `lengths` must be an integer tensor"):
        run_packed(rnn, x, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"run_packed: `hx` must be a Tensor or a"):
        run_packed(rnn, x, [0, 2], hx=[torch.zeros(1, 2, 4)])


def test_a_default_lstm_half_of_a_directions_state_with_empty_rows() -> None:
    """#13 defect 2: Directions(None, None) with an empty row raised an AttributeError."""
    bi = Bidirectional(nn.LSTM(3, 4, dtype=DTYPE))
    x = torch.randn(5, 2, 3, dtype=DTYPE)
    for lengths in ([5, 0], [0, 0]):
        expected_output, expected_state = bi(x, lengths=lengths)
        for output, state in (
            bi(x, Directions(None, None), lengths=lengths),
            run_packed(bi, x, lengths, Directions(None, None)),
        ):
            torch.testing.assert_close(output, expected_output)
            torch.testing.assert_close(tuple(state), tuple(expected_state))
            assert [h.shape for h in state.forward] == [(1, 2, 4), (1, 2, 4)]


def test_a_state_for_the_wrong_batch_is_refused() -> None:
    """#13 defect 3: with empty rows, a state for 7 rows passed when B = 2."""
    gru = nn.GRU(3, 4, bidirectional=True)
    x = torch.randn(5, 2, 3)
    shape = r"run_packed: `hx`'s h_0 must have shape \(2, 2, 4\) .* got "
    with pytest.raises(ValueError, match=shape + r"\(2, 7, 4\)"):
        run_packed(gru, x, [5, 0], torch.zeros(2, 7, 4))
    with pytest.raises(ValueError, match=shape + r"\(2, 7, 4\)"):
        run_packed(gru, x, [0, 0], torch.zeros(2, 7, 4))
    with pytest.raises(ValueError, match=shape + r"\(2, 2, 5\)"):
        run_packed(gru, x, [0, 0], torch.zeros(2, 2, 5))
    bi = Bidirectional(nn.GRU(3, 4))
    for lengths in ([5, 0], [0, 0]):
        with pytest.raises(ValueError, match=r"Bidirectional: `hx`'s h_0 must have shape \(1, 2,"):
            bi(x, Directions(torch.zeros(1, 7, 4), None), lengths=lengths)


class NormedGRU(nn.Module):
    """A packed GRU behind a BatchNorm of its input: running statistics that a probe would move."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3, dtype=DTYPE)
        self.gru = nn.GRU(3, 4, dropout=0.5, num_layers=2, dtype=DTYPE)

    def forward(self, packed: PackedSequence, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        output: tuple[Any, Tensor] = self.gru(packed._replace(data=self.norm(packed.data)), hx)
        return output


def test_all_empty_batches_do_not_run_the_module() -> None:
    """#13 defect 10: the one-step probe drew random numbers and moved running statistics."""
    module = NormedGRU().train()
    x = torch.randn(4, 3, 3, dtype=DTYPE)
    rng = torch.random.get_rng_state()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    output, h_n = run_packed(module, x, [0, 0, 0])
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert output.shape == (4, 3, 4) and not output.any()
    assert h_n.shape == (2, 3, 4) and not h_n.any()


def library_copy(rnn: nn.RNNBase) -> nn.Module:
    """The :mod:`birnn_utils.nn` module holding ``rnn``'s very Parameters."""
    module: nn.Module = getattr(birnn_utils.nn, type(rnn).__name__).from_module(rnn)
    return module


class CountingHook:
    """A forward hook (or pre-hook) that counts its calls and reads the data it is given."""

    def __init__(self, module: nn.Module, pre: bool) -> None:
        self.calls = 0
        if pre:
            module.register_forward_pre_hook(lambda _, args: self.read(args[0]))
        else:
            module.register_forward_hook(lambda _, args, output: self.read(output[0]))

    def read(self, value: Tensor | PackedSequence) -> None:
        data = value.data if isinstance(value, PackedSequence) else value
        float(data.detach().sum())  # fails on the meta device, as any hook that logs a value would
        self.calls += 1


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("pre", [False, True], ids=["hook", "pre_hook"])
def test_hooked_library_module_equals_hooked_torch_module(
    kind: str, batch_first: bool, pre: bool
) -> None:
    """#18: a hooked birnn_utils.nn module is packed (final states at the last valid step)."""
    native = make_rnn(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    plain = copy.deepcopy(native)  # for the reference, without hooks
    ours = library_copy(native)
    hooks = [CountingHook(module, pre) for module in (native, ours)]
    x = make_input(native, steps=6, batch=4)
    lengths = [3, 0, 6, 1]
    h_0 = random_state(native, 4)
    for initial in (None, h_0):
        output, state = run_packed(ours, x, lengths, initial)
        expected, expected_state = run_packed(native, x, lengths, initial)
        torch.testing.assert_close(output, expected, rtol=0, atol=0)
        torch.testing.assert_close(state_parts(state), state_parts(expected_state), rtol=0, atol=0)
        reference_output, reference_state = reference(
            plain, x, lengths, None if initial is None else state_parts(initial)
        )
        torch.testing.assert_close(output, reference_output)
        torch.testing.assert_close(state_parts(state), reference_state)
    assert hooks[0].calls == hooks[1].calls == 2


@pytest.mark.parametrize("library", [False, True], ids=["torch.nn", "birnn_utils.nn"])
@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
@pytest.mark.parametrize("batch", [3, 0])
def test_all_empty_batches_with_hooks(library: bool, kind: str, batch: int) -> None:
    """#18: every length 0 and a hooked module: no probe on the meta device, hooks never see one."""
    native = make_rnn(kind, num_layers=2, bidirectional=True)
    rnn = library_copy(native) if library else native
    hooks = [CountingHook(rnn, pre=False), CountingHook(rnn, pre=True)]
    x = make_input(native, steps=4, batch=batch)
    h_0 = random_state(native, batch)
    for initial in (None, h_0):
        output, state = run_packed(rnn, x, [0] * batch, initial)
        assert output.shape == (4, batch, 2 * (native.proj_size or 4)) and not output.any()
        expected = state_parts(initial) if initial is not None else None
        for part, shape, i in zip(
            state_parts(state), state_shapes(native, batch), range(2), strict=False
        ):
            assert part.shape == shape
            assert torch.equal(part, expected[i]) if expected else not part.any()
    # torch.nn's is not called (nothing to pack); birnn_utils.nn's takes the lengths itself.
    assert [hook.calls for hook in hooks] == ([2, 2] if library else [0, 0])


def test_hooked_library_module_compiles() -> None:
    """A hooked birnn_utils.nn module is called with ``lengths=``: one graph, hooks included."""
    native = make_rnn("lstm", batch_first=True)
    ours = library_copy(native)
    calls: list[int] = []
    ours.register_forward_hook(lambda module, args, output: calls.append(1))
    x = make_input(native, steps=5, batch=3)
    lengths = torch.tensor([5, 0, 2])
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(
        lambda x, lengths: run_packed(ours, x, lengths), fullgraph=True, backend=counter
    )
    output, state = compiled(x, lengths)
    expected, expected_state = run_packed(native, x, lengths)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(state_parts(state), state_parts(expected_state))
    assert counter.frame_count == 1 and calls == [1]


@pytest.mark.parametrize(
    ("library", "hook"),
    [(False, "global forward"), (True, "global forward"), (True, "backward")],
    ids=["torch.nn-global", "birnn_utils.nn-global", "birnn_utils.nn-backward"],
)
def test_global_and_backward_hooks_are_never_skipped(library: bool, hook: str) -> None:
    """A module run_packed would run as a kernel is called when a hook would see the call.

    A global forward hook that doubles the output must double what run_packed returns; a full
    backward hook must fire. Both are skipped silently if the kernel runs without the module.
    (torch.nn's modules, called on a PackedSequence, fire no full backward hook themselves.)
    """
    native = make_rnn("gru", batch_first=True)
    rnn: nn.Module = library_copy(native) if library else native
    x = make_input(native, steps=5, batch=3).requires_grad_()
    lengths = torch.tensor([5, 1, 3])
    plain, _ = run_packed(rnn, x, lengths)
    calls: list[str] = []

    def double(module: nn.Module, args: Any, output: Any) -> Any:
        if module is not rnn:
            return None
        calls.append("forward")
        out, state = output
        if isinstance(out, PackedSequence):
            return out._replace(data=2 * out.data), state
        return 2 * out, state

    if hook == "global forward":
        handle = torch.nn.modules.module.register_module_forward_hook(double)
    else:
        handle = rnn.register_full_backward_hook(lambda *_: calls.append("backward"))
    try:
        output, _ = run_packed(rnn, x, lengths)
        output.sum().backward()
    finally:
        handle.remove()
    if hook == "global forward":
        torch.testing.assert_close(output, 2 * plain)
        assert calls == ["forward"]
    else:
        torch.testing.assert_close(output, plain)
        assert calls == ["backward"]
