#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA device: the CUDA test subset
# (`pytest -m cuda`, in three parts: the cuDNN equivalence tests; the custom op
# birnn_utils::packed_rnn on CUDA, tests/test_ops.py: its compiled backward (recomputed in a
# fresh thread) on a non-default stream, float16 and bfloat16 autocast eager and compiled,
# inductor and opcheck on cuDNN's layouts; the rest), then every benchmarks/bench_*.py.
# Everything lands in one results folder, with results.md ready to copy into
# docs/benchmarks.md, each part's duration included.
#
# Usage:  scripts/gpu_check.sh [RESULTS_DIR]     (default: gpu-results/<UTC time>)
#         BENCHMARKS=0 scripts/gpu_check.sh      (the tests only)
# Needs:  a CUDA build of torch and the test extra: pip install -e ".[test]"
# Exit:   0 all CUDA tests passed, 1 some failed, 2 no CUDA device visible.
# Takes:  meant to stay under 8 minutes on one GPU (most of it torch.compile and the
#         benchmarks); results.md records each part's time.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if ! python - >"$out/environment.md" <<'PY'; then
import platform

import torch

if not torch.cuda.is_available():
    raise SystemExit("torch.cuda.is_available() is False: no GPU to check")
props = torch.cuda.get_device_properties(0)
print(f"- GPU: {props.name} (compute capability {props.major}.{props.minor}), "
      f"{torch.cuda.device_count()} visible")
print(f"- torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, Python {platform.python_version()}")
PY
    cat "$out/environment.md" >&2
    exit 2
fi

status=0
run_tests() {  # run_tests NAME PYTEST_ARGS...
    local name=$1 start=$SECONDS
    shift
    echo "== pytest -m cuda $* ($name)"
    python -m pytest -m cuda "$@" -q -rfE -p no:cacheprovider \
        --junitxml="$out/$name.xml" 2>&1 | tee "$out/$name.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    echo "$((SECONDS - start)) s" >"$out/$name.seconds"
}
# Tests against the native bidirectional modules (cuDNN kernels on CUDA): per-direction modules
# row by row, reverse modules on reversed sequences, run_packed, Bidirectional, BiRNNEncoder.
equivalence="findings or backward_direction or native or hand_written or cudnn"
ops=tests/test_ops.py
run_tests cudnn-equivalence --ignore="$ops" -k "$equivalence"
# The custom op on CUDA: side stream, autocast float16/bfloat16, inductor, opcheck.
run_tests cuda-op "$ops"
run_tests cuda-tests --ignore="$ops" -k "not ($equivalence)"

if [ "${BENCHMARKS:-1}" != 0 ]; then
    for bench in benchmarks/bench_*.py; do
        [ -e "$bench" ] || { echo "(no benchmarks/bench_*.py in this checkout)"; break; }
        echo "== python $bench"
        python "$bench" 2>&1 | tee "$out/$(basename "$bench" .py).txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    done
fi

{
    echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
    echo
    cat "$out/environment.md"
    echo
    echo "## cuDNN equivalence (pytest -m cuda -k \"$equivalence\")"
    echo
    echo "    $(tail -n 1 "$out/cudnn-equivalence.txt") ($(cat "$out/cudnn-equivalence.seconds"))"
    echo
    echo "## The custom op on CUDA (pytest -m cuda $ops)"
    echo
    echo "Compiled backward on a non-default stream, autocast float16/bfloat16 (eager, aot_eager,"
    echo "inductor; against torch.nn.LSTM), opcheck on cuDNN's layouts."
    echo
    echo "    $(tail -n 1 "$out/cuda-op.txt") ($(cat "$out/cuda-op.seconds"))"
    echo
    echo "## The rest of the CUDA subset (compile, script, sync-free, layout, reversal)"
    echo
    echo "    $(tail -n 1 "$out/cuda-tests.txt") ($(cat "$out/cuda-tests.seconds"))"
    for result in "$out"/bench_*.txt; do
        [ -e "$result" ] || break
        echo
        echo "## $(basename "$result" .txt)"
        echo
        cat "$result"
    done
} >"$out/results.md"
echo "== results in $out/results.md (exit status $status, $SECONDS s in all)"
exit "$status"
