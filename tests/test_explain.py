"""explain_layout and ``birnn-utils explain``, checked against real modules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import birnn_utils
from birnn_utils import explain_layout
from birnn_utils.cli import main


def build(mode: str, sizes: tuple[int, int, int, int], batch_first: bool) -> nn.RNNBase:
    input_size, hidden_size, num_layers, proj_size = sizes
    common = {"num_layers": num_layers, "batch_first": batch_first, "bidirectional": True}
    if mode == "LSTM":
        return nn.LSTM(input_size, hidden_size, proj_size=proj_size, **common)
    return (
        nn.GRU(input_size, hidden_size, **common)
        if mode == "GRU"
        else nn.RNN(input_size, hidden_size, **common)
    )


@settings(max_examples=25, deadline=None)
@given(
    mode=st.sampled_from(["RNN", "GRU", "LSTM"]),
    input_size=st.integers(1, 4),
    hidden_size=st.integers(2, 5),
    num_layers=st.integers(1, 3),
    project=st.booleans(),
    batch_first=st.booleans(),
)
def test_explanation_matches_a_real_module(
    device: torch.device,
    mode: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    project: bool,
    batch_first: bool,
) -> None:
    proj_size = 1 if project and mode == "LSTM" else 0
    info = explain_layout(
        mode, input_size, hidden_size, num_layers, proj_size, batch_first=batch_first
    )
    rnn = build(mode, (input_size, hidden_size, num_layers, proj_size), batch_first).to(device)
    steps, batch = 3, 2
    shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    output, state = rnn(torch.randn(shape, device=device))
    h_n, c_n = state if isinstance(state, tuple) else (state, None)

    seq = "B x T" if batch_first else "T x B"
    assert info["shapes"]["output"] == f"{seq} x {output.shape[-1]}"
    assert info["shapes"]["h_n"] == f"{h_n.shape[0]} x B x {h_n.shape[-1]}"
    if c_n is not None:
        assert info["shapes"]["c_n"] == f"{c_n.shape[0]} x B x {c_n.shape[-1]}"
    assert [(p["name"], tuple(p["shape"])) for p in info["parameters"]] == [
        (name, tuple(p.shape)) for name, p in rnn.named_parameters()
    ]
    namespace = {"output": output, "h_n": h_n, "c_n": c_n, **vars(birnn_utils)}
    for entry in info["slices"]:
        by_index = eval(entry["index"], namespace)
        assert torch.equal(eval(entry["reader"], namespace), by_index), entry
        assert entry["shape"].split(" x ")[-1] == str(by_index.shape[-1])
    for entry in info["reverse_modules"]:
        expected = getattr(rnn, f"weight_ih_l{entry['layer']}_reverse").shape[1]
        assert entry["input_size"] == expected


def test_explain_command_prints_table_and_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # wide enough for one line per slice
    argv = ["explain", "--mode", "LSTM", "--input-size", "3", "--hidden-size", "4"]
    assert main([*argv, "--num-layers", "2", "--proj-size", "2"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"h_n\[3\] +1 +backward +B x 2 +final_states\(h_n, layer=1\)\.backward", text)
    assert "weight_hr_l1_reverse" in text
    assert main([*argv, "--json", "--batch-first"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shapes"]["output"] == "B x T x 8"


LSTM_2_LAYERS = [
    "explain", "--mode", "LSTM", "--input-size", "3", "--hidden-size", "4",
    "--num-layers", "2", "--proj-size", "2",
]  # fmt: skip
READERS = [
    entry["reader"] for entry in explain_layout("LSTM", 3, 4, 2, 2)["slices"]
]  # what a reader of the table is after: each must show, whole, on some line


def assert_fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, f"lines over {width} characters: {too_long}"
    lines = [line.strip() for line in text.splitlines()]
    for reader in READERS:
        assert any(line == reader or line.endswith(f"  {reader}") for line in lines), reader


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_explain_fits_the_terminal(
    columns: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 20: a 99-character table hid its "read it with" column on the CLI page.
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(LSTM_2_LAYERS) == 0
    text = capsys.readouterr().out
    assert_fits(text, columns)
    one_line_per_slice = re.search(r"h_n\[3\] +1 +backward +B x 2 +final_states", text)
    assert bool(one_line_per_slice) == (columns >= 100)


def test_explain_without_a_terminal_prints_80_columns() -> None:
    environment = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "birnn_utils", *LSTM_2_LAYERS],
        capture_output=True,  # stdout is a pipe: no terminal to measure
        text=True,
        check=True,
        env=environment,
    )
    assert_fits(done.stdout, 80)
    assert max(len(line) for line in done.stdout.splitlines()) > 60  # 80 used, not less


def test_explain_shows_one_record_per_slice_when_even_that_is_too_wide(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "52")
    assert main(LSTM_2_LAYERS) == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 52
    assert "  read it with: final_states(h_n, layer=1).backward\n" in text
    assert "\nh_n\n  index: h_n[3]\n  layer: 1\n  direction: backward\n" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "explain",
                "--mode",
                "LSTM",
                "--input-size",
                "3",
                "--hidden-size",
                "4",
                "--proj-size",
                "4",
            ],
            "`proj_size` (=4) must be smaller than `hidden_size` (=4)",
        ),
        (
            [
                "explain",
                "--mode",
                "GRU",
                "--input-size",
                "3",
                "--hidden-size",
                "4",
                "--proj-size",
                "2",
            ],
            "`proj_size` is only for LSTM, got 2 for GRU",
        ),
        (
            ["explain", "--mode", "GRU", "--input-size", "0", "--hidden-size", "4"],
            "`input_size` must be in [1, 1000000], got 0",
        ),
        (
            ["explain", "--mode", "GRU", "--input-size", "x", "--hidden-size", "4"],
            "invalid int value: 'x'",
        ),
        (
            ["explain", "--mode", "CNN", "--input-size", "1", "--hidden-size", "4"],
            "invalid choice: 'CNN'",
        ),
        (["explain", "--mode", "GRU"], "the following arguments are required"),
    ],
)
def test_explain_rejects_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


SIZE = ["explain", "--mode", "GRU", "--input-size", "3", "--hidden-size", "4"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "--mode", "LSTM", "--input-size", "99999999999", "--hidden-size", "9"],
            "`input_size` must be in [1, 1000000], got 99999999999",
        ),
        (
            ["explain", "--mode", "LSTM", "--input-size", "3", "--hidden-size", "99999999999"],
            "`hidden_size` must be in [1, 1000000], got 99999999999",
        ),
        ([*SIZE, "--num-layers", "20000"], "`num_layers` must be in [1, 1000], got 20000"),
        ([*SIZE, "--proj-size", "-1"], "`proj_size` must be in [0, 1000000], got -1"),
        ([*SIZE, "--nonlinearity", "relu"], "`nonlinearity` is only for RNN, got 'relu' for GRU"),
    ],
)
def test_explain_gives_one_line_for_sizes_out_of_range(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # #13 defects 12, 13: a storage-size overflow traceback, minutes of construction, or silence.
    assert main(argv) == 2
    assert capsys.readouterr().err == f"birnn-utils explain: error: explain_layout: {message}\n"


def test_explain_into_a_closed_pipe_prints_no_traceback() -> None:
    # #13 defect 12: `explain --json | head` printed a BrokenPipeError traceback.
    command = [sys.executable, "-m", "birnn_utils", *SIZE, "--num-layers", "300", "--json"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == "{\n"
        process.stdout.close()  # as `head -1` does
        err = process.stderr.read()
    assert process.returncode == 141
    assert err == ""


def test_explain_layout_errors() -> None:
    with pytest.raises(ValueError, match="`mode` must be 'RNN', 'GRU' or 'LSTM', got 'lstm'"):
        explain_layout("lstm", 3, 4)
    with pytest.raises(TypeError, match="`hidden_size` must be an int, got float"):
        explain_layout("GRU", 3, 4.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`nonlinearity` must be 'tanh' or 'relu', got 'gelu'"):
        explain_layout("RNN", 3, 4, nonlinearity="gelu")
    # #13 defect 13: other modes accepted any nonlinearity, against the docstring.
    with pytest.raises(ValueError, match="`nonlinearity` is only for RNN, got 'sigmoid' for GRU"):
        explain_layout("GRU", 3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"`num_layers` must be in \[1, 1000\], got 1001"):
        explain_layout("LSTM", 3, 4, 1001)
