"""Shared pytest fixtures.

The benchmark ``.mat`` files are read from the copies shipped in the package
(``data_pipelines/data/``), as a user's run with no data folder configured
reads them; ``KERAS_RNNREG_DATA_DIR`` is not set here. The JSB Chorales
note-list JSON is not shipped: tests that need it take ``notes_dir``
(``$KERAS_RNNREG_DATA_DIR`` if set, else ``../shared/data/polyphonic`` next to
the repository, the layout CI provides).
"""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "polyphonic"

# Keep TensorFlow quiet and deterministic-ish on 2 cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir():
    """The packaged folder holding the four benchmark ``.mat`` files."""
    from keras_rnnreg.data_pipelines import sources

    path = sources.packaged_data_dir()
    if path is None or not (path / "JSB_Chorales.mat").is_file():
        pytest.fail(f"the packaged benchmark data are missing (looked in {path}); reinstall the package")
    return path


@pytest.fixture(scope="session")
def notes_dir():
    """A folder holding ``JSB_Chorales.notes.json`` (not shipped in the package)."""
    path = pathlib.Path(os.environ.get("KERAS_RNNREG_DATA_DIR") or DEFAULT_DATA_DIR)
    if not (path / "JSB_Chorales.notes.json").is_file():
        pytest.fail(
            f"JSB_Chorales.notes.json not found in {path}; set KERAS_RNNREG_DATA_DIR to the "
            "folder holding it"
        )
    return path
