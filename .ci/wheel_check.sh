#!/usr/bin/env bash
# Build the sdist and wheel, check them with twine, install the wheel into a fresh virtualenv
# (no -e, no system site-packages: every dependency is installed from the wheel's metadata) and
# use it from a folder outside the repository with no data folder configured and no network:
# the import, the packaged data, the console script and a one-epoch training run.
# Measured on the 2-core CI machine: about 4.5 minutes in all (4 min 21 s), of which ~3 are the
# virtualenv's pip install (dependencies from the local wheel index) and ~40 s the build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
work=$(mktemp -d "${TMPDIR:-/tmp}/keras_rnnreg_wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

python -m build --outdir "$work/dist" .
python -m twine check --strict "$work/dist"/*
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work/dist"/*.whl

cd "$work"  # nothing under the repository is on sys.path from here
unset KERAS_RNNREG_DATA_DIR PYTHONPATH
export KERAS_HOME="$work/keras_home"                             # an empty download cache
export KERAS_RNNREG_DATA_ORIGIN="http://127.0.0.1:9/unreachable"  # every download is refused
export TF_CPP_MIN_LOG_LEVEL=2
"$work/venv/bin/python" - "$repo" "$work/dist" <<'PY'
import importlib.metadata
import pathlib
import sys

repo, dist = (pathlib.Path(p).resolve() for p in sys.argv[1:3])
venv = pathlib.Path(sys.prefix).resolve()

import keras_rnnreg
from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import sources

for module in (keras_rnnreg, dp):
    path = pathlib.Path(module.__file__).resolve()
    if not path.is_relative_to(venv) or path.is_relative_to(repo):
        sys.exit(f"{module.__name__} imported from {path}, not from the virtualenv {venv}")
version = keras_rnnreg.__version__
if importlib.metadata.version("keras_rnnreg") != version or not list(dist.glob(f"*-{version}-*.whl")):
    sys.exit(f"__version__ {version} is not the installed / built version")
packaged = sources.packaged_data_dir()
if packaged is None or not packaged.resolve().is_relative_to(venv):
    sys.exit(f"the packaged data are not in the virtualenv: {packaged}")
for name in dp.DATASETS:  # each file found in the package and checked against its sha256
    path = dp.locate_file(name)
    if path.parent != packaged:
        sys.exit(f"{name}: read {path}, not the packaged copy")
splits = dp.load_dataset("jsb_chorales")
if [len(splits[s]) for s in dp.SPLITS] != [229, 76, 77]:
    sys.exit("JSB Chorales: wrong split sizes")
print(f"keras_rnnreg {version} imported from {venv}, data from {packaged}")
PY
"$work/venv/bin/keras-rnnreg" --help > "$work/help.txt"
grep -q "^  train " "$work/help.txt" || { cat "$work/help.txt"; exit 1; }
"$work/venv/bin/keras-rnnreg" train --model rnn_do --epochs 1 --units 4 --max_train_sequences 4 \
    --max_valid_sequences 2 --max_test_sequences 2 --noexport --notensorboard --verbose 0 \
    --run_dir "$work/run"
"$work/venv/bin/python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["status"] == "completed" and 0 < m["test_nll"] < 100, m
print("trained from the wheel: test_nll", round(m["test_nll"], 3))' "$work/run/metrics.json"
if [ -e "$KERAS_HOME/datasets" ]; then echo "something was downloaded into $KERAS_HOME" >&2; exit 1; fi
echo "wheel check passed in $((SECONDS - start)) s"
