"""What `python -m build` puts in the sdist and the wheel: every module of the source folders
under its installed name, the packaged data, the metadata (one version, the extras, the entry
point). Installing the wheel into a fresh virtualenv and using it from outside the repository
is .ci/wheel_check.sh (about 4 minutes, run by CI after the tests)."""

import email
import hashlib
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest

import keras_rnnreg
from keras_rnnreg.data_pipelines import registry

REPO = pathlib.Path(__file__).resolve().parent.parent
#: Source folder -> installed package (pyproject's [tool.setuptools.package-dir]).
SOURCE_FOLDERS = {
    "keras_rnnreg": "keras_rnnreg",
    "models": "keras_rnnreg/models",
    "tuning": "keras_rnnreg/tuning",
    "data_pipelines": "keras_rnnreg/data_pipelines",
}
DATA = "keras_rnnreg/data_pipelines/data"
MAT_SHA256 = {registry.get_info(n).mat.filename: registry.get_info(n).mat.sha256 for n in registry.DATASETS}


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from it (build's default: the wheel is built from the
    unpacked sdist, so a file missing from the sdist is missing from the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_wheel_holds_every_module_under_its_installed_name(dist):
    names = set(zipfile.ZipFile(dist[1]).namelist())
    expected = {
        f"{installed}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, installed in SOURCE_FOLDERS.items()
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert "keras_rnnreg/app/cli.py" in expected  # the subpackages are really looked at
    assert expected - names == set()
    # nothing from outside the package: no tests, benchmarks or stray top-level modules
    assert {n.split("/")[0] for n in names} == {"keras_rnnreg", dist[1].name.split("-py3")[0] + ".dist-info"}


def test_wheel_and_sdist_carry_the_packaged_data(dist):
    sdist, wheel = dist
    with zipfile.ZipFile(wheel) as whl:
        data = {n.rsplit("/", 1)[1]: whl.read(n) for n in whl.namelist() if n.startswith(DATA + "/")}
    assert set(data) == set(MAT_SHA256) | {"README.md", "SHA256SUMS"}
    for name, digest in MAT_SHA256.items():
        assert hashlib.sha256(data[name]).hexdigest() == digest, name
        assert f"{digest}  {name}" in data["SHA256SUMS"].decode()
    with tarfile.open(sdist) as tar:
        in_sdist = {m.name.partition("/")[2] for m in tar.getmembers()}
    assert {f"data_pipelines/data/{name}" for name in data} <= in_sdist


def test_metadata_version_extras_and_entry_point(dist):
    sdist, wheel = dist
    version = keras_rnnreg.__version__
    assert wheel.name == f"keras_rnnreg-{version}-py3-none-any.whl"
    assert sdist.name == f"keras_rnnreg-{version}.tar.gz"
    with zipfile.ZipFile(wheel) as whl:
        info = f"keras_rnnreg-{version}.dist-info"
        meta = email.message_from_bytes(whl.read(f"{info}/METADATA"))
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    assert meta["Version"] == version and meta["License-Expression"] == "Apache-2.0"
    assert {"jax", "docs", "dev"} <= set(meta.get_all("Provides-Extra"))
    requires = meta.get_all("Requires-Dist")
    for extra, package in [("docs", "mkdocs-material"), ("docs", "mkdocstrings[python]"),
                           ("dev", "mkdocs-material"), ("dev", "build"), ("dev", "twine"), ("dev", "pytest")]:
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requires), (extra, package)
    assert "keras-rnnreg = keras_rnnreg.__main__:run" in entry_points


def test_twine_check_passes(dist):
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2


def test_version_is_read_without_importing_the_package():
    """setuptools reads keras_rnnreg.__version__ from the source (pyproject's dynamic version),
    so building never imports TensorFlow: here importing it (or Keras, JAX) would fail."""
    code = (
        "import sys\n"
        "for name in ('tensorflow', 'keras', 'jax'): sys.modules[name] = None\n"
        "from setuptools.config.expand import read_attr\n"
        "print(read_attr('keras_rnnreg.__version__', {'keras_rnnreg': 'keras_rnnreg'}, '.'))\n"
        "assert 'keras_rnnreg' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == keras_rnnreg.__version__
