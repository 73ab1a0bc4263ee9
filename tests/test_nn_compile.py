"""birnn_utils.nn under torch.compile(fullgraph=True, dynamic=True) and torch.export.

``fullgraph=True`` turns a graph break into an error; one compiled frame over three ``(T, B)``
proves that T and B stay symbolic (no recompilation). The ``aot_eager`` backend (Dynamo and
AOTAutograd, no code generation) keeps these quick; values and gradients are compared with eager
torch. The model-like test uses the default inductor backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounterWithBackend
from torch.testing import assert_close

import birnn_utils.nn as bnn

SHAPES = [(6, 3), (9, 4), (4, 2)]  # (T, B); B never equals the input size 5 (duck sizing)
INPUT_SIZE = 5


def lengths_for(steps: int, batch: int) -> Tensor:
    """Unsorted, with a full row, an empty row and a row of length 1."""
    lengths = torch.arange(batch) % (steps + 1)
    lengths[0], lengths[-1] = 1, steps
    return lengths.flip(0)


def values_and_grads(
    model: Callable[..., Any], args: tuple[Any, ...], parameters: Iterable[Tensor]
) -> list[Tensor]:
    leaves = [a.detach().clone().requires_grad_() if a.is_floating_point() else a for a in args]
    result = model(*leaves)
    flat = [t for part in result for t in (part if isinstance(part, tuple) else (part,))]
    loss = sum(
        (t * torch.linspace(-1, 1, t.numel(), device=t.device).view_as(t)).sum() for t in flat
    )
    wrt = [a for a in leaves if a.requires_grad] + list(parameters)
    return flat + list(torch.autograd.grad(loss, wrt))


class Call(nn.Module):
    """``rnn(x, hx, lengths=lengths)`` as a module, so that compile sees one frame."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: Tensor, lengths: Tensor, *hx: Tensor) -> tuple[Any, Any]:
        state = None if not hx else hx[0] if len(hx) == 1 else (hx[0], hx[1])
        return self.rnn(x, state, lengths=lengths)  # type: ignore[no-any-return]


CASES = [
    (bnn.LSTM, {"num_layers": 2, "bidirectional": True}, False),
    (bnn.GRU, {"batch_first": True, "bidirectional": True}, True),
    (bnn.RNN, {"nonlinearity": "relu", "num_layers": 2, "proj_size": None}, False),
    (bnn.LSTM, {"proj_size": 2, "bidirectional": True}, True),
]


@pytest.mark.parametrize(("cls", "kwargs", "with_hx"), CASES, ids=["lstm", "gru", "rnn", "proj"])
def test_compiles_to_one_graph_with_eager_values_and_gradients(
    cls: type[nn.Module], kwargs: dict[str, Any], with_hx: bool, device: torch.device
) -> None:
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    torch.manual_seed(0)
    model = Call(cls(INPUT_SIZE, 7, **kwargs)).to(device)
    rnn: Any = model.rnn
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, fullgraph=True, dynamic=True, backend=counter)
    frames = []
    for steps, batch in SHAPES:
        shape = (batch, steps, INPUT_SIZE) if rnn.batch_first else (steps, batch, INPUT_SIZE)
        # Lengths on the data's device: the op takes them to the CPU itself.
        args: tuple[Tensor, ...] = (
            torch.randn(shape, device=device),
            lengths_for(steps, batch).to(device),
        )
        if with_hx:
            rows = rnn.num_layers * (2 if rnn.bidirectional else 1)
            args += (torch.randn(rows, batch, rnn.proj_size or rnn.hidden_size, device=device),)
            if cls is bnn.LSTM:
                args += (torch.randn(rows, batch, rnn.hidden_size, device=device),)
        params = list(model.parameters())
        assert_close(
            values_and_grads(compiled, args, params), values_and_grads(model, args, params)
        )
        frames.append(counter.frame_count)
    # The first shape compiles (Dynamo may restart its analysis once); later ones reuse it.
    assert frames[0] >= 1
    assert frames == [frames[0]] * len(SHAPES)


def test_compiles_without_lengths() -> None:
    torch.manual_seed(0)
    lstm = bnn.LSTM(INPUT_SIZE, 3, bidirectional=True).eval()
    compiled = torch.compile(lambda x: lstm(x), fullgraph=True, backend="aot_eager")
    x = torch.randn(6, 2, INPUT_SIZE)
    assert_close(compiled(x), lstm(x))


def test_training_dropout_is_refused_while_compiling() -> None:
    lstm = bnn.LSTM(INPUT_SIZE, 3, num_layers=2, dropout=0.5)
    compiled = torch.compile(lambda x: lstm(x, lengths=[2, 1]), fullgraph=True, backend="eager")
    with pytest.raises(Exception, match=r"LSTM: dropout between layers \(`dropout`=0.5\)"):
        compiled(torch.randn(3, 2, INPUT_SIZE))
    lstm.eval()
    assert compiled(torch.randn(3, 2, INPUT_SIZE))[0].shape == (3, 2, 3)


class Tagger(nn.Module):
    """A bidirectional LSTM and a linear head: a sequence tagger."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = bnn.LSTM(INPUT_SIZE, 4, num_layers=2, bidirectional=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        output, _ = self.lstm(x, lengths=lengths)
        return self.head(output)  # type: ignore[no-any-return]


# Inductor's CPU code path calls torch.jit.script_method, which warns in torch 2.13.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_inductor_tagger_trains_like_eager() -> None:
    torch.manual_seed(0)
    model = Tagger()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    for steps, batch in SHAPES[:2]:
        args = (torch.randn(steps, batch, INPUT_SIZE), lengths_for(steps, batch))
        params = list(model.parameters())
        assert_close(
            values_and_grads(compiled, args, params), values_and_grads(model, args, params)
        )


def test_export_with_dynamic_time_and_batch() -> None:
    torch.manual_seed(0)
    assert_exports_with_dynamic_time_and_batch(Tagger().eval(), lengths_for)


def assert_exports_with_dynamic_time_and_batch(
    model: nn.Module, lengths_for: Callable[[int, int], Tensor]
) -> None:
    """``model(x, lengths)`` exported with Dim("T") and Dim("B") equals eager at each shape."""
    steps, batch = torch.export.Dim("T", min=2), torch.export.Dim("B", min=2)
    exported = torch.export.export(
        model,
        (torch.randn(6, 3, INPUT_SIZE), lengths_for(6, 3)),
        dynamic_shapes=({0: steps, 1: batch}, {0: batch}),
    )
    ops = {str(node.target) for node in exported.graph.nodes}
    assert "birnn_utils.packed_rnn.default" in ops
    for steps_, batch_ in SHAPES:
        args = (torch.randn(steps_, batch_, INPUT_SIZE), lengths_for(steps_, batch_))
        assert_close(exported.module()(*args), model(*args))
