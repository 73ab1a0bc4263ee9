"""The custom ops ``birnn_utils::packed_rnn`` and ``packed_rnn_backward``, honest with the compiler.

Issue 18, "An honest op": the fake kernels give the real kernels' shapes and strides for every
layout (``opcheck`` over a grid of samples, both ops); inductor-compiled training steps on the
common patterns equal eager ones; the backward works with every length 0 and with B = 0; B = 1
(what the modules make of unbatched input) compiles; the op follows autocast, eager and
compiled alike. The CUDA cases (cuDNN, a non-default stream, float16 and bfloat16 autocast,
inductor on CUDA) carry the ``cuda`` marker; ``scripts/gpu_check.sh`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import pytest
import torch
import torch._inductor.config
from torch import Tensor, nn
from torch.testing import assert_close

import birnn_utils.nn as bnn
from birnn_utils._ops import _in_fresh_thread, packed_rnn

DTYPE = torch.float64
INPUT_SIZE = 3
HIDDEN = 4

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
# cuDNN warns at every call whose weights are not one flat buffer, as separate Parameters are.
cudnn_weights = pytest.mark.filterwarnings(
    "ignore:RNN module weights are not part of single contiguous chunk:UserWarning"
)
# The fixture _fresh_inductor switches the caches off; Dynamo says so.
pytestmark = pytest.mark.filterwarnings("ignore:dynamo_pgo force disabled:UserWarning")
# Inductor's CPU code path calls torch.jit.script_method, which warns in torch 2.13.
inductor_warning = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)


class Sample(NamedTuple):
    """One call of the op: the module's options and the layout of each argument."""

    mode: str
    lengths: str = "mixed"  # "none", "mixed" (0, 1, T, unsorted), "zeros", "empty" (B = 0)
    batch_first: bool = False
    input_layout: str = "contiguous"  # or "transposed" (the other layout's transpose), "strided"
    hx_layout: str = "contiguous"  # or "transposed" ((B, L*D, H).transpose(0, 1)), "none"
    bias: bool = True
    bidirectional: bool = False
    num_layers: int = 1
    proj_size: int = 0

    def module(self) -> nn.RNNBase:
        kwargs: dict[str, Any] = {
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "bidirectional": self.bidirectional,
        }
        if self.mode == "LSTM":
            return nn.LSTM(INPUT_SIZE, HIDDEN, proj_size=self.proj_size, **kwargs)
        if self.mode == "GRU":
            return nn.GRU(INPUT_SIZE, HIDDEN, **kwargs)
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        return nn.RNN(INPUT_SIZE, HIDDEN, nonlinearity=nonlinearity, **kwargs)

    def __str__(self) -> str:
        """The test id: the mode, the layouts and the options."""
        parts = [self.mode.lower(), f"lengths_{self.lengths}", f"x_{self.input_layout}"]
        parts += [f"hx_{self.hx_layout}", f"L{self.num_layers}"]
        parts += ["bf"] * self.batch_first + ["bi"] * self.bidirectional
        parts += ["nobias"] * (not self.bias) + [f"proj{self.proj_size}"] * bool(self.proj_size)
        return "-".join(parts)


def _layout(shape: tuple[int, ...], how: str, generator: torch.Generator) -> Tensor:
    """A float64 tensor of ``shape`` laid out ``how``: contiguous, transposed or strided."""
    if how == "transposed":
        swapped = (shape[1], shape[0], *shape[2:])
        return torch.randn(swapped, dtype=DTYPE, generator=generator).transpose(0, 1)
    if how == "strided":
        wide = (*shape[:-1], 2 * shape[-1])
        return torch.randn(wide, dtype=DTYPE, generator=generator)[..., ::2]
    return torch.randn(shape, dtype=DTYPE, generator=generator)


def op_args(sample: Sample, steps: int = 4, batch: int = 3) -> list[Any]:
    """The op's arguments for ``sample``: float64 leaves that require grad."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    module = sample.module().to(DTYPE)
    if sample.lengths == "empty":
        batch = 0
    shape = (batch, steps, INPUT_SIZE) if sample.batch_first else (steps, batch, INPUT_SIZE)
    x = _layout(shape, sample.input_layout, generator).requires_grad_()
    lengths = {
        "none": None,
        "mixed": torch.tensor([steps, 0, 1][:batch]),
        "zeros": torch.zeros(batch, dtype=torch.int64),
        "empty": torch.zeros(0, dtype=torch.int64),
    }[sample.lengths]
    rows = sample.num_layers * (2 if sample.bidirectional else 1)
    h_shape = (rows, batch, sample.proj_size or HIDDEN)
    how = "contiguous" if sample.hx_layout == "none" else sample.hx_layout
    h0 = _layout(h_shape, how, generator).requires_grad_()
    c0 = None
    if sample.mode == "LSTM":
        c0 = _layout((rows, batch, HIDDEN), how, generator).requires_grad_()
    weights = [
        getattr(module, name).detach().clone().requires_grad_()
        for name in module._flat_weights_names
    ]
    options = [
        sample.mode,
        sample.num_layers,
        sample.bias,
        sample.batch_first,
        sample.bidirectional,
    ]
    return [x, lengths, h0, c0, weights, *options]


def backward_args(sample: Sample) -> list[Any]:
    """The backward op's arguments: gradients (the output's transposed) and the forward's."""
    args = op_args(sample)
    output, h_n, c_n = torch.ops.birnn_utils.packed_rnn(*args)
    generator = torch.Generator().manual_seed(1)
    grad_output = _layout(tuple(output.shape), "transposed", generator)
    grads = [grad_output, torch.randn_like(h_n), torch.randn_like(c_n)]
    forward = [a.detach() if isinstance(a, Tensor) else a for a in args]
    forward[2:4] = [None if t is None else t.detach() for t in args[2:4]]
    forward[4] = [w.detach() for w in args[4]]
    return [*grads, *forward]


# Every factor in at least one sample, and the layouts that made inductor assert in torch 2.13
# (batch_first without lengths, a transposed input's backward, a transposed hx).
GRID = [
    Sample("LSTM", lengths="none", batch_first=True),
    Sample("LSTM", input_layout="transposed", bidirectional=True),
    Sample("LSTM", lengths="none", input_layout="transposed", hx_layout="transposed"),
    Sample("LSTM", hx_layout="transposed", num_layers=2, proj_size=2),
    Sample("LSTM", lengths="zeros", hx_layout="transposed", bidirectional=True),
    Sample("LSTM", lengths="empty", batch_first=True),
    Sample("GRU", batch_first=True, input_layout="transposed", hx_layout="transposed"),
    Sample("GRU", lengths="none", input_layout="strided", bias=False, num_layers=2),
    Sample("GRU", lengths="zeros", batch_first=True, bidirectional=True),
    Sample("RNN_TANH", lengths="none", batch_first=True, hx_layout="transposed", num_layers=2),
    Sample("RNN_TANH", input_layout="strided", bidirectional=True, bias=False),
    Sample("RNN_RELU", batch_first=True, input_layout="strided", num_layers=2),
    Sample("RNN_RELU", lengths="empty", bidirectional=True, hx_layout="transposed"),
]


@pytest.mark.parametrize("sample", GRID, ids=str)
def test_opcheck_forward(sample: Sample) -> None:
    """Schema, autograd registration, fake kernel (shapes and strides), AOT dispatch."""
    torch.library.opcheck(torch.ops.birnn_utils.packed_rnn.default, tuple(op_args(sample)))


@pytest.mark.parametrize("sample", GRID, ids=str)
def test_opcheck_backward(sample: Sample) -> None:
    torch.library.opcheck(
        torch.ops.birnn_utils.packed_rnn_backward.default, tuple(backward_args(sample))
    )


@pytest.mark.parametrize("sample", GRID, ids=str)
def test_outputs_and_gradients_are_contiguous(sample: Sample) -> None:
    """The layout the fake kernels promise, whatever the kernel's own (see the report of #18)."""
    args = op_args(sample)
    outputs = torch.ops.birnn_utils.packed_rnn(*args)
    grads = torch.ops.birnn_utils.packed_rnn_backward(*backward_args(sample))
    for tensor in [*outputs, *grads]:
        assert tensor.is_contiguous()
    c0 = args[3] if args[3] is not None else torch.empty(0)
    shapes = [t.shape for t in [args[0], args[2], c0, *args[4]]]
    assert [g.shape for g in grads] == shapes


# --- compiled training steps equal eager ones -----------------------------------------------


def loss_and_grads(step: Callable[..., Tensor], model: nn.Module, *args: Any) -> list[Tensor]:
    """The loss and the gradient of every parameter (zeros where none flows)."""
    leaves = [a.detach().clone().requires_grad_() if _floating(a) else a for a in args]
    loss = step(*leaves)
    wrt = [a for a in leaves if isinstance(a, Tensor) and a.requires_grad]
    wrt += list(model.parameters())
    return [loss, *torch.autograd.grad(loss, wrt, allow_unused=True, materialize_grads=True)]


def _floating(a: object) -> bool:
    return isinstance(a, Tensor) and a.is_floating_point()


class Tagger(nn.Module):
    """embedding -> transpose(0, 1) -> birnn_utils.nn.LSTM with lengths -> linear -> loss."""

    def __init__(self, batch_first: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(11, INPUT_SIZE)
        self.lstm = bnn.LSTM(INPUT_SIZE, HIDDEN, bidirectional=True, batch_first=batch_first)
        self.head = nn.Linear(2 * HIDDEN, 5)

    def forward(self, tokens: Tensor, lengths: Tensor | None, labels: Tensor) -> Tensor:
        x = self.embedding(tokens)  # B x T x D
        if not self.lstm.batch_first:
            x = x.transpose(0, 1)
            labels = labels.t()
        output, _ = self.lstm(x, lengths=lengths)
        logits = self.head(output)
        return nn.functional.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1))


def tagger_batch(batch: int = 3, steps: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, 11, (batch, steps), generator=generator)
    labels = torch.randint(0, 5, (batch, steps), generator=generator)
    lengths = torch.tensor([steps, 2, 1, 0, 3][:batch])
    return tokens, lengths, labels


@pytest.fixture(autouse=True)
def _fresh_inductor() -> Iterator[None]:
    """No compiled code from the on-disk caches: their keys ignore a custom op's fake kernel."""
    with torch._inductor.config.patch(force_disable_caches=True):
        yield


def assert_compiled_step_equals_eager(
    model: nn.Module, args: tuple[Any, ...], backend: str = "inductor"
) -> None:
    torch.compiler.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    expected = loss_and_grads(model, model, *args)
    got = loss_and_grads(compiled, model, *args)
    assert_close(got, expected)


@inductor_warning
@pytest.mark.parametrize("lengths", [True, False], ids=["lengths", "no_lengths"])
def test_inductor_training_step_on_embedding_transpose(lengths: bool) -> None:
    """The most common pattern: its backward's input gradient had other strides than the fake's."""
    torch.manual_seed(0)
    model = Tagger().to(DTYPE)
    tokens, lens, labels = tagger_batch()
    assert_compiled_step_equals_eager(model, (tokens, lens if lengths else None, labels))


@inductor_warning
def test_inductor_batch_first_without_lengths() -> None:
    """The padded kernel's batch_first output is a transpose; the fake said contiguous."""
    torch.manual_seed(0)
    model = Tagger(batch_first=True).to(DTYPE)
    tokens, _, labels = tagger_batch()
    assert_compiled_step_equals_eager(model, (tokens, None, labels))


class WithState(nn.Module):
    """A GRU or LSTM given an ``hx`` that is the transpose of batch-major tensors."""

    def __init__(self, lstm: bool) -> None:
        super().__init__()
        cls = bnn.LSTM if lstm else bnn.GRU
        self.rnn = cls(INPUT_SIZE, HIDDEN, num_layers=2)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: Tensor, state: Tensor, lengths: Tensor | None) -> Tensor:
        h0 = state.transpose(0, 1)  # B x L x H -> L x B x H
        hx = (h0, 2 * h0) if isinstance(self.rnn, bnn.LSTM) else h0
        output, final = self.rnn(x, hx, lengths=lengths)
        h_n = final[0] if isinstance(final, tuple) else final
        loss: Tensor = self.head(output).sum() + h_n.square().sum()
        return loss


@inductor_warning
@pytest.mark.parametrize("lstm", [False, True], ids=["gru", "lstm"])
@pytest.mark.parametrize("lengths", [True, False], ids=["lengths", "no_lengths"])
def test_inductor_transposed_hx(lengths: bool, lstm: bool) -> None:
    torch.manual_seed(0)
    model = WithState(lstm).to(DTYPE)
    x = torch.randn(5, 3, INPUT_SIZE, dtype=DTYPE)
    state = torch.randn(3, 2, HIDDEN, dtype=DTYPE)  # B x L x H
    lens = torch.tensor([0, 5, 2]) if lengths else None
    assert_compiled_step_equals_eager(model, (x, state, lens))


@pytest.mark.parametrize("batch", [0, 3], ids=["B0", "every_length_0"])
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
@inductor_warning
def test_backward_with_every_length_zero_or_no_rows(batch: int, backend: str) -> None:
    """Zero outputs and h_0/c_0 kept: the gradients reach the head and hx only."""
    torch.manual_seed(0)
    model = Tagger().to(DTYPE)
    tokens, _, labels = tagger_batch(batch=max(batch, 1))
    tokens, labels = tokens[:batch], labels[:batch]
    lengths = torch.zeros(batch, dtype=torch.int64)
    if batch == 0:
        model = Summed().to(DTYPE)
    assert_compiled_step_equals_eager(model, (tokens, lengths, labels), backend)
    grads = loss_and_grads(model, model, tokens, lengths, labels)[1:]
    names = [name for name, _ in model.named_parameters()]
    for name, grad in zip(names, grads, strict=True):
        if name.startswith(("lstm", "embedding")):
            assert not grad.any(), name


class Summed(Tagger):
    """A loss that stays finite without rows (cross_entropy of nothing is nan)."""

    def forward(self, tokens: Tensor, lengths: Tensor | None, labels: Tensor) -> Tensor:
        output, _ = self.lstm(self.embedding(tokens).transpose(0, 1), lengths=lengths)
        return output.sum() + self.head.weight.sum()  # type: ignore[no-any-return]


def test_packed_rnn_with_one_row_compiles() -> None:
    """What the modules make of unbatched (T, D) input: a batch of 1, hx unsqueezed."""
    torch.manual_seed(0)
    native = nn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2).to(DTYPE)
    x = torch.randn(5, INPUT_SIZE, dtype=DTYPE)
    hx = (torch.randn(2, HIDDEN, dtype=DTYPE), torch.randn(2, HIDDEN, dtype=DTYPE))
    ours = bnn.LSTM.from_module(native)  # Dynamo refuses torch.nn's RNN modules

    def unbatched(x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        output, (h_n, c_n) = packed_rnn(
            ours, x.unsqueeze(1), None, (h.unsqueeze(1), c.unsqueeze(1)), "test"
        )
        return output.squeeze(1), h_n.squeeze(1), c_n.squeeze(1)

    compiled = torch.compile(unbatched, backend="aot_eager", fullgraph=True)
    expected_output, (expected_h, expected_c) = native(x, hx)
    got = loss_and_grads(lambda *a: weighted(compiled(*a)), native, x, *hx)
    want = loss_and_grads(lambda x, h, c: weighted(native(x, (h, c))), native, x, *hx)
    assert_close(got, want)
    assert_close(list(compiled(x, *hx)), [expected_output, expected_h, expected_c])


class Unbatched(nn.Module):
    """An LSTM on one ``T x D`` sequence, its ``hx`` a column of batched states."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = bnn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2, proj_size=2)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> Tensor:
        output, (h_n, c_n) = self.lstm(x, (h[:, 1], c[:, 1]))  # L x H, not contiguous
        return weighted([output, h_n, c_n])


@inductor_warning
def test_inductor_unbatched_input_with_a_strided_hx() -> None:
    """Unbatched input (the module makes it a batch of 1) trains under inductor as in eager."""
    torch.manual_seed(0)
    model = Unbatched().to(DTYPE)
    x = torch.randn(5, INPUT_SIZE, dtype=DTYPE)
    h, c = torch.randn(2, 3, 2, dtype=DTYPE), torch.randn(2, 3, HIDDEN, dtype=DTYPE)
    assert_compiled_step_equals_eager(model, (x, h, c))


def weighted(result: Any) -> Tensor:
    flat = [t for part in result for t in (part if isinstance(part, tuple) else (part,))]
    return torch.stack(
        [(t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype).view_as(t)).sum() for t in flat]
    ).sum()


# --- autocast ---------------------------------------------------------------------------------


class Encoder(nn.Module):
    """A Linear (bfloat16 activations under autocast) feeding a birnn_utils.nn module."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.proj = nn.Linear(INPUT_SIZE, INPUT_SIZE)
        self.rnn = rnn

    def forward(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        output, _ = self.rnn(self.proj(x), lengths=lengths)
        return output  # type: ignore[no-any-return]


AUTOCAST_MODULES: dict[str, Callable[[], nn.Module]] = {
    "lstm": lambda: bnn.LSTM(INPUT_SIZE, HIDDEN, bidirectional=True),
    "gru": lambda: bnn.GRU(INPUT_SIZE, HIDDEN, num_layers=2),
    "rnn": lambda: bnn.RNN(INPUT_SIZE, HIDDEN, nonlinearity="relu"),
}


def autocast_outputs(
    model: Callable[..., Tensor],
    parameters: Sequence[Tensor],
    x: Tensor,
    lengths: Tensor | None,
    device_type: str,
    dtype: torch.dtype,
) -> list[Tensor]:
    """The output and the float32 gradients of the input and every parameter, under autocast."""
    leaf = x.detach().clone().requires_grad_()
    with torch.autocast(device_type, dtype=dtype):
        output = model(leaf, lengths)
    grads = torch.autograd.grad(weighted([output]), [leaf, *parameters])
    return [output, *grads]


@pytest.mark.parametrize(
    ("kind", "backend"),
    [(kind, "aot_eager") for kind in AUTOCAST_MODULES] + [("lstm", "inductor")],
)
@pytest.mark.parametrize("lengths", [True, False], ids=["lengths", "no_lengths"])
@inductor_warning
def test_autocast_compiled_equals_eager(kind: str, backend: str, lengths: bool) -> None:
    """Same dtypes (bfloat16 out, float32 gradients) and the same numbers; no dtype crash."""
    torch.manual_seed(0)
    model = Encoder(AUTOCAST_MODULES[kind]())
    x = torch.randn(5, 3, INPUT_SIZE)
    lens = torch.tensor([5, 0, 2]) if lengths else None
    params = list(model.parameters())
    eager = autocast_outputs(model, params, x, lens, "cpu", torch.bfloat16)
    torch.compiler.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    got = autocast_outputs(compiled, params, x, lens, "cpu", torch.bfloat16)
    assert eager[0].dtype == torch.bfloat16
    assert [t.dtype for t in got] == [t.dtype for t in eager]
    assert_close(got, eager, rtol=0, atol=0)


def test_autocast_matches_torch_nn_lstm_on_the_padded_path() -> None:
    """On the CPU torch.nn.LSTM's padded kernel (oneDNN) runs wholly in bfloat16, as the op."""
    torch.manual_seed(0)
    native = nn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2, bidirectional=True)
    ours = bnn.LSTM.from_module(native)
    x = torch.randn(5, 3, INPUT_SIZE)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_output, (expected_h, expected_c) = native(x)
        output, (h_n, c_n) = packed_rnn(native, x, None, None, "test")
        compiled = torch.compile(
            lambda x: packed_rnn(ours, x, None, None, "test"), backend="aot_eager"
        )(x)
    assert output.dtype == expected_output.dtype == torch.bfloat16
    assert_close([output, h_n, c_n], [expected_output, expected_h, expected_c], rtol=0, atol=0)
    assert_close([compiled[0], *compiled[1]], [output, h_n, c_n], rtol=0, atol=0)


def test_autocast_rule_of_the_op_itself() -> None:
    """Called directly under autocast, the op casts every floating input to autocast's dtype."""
    args = op_args(Sample("GRU", input_layout="transposed"))
    args[0] = args[0].float()
    args[2] = args[2].float()
    args[4] = [w.float() for w in args[4]]
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", dtype=dtype):
            output, h_n, _ = torch.ops.birnn_utils.packed_rnn(*args)
        assert output.dtype == h_n.dtype == dtype
        cast = [a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args]
        cast[4] = [w.to(dtype) for w in args[4]]
        assert_close(output, torch.ops.birnn_utils.packed_rnn(*cast)[0], rtol=0, atol=0)


# --- CUDA ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AUTOCAST_MODULES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
@pytest.mark.cuda
@needs_cuda
@cudnn_weights
def test_cuda_autocast_compiled_equals_eager(kind: str, dtype: torch.dtype, backend: str) -> None:
    torch.manual_seed(0)
    model = Encoder(AUTOCAST_MODULES[kind]()).cuda()
    x = torch.randn(5, 3, INPUT_SIZE, device="cuda")
    lens = torch.tensor([5, 0, 2])
    params = list(model.parameters())
    eager = autocast_outputs(model, params, x, lens, "cuda", dtype)
    torch.compiler.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    got = autocast_outputs(compiled, params, x, lens, "cuda", dtype)
    assert eager[0].dtype == dtype
    assert [t.dtype for t in got] == [t.dtype for t in eager]
    # The Linear in front may be fused or reordered by inductor: equal up to a rounding of dtype.
    tolerance = {"rtol": 0, "atol": 0} if backend == "aot_eager" else {"rtol": 2e-2, "atol": 2e-2}
    assert_close(got, eager, **tolerance)


@pytest.mark.cuda
@needs_cuda
@cudnn_weights
def test_cuda_autocast_matches_torch_nn_lstm() -> None:
    """Under autocast, cuDNN gives torch.nn.LSTM's output dtype and values, padded and packed."""
    torch.manual_seed(0)
    native = nn.LSTM(INPUT_SIZE, HIDDEN, bidirectional=True).cuda()
    x = torch.randn(5, 3, INPUT_SIZE, device="cuda")
    lengths = torch.tensor([5, 4, 2])
    with torch.autocast("cuda", dtype=torch.float16):
        expected, _ = native(x)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        expected_packed, _ = nn.utils.rnn.pad_packed_sequence(native(packed)[0], total_length=5)
        output, _ = packed_rnn(native, x, None, None, "test")
        output_packed, _ = packed_rnn(native, x, lengths, None, "test")
    assert output.dtype == expected.dtype
    assert output_packed.dtype == expected_packed.dtype
    assert_close(output, expected, rtol=1e-3, atol=1e-3)
    assert_close(output_packed, expected_packed, rtol=1e-3, atol=1e-3)


@pytest.mark.cuda
@needs_cuda
def test_cuda_fresh_thread_runs_on_the_callers_stream() -> None:
    device = torch.device("cuda", torch.cuda.current_device())
    side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]

    def current() -> list[Tensor]:
        return [torch.tensor(torch.cuda.current_stream(device).cuda_stream)]

    with torch.cuda.stream(side):
        seen = _in_fresh_thread(current, device)
    assert int(seen[0]) == side.cuda_stream
    assert int(_in_fresh_thread(current, device)[0]) == torch.cuda.current_stream().cuda_stream


@pytest.mark.cuda
@needs_cuda
@cudnn_weights
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_cuda_compiled_training_step_on_a_side_stream(backend: str) -> None:
    """The compiled backward (the op's recomputation in a fresh thread) on a non-default stream.

    Large enough that a backward racing the forward on another stream would read garbage.
    """
    torch.manual_seed(0)
    model = Tagger().to("cuda", DTYPE)
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 11, (64, 50), generator=generator).cuda()
    labels = torch.randint(0, 5, (64, 50), generator=generator).cuda()
    lengths = torch.randint(0, 51, (64,), generator=generator)
    expected = loss_and_grads(model, model, tokens, lengths, labels)
    torch.compiler.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        got = loss_and_grads(compiled, model, tokens, lengths, labels)
    torch.cuda.current_stream().wait_stream(side)
    assert_close(got, expected)


@pytest.mark.cuda
@needs_cuda
@cudnn_weights
@pytest.mark.parametrize(
    "sample",
    [GRID[0], GRID[2], GRID[3], GRID[6], GRID[9]],
    ids=str,
)
def test_cuda_opcheck(sample: Sample) -> None:
    """The contiguous promise holds for cuDNN's own layouts (a transposed batch_first output)."""
    args = op_args(sample)
    moved = [a.detach().cuda().requires_grad_() if isinstance(a, Tensor) and a.is_floating_point()
             else a for a in args]  # fmt: skip
    moved[4] = [w.detach().cuda().requires_grad_() for w in args[4]]
    torch.library.opcheck(torch.ops.birnn_utils.packed_rnn.default, tuple(moved))


def test_meta_device_has_no_autocast_to_ask() -> None:
    """The eager path asks for autocast only where the device type has one."""
    lstm = bnn.LSTM(INPUT_SIZE, HIDDEN, device="meta")
    output, (h_n, _) = packed_rnn(
        lstm, torch.empty(5, 2, INPUT_SIZE, device="meta"), None, None, "t"
    )
    assert output.shape == (5, 2, HIDDEN) and h_n.device.type == "meta"
