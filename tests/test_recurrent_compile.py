"""Recurrent and StackedRecurrent under torch.compile, torch.export and ONNX: each doc line.

docs/portability.md ("Recurrent cells") states what works and what does not; each test pins one
line. Tiny sizes: inductor is slow on a shared CPU.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounterWithBackend

from birnn_utils.nn import Recurrent, StackedRecurrent

DTYPE = torch.float64


class Tagger(nn.Module):
    """A model holding both: a bidirectional stack of LSTM cells, a GRU cell on top, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = StackedRecurrent(
            lambda n: nn.LSTMCell(n, 3, dtype=DTYPE), 2, 1, bidirectional=True
        )
        self.top = Recurrent(nn.GRUCell(6, 3, dtype=DTYPE))
        self.head = nn.Linear(3, 2, dtype=DTYPE)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        hidden, _ = self.stack(x, lengths=lengths)
        top, h_n = self.top(hidden, lengths=lengths)
        loss: Tensor = self.head(top).sum() + h_n.sum()
        return loss


def stack() -> StackedRecurrent:
    torch.manual_seed(0)
    return StackedRecurrent(lambda n: nn.LSTMCell(n, 3), 2, 2, bidirectional=True)


# Inductor's CPU code path calls torch.jit.script_method, which warns in torch 2.13.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
# Dynamo hides this warning with a filter of its own (`safe_has_grad`) that pytest's
# filterwarnings=error overrides: at a graph break with a non-leaf input, it is never shown.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.parametrize("with_lengths", [True, False])
def test_default_compile_gives_eager_values_and_gradients(with_lengths: bool) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Tagger()
    x = torch.randn(4, 3, 2, dtype=DTYPE)
    lengths = torch.tensor([4, 0, 2]) if with_lengths else None
    eager = model(x, lengths)
    eager_grads = torch.autograd.grad(eager, list(model.parameters()))
    compiled = torch.compile(model)(x, lengths)
    grads = torch.autograd.grad(compiled, list(model.parameters()))
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(grads, eager_grads)


def test_fullgraph_without_lengths() -> None:
    torch._dynamo.reset()
    model = stack()
    x = torch.randn(4, 3, 2)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x)[0], model(x)[0])


def test_fullgraph_with_lengths_is_refused() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(stack(), fullgraph=True, backend="aot_eager")
    with pytest.raises(Exception, match=r"torch.compiler.disable"):
        compiled(torch.randn(4, 3, 2), lengths=torch.tensor([4, 1, 2]))


def test_dynamic_shapes_recompile_for_each_length_of_time() -> None:
    torch._dynamo.reset()
    model = stack()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, dynamic=True, fullgraph=True, backend=counter)
    for steps, batch in [(4, 3), (4, 5), (4, 6)]:
        x = torch.randn(steps, batch, 2)
        torch.testing.assert_close(compiled(x)[0], model(x)[0])
    frames = counter.frame_count
    assert frames <= 2  # the batch size becomes dynamic
    compiled(torch.randn(5, 3, 2))
    assert counter.frame_count == frames + 1  # the loop over time is unrolled: one graph per T


def test_export_with_a_dynamic_batch_without_lengths() -> None:
    model = stack()
    x = torch.randn(4, 3, 2)
    exported = torch.export.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("B")},))
    other = torch.randn(4, 6, 2)
    torch.testing.assert_close(exported.module()(other)[0], model(other)[0])


def test_export_refuses_a_dynamic_time_and_lengths() -> None:
    model = stack()
    x = torch.randn(4, 3, 2)
    with pytest.raises(Exception, match=r"Constraints violated \(T\)"):
        torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("T")},))
    with pytest.raises(RuntimeError, match=r"numpy"):
        torch.export.export(model, (x,), {"lengths": torch.tensor([4, 1, 2])})


def test_onnx_without_lengths_at_fixed_shapes() -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = stack().eval()
    x = torch.randn(4, 3, 2)
    with warnings.catch_warnings():
        # torch's exporter issues and catches its own warnings; errors would change its course.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    assert program is not None
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    (output, *_) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(output), model(x)[0])


# Dynamo hides this warning with a filter of its own that filterwarnings=error overrides.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_with_lengths_new_lengths_do_not_recompile() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Tagger()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, backend=counter)
    x = torch.randn(4, 3, 2, dtype=DTYPE)
    compiled(x, torch.tensor([4, 0, 2]))
    frames = counter.frame_count
    for lengths in ([1, 2, 3], [4, 4, 4], [0, 3, 1]):
        lens = torch.tensor(lengths)
        torch.testing.assert_close(compiled(x, lens), model(x, lens))
    assert counter.frame_count == frames
