"""The command line: ``python -m birnn_utils`` reproduces the notebook and checks it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from birnn_utils._demo import format_notebook, run_notebook
from birnn_utils.cli import main


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
