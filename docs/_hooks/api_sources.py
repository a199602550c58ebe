"""MkDocs hook: give the API reference the package as it is installed.

The zoo, the tuning code and the data pipelines live in top-level folders of the
repository (``models/``, ``tuning/``, ``data_pipelines/``) and are installed as
``keras_rnnreg.models``, ``keras_rnnreg.tuning`` and ``keras_rnnreg.data_pipelines``
(``[tool.setuptools.package-dir]`` of pyproject.toml). mkdocstrings reads the
sources without importing them, and an editable install's folder mapping is
invisible to it, so this hook assembles ``build/api_sources/keras_rnnreg`` from
symbolic links following that mapping; mkdocs.yml points mkdocstrings there.
"""

import os
import pathlib
import shutil
import tomllib

STAGING = pathlib.Path("build") / "api_sources"


def _stage(root):
    """Link ``root``'s packages into ``root/build/api_sources`` as pyproject maps them."""
    package_dir = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    staging = root / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    top = staging / "keras_rnnreg"
    top.mkdir(parents=True)
    source = root / package_dir["keras_rnnreg"]
    for entry in source.iterdir():
        if entry.name != "__pycache__":
            os.symlink(entry.resolve(), top / entry.name)
    for name, folder in package_dir.items():
        if name != "keras_rnnreg":
            # keras_rnnreg.models -> models/, replacing nothing of keras_rnnreg/ itself.
            os.symlink((root / folder).resolve(), top / name.split(".", 1)[1])


def on_startup(command, dirty):
    # Before mkdocstrings resolves its search paths (they are globbed when it starts).
    _stage(pathlib.Path(__file__).resolve().parents[2])
