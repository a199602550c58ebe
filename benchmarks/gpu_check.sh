#!/usr/bin/env bash
# The GPU check in one command (issue 31): on a machine with JAX (CUDA) and
# PyTorch, no TensorFlow and no network, from the repository root:
#
#   benchmarks/gpu_check.sh [flags of python -m benchmarks.gpu_check]
#
# It installs the project and the packages it needs from the wheels in .whl/
# (WHEELS=FOLDER for another; made by benchmarks/make_gpu_wheels.sh where pip
# can download, carried with the checkout), then under KERAS_BACKEND=jax writes
# results/throughput_gpu.md (every zoo model vs keras.layers.SimpleRNN on the
# GPU, and torch.nn.RNN with cuDNN) and runs a 4-trial search of rnn_dos on JSB
# Chorales, printing its summary (benchmarks/gpu_check.py). Anything missing is
# one "gpu_check: error:" line and a non-zero exit; the whole run is stopped
# after GPU_CHECK_TIMEOUT seconds (default 480, the 8-minute budget).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=${WHEELS:-$repo/.whl}
py=${PYTHON:-python3}
limit=${GPU_CHECK_TIMEOUT:-480}
die() { echo "gpu_check: error: $*" >&2; exit 1; }

command -v "$py" >/dev/null || die "no $py (PYTHON=... names another interpreter)"
shopt -s nullglob
whl=("$wheels"/*.whl)
[ ${#whl[@]} -gt 0 ] \
    || die "no wheels in $wheels: run benchmarks/make_gpu_wheels.sh where pip can download, and carry that folder"
own=("$wheels"/keras_rnnreg-*.whl)
[ ${#own[@]} -gt 0 ] || die "no keras_rnnreg wheel in $wheels (benchmarks/make_gpu_wheels.sh builds it)"

site=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")
# --no-index: nothing is fetched; --no-deps: what the machine lacks is all in the folder.
timeout 300 "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "${whl[@]}" \
    || die "installing the wheels of $wheels into $site failed"

# The installed keras_rnnreg first, then the checkout for benchmarks/; run from an
# empty folder so the checkout's keras_rnnreg/ source folder is not imported instead.
export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
cd "$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_run.XXXXXX")"
status=0
timeout --kill-after=20 "$limit" "$py" -m benchmarks.gpu_check --output="$repo/results/throughput_gpu.md" "$@" \
    || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    die "stopped after $limit s (GPU_CHECK_TIMEOUT); the check is meant to end well inside 8 minutes"
fi
exit "$status"
