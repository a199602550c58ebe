#!/usr/bin/env bash
# Put into a folder (default .whl/, which .gitignore leaves out) the wheels that
# benchmarks/gpu_check.sh installs on a GPU machine with no network: the
# project's own (python -m build) and the pure-Python packages it needs under
# JAX that such a machine lacks (Keras, KerasTuner and theirs; optree is
# compiled, so its wheel is the one for the target's Python). The versions are
# the ones installed here, where the tests ran. Run it where pip can download:
#
#   benchmarks/make_gpu_wheels.sh [FOLDER]
#
# Target: CPython $GPU_PYTHON (default 3.12), manylinux x86-64. Without
# TensorFlow: the machine has JAX with CUDA, PyTorch, NumPy, SciPy, h5py,
# absl-py, rich, ml-dtypes, requests, grpcio, protobuf (the GPU image's list).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.whl}
py=${PYTHON:-python3}
target=${GPU_PYTHON:-3.12}
die() { echo "make_gpu_wheels: error: $*" >&2; exit 1; }

mkdir -p "$out"
# One version of each: an older wheel left in the folder would stop the install there.
rm -f "$out"/keras_rnnreg-*.whl "$out"/keras-*.whl "$out"/keras_tuner-*.whl "$out"/kt_legacy-*.whl \
      "$out"/namex-*.whl "$out"/optree-*.whl
"$py" -m build --wheel --outdir "$out" . >/dev/null || die "python -m build failed (pip install build)"

pins=()
for dist in keras namex optree keras-tuner kt-legacy; do
    version=$("$py" -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null) \
        || die "$dist is not installed here: install the project's dependencies first (pip install -e .)"
    pins+=("$dist==$version")
done
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version "$target" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$out" "${pins[@]}" || die "pip download failed for ${pins[*]}"
ls -1 "$out"/*.whl
du -sh "$out"
