"""The classic experiment, "Figuring how bidirectional RNN works in PyTorch", reproduced."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._layout import final_states, split_directions

__all__ = ["NotebookResult", "run_notebook"]


class NotebookResult(NamedTuple):
    """What the notebook's experiment compares.

    Attributes:
        backward_half: ``bi_output[:, 0, 1]``, the biGRU output's backward half, shape ``(T,)``.
        reverse_output: the reverse GRU's output read back in time, shape ``(T,)``.
        bi_hidden_backward: ``bi_hidden[1]``, the backward row of ``h_n``.
        reverse_hidden: the reverse GRU's final hidden state.
        backward_at_t0: ``bi_output[0, 0, 1]``, where that state sits in the output.
        max_output_diff: largest absolute difference of the two output columns.
        max_hidden_diff: largest absolute difference among the three final-state readings.
    """

    backward_half: Tensor
    reverse_output: Tensor
    bi_hidden_backward: Tensor
    reverse_hidden: Tensor
    backward_at_t0: Tensor
    max_output_diff: float
    max_hidden_diff: float

    @property
    def holds(self) -> bool:
        """Whether both findings hold to float32 round-off (1e-6)."""
        return self.max_output_diff <= 1e-6 and self.max_hidden_diff <= 1e-6


def run_notebook(seed: int = 0) -> NotebookResult:
    """Run the notebook: a 5-step, 1-feature sequence through a biGRU and a reverse GRU.

    The unidirectional ``nn.GRU(1, 1)`` gets copies of the biGRU's ``*_l0_reverse`` parameters
    and reads the sequence reversed.

    Args:
        seed: the seed for the input and the weights.

    Returns:
        The compared values, see :class:`NotebookResult`.

    Example:
        >>> from birnn_utils._demo import run_notebook
        >>> run_notebook().holds
        True
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bi_gru = nn.GRU(input_size=1, hidden_size=1, num_layers=1, bidirectional=True)
        reverse_gru = nn.GRU(input_size=1, hidden_size=1, num_layers=1)
    random_input = torch.randn(5, 1, 1, generator=generator)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(reverse_gru, name).copy_(getattr(bi_gru, f"{name}_reverse"))
        bi_output, bi_hidden = bi_gru(random_input)
        reverse_output, reverse_hidden = reverse_gru(random_input.flip(0))
    backward = split_directions(bi_output).backward
    backward_half = backward[:, 0, 0]
    reverse_column = reverse_output.flip(0)[:, 0, 0]
    readings = (
        final_states(bi_hidden).backward.reshape(()),
        reverse_hidden.reshape(()),
        backward[0, 0, 0],
    )
    return NotebookResult(
        backward_half=backward_half,
        reverse_output=reverse_column,
        bi_hidden_backward=readings[0],
        reverse_hidden=readings[1],
        backward_at_t0=readings[2],
        max_output_diff=float((backward_half - reverse_column).abs().max()),
        max_hidden_diff=float(max(abs(a - b) for a in readings for b in readings)),
    )


def format_notebook(result: NotebookResult) -> str:
    """The notebook's comparison as a printable table.

    Args:
        result: what :func:`run_notebook` returned.

    Returns:
        Lines of text: the two columns side by side, the final states, the differences and a
        verdict.
    """
    lines = [
        "The classic experiment: nn.GRU(1, 1, bidirectional=True) vs a reverse nn.GRU(1, 1)",
        "with the *_l0_reverse weights, fed the sequence reversed.",
        "",
        "  t   bi_output[t, 0, 1]   reverse_output[T-1-t]",
    ]
    columns = zip(result.backward_half.tolist(), result.reverse_output.tolist(), strict=True)
    for t, (a, b) in enumerate(columns):
        lines.append(f"  {t}   {a:>18.6f}   {b:>21.6f}")
    lines += [
        f"max |difference| of the columns: {result.max_output_diff:.3g}",
        "",
        f"bi_hidden[1] (backward row of h_n): {float(result.bi_hidden_backward):.6f}",
        f"reverse GRU final hidden state:     {float(result.reverse_hidden):.6f}",
        f"bi_output[0, 0, 1] (t = 0):         {float(result.backward_at_t0):.6f}",
        f"max |difference| of the final states: {result.max_hidden_diff:.3g}",
        "",
        "findings hold" if result.holds else "FINDINGS DO NOT HOLD",
    ]
    return "\n".join(lines)
