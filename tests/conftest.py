"""Shared pytest fixtures.

The benchmark data are read from ``KERAS_RNNREG_DATA_DIR``; when it is unset the
tests fall back to ``../shared/data/polyphonic`` next to the repository (the
layout CI provides). Copies of the data are never committed to the project.
"""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "polyphonic"

os.environ.setdefault("KERAS_RNNREG_DATA_DIR", str(DEFAULT_DATA_DIR))
# Keep TensorFlow quiet and deterministic-ish on 2 cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir():
    """Directory holding the four benchmark datasets (``.mat`` and notes JSON)."""
    path = pathlib.Path(os.environ["KERAS_RNNREG_DATA_DIR"])
    if not (path / "JSB_Chorales.mat").is_file():
        pytest.fail(
            f"benchmark data not found in {path}; set KERAS_RNNREG_DATA_DIR to the "
            "folder holding JSB_Chorales.mat"
        )
    return path
