"""PyTorch's own RNN/GRU/LSTM module tests, run for ``torch.nn``'s classes and for ours.

Ported from pytorch/pytorch ``test/test_nn.py`` (``TestNN`` and ``TestNNDeviceType``),
``test/test_autograd.py`` (the RNN double-backward tests) and the ``module_db`` entries of the
installed torch (``torch/testing/_internal/common_modules.py``: the ``module_inputs_func`` and
``module_error_inputs_func`` samples of ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``, run through the
generic ``test/test_modules.py`` checks that apply to them).

Each test runs twice, with the ids ``torch`` (the ``torch.nn`` class: a check of the port
itself) and ``birnn_utils`` (``birnn_utils.nn``'s drop-in). Each keeps the original's
assertions; where the original compares a module with itself (CPU against CUDA, contiguous
against not), the ``birnn_utils`` run also compares with ``torch.nn``'s module holding the same
weights. A test that reads ``torch.nn`` internals (``_flat_weights``, cuDNN's flat weight buffer)
is skipped for ours, with the reason. CUDA tests are skipped without CUDA (the ``cuda`` marker).
Sizes are the originals'. ``test_rnn_retain_variables`` and ``test_variable_sequence`` follow
torch's device-generic versions (an older ``TestNN`` revision holds the same assertions); the
``*_public`` and ``*_dtype`` variants are CPU-runnable companions of an original, said so in
their docstrings. Under CUDA, torch's TF32 variants run with TF32 off.
"""

from __future__ import annotations

import copy
import importlib
import io
import itertools
import pickle
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils import rnn as rnn_utils
from torch.nn.utils.rnn import PackedSequence
from torch.testing import assert_close

import birnn_utils.nn as bnn

# torch's test helpers are untyped (and import expecttest): reached through Any.
_common_modules: Any = importlib.import_module("torch.testing._internal.common_modules")

MODES = ("RNN", "GRU", "LSTM")
NATIVE: dict[str, type[nn.Module]] = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
OURS: dict[str, type[nn.Module]] = {"RNN": bnn.RNN, "GRU": bnn.GRU, "LSTM": bnn.LSTM}

CUDA = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
]
CUDNN = pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.backends.cudnn.is_available()),  # type: ignore[no-untyped-call]
    reason="cuDNN is not available",
)
MULTI_GPU = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
# The device the CPU-versus-GPU tests compare with (a name, so the port can be dry-run on CPU).
GPU = "cuda"


@dataclass(frozen=True)
class ClsPair:
    """``(torch.nn class, birnn_utils.nn class)`` of each kind, and which family is tested.

    ``name`` is ``"torch"`` (``torch.nn``'s classes are tested) or ``"birnn_utils"`` (ours).
    """

    name: str

    @property
    def ours(self) -> bool:
        return self.name == "birnn_utils"

    def pair(self, mode: str) -> tuple[Any, Any]:
        """``(torch.nn.<mode>, birnn_utils.nn.<mode>)``."""
        return NATIVE[mode], OURS[mode]

    def cls(self, mode: str) -> Any:
        """The tested class of kind ``mode``."""
        return self.pair(mode)[1 if self.ours else 0]

    def make(self, mode: str, *args: Any, **kwargs: Any) -> Any:
        return self.cls(mode)(*args, **kwargs)


CLS_PAIRS = [pytest.param(ClsPair(name), id=name) for name in ("torch", "birnn_utils")]


@pytest.fixture(params=CLS_PAIRS)
def cls_pair(request: pytest.FixtureRequest) -> ClsPair:
    """``torch.nn``'s classes (id ``torch``) or ``birnn_utils.nn``'s (id ``birnn_utils``)."""
    value: ClsPair = request.param
    return value


def skip_internals(cls_pair: ClsPair, what: str) -> None:
    if cls_pair.ours:
        pytest.skip(f"reads torch.nn internals: {what}")


def clone_tree(obj: Any, fn: Callable[[Tensor], Tensor] | None = None) -> Any:
    """A copy of nested tensors/tuples/PackedSequences: fresh leaves with the same grad flag."""

    def leaf(t: Tensor) -> Tensor:
        out = t.detach().clone() if fn is None else fn(t.detach())
        return out.requires_grad_(t.requires_grad)

    if isinstance(obj, PackedSequence):
        return PackedSequence(
            leaf(obj.data), obj.batch_sizes, obj.sorted_indices, obj.unsorted_indices
        )
    if isinstance(obj, Tensor):
        return leaf(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(clone_tree(o, fn) for o in obj)
    return obj


def tensors_of(obj: Any) -> Iterator[Tensor]:
    """The tensors of nested tuples/PackedSequences (a PackedSequence's ``data`` only)."""
    if isinstance(obj, PackedSequence):
        yield obj.data
    elif isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from tensors_of(o)


def grad_of(t: Tensor) -> Tensor:
    """``t.grad``, which the test has populated."""
    assert t.grad is not None
    return t.grad


def weighted_sum(tensors: list[Tensor]) -> Tensor:
    """A loss whose gradient differs at every element, so that no mix-up cancels out."""
    total = torch.zeros((), dtype=tensors[0].dtype, device=tensors[0].device)
    for t in tensors:
        ramp = torch.linspace(-1, 1, t.numel(), dtype=t.dtype, device=t.device)
        total = total + (t * ramp.view_as(t)).sum()
    return total


def run_with_grads(m: Any, args: Any) -> tuple[list[Tensor], list[Tensor | None]]:
    """``m(*args)``'s output tensors and the gradients of a weighted sum of them.

    Gradients for every input that requires grad, then for every parameter.
    """
    outputs = list(tensors_of(m(*args)))
    leaves = [t for t in tensors_of(args) if t.requires_grad] + list(m.parameters())
    grads = torch.autograd.grad(weighted_sum(outputs), leaves, allow_unused=True)
    return [o.detach() for o in outputs], list(grads)


# --------------------------------------------------------------------------------------------
# test/test_nn.py, TestNN
# --------------------------------------------------------------------------------------------


def test_rnn_nonlinearity(cls_pair: ClsPair) -> None:
    rnn = cls_pair.make("RNN", 1, 10)
    assert rnn.nonlinearity == "tanh"

    rnn = cls_pair.make("RNN", 1, 10, nonlinearity="relu")
    assert rnn.nonlinearity == "relu"

    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        cls_pair.make("RNN", 1, 10, nonlinearity="garbage")


def test_rnn_nonlinearity_passed_as_arg(cls_pair: ClsPair) -> None:
    rnn = cls_pair.make("RNN", 2, 3, 1, "relu")
    assert rnn.nonlinearity == "relu"


def test_rnn_weight_norm(cls_pair: ClsPair) -> None:
    skip_internals(cls_pair, "_flat_weights")

    def check_weight_norm(layer: Any, name: str, num_params: int) -> None:
        # This Module has 4 or 5 parameters called:
        # 'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', weight_hr_l0

        # Applying weight norm on one of them causes it to become a tensor
        with pytest.warns(FutureWarning, match="deprecated"):
            layer = torch.nn.utils.weight_norm(layer, name=name)
        assert sum(isinstance(p, nn.Parameter) for p in layer._flat_weights) == num_params - 1

        # Removing the weight norm reparametrization restores the Parameter
        layer = torch.nn.utils.remove_weight_norm(layer, name=name)
        assert sum(isinstance(p, nn.Parameter) for p in layer._flat_weights) == num_params

        # Upon removal of the reparametrization, `._parameters` and `.named_parameters` hold
        # the original weight again, and no longer its `_v` and `_g` components.
        assert name in layer._parameters
        assert layer._parameters[name] is not None
        assert name + "_v" not in layer._parameters
        assert name + "_g" not in layer._parameters
        assert name in dict(layer.named_parameters())
        assert dict(layer.named_parameters())[name] is not None
        assert name + "_v" not in dict(layer.named_parameters())
        assert name + "_g" not in dict(layer.named_parameters())

    check_weight_norm(cls_pair.make("LSTM", 32, 32), "weight_ih_l0", 4)
    check_weight_norm(cls_pair.make("LSTM", 32, 32, proj_size=16), "weight_hr_l0", 5)


def test_rnn_weight_norm_public(cls_pair: ClsPair) -> None:
    """test_rnn_weight_norm's public half: the parameters, and the output, of the module."""
    for kwargs, name in (({}, "weight_ih_l0"), ({"proj_size": 16}, "weight_hr_l0")):
        torch.manual_seed(0)
        layer = cls_pair.make("LSTM", 32, 32, **kwargs)
        x = torch.randn(3, 2, 32)
        expected = layer(x)[0]
        with pytest.warns(FutureWarning, match="deprecated"):
            layer = torch.nn.utils.weight_norm(layer, name=name)
        params = dict(layer.named_parameters())
        assert name not in params
        assert {name + "_g", name + "_v"} <= set(params)
        assert_close(layer(x)[0], expected)
        layer = torch.nn.utils.remove_weight_norm(layer, name=name)
        params = dict(layer.named_parameters())
        assert name in params
        assert name + "_g" not in params
        assert name + "_v" not in params
        assert_close(layer(x)[0], expected)


def test_rnn_args_check(cls_pair: ClsPair) -> None:
    input_size = 3
    hidden_size = 5
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1
    bad_size = 7  # prime number so that no size can divide it.

    def check(input_shape: tuple[int, ...], hidden_shape: tuple[int, ...], mode: str) -> None:
        for input, hidden in get_inputs(input_shape, hidden_shape, mode):
            model = cls_pair.make(mode, input_size, hidden_size, num_layers)
            with pytest.raises(RuntimeError):
                model(input, hidden)

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_shape = (num_layers * num_directions, batch_size, hidden_size)

    def update_shape(shape: tuple[int, ...], dim: int, new_dim_size: int) -> tuple[int, ...]:
        new_shape = list(shape)
        new_shape[dim] = new_dim_size
        return tuple(new_shape)

    def get_inputs(
        input_shape: tuple[int, ...], hidden_shape: tuple[int, ...], mode: str
    ) -> list[tuple[Tensor, Any]]:
        """list(tuple(input, hidden)), the inputs to a model."""
        input = torch.randn(input_shape)
        hidden = torch.randn(hidden_shape)
        if mode != "LSTM":
            return [(input, hidden)]
        if hidden_shape == correct_hidden_shape:
            return [(input, (hidden, hidden))]
        good_hidden = torch.randn(correct_hidden_shape)
        return [(input, (hidden, good_hidden)), (input, (good_hidden, hidden))]

    for mode in MODES:
        # Incorrect input batch size
        check(update_shape(correct_input_shape, 1, bad_size), correct_hidden_shape, mode)
        # Incorrect hidden batch size
        check(correct_input_shape, update_shape(correct_hidden_shape, 1, bad_size), mode)
        # Incorrect input size
        check(update_shape(correct_input_shape, 2, bad_size), correct_hidden_shape, mode)
        # Incorrect hidden size
        check(correct_input_shape, update_shape(correct_hidden_shape, 2, bad_size), mode)
        # Incorrect hidden[0]
        check(correct_input_shape, update_shape(correct_hidden_shape, 0, bad_size), mode)


def test_projections_lstm_args_check(cls_pair: ClsPair) -> None:
    input_size = 3
    hidden_size = 5
    proj_size = 2
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1
    bad_size = 7  # prime number so that no size can divide it.

    def check(
        input_shape: tuple[int, ...],
        hidden_h_shape: tuple[int, ...],
        hidden_c_shape: tuple[int, ...],
    ) -> None:
        input = torch.randn(input_shape)
        hidden = (torch.randn(hidden_h_shape), torch.randn(hidden_c_shape))
        model = cls_pair.make("LSTM", input_size, hidden_size, num_layers, proj_size=proj_size)
        with pytest.raises(RuntimeError):
            model(input, hidden)

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_h_shape = (num_layers * num_directions, batch_size, proj_size)
    correct_hidden_c_shape = (num_layers * num_directions, batch_size, hidden_size)

    def update_shape(shape: tuple[int, ...], dim: int, new_dim_size: int) -> tuple[int, ...]:
        new_shape = list(shape)
        new_shape[dim] = new_dim_size
        return tuple(new_shape)

    # Incorrect input batch size
    check(
        update_shape(correct_input_shape, 1, bad_size),
        correct_hidden_h_shape,
        correct_hidden_c_shape,
    )
    # Incorrect hidden batch size
    check(
        correct_input_shape,
        update_shape(correct_hidden_h_shape, 1, bad_size),
        update_shape(correct_hidden_c_shape, 1, bad_size),
    )
    # Incorrect input size
    check(
        update_shape(correct_input_shape, 2, bad_size),
        correct_hidden_h_shape,
        correct_hidden_c_shape,
    )
    # Incorrect hidden size
    check(
        correct_input_shape,
        update_shape(correct_hidden_h_shape, 2, bad_size),
        update_shape(correct_hidden_c_shape, 2, bad_size),
    )
    # Incorrect hidden[0]
    check(
        correct_input_shape,
        update_shape(correct_hidden_h_shape, 0, bad_size),
        update_shape(correct_hidden_c_shape, 0, bad_size),
    )
    # Incorrect proj size = hidden size
    check(
        correct_input_shape,
        update_shape(correct_hidden_h_shape, 0, hidden_size),
        correct_hidden_c_shape,
    )
    # Incorrect proj size != hidden size
    check(
        correct_input_shape,
        update_shape(correct_hidden_h_shape, 0, bad_size),
        correct_hidden_c_shape,
    )
    # Incorrect cell size != hidden size
    check(
        correct_input_shape,
        correct_hidden_h_shape,
        update_shape(correct_hidden_c_shape, 0, bad_size),
    )


@pytest.mark.cuda
@MULTI_GPU
def test_rnn_check_device(cls_pair: ClsPair) -> None:
    input_size = 3
    hidden_size = 5
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_shape = (num_layers * num_directions, batch_size, hidden_size)

    for mode in MODES:
        model = cls_pair.make(mode, input_size, hidden_size, num_layers)
        model_cuda = copy.deepcopy(model).to("cuda:0")
        input = torch.randn(correct_input_shape)
        hidden = torch.randn(correct_hidden_shape)

        # input and weights are not at the same device
        with pytest.raises(
            RuntimeError, match="Input and parameter tensors are not at the same device"
        ):
            model(input.to("cuda:0"))
        with pytest.raises(
            RuntimeError, match="Input and parameter tensors are not at the same device"
        ):
            model_cuda(input)

        # input and hiddens are not at the same device
        on_gpu: Any = (hidden.to("cuda:0"), hidden.to("cuda:0")) if mode == "LSTM" else hidden
        with pytest.raises(
            RuntimeError, match="Input and hidden tensors are not at the same device"
        ):
            model(input, on_gpu if mode == "LSTM" else hidden.to("cuda:0"))
        on_cpu: Any = (hidden, hidden) if mode == "LSTM" else hidden
        with pytest.raises(
            RuntimeError, match="Input and hidden tensors are not at the same device"
        ):
            model_cuda(input.to("cuda:0"), on_cpu)

        # hidden tensors are not at the same CUDA device
        if mode == "LSTM":
            with pytest.raises(
                RuntimeError, match="Input and hidden tensors are not at the same device"
            ):
                model(input.to("cuda:0"), (hidden.to("cuda:0"), hidden.to("cuda:1")))


@pytest.mark.cuda
@MULTI_GPU
def test_projections_lstm_check_device(cls_pair: ClsPair) -> None:
    input_size = 3
    hidden_size = 5
    proj_size = 2
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_h_shape = (num_layers * num_directions, batch_size, proj_size)
    correct_hidden_c_shape = (num_layers * num_directions, batch_size, hidden_size)

    model = cls_pair.make("LSTM", input_size, hidden_size, num_layers, proj_size=proj_size)
    input = torch.randn(correct_input_shape)
    hidden_h = torch.randn(correct_hidden_h_shape)
    hidden_c = torch.randn(correct_hidden_c_shape)

    # input and weights are not at the same device
    with pytest.raises(
        RuntimeError, match="Input and parameter tensors are not at the same device"
    ):
        model(input.to("cuda:0"))

    # input and hiddens are not at the same device
    with pytest.raises(RuntimeError, match="Input and hidden tensors are not at the same device"):
        model(input, (hidden_h.to("cuda:0"), hidden_c.to("cuda:0")))

    # hidden tensors are not at the same CUDA device
    with pytest.raises(RuntimeError, match="Input and hidden tensors are not at the same device"):
        model(input.to("cuda:0"), (hidden_h.to("cuda:0"), hidden_c.to("cuda:1")))


def test_rnn_initial_hidden_state(cls_pair: ClsPair) -> None:
    for mode in MODES:
        rnn = cls_pair.make(mode, 30, 20, 2)
        input = torch.randn(10, 32, 30)
        hidden: Any = torch.zeros(2, 32, 20)

        if mode == "LSTM":
            hidden = (hidden, hidden)
        output1, hidden1 = rnn(input, hidden)
        output2, hidden2 = rnn(input)
        assert_close(output1, output2)
        assert_close(hidden1, hidden2)


def test_projections_lstm_initial_hidden_state(cls_pair: ClsPair) -> None:
    for bidir in [False, True]:
        rnn = cls_pair.make("LSTM", 30, 20, 2, bidirectional=bidir, proj_size=10)
        num_dirs = 2 if bidir else 1
        input = torch.randn(10, 32, 30)
        hidden_h = torch.zeros(2 * num_dirs, 32, 10)
        hidden_c = torch.zeros(2 * num_dirs, 32, 20)
        hidden = (hidden_h, hidden_c)
        output1, hidden1 = rnn(input, hidden)
        output2, hidden2 = rnn(input)
        assert_close(output1, output2)
        assert_close(hidden1, hidden2)


def test_projections_errors_on_gru_and_rnn(cls_pair: ClsPair) -> None:
    error_msg = "proj_size argument is only supported for LSTM, not RNN or GRU"
    for mode in ["RNN", "GRU"]:
        with pytest.raises(ValueError, match=error_msg):
            cls_pair.make(mode, 30, 20, 2, proj_size=10)


def _test_rnn_cpu_vs_cudnn(
    cls_pair: ClsPair, dropout: float, dtype: torch.dtype = torch.double
) -> None:
    def forward_backward(
        device: str,
        rnn: Any,
        input_val: Any,
        grad_output: Tensor,
        weights_val: list[list[Tensor]],
        hx_val: Tensor,
        grad_hy: Tensor,
        cx_val: Tensor | None = None,
        grad_cy: Tensor | None = None,
    ) -> dict[str, Any]:
        is_lstm = isinstance(rnn, (nn.LSTM, bnn.LSTM))

        with torch.no_grad():
            for x_layer, y_layer in zip(rnn.all_weights, weights_val, strict=True):
                for x, y in zip(x_layer, y_layer, strict=True):
                    x.copy_(y)

        rnn.to(device)
        input: Any
        if isinstance(input_val, PackedSequence):
            input_var = input_val.data.detach().clone().to(device).requires_grad_(True)
            input = PackedSequence(input_var, input_val.batch_sizes)
        else:
            input = input_val.clone().to(device).requires_grad_(True)
            input_var = input
        hx: Any
        if is_lstm:
            c0 = hx_val.add(1) if cx_val is None else cx_val.add(1)
            hx = (
                hx_val.clone().to(device).requires_grad_(True),
                c0.to(device).requires_grad_(True),
            )
        else:
            hx = hx_val.clone().to(device).requires_grad_(True)
        grad_hy = grad_hy.to(device)
        grad_output = grad_output.to(device)

        output, hy = rnn(input, hx)

        if isinstance(output, PackedSequence):
            output = output.data

        if is_lstm:
            grad_c = grad_hy + 1 if grad_cy is None else grad_cy.to(device) + 1
            torch.autograd.backward([output, hy[0], hy[1]], [grad_output, grad_hy, grad_c])
        else:
            torch.autograd.backward([output, hy], [grad_output, grad_hy])

        return {
            "output": output.detach(),
            "hy": hy[0].detach() if is_lstm else hy.detach(),
            "weights": rnn.all_weights,
            "grad_input": input_var.grad,
            "grad_hx": hx[0].grad if is_lstm else hx.grad,
            "cy": hy[1].detach() if is_lstm else None,
            "grad_cx": hx[1].grad if is_lstm else None,
        }

    input_size = 10
    hidden_size = 6
    proj_size = 3
    num_layers = 2
    seq_length = 7
    batch = 6

    def make_noncontig(tensor: Tensor) -> Tensor:
        ndim = tensor.dim()
        return torch.stack([tensor.clone().zero_(), tensor], ndim).select(ndim, 1)

    def compare_cpu_gpu(outputs_cpu: dict[str, Any], outputs_gpu: dict[str, Any]) -> None:
        assert list(outputs_cpu) == list(outputs_gpu)
        for key in outputs_cpu:
            if key != "weights" and outputs_cpu[key] is not None:
                assert_close(outputs_cpu[key], outputs_gpu[key].cpu(), atol=5e-5, rtol=0, msg=key)
        # check grad weights separately, as nested dict
        for cpu_layer_weight, gpu_layer_weight in zip(
            outputs_cpu["weights"], outputs_gpu["weights"], strict=True
        ):
            for cpu_weight, gpu_weight in zip(cpu_layer_weight, gpu_layer_weight, strict=True):
                assert_close(cpu_weight.grad, gpu_weight.grad.cpu(), atol=5e-5, rtol=0)

    lengths: Any
    for mode in ("RNN", "LSTM", "GRU"):
        for (
            bias,
            bidirectional,
            batch_first,
            contig,
            variable_len,
            lens_as_tensor,
        ) in itertools.product((True, False), repeat=6):
            num_directions = 2 if bidirectional else 1
            if batch_first:
                input_val = torch.randn(batch, seq_length, input_size, dtype=dtype)
                grad_output = torch.randn(
                    batch, seq_length, hidden_size * num_directions, dtype=dtype
                )
            else:
                input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
                grad_output = torch.randn(
                    seq_length, batch, hidden_size * num_directions, dtype=dtype
                )

            hx_val = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
            grad_hy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)

            if not contig:
                grad_output = make_noncontig(grad_output)
                grad_hy = make_noncontig(grad_hy)
                _input_var = make_noncontig(input_val)  # unused, as in the original
                hx_val = make_noncontig(hx_val)

            packed_input: Any = input_val
            if variable_len:
                lengths = [7, 5, 5, 2, 1, 1]
                if lens_as_tensor:
                    lengths = torch.tensor(lengths, dtype=torch.long)
                packed_input = rnn_utils.pack_padded_sequence(
                    input_val, lengths, batch_first=batch_first
                )
                grad_output = rnn_utils.pack_padded_sequence(
                    grad_output, lengths, batch_first=batch_first
                ).data

            kwargs = {
                "bias": bias,
                "dropout": dropout,
                "bidirectional": bidirectional,
                "batch_first": batch_first,
            }
            rnn = cls_pair.make(mode, input_size, hidden_size, num_layers, **kwargs).to(dtype)
            outputs_cpu = forward_backward(
                "cpu", rnn, packed_input, grad_output, rnn.all_weights, hx_val, grad_hy
            )
            rnn_gpu = cls_pair.make(mode, input_size, hidden_size, num_layers, **kwargs).to(dtype)
            outputs_gpu = forward_backward(
                GPU, rnn_gpu, packed_input, grad_output, rnn.all_weights, hx_val, grad_hy
            )
            compare_cpu_gpu(outputs_cpu, outputs_gpu)

    for nonlinearity in ("tanh", "relu"):
        hx_val = torch.randn(num_layers, batch, hidden_size, dtype=dtype)
        input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
        grad_output = torch.randn(seq_length, batch, hidden_size * num_directions, dtype=dtype)
        grad_hy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)

        rnn = cls_pair.make(
            "RNN", input_size, hidden_size, num_layers, bias=bias, nonlinearity=nonlinearity
        ).to(dtype)
        outputs_cpu = forward_backward(
            "cpu", rnn, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
        )
        rnn_gpu = cls_pair.make(
            "RNN", input_size, hidden_size, num_layers, bias=bias, nonlinearity=nonlinearity
        ).to(dtype)
        outputs_gpu = forward_backward(
            GPU, rnn_gpu, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
        )
        compare_cpu_gpu(outputs_cpu, outputs_gpu)

    # checking LSTM with projections
    for bias, bidirectional, batch_first, contig, variable_len, lens_as_tensor in itertools.product(
        (True, False), repeat=6
    ):
        num_directions = 2 if bidirectional else 1
        if batch_first:
            input_val = torch.randn(batch, seq_length, input_size, dtype=dtype)
            grad_output = torch.randn(batch, seq_length, proj_size * num_directions, dtype=dtype)
        else:
            input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
            grad_output = torch.randn(seq_length, batch, proj_size * num_directions, dtype=dtype)

        hx_val = torch.randn(num_layers * num_directions, batch, proj_size, dtype=dtype)
        cx_val = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
        grad_hy = torch.randn(num_layers * num_directions, batch, proj_size, dtype=dtype)
        grad_cy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)

        if not contig:
            grad_output = make_noncontig(grad_output)
            grad_hy = make_noncontig(grad_hy)
            grad_cy = make_noncontig(grad_cy)
            _input_var = make_noncontig(input_val)  # unused, as in the original
            hx_val = make_noncontig(hx_val)
            cx_val = make_noncontig(cx_val)

        packed_input = input_val
        if variable_len:
            lengths = [7, 5, 5, 2, 1, 1]
            if lens_as_tensor:
                lengths = torch.tensor(lengths, dtype=torch.long)
            packed_input = rnn_utils.pack_padded_sequence(
                input_val, lengths, batch_first=batch_first
            )
            grad_output = rnn_utils.pack_padded_sequence(
                grad_output, lengths, batch_first=batch_first
            ).data

        kwargs = {
            "bias": bias,
            "dropout": dropout,
            "bidirectional": bidirectional,
            "batch_first": batch_first,
            "proj_size": proj_size,
        }
        rnn = cls_pair.make("LSTM", input_size, hidden_size, num_layers, **kwargs).to(dtype)
        outputs_cpu = forward_backward(
            "cpu",
            rnn,
            packed_input,
            grad_output,
            rnn.all_weights,
            hx_val,
            grad_hy,
            cx_val,
            grad_cy,
        )
        rnn_gpu = cls_pair.make("LSTM", input_size, hidden_size, num_layers, **kwargs).to(dtype)
        outputs_gpu = forward_backward(
            GPU,
            rnn_gpu,
            packed_input,
            grad_output,
            rnn.all_weights,
            hx_val,
            grad_hy,
            cx_val,
            grad_cy,
        )
        compare_cpu_gpu(outputs_cpu, outputs_gpu)


@pytest.mark.cuda
@CUDNN
def test_rnn_cpu_vs_cudnn_no_dropout(cls_pair: ClsPair) -> None:
    _test_rnn_cpu_vs_cudnn(cls_pair, 0, torch.double)


@pytest.mark.cuda
@CUDNN
def test_rnn_cpu_vs_cudnn_with_dropout(cls_pair: ClsPair) -> None:
    # Because of dropout randomness, can only compare dropout=0 and dropout=1
    _test_rnn_cpu_vs_cudnn(cls_pair, 1)


@pytest.mark.cuda
@CUDNN
def test_rnn_cudnn_weight_norm(cls_pair: ClsPair) -> None:
    input_size = 10
    hidden_size = 6
    num_layers = 2
    seq_length = 7
    batch = 6

    # runs on CPU to acquire expected output
    def check_weight_norm(m: Any, name: str) -> None:
        input = torch.randn(seq_length, batch, input_size)
        expected_output = m(input)

        # adds weight normalization
        with pytest.warns(FutureWarning, match="deprecated"):
            m = torch.nn.utils.weight_norm(m, name=name)

        # moves to CUDA
        m = m.to(GPU)
        input = input.to(GPU)

        # The original shows cuDNN's "weights are not part of single contiguous chunk" warning
        # (warnings.simplefilter("always")) without asserting on it; here it is not an error.
        with warnings.catch_warnings(), torch.backends.cudnn.flags(allow_tf32=False):
            warnings.simplefilter("ignore", UserWarning)
            assert_close(m(input), expected_output, check_device=False)

            # remove weight norm
            m = torch.nn.utils.remove_weight_norm(m, name=name)
            assert_close(m(input), expected_output, check_device=False)

    check_weight_norm(cls_pair.make("LSTM", input_size, hidden_size, num_layers), "weight_hh_l0")
    check_weight_norm(
        cls_pair.make("LSTM", input_size, hidden_size, num_layers, proj_size=3), "weight_hr_l0"
    )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_partial_flat_weights(cls_pair: ClsPair) -> None:
    input_size = 10
    hidden_size = 6
    num_layers = 2

    m = cls_pair.make("LSTM", input_size, hidden_size, num_layers)
    inp = torch.randn(3, 2, 10)
    out_expected = m(inp)
    # deletes an attribute of original LSTM
    weight_orig = m.weight_hh_l0
    del m.weight_hh_l0
    assert not hasattr(m, "weight_hh_l0")
    # verifies that moving to CUDA with only some attributes defined
    # does not throw an error
    m.to(GPU)
    # recompute the weight and make sure that module can be used
    m.weight_hh_l0 = weight_orig.to(GPU)
    inp = inp.to(GPU)
    # The original shows (does not assert) cuDNN's non-contiguous-weights warning.
    with warnings.catch_warnings(), torch.backends.cudnn.flags(allow_tf32=False):
        warnings.simplefilter("ignore", UserWarning)
        assert_close(m(inp)[0].cpu(), out_expected[0])


def test_partial_flat_weights_dtype(cls_pair: ClsPair) -> None:
    """test_partial_flat_weights on the CPU: a dtype change instead of the move to CUDA."""
    m = cls_pair.make("LSTM", 10, 6, 2)
    inp = torch.randn(3, 2, 10)
    out_expected = m(inp)
    weight_orig = m.weight_hh_l0
    del m.weight_hh_l0
    assert not hasattr(m, "weight_hh_l0")
    m.double()
    assert not hasattr(m, "weight_hh_l0")
    m.weight_hh_l0 = nn.Parameter(weight_orig.detach().double())
    assert_close(m(inp.double())[0], out_expected[0].double(), rtol=1e-5, atol=1e-6)


def test_rnn_dropout(cls_pair: ClsPair, device: torch.device) -> None:
    # checking the assumption that cuDNN sticks dropout in between
    # RNN layers (the original runs it on CUDA and on the CPU, in float64)
    for p in (0, 0.276, 0.731, 1):
        for train in (True, False):
            rnn = cls_pair.make(
                "RNN", 10, 1000, 2, bias=False, dropout=p, nonlinearity="relu", dtype=torch.double
            ).to(device)
            if train:
                rnn.train()
            else:
                rnn.eval()
            with torch.no_grad():
                rnn.weight_ih_l0.fill_(1)
                rnn.weight_hh_l0.fill_(1)
                rnn.weight_ih_l1.fill_(1)
                rnn.weight_hh_l1.fill_(1)
            input = torch.ones(1, 1, 10, dtype=torch.double, device=device)
            hx = torch.zeros(2, 1, 1000, dtype=torch.double, device=device)

            output, hy = rnn(input, hx)
            assert output.min() == output.max()
            output_val = output[0][0][0].item()
            if p == 0 or not train:
                assert output_val == 10000
            elif p == 1:
                assert output_val == 0
            else:
                assert output_val > 8000
                assert output_val < 12000
                denorm_mod = (output_val * (1 - p)) % 10
                assert min(denorm_mod, 10 - denorm_mod) < 1e-2

            assert hy[0].min() == hy[0].max()
            assert hy[1].min() == hy[1].max()
            assert hy[0][0][0].item() == 10
            assert hy[1][0][0].item() == output_val


def test_error_rnn_seq_len_zero(cls_pair: ClsPair, device: torch.device) -> None:
    # checking error message when RNN has seq_len = 0
    for mode in ("RNN", "LSTM", "GRU"):
        for bidirectional in [True, False]:
            input = torch.ones(0, 10, 5, dtype=torch.double, device=device)
            rnn = cls_pair.make(mode, 5, 6, bidirectional=bidirectional, dtype=torch.double)
            rnn.to(device)
            with pytest.raises(
                RuntimeError, match="Expected sequence length to be larger than 0 in RNN"
            ):
                rnn(input)


def test_rnn_input_size_zero(cls_pair: ClsPair, device: torch.device) -> None:
    for mode in ("RNN", "LSTM", "GRU"):
        input = torch.zeros((5, 0, 3), device=device)
        rnn = cls_pair.make(mode, input_size=3, hidden_size=4).to(device)
        outs = rnn(input)
        assert outs[0].shape == torch.Size([5, 0, 4])
        # Check that backward does not cause a hard error
        outs[0].sum().backward()


def test_rnn_dropout_state(cls_pair: ClsPair, device: torch.device) -> None:
    for p in (0, 0.1234):
        for train in (True, False):
            rnn = cls_pair.make(
                "RNN", 100, 100, 2, bias=False, dropout=p, nonlinearity="relu", dtype=torch.double
            ).to(device)
            if train:
                rnn.train()
            else:
                rnn.eval()
            input = torch.rand(1, 1, 100, dtype=torch.double, device=device)
            hx = torch.rand(2, 1, 100, dtype=torch.double, device=device)

            output1, hy1 = rnn(input, hx)
            output2, hy2 = rnn(input, hx)

            buf = io.BytesIO()
            torch.save(rnn, buf)
            buf.seek(0)
            # weights_only=False as this is legacy code that saves the model
            rnn2 = torch.load(buf, weights_only=False)
            rnn2.flatten_parameters()
            output3, hy3 = rnn2(input, hx)

            if p == 0 or not train:
                assert_close(output1, output2)
                assert_close(output1, output3)
                assert_close(hy1, hy2)
                assert_close(hy1, hy3)
            else:
                assert not torch.equal(output1, output2)
                assert not torch.equal(output1, output3)
                assert not torch.equal(hy1, hy2)
                assert not torch.equal(hy1, hy3)


def test_rnn_change_dropout(cls_pair: ClsPair, device: torch.device) -> None:
    for train in (True, False):
        rnn = cls_pair.make("RNN", 100, 100, 2, dropout=0, nonlinearity="relu", dtype=torch.double)
        rnn.to(device)
        input = torch.rand(3, 2, 100, dtype=torch.double, device=device)
        if train:
            rnn.train()
        else:
            rnn.eval()

        prev_output = None
        for p in (0, 0.5, 0, 0.7, 0.2, 1, 0.2, 0):
            rnn.dropout = p
            output1, hy1 = rnn(input)
            output2, hy2 = rnn(input)

            if p in (0, 1) or not train:
                assert_close(output1, output2)
                assert_close(hy1, hy2)
            else:
                assert not torch.equal(output1, output2)
                assert not torch.equal(hy1, hy2)

            if prev_output is not None:
                if not train:
                    assert_close(output1.detach(), prev_output)
                    assert_close(output2.detach(), prev_output)
                else:
                    assert not torch.equal(output1.detach(), prev_output)
                    assert not torch.equal(output2.detach(), prev_output)
            prev_output = output1.detach()


@pytest.mark.cuda
@MULTI_GPU
def test_cudnn_rnn_dropout_states_device(cls_pair: ClsPair) -> None:
    rnn = cls_pair.make("RNN", 10, 20, num_layers=2, dropout=0.5)
    device = 1
    input = torch.randn(5, 4, 10).cuda(device)
    rnn.cuda(device)
    hx = torch.randn(2, 4, 20).cuda(device)
    rnn(input, hx)


def test_cudnn_forward_exception(cls_pair: ClsPair) -> None:
    rnns = [
        (
            cls_pair.make("LSTM", 10, 20, batch_first=True),
            (torch.zeros(1, 2, 19), torch.zeros(1, 2, 19)),
        ),
        (
            cls_pair.make("LSTM", 10, 20, batch_first=True, proj_size=10),
            (torch.zeros(1, 2, 19), torch.zeros(1, 2, 19)),
        ),
        (cls_pair.make("GRU", 10, 20, batch_first=True), torch.zeros(1, 2, 19)),
        (cls_pair.make("RNN", 10, 20, batch_first=True), torch.zeros(1, 2, 19)),
    ]
    x_wrong = torch.randn(2, 3, 3)
    x_right = torch.randn(2, 3, 10)
    for rnn, hidden in rnns:
        with pytest.raises(RuntimeError, match=r"Expected hidden.*size.*got"):
            rnn(x_right, hidden)
        with pytest.raises(
            RuntimeError, match=re.escape("input.size(-1) must be equal to input_size")
        ):
            rnn(x_wrong)


@pytest.mark.cuda
@CUDNN
def test_cudnn_weight_format(cls_pair: ClsPair) -> None:
    skip_internals(cls_pair, "cuDNN's flat weight buffer (weight.set_ and its warning)")
    rnns = [
        cls_pair.make("LSTM", 10, 20, batch_first=True),
        cls_pair.make("LSTM", 10, 20, batch_first=True, proj_size=10),
        cls_pair.make("GRU", 10, 20, batch_first=True),
        cls_pair.make("RNN", 10, 20, batch_first=True),
    ]
    first_warn = True
    for rnn in rnns:
        rnn.to(GPU)
        input = torch.randn(5, 4, 10, requires_grad=True, device=GPU)
        hx: Any = torch.randn(1, 5, 20, requires_grad=True, device=GPU)
        all_vars = [input, hx, *rnn.parameters()]
        if isinstance(rnn, nn.LSTM):
            # LSTM with projections has different hx size
            if rnn.proj_size > 0:
                hx = torch.randn(1, 5, 10, requires_grad=True, device=GPU)
                all_vars[1] = hx
            cx = torch.randn(1, 5, 20, requires_grad=True, device=GPU)
            all_vars[2:2] = [cx]
            hx = (hx, cx)

        with torch.backends.cudnn.flags(allow_tf32=False):
            output = rnn(input, hx)
        output[0].sum().backward()
        grads = [v.grad.clone() for v in all_vars]
        for v in all_vars:
            v.grad.zero_()

        # Weights will no longer view onto the same chunk of memory
        weight = all_vars[4]
        weight_data = weight.detach().clone()
        with torch.no_grad():
            weight.set_(weight_data)

        for _ in range(2):
            with (
                warnings.catch_warnings(record=True) as w,
                torch.backends.cudnn.flags(allow_tf32=False),
            ):
                warnings.simplefilter("always")
                output_noncontig = rnn(input, hx)
            if first_warn:
                assert len(w) == 1
                assert "weights are not part of single contiguous chunk of memory" in str(
                    w[0].message
                )
                first_warn = False
            output_noncontig[0].sum().backward()
            grads_noncontig = [v.grad.clone() for v in all_vars]
            for v in all_vars:
                v.grad.zero_()
            assert_close(output, output_noncontig)
            assert_close(grads_noncontig, grads)

        # Make sure these still share storage
        weight_data[:] = 4
        assert_close(weight_data, all_vars[4].detach())


@pytest.mark.cuda
@CUDNN
def test_cudnn_weight_tying(cls_pair: ClsPair) -> None:
    rnns = [
        cls_pair.make("LSTM", 10, 20, batch_first=True, bidirectional=True),
        cls_pair.make("LSTM", 10, 20, batch_first=True, bidirectional=True, proj_size=10),
        cls_pair.make("GRU", 10, 20, batch_first=True, bidirectional=True),
        cls_pair.make("RNN", 10, 20, batch_first=True, bidirectional=True),
    ]
    for rnn in rnns:
        rnn.bias_ih_l0_reverse = rnn.bias_ih_l0
        rnn.to(GPU)
        input = torch.randn(5, 4, 10, requires_grad=True, device=GPU)
        hx: Any = torch.randn(2, 5, 20, requires_grad=True, device=GPU)
        opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
        opt.zero_grad()
        if rnn.mode == "LSTM":
            # LSTM with projections has different hx size
            if rnn.proj_size > 0:
                hx = torch.randn(2, 5, 10, requires_grad=True, device=GPU)
            cx = torch.randn(2, 5, 20, requires_grad=True, device=GPU)
            hx = (hx, cx)

        with warnings.catch_warnings(record=True), torch.backends.cudnn.flags(allow_tf32=False):
            warnings.simplefilter("always")
            output = rnn(input, hx)
        output[0].sum().backward()

        opt.step()
        with warnings.catch_warnings(record=True), torch.backends.cudnn.flags(allow_tf32=False):
            warnings.simplefilter("always")
            output_cuda = rnn(input, hx)
        rnn.cpu()
        hx = (hx[0].cpu(), hx[1].cpu()) if rnn.mode == "LSTM" else hx.cpu()
        output_cpu = rnn(input.cpu(), hx)
        assert_close(output_cuda, output_cpu, check_device=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_pack_sequence_batch_sizes_throw(cls_pair: ClsPair) -> None:
    cls_pair.make("LSTM", 3, 4, bidirectional=True, num_layers=2).to(GPU)
    a = torch.rand(5, 3, device=GPU)
    b = torch.tensor([1, 1, 1, 1, 1], device=GPU)
    with pytest.raises(ValueError, match=r"batch_sizes should always be on CPU"):
        nn.utils.rnn.PackedSequence(a, b)


# --------------------------------------------------------------------------------------------
# test/test_nn.py, TestNNDeviceType
# --------------------------------------------------------------------------------------------


def test_rnn_retain_variables(cls_pair: ClsPair, device: torch.device) -> None:
    dtype = torch.double if device.type == "cpu" else torch.float
    rnns = [
        cls_pair.make("LSTM", 10, 20, num_layers=2).to(device, dtype),
        cls_pair.make("GRU", 10, 20, num_layers=2).to(device, dtype),
        cls_pair.make("RNN", 10, 20, num_layers=2).to(device, dtype),
    ]
    for rnn in rnns:
        input = torch.randn(5, 6, 10, device=device, dtype=dtype, requires_grad=True)
        output = rnn(input)
        output[0].sum().backward(retain_graph=True)
        grads = [grad_of(input).clone()] + [p.grad.clone() for p in rnn.parameters()]
        for _ in range(4):
            rnn.zero_grad()
            grad_of(input).zero_()
            output[0].sum().backward(retain_graph=True)
            grads2 = [input.grad] + [p.grad for p in rnn.parameters()]
            assert_close(grads, grads2)


def test_variable_sequence(cls_pair: ClsPair, device: torch.device) -> None:
    dtype = torch.double

    def pad(var: Tensor, length: int) -> Tensor:
        if var.size(0) == length:
            return var
        return torch.cat([var, var.new_zeros(length - var.size(0), *var.size()[1:])])

    def maybe_index_tuple(maybe_tuple_of_tensors: Any, index: int) -> Any:
        if maybe_tuple_of_tensors is None:
            return None
        return tuple(t[:, index : index + 1, :].contiguous() for t in maybe_tuple_of_tensors)

    def check_lengths(
        lengths: list[int], enforce_sorted: bool, use_default_hiddens: bool, proj_size: int
    ) -> None:
        input_size = 3
        hidden_size = 4
        num_layers = 2
        bidirectional = True

        max_length = max(lengths)
        x_leaf = torch.randn(
            max_length, len(lengths), input_size, device=device, dtype=dtype, requires_grad=True
        )
        num_directions = 2 if bidirectional else 1
        lstm = cls_pair.make(
            "LSTM",
            input_size,
            hidden_size,
            bidirectional=bidirectional,
            num_layers=num_layers,
            proj_size=proj_size,
        ).to(device, dtype)
        lstm2 = copy.deepcopy(lstm).to(device, dtype)
        x = x_leaf

        hidden0 = None
        if not use_default_hiddens:
            real_hidden_size = hidden_size if proj_size == 0 else proj_size
            hidden0 = (
                torch.randn(
                    num_directions * num_layers,
                    len(lengths),
                    real_hidden_size,
                    device=device,
                    dtype=dtype,
                ),
                torch.randn(
                    num_directions * num_layers,
                    len(lengths),
                    hidden_size,
                    device=device,
                    dtype=dtype,
                ),
            )

        # Compute sequences separately
        seq_outs = []
        seq_hiddens = []
        for i, length in enumerate(lengths):
            hidden_i = maybe_index_tuple(hidden0, i)
            out, hid = lstm2(x[:length, i : i + 1], hidden_i)
            out_pad = pad(out, max_length)
            seq_outs.append(out_pad)
            seq_hiddens.append(hid)
        seq_out = torch.cat(seq_outs, 1)
        seq_hidden = tuple(torch.cat(hids, 1) for hids in zip(*seq_hiddens, strict=True))

        # Use packed format
        packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        packed_out, packed_hidden = lstm(packed, hidden0)
        unpacked, unpacked_len = rnn_utils.pad_packed_sequence(packed_out)

        # Check forward
        assert_close(packed_hidden, seq_hidden)
        assert_close(unpacked, seq_out)
        assert unpacked_len.tolist() == lengths

        # Check backward
        seq_out.sum().backward()  # type: ignore[no-untyped-call]
        grad_x = grad_of(x_leaf).clone()
        grad_of(x_leaf).zero_()
        unpacked.sum().backward()  # type: ignore[no-untyped-call]

        assert_close(x_leaf.grad, grad_x)
        for p1, p2 in zip(lstm.parameters(), lstm2.parameters(), strict=True):
            assert_close(p1.grad, p2.grad)

    tests: list[tuple[bool, list[int]]] = [
        # enforce_sorted, lengths
        (True, [5]),
        (False, [5]),
        (True, [10, 10, 6, 2, 2, 1, 1]),
        (False, [10, 10, 6, 2, 2, 1, 1]),
        (False, [2, 1, 3, 2, 10, 5, 3]),
    ]

    for enforce_sorted, seq_lens in tests:
        for use_default_hiddens in (True, False):
            for proj_size in [0, 2]:
                check_lengths(seq_lens, enforce_sorted, use_default_hiddens, proj_size)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("dtype", [torch.float, torch.double])
def test_rnn_fused(cls_pair: ClsPair, dtype: torch.dtype) -> None:
    device = GPU

    def copy_rnn(rnn1: Any, rnn2: Any) -> None:
        with torch.no_grad():
            for x_layer, y_layer in zip(rnn1.all_weights, rnn2.all_weights, strict=True):
                for x, y in zip(x_layer, y_layer, strict=True):
                    x.copy_(y)

    def check_rnn_grads(rnn1: Any, rnn2: Any) -> None:
        for x_layer, y_layer in zip(rnn1.all_weights, rnn2.all_weights, strict=True):
            for x, y in zip(x_layer, y_layer, strict=True):
                assert_close(x.grad, y.grad, atol=5e-5, rtol=0, check_device=False)

    input_size = 10
    hidden_size = 6
    num_layers = 2
    seq_length = 7
    batch = 6
    input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
    grad_output = torch.randn(seq_length, batch, hidden_size, dtype=dtype)
    hx_val = torch.randn(num_layers, batch, hidden_size, dtype=dtype)
    grad_hy = torch.randn(num_layers, batch, hidden_size, dtype=dtype)
    with torch.backends.cudnn.flags(enabled=False, allow_tf32=False):
        for mode in ("GRU", "LSTM"):
            for bias in (True, False):
                rnn = cls_pair.make(mode, input_size, hidden_size, num_layers, bias=bias).to(dtype)
                rnn_device = cls_pair.make(mode, input_size, hidden_size, num_layers, bias=bias).to(
                    device, dtype
                )
                copy_rnn(rnn, rnn_device)

                is_lstm = mode == "LSTM"
                hx: Any
                hx_device: Any
                if is_lstm:
                    hx = (
                        hx_val.clone().requires_grad_(True),
                        hx_val.clone().add(1).requires_grad_(True),
                    )
                    hx_device = (
                        hx_val.clone().to(device).requires_grad_(True),
                        hx_val.clone().to(device).add(1).requires_grad_(True),
                    )
                else:
                    hx = hx_val.clone().requires_grad_(True)
                    hx_device = hx_val.clone().to(device).requires_grad_(True)

                inp = input_val.clone().requires_grad_(True)
                inp_cu = input_val.clone().to(device).requires_grad_(True)
                output1, hy1 = rnn(inp, hx)
                output2, hy2 = rnn_device(inp_cu, hx_device)
                if is_lstm:
                    torch.autograd.backward(
                        [output1, hy1[0], hy1[1]], [grad_output, grad_hy, grad_hy + 1]
                    )
                    torch.autograd.backward(
                        [output2, hy2[0], hy2[1]],
                        [grad_output.to(device), grad_hy.to(device), (grad_hy + 1).to(device)],
                    )
                else:
                    torch.autograd.backward([output1, hy1], [grad_output, grad_hy])
                    torch.autograd.backward(
                        [output2, hy2], [grad_output.to(device), grad_hy.to(device)]
                    )

                assert_close(output1, output2, check_device=False)
                assert_close(hy1, hy2, check_device=False)

                check_rnn_grads(rnn, rnn_device)
                assert_close(inp.grad, inp_cu.grad, check_device=False)
                if is_lstm:
                    assert_close(hx[0].grad, hx_device[0].grad, check_device=False)
                    assert_close(hx[1].grad, hx_device[1].grad, check_device=False)
                else:
                    assert_close(hx.grad, hx_device.grad, check_device=False)


# --------------------------------------------------------------------------------------------
# test/test_autograd.py, TestAutogradDeviceType
# --------------------------------------------------------------------------------------------


def test_rnn_backward_to_input_but_not_parameters(cls_pair: ClsPair, device: torch.device) -> None:
    # this checks whether it is possible to not require
    # weight parameters, but require inputs, see #7722
    layer = cls_pair.make("LSTM", 2, 3).to(device)
    for p in layer.parameters():
        p.requires_grad = False
    s = torch.randn(1, 1, 2, requires_grad=True, device=device)
    out, _ = layer(s)
    out.sum().backward()
    assert not (s.grad is None or s.grad.abs().sum().item() == 0)


def _test_rnn_mod(mod: Any, inp: Tensor) -> None:
    def flatten_out(inp: Tensor) -> tuple[Tensor, ...]:
        out = mod(inp)
        return tuple(t if isinstance(t, Tensor) else tt for t in out for tt in t)

    with torch.backends.cudnn.flags(enabled=False):
        assert torch.autograd.gradcheck(flatten_out, inp, check_batched_grad=False)
        assert torch.autograd.gradgradcheck(flatten_out, inp, check_batched_grad=False)

    if inp.is_cuda:
        # Assert that we have good error message around unsupported CuDNN double backward
        # NB: we trigger double backward using .backward() instead of autograd.grad due to
        # https://github.com/pytorch/pytorch/issues/37874
        with torch.backends.cudnn.flags(enabled=True):
            result = flatten_out(inp)
            result[0].sum().backward(create_graph=True)  # type: ignore[no-untyped-call]
            grad0 = next(mod.parameters()).grad
            with pytest.raises(RuntimeError, match="please disable the CuDNN backend temporarily"):
                grad0.sum().backward()

            # Here we avoid the backward(create_graph=True) memory leak
            # described in https://github.com/pytorch/pytorch/issues/7343
            for param in mod.parameters():
                param.grad = None
            inp.grad = None


def test_lstm_grad_and_gradgrad(cls_pair: ClsPair, device: torch.device) -> None:
    hsize = 4
    inp = torch.rand(1, 3, hsize, device=device, dtype=torch.float64, requires_grad=True)
    for bias in [True, False]:
        mod = cls_pair.make("LSTM", hsize, hsize, bias=bias).to(device).to(torch.float64)
        _test_rnn_mod(mod, inp)


def test_gru_grad_and_gradgrad(cls_pair: ClsPair, device: torch.device) -> None:
    hsize = 4
    inp = torch.rand(1, 3, hsize, device=device, dtype=torch.float64, requires_grad=True)
    for bias in [True, False]:
        mod = cls_pair.make("GRU", hsize, hsize, bias=bias).to(device).to(torch.float64)
        _test_rnn_mod(mod, inp)


# --------------------------------------------------------------------------------------------
# module_db: the samples of torch/testing/_internal/common_modules.py, through the checks of
# test/test_modules.py that apply to them, each time also against torch.nn's module.
# --------------------------------------------------------------------------------------------

_INFOS: dict[str, Any] = {
    info.module_cls.__name__: info
    for info in _common_modules.module_db
    if info.module_cls in (nn.RNN, nn.GRU, nn.LSTM)
}


def module_samples(
    mode: str, dtype: torch.dtype = torch.float64, requires_grad: bool = True
) -> list[Any]:
    """The ``ModuleInput``s of ``mode``'s module_db entry (packed ones too, for RNN/GRU)."""
    info = _INFOS[mode]
    kwargs = {"with_packed_sequence": True} if mode != "LSTM" else {}
    samples: list[Any] = info.module_inputs_func(
        info, device="cpu", dtype=dtype, requires_grad=requires_grad, training=True, **kwargs
    )
    return samples


def _sample_id(mode: str, index: int, sample: Any) -> str:
    kw = sample.constructor_input.kwargs
    args = sample.forward_input.args
    parts = [mode, str(index), kw.get("nonlinearity", ""), "bias" if kw["bias"] else "nobias"]
    parts += ["bf" if kw["batch_first"] else "tf", "bi" if kw["bidirectional"] else "uni"]
    if kw.get("proj_size"):
        parts.append(f"proj{kw['proj_size']}")
    if isinstance(args[0], PackedSequence):
        parts.append("packed")
    elif len(args) > 1:
        parts.append("hx")
    return "-".join(p for p in parts if p)


with torch.random.fork_rng(devices=[]):  # the samples' values are drawn again in each test
    SAMPLES = [
        pytest.param(mode, i, id=_sample_id(mode, i, sample))
        for mode in MODES
        for i, sample in enumerate(module_samples(mode))
    ]


def sample_and_modules(
    mode: str, index: int, cls_pair: ClsPair, dtype: torch.dtype = torch.float64
) -> tuple[Any, Any, Any]:
    """Sample ``index`` (seeded), torch.nn's module for it and the tested one, same weights."""
    torch.manual_seed(index)
    sample = module_samples(mode, dtype)[index]
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    native = NATIVE[mode](*args, **kwargs).to(dtype)
    tested = cls_pair.make(mode, *args, **kwargs).to(dtype)
    tested.load_state_dict(native.state_dict(), strict=True)
    return sample, native, tested


@pytest.mark.parametrize(("mode", "index"), SAMPLES)
def test_module_db_forward(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_forward, and outputs and gradients equal to torch.nn's (float64)."""
    sample, native, tested = sample_and_modules(mode, index, cls_pair)
    args = sample.forward_input.args
    outputs, grads = run_with_grads(tested, clone_tree(args))
    ref_outputs, ref_grads = run_with_grads(native, clone_tree(args))
    assert_close(outputs, ref_outputs)
    assert_close(grads, ref_grads)
    if not isinstance(args[0], PackedSequence):
        # The sample's reference: the same input with a batch dimension of 1.
        with torch.no_grad():
            reference = sample.reference_fn(tested, *args)
            assert_close(list(tensors_of(tested(*args))), list(tensors_of(reference)))


@pytest.mark.parametrize(("mode", "index"), SAMPLES)
def test_module_db_grad(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_grad: gradcheck over the inputs and parameters."""
    check_gradients(cls_pair, mode, index, gradgrad=False)


# gradgradcheck over up to 18 parameters costs ~0.4 s a sample: every fifth sample (each kind,
# both layouts, with and without hx, packed) keeps the suite within CI's time.
@pytest.mark.parametrize(("mode", "index"), SAMPLES[::5])
def test_module_db_gradgrad(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_gradgrad: gradgradcheck over the inputs and parameters."""
    check_gradients(cls_pair, mode, index, gradgrad=True)


def check_gradients(cls_pair: ClsPair, mode: str, index: int, *, gradgrad: bool) -> None:
    sample, _, tested = sample_and_modules(mode, index, cls_pair)
    args = clone_tree(sample.forward_input.args)
    flat_inputs = [t for t in tensors_of(args) if t.requires_grad]
    params = list(tested.parameters())

    def rebuild(obj: Any, values: Iterator[Tensor]) -> Any:
        if isinstance(obj, PackedSequence):
            return PackedSequence(
                next(values), obj.batch_sizes, obj.sorted_indices, obj.unsorted_indices
            )
        if isinstance(obj, Tensor):
            return next(values) if obj.requires_grad else obj
        if isinstance(obj, (tuple, list)):
            return type(obj)(rebuild(o, values) for o in obj)
        return obj

    def fn(*inputs_and_params: Tensor) -> tuple[Tensor, ...]:
        # gradcheck perturbs the parameters in place: the module reads them when called.
        new_args = rebuild(args, iter(inputs_and_params[: len(flat_inputs)]))
        return tuple(tensors_of(tested(*new_args)))

    inputs = (*flat_inputs, *params)
    assert torch.autograd.gradcheck(fn, inputs, fast_mode=True)
    if gradgrad:
        assert torch.autograd.gradgradcheck(fn, inputs, fast_mode=True)


@pytest.mark.parametrize(("mode", "index"), SAMPLES)
def test_module_db_non_contiguous(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_non_contiguous_tensors: non-contiguous inputs give the same results."""
    sample, native, tested = sample_and_modules(mode, index, cls_pair)

    def non_contiguous(t: Tensor) -> Tensor:
        if t.dim() == 0:
            return t.clone()
        out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2]
        assert not out.is_contiguous()
        return out

    args = sample.forward_input.args
    outputs, grads = run_with_grads(tested, clone_tree(args))
    nc_outputs, nc_grads = run_with_grads(tested, clone_tree(args, non_contiguous))
    ref_outputs, ref_grads = run_with_grads(native, clone_tree(args, non_contiguous))
    assert_close(nc_outputs, outputs)
    assert_close(nc_grads, grads)
    assert_close(nc_outputs, ref_outputs)
    assert_close(nc_grads, ref_grads)


@pytest.mark.parametrize(("mode", "index"), SAMPLES[::3])
def test_module_db_pickle(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_pickle (torch.save/torch.load), plus pickle and deepcopy."""
    sample, _, tested = sample_and_modules(mode, index, cls_pair)
    args = sample.forward_input.args
    expected = list(tensors_of(tested(*args)))
    buf = io.BytesIO()
    torch.save(tested, buf)
    buf.seek(0)
    copies = [
        torch.load(buf, weights_only=False),
        pickle.loads(pickle.dumps(tested)),
        copy.deepcopy(tested),
    ]
    for m in copies:
        assert type(m) is type(tested)
        assert_close(list(tensors_of(m(*args))), expected)
        # A copy has its own weights: changing them leaves the original as it was.
        with torch.no_grad():
            for p in m.parameters():
                p.add_(1)
        assert_close(list(tensors_of(tested(*args))), expected)
        assert not all(
            torch.equal(a, b) for a, b in zip(tensors_of(m(*args)), expected, strict=True)
        )


@pytest.mark.parametrize("mode", MODES)
def test_module_db_repr(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_repr: repr and str work, and read as torch.nn's do."""
    for index, sample in enumerate(module_samples(mode)):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        tested = cls_pair.make(mode, *args, **kwargs)
        native = NATIVE[mode](*args, **kwargs)
        assert repr(tested) == repr(native), index
        assert str(tested) == str(native), index


@pytest.mark.parametrize("mode", MODES)
def test_module_db_factory_kwargs(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_factory_kwargs: ``device=`` and ``dtype=`` place every parameter."""
    for sample in module_samples(mode):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        for device, dtype in (("cpu", torch.float64), ("meta", torch.float16)):
            m = cls_pair.make(mode, *args, **kwargs, device=device, dtype=dtype)
            native = NATIVE[mode](*args, **kwargs, device=device, dtype=dtype)
            assert [n for n, _ in m.named_parameters()] == [n for n, _ in native.named_parameters()]
            for p in m.parameters():
                assert p.device.type == device
                assert p.dtype == dtype


@pytest.mark.parametrize("mode", MODES)
def test_module_db_errors(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_errors: module_error_inputs' exceptions and messages."""
    info = _INFOS[mode]
    errors = info.module_error_inputs_func(
        info, device="cpu", dtype=torch.float32, requires_grad=False, training=True
    )
    assert errors
    for error in errors:
        module_input = error.module_error_input
        args = module_input.constructor_input.args
        kwargs = module_input.constructor_input.kwargs
        if error.error_on == _common_modules.ModuleErrorEnum.FORWARD_ERROR:
            m = cls_pair.make(mode, *args, **kwargs)
            forward = module_input.forward_input
            with pytest.raises(error.error_type, match=error.error_regex):
                m(*forward.args, **forward.kwargs)
        else:
            with pytest.raises(error.error_type, match=error.error_regex):
                cls_pair.make(mode, *args, **kwargs)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize(("mode", "index"), SAMPLES[::3])
def test_module_db_to(cls_pair: ClsPair, mode: str, index: int, swap: bool) -> None:
    """TestModule.test_to: ``.to(dtype)`` converts in place, with and without swap_tensors."""
    sample, native, tested = sample_and_modules(mode, index, cls_pair, dtype=torch.float32)
    before = list(tested.parameters())
    previous = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(swap)
    try:
        assert tested.to(torch.float64) is tested
        native.to(torch.float64)
    finally:
        torch.__future__.set_swap_module_params_on_conversion(previous)
    after = list(tested.parameters())
    assert len(after) == len(before)
    assert all(a is b for a, b in zip(after, before, strict=True))
    assert all(p.dtype == torch.float64 for p in after)
    args = clone_tree(sample.forward_input.args, lambda t: t.double())
    assert_close(run_with_grads(tested, args), run_with_grads(native, clone_tree(args)))


@pytest.mark.parametrize(("mode", "index"), SAMPLES[::3])
def test_module_db_state_dict(cls_pair: ClsPair, mode: str, index: int) -> None:
    """state_dict round trips with torch.nn's module, both ways, with strict=True."""
    sample, native, tested = sample_and_modules(mode, index, cls_pair)
    assert list(tested.state_dict()) == list(native.state_dict())
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    fresh_native = NATIVE[mode](*args, **kwargs).double()
    fresh_native.load_state_dict(tested.state_dict(), strict=True)
    fresh_tested = cls_pair.make(mode, *args, **kwargs).double()
    fresh_tested.load_state_dict(native.state_dict(), strict=True)
    forward = sample.forward_input.args
    expected = list(tensors_of(native(*forward)))
    assert_close(list(tensors_of(fresh_native(*forward))), expected)
    assert_close(list(tensors_of(fresh_tested(*forward))), expected)


@pytest.mark.parametrize("mode", MODES)
def test_module_db_train_eval(cls_pair: ClsPair, mode: str) -> None:
    """train_and_eval_differ=True: dropout between layers acts in training mode only."""
    sample = module_samples(mode)[1]
    args = dict(sample.constructor_input.kwargs, dropout=0.5)
    torch.manual_seed(0)
    native = NATIVE[mode](**args).double()
    tested = cls_pair.make(mode, **args).double()
    tested.load_state_dict(native.state_dict())
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    assert tested.eval() is tested
    assert not tested.training
    assert_close(list(tensors_of(tested(x))), list(tensors_of(native.eval()(x))))
    assert tested.train() is tested
    assert tested.training
    first, second = tested(x)[0], tested(x)[0]
    assert not torch.equal(first, second)


@pytest.mark.parametrize("mode", MODES)
def test_module_db_to_empty(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_to_empty: ``to_empty`` moves every parameter, uninitialised."""
    for sample in module_samples(mode):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        m = cls_pair.make(mode, *args, **kwargs)
        names = [n for n, _ in m.named_parameters()]
        assert m.to_empty(device="meta") is m
        assert [n for n, _ in m.named_parameters()] == names
        assert all(p.device.type == "meta" for p in m.parameters())
        assert all(isinstance(p, nn.Parameter) for p in m.parameters())


@pytest.mark.parametrize("mode", MODES)
def test_module_db_device_ctx_init(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_device_ctx_init: a ``torch.device`` context places the parameters."""
    for sample in module_samples(mode):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        with torch.device("meta"):
            m = cls_pair.make(mode, *args, **kwargs)
            native = NATIVE[mode](*args, **kwargs)
        assert [(n, p.shape) for n, p in m.named_parameters()] == [
            (n, p.shape) for n, p in native.named_parameters()
        ]
        assert all(p.device.type == "meta" for p in m.parameters())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize(("mode", "index"), SAMPLES[::3])
def test_module_db_cpu_gpu_parity(cls_pair: ClsPair, mode: str, index: int) -> None:
    """TestModule.test_cpu_gpu_parity: the same outputs and gradients on the CPU and on CUDA."""
    sample, _, tested = sample_and_modules(mode, index, cls_pair)
    on_gpu = copy.deepcopy(tested).to(GPU)
    args = sample.forward_input.args
    outputs, grads = run_with_grads(tested, clone_tree(args))
    gpu_args = clone_tree(args, lambda t: t.to(GPU))
    if isinstance(args[0], PackedSequence):  # batch_sizes stay on the CPU
        gpu_args = (PackedSequence(gpu_args[0].data, args[0].batch_sizes), *gpu_args[1:])
        gpu_args[0].data.requires_grad_(True)
    with torch.backends.cudnn.flags(allow_tf32=False):
        gpu_outputs, gpu_grads = run_with_grads(on_gpu, gpu_args)
    assert_close(gpu_outputs, outputs, check_device=False)
    assert_close(gpu_grads, grads, check_device=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("mode", MODES)
def test_module_db_multiple_device_transfer(cls_pair: ClsPair, mode: str) -> None:
    """TestModule.test_multiple_device_transfer: CPU -> CUDA -> CPU keeps the module working."""
    sample, native, tested = sample_and_modules(mode, 1, cls_pair)
    args = sample.forward_input.args
    expected = list(tensors_of(native(*args)))
    gpu_args = clone_tree(args, lambda t: t.to(GPU))
    with torch.backends.cudnn.flags(allow_tf32=False):
        assert_close(list(tensors_of(tested.to(GPU)(*gpu_args))), expected, check_device=False)
    assert all(p.device.type == torch.device(GPU).type for p in tested.parameters())
    assert_close(list(tensors_of(tested.cpu()(*args))), expected)
    assert all(p.device.type == "cpu" for p in tested.parameters())
