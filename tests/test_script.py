"""``birnn_utils.scriptable`` under torch.jit.script: equal to the main API, same error messages."""

from __future__ import annotations

import functools
import re
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

import birnn_utils
from birnn_utils import mask_to_lengths, scriptable, value_checks

from .portable_cases import CASES, SHAPES, Case, lengths_for

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


@functools.cache
def scripted() -> SimpleNamespace:
    """Every function of ``scriptable``, scripted once for the whole session."""
    return SimpleNamespace(
        **{name: torch.jit.script(getattr(scriptable, name)) for name in scriptable.__all__}
    )


@pytest.mark.parametrize("case", [c for c in CASES if not c.tuples], ids=lambda c: c.name)
def test_scripted_equals_the_main_api(
    case: Case, placement: tuple[torch.device, torch.device]
) -> None:
    for steps, batch in SHAPES:
        args = case.make(steps, batch, *placement)
        assert_close(case.call(scripted(), *args), case.call(birnn_utils, *args))


class Encoder(nn.Module):
    """A bidirectional GRU over padded batches that returns each sequence's two final outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        output, h_n = self.gru(scriptable.reverse_sequences(x, lengths, True))
        output = scriptable.reverse_sequences(output, lengths, True)
        forward, backward = scriptable.final_outputs(output, lengths, True)
        mask = scriptable.lengths_to_mask(lengths, x.shape[1]).unsqueeze(-1)
        pooled = scriptable.merge_directions(forward, backward) + (output * mask).sum(1)
        return pooled, scriptable.bridge_states(h_n, "sum")


def test_a_scripted_module_equals_its_eager_self(
    placement: tuple[torch.device, torch.device],
) -> None:
    data, lengths_device = placement
    torch.manual_seed(0)
    encoder = Encoder().to(data)
    module = torch.jit.script(encoder)
    for steps, batch in SHAPES:
        x = torch.randn(batch, steps, 3, device=data)
        lengths = lengths_for(steps, batch, lengths_device)
        assert_close(module(x, lengths), encoder(x, lengths))


def test_mask_to_lengths_of_the_main_api_is_scriptable(device: torch.device) -> None:
    mask = torch.tensor([[True, True, False], [False, False, False]], device=device)
    assert_close(torch.jit.script(mask_to_lengths)(mask), mask_to_lengths(mask))


ERRORS: list[tuple[str, tuple[Any, ...], type[Exception], str]] = [
    (
        "split_directions",
        (torch.ones(2, 5),),
        ValueError,
        "split_directions: the last dimension of `output` (=5) must be even",
    ),
    (
        "merge_directions",
        (torch.ones(2), torch.ones(2), "max"),
        ValueError,
        "merge_directions: `mode` must be one of 'concat', 'sum', 'mean', 'mul', 'stack', "
        "got 'max'",
    ),
    (
        "merge_directions",
        (torch.ones(2, 3), torch.ones(2, 4)),
        ValueError,
        "merge_directions: `forward` and `backward` must have the same shape, got (2, 3) and "
        "(2, 4)",
    ),
    (
        "final_states",
        (torch.ones(4, 1, 2), 2),
        IndexError,
        "final_states: `layer` must be in [-2, 1] for 2 layer(s), got 2",
    ),
    (
        "final_outputs",
        (torch.ones(3, 2, 4), torch.tensor([1, 1, 1])),
        ValueError,
        "final_outputs: `lengths` must have one entry per sequence (2), got 3",
    ),
    (
        "reverse_sequences",
        (torch.ones(3), torch.tensor([1])),
        ValueError,
        "reverse_sequences: `sequences` must have at least 2 dimensions (T x B x *), got shape "
        "(3,)",
    ),
    (
        "lengths_to_mask",
        (torch.tensor([1.0]), 2),
        TypeError,
        "lengths_to_mask: `lengths` must be an integer tensor, got dtype",
    ),
    (
        "unflatten_states",
        (torch.ones(3, 1, 2),),
        ValueError,
        "unflatten_states: the first dimension of `h_n` (=3) must be even",
    ),
    (
        "flatten_states",
        (torch.ones(2, 3, 1, 4),),
        ValueError,
        "flatten_states: `states` must be (num_layers, 2, B, H_out) or, unbatched, "
        "(num_layers, 2, H_out), got shape (2, 3, 1, 4)",
    ),
    (
        "bridge_states",
        (torch.ones(2, 1, 3), "stack"),
        ValueError,
        "bridge_states: `mode` must be one of 'concat', 'sum', 'mean', got 'stack'",
    ),
    (
        "mask_to_lengths",
        (torch.ones(2, 2),),
        TypeError,
        "mask_to_lengths: `mask` must be a bool Tensor, got",
    ),
]


@pytest.mark.parametrize(("name", "args", "error", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_scripted_errors_carry_the_python_message(
    name: str, args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        getattr(scriptable, name)(*args)
    with pytest.raises(torch.jit.Error, match=re.escape(f"{error.__name__}: {message}")):
        getattr(scripted(), name)(*args)


def test_scripted_code_skips_the_value_checks() -> None:
    holey = torch.tensor([[False, True]])
    with pytest.raises(ValueError, match="right-padded"):
        scriptable.mask_to_lengths(holey)
    assert scripted().mask_to_lengths(holey).tolist() == [1]
    with value_checks(False):
        assert scriptable.mask_to_lengths(holey).tolist() == [1]
