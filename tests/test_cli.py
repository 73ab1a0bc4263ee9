"""The command line: ``python -m birnn_utils`` reproduces the notebook and checks it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from birnn_utils.cli import _equivalence, main
from birnn_utils.cli._demo import format_notebook, run_lstm, run_notebook, run_padded_batch


def test_demo_prints_both_columns_and_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "bi_output[t, 0, 1]" in out
    assert "reverse_output[T-1-t]" in out
    assert "findings hold" in out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_notebook_findings_hold_for_seeds(seed: int) -> None:
    result = run_notebook(seed)
    assert result.holds
    assert result.backward_half.shape == (5,)
    assert abs(float(result.backward_at_t0) - float(result.backward_half[0])) == 0


def test_report_flags_a_broken_finding() -> None:
    result = run_notebook()
    broken = result._replace(max_output_diff=0.5)
    assert not broken.holds
    assert "FINDINGS DO NOT HOLD" in format_notebook(broken)


def test_python_dash_m_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "birnn_utils"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "findings hold" in done.stdout


def test_demo_covers_lstm_and_padded_batch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "LSTM c_n, backward row" in out
    assert "padded batch, lengths [5, 3, 2]" in out
    assert out.rstrip().endswith("all checks hold")


def test_padded_batch_contrast_shows_the_naive_flip_is_wrong() -> None:
    comparisons, naive_error = run_padded_batch()
    assert all(comparison.holds for comparison in comparisons)
    assert naive_error > 1e-3


def test_lstm_demo_compares_h_and_c() -> None:
    comparisons = run_lstm(seed=3)
    assert [c.title for c in comparisons][1:] == [
        "LSTM h_n, backward row",
        "LSTM c_n, backward row",
    ]
    assert all(c.holds for c in comparisons)


def test_check_command_passes_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "LSTM_PROJ c_n" in out
    assert out.rstrip().endswith("17 passed, 0 failed")
    assert main(["check", "--device", "cpu", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"].split()[0] for row in rows} == {
        "RNN_TANH",
        "RNN_RELU",
        "GRU",
        "LSTM",
        "LSTM_PROJ",
    }
    assert all(row["passed"] and row["max_error"] <= row["tolerance"] for row in rows)
    # The same kernels on the same CPU: any difference is float32 rounding. A check whose
    # tolerance were loosened (say to 1.0) would still pass; these bounds would not.
    assert all(row["max_error"] < 1e-6 and row["tolerance"] == 1e-4 for row in rows), rows


def test_check_detects_a_wrong_layout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Skip the reversal: the rebuilt backward direction then reads the input forwards.
    monkeypatch.setattr(_equivalence, "reverse_sequences", lambda sequences: sequences)
    assert main(["check", "--device", "cpu"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_check_rejects_an_unavailable_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--device", "cuda"]) == 2
    assert "device 'cuda' is not available here (available: cpu" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cudnn_lays_out_bidirectional_rnns_as_documented() -> None:
    results = _equivalence.run_checks(["cuda"])
    failed = [result for result in results if not result.passed]
    assert not failed, failed


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["demo", "--help"], ["explain", "--help"], ["check", "--help"]):
        assert main(argv) == 0
        assert "usage: birnn-utils" in capsys.readouterr().out


def test_cli_page_samples_fit_80_columns() -> None:
    """The CLI page's console blocks fit its code column (about 80 characters at 1280 px).

    tests/test_docs.py checks that the samples are what the commands print with COLUMNS=80.
    """
    snippets = Path(__file__).resolve().parents[1] / "docs" / "snippets"
    samples = sorted(snippets.glob("*.txt"))
    assert [sample.name for sample in samples] == ["check.txt", "explain.txt"]
    too_long = [
        f"{sample.name}: {line}"
        for sample in samples
        for line in sample.read_text().splitlines()
        if len(line) > 80
    ]
    assert not too_long, "\n".join(too_long)
