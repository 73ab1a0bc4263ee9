"""The classic experiment, "Figuring how bidirectional RNN works in PyTorch", reproduced."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .._layout import final_states, split_directions
from .._lengths import lengths_to_mask
from .._reverse import reverse_sequences
from .._surgery import extract_reverse_module

__all__ = [
    "Comparison",
    "NotebookResult",
    "format_comparison",
    "format_notebook",
    "quiet_projection_notice",
    "run_lstm",
    "run_notebook",
    "run_padded_batch",
]


@contextmanager
def quiet_projection_notice() -> Iterator[None]:
    """Silence torch's CPU notice that oneDNN does not run LSTMs with ``proj_size``.

    The notice says which kernel runs, not that a result is wrong; the command's output is
    clearer without it.

    Yields:
        Nothing; the notice is filtered inside the block.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        yield


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
        >>> from birnn_utils.cli._demo import run_notebook
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


class Comparison(NamedTuple):
    """One side-by-side comparison of the demo.

    Attributes:
        title: what is compared.
        left_label: the column read from the bidirectional module.
        right_label: the column computed another way.
        left: the first column, shape ``(n,)``.
        right: the second column, shape ``(n,)``.
        max_diff: largest absolute difference of the two columns.
    """

    title: str
    left_label: str
    right_label: str
    left: Tensor
    right: Tensor
    max_diff: float

    @property
    def holds(self) -> bool:
        """Whether the columns agree to float32 round-off (1e-6)."""
        return self.max_diff <= 1e-6


def _compare(title: str, labels: tuple[str, str], left: Tensor, right: Tensor) -> Comparison:
    left, right = left.reshape(-1), right.reshape(-1)
    diff = float((left - right).abs().max())
    return Comparison(title, labels[0], labels[1], left, right, diff)


def run_lstm(seed: int = 0) -> list[Comparison]:
    """The notebook's two findings for ``nn.LSTM(1, 3, proj_size=1, bidirectional=True)``.

    The reverse module comes from :func:`extract_reverse_module` (which carries
    ``weight_hr_l0_reverse`` too); ``c_n``'s backward row is compared as well.

    Args:
        seed: the seed for the input and the weights.

    Returns:
        Three comparisons: the backward half of the output, ``h_n[1]`` and ``c_n[1]``.

    Example:
        >>> from birnn_utils.cli._demo import run_lstm
        >>> all(c.holds for c in run_lstm())
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lstm = nn.LSTM(input_size=1, hidden_size=3, proj_size=1, bidirectional=True)
        x = torch.randn(5, 1, 1)
    reverse = extract_reverse_module(lstm)
    with torch.no_grad(), quiet_projection_notice():
        output, (h_n, c_n) = lstm(x)
        reverse_output, (reverse_h, reverse_c) = reverse(x.flip(0))
    backward = split_directions(output).backward
    h_pair, c_pair = final_states((h_n, c_n))
    return [
        _compare(
            "LSTM output, backward half",
            ("output[t, 0, 1]", "reverse_output[T-1-t]"),
            backward,
            reverse_output.flip(0),
        ),
        _compare("LSTM h_n, backward row", ("h_n[1]", "reverse h_n"), h_pair.backward, reverse_h),
        _compare("LSTM c_n, backward row", ("c_n[1]", "reverse c_n"), c_pair.backward, reverse_c),
    ]


def run_padded_batch(seed: int = 0) -> tuple[list[Comparison], float]:
    """The findings for a padded batch of mixed lengths, run packed through a biGRU.

    The reverse module reads ``reverse_sequences(x, lengths)``; its output, reversed back within
    the lengths, equals the backward half at every valid step, and its final state is ``h_n[1]``.
    Flipping the whole padded tensor instead feeds padding into the backward state.

    Args:
        seed: the seed for the input and the weights.

    Returns:
        The comparisons (valid steps of the backward half, final states) and the largest error
        of the naive whole-tensor flip at valid steps, for contrast.

    Example:
        >>> from birnn_utils.cli._demo import run_padded_batch
        >>> comparisons, naive_error = run_padded_batch()
        >>> all(c.holds for c in comparisons), naive_error > 1e-3
        (True, True)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gru = nn.GRU(input_size=1, hidden_size=1, bidirectional=True)
        x = torch.randn(5, 3, 1)
    lengths = torch.tensor([5, 3, 2])
    x = x * lengths_to_mask(lengths, 5).t().unsqueeze(-1)  # zero padding, as a loader gives
    reverse = extract_reverse_module(gru)
    valid = lengths_to_mask(lengths, 5).t()
    with torch.no_grad():
        packed_out, h_n = gru(pack_padded_sequence(x, lengths, enforce_sorted=False))
        output, _ = pad_packed_sequence(packed_out, total_length=5)
        reverse_output, reverse_h = reverse(
            pack_padded_sequence(reverse_sequences(x, lengths), lengths, enforce_sorted=False)
        )
        reverse_padded, _ = pad_packed_sequence(reverse_output, total_length=5)
        naive_output, _ = reverse(x.flip(0))
    backward = split_directions(output).backward[..., 0]
    aligned = reverse_sequences(reverse_padded, lengths)[..., 0]
    naive = naive_output.flip(0)[..., 0]
    comparisons = [
        _compare(
            "padded batch, lengths [5, 3, 2]: backward half at valid steps",
            ("output[t, b, 1]", "reversed back"),
            backward[valid],
            aligned[valid],
        ),
        _compare(
            "padded batch: backward final states",
            ("h_n[1]", "reverse h_n"),
            final_states(h_n).backward,
            reverse_h,
        ),
    ]
    return comparisons, float((backward[valid] - naive[valid]).abs().max())


def format_comparison(comparison: Comparison) -> str:
    """A comparison as a small table with its largest difference.

    Args:
        comparison: one of :func:`run_lstm`'s or :func:`run_padded_batch`'s results.

    Returns:
        Lines of text.
    """
    lines = [
        comparison.title,
        f"  {comparison.left_label:>22}   {comparison.right_label:>22}",
    ]
    for a, b in zip(comparison.left.tolist(), comparison.right.tolist(), strict=True):
        lines.append(f"  {a:>22.6f}   {b:>22.6f}")
    lines.append(f"  max |difference|: {comparison.max_diff:.3g}")
    return "\n".join(lines)
