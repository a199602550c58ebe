"""The documentation keeps its promises: every command and code block runs as written.

README.md and every page of docs/ are scanned for fenced blocks:

- ```python blocks run in a fresh ``python -c`` process (only what the block
  imports is imported), once on TensorFlow and once under ``KERAS_BACKEND=jax``;
- shell blocks (```bash, ```sh, or a bare fence) are split into commands, and each
  command must have an entry in :data:`COMMANDS`: either the small flags appended
  to run it in CI (absl flags: a later flag overrides an earlier one) or, for
  what cannot run here, a skip with its reason. A command added to the docs
  without an entry fails :func:`test_every_documented_command_is_registered`;
- anything not meant to run uses another fence (```text).

Commands and blocks run in one shared working directory, in the order their
``after`` entries ask for (``evaluate`` after the ``train`` that makes its run).
Also here: README's length limit, its links, the docs' copy of the search space,
and ``mkdocs build --strict`` (a broken link or docstring fails it).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]

SHELL_FENCES = {"", "bash", "sh", "shell"}
# Fences that are documentation only. Any other language is an error (a typo such
# as ```pyhton would otherwise silently stop a block from running).
INERT_FENCES = {"text", "json", "yaml", "toml", "csv"}

# Small settings. The flags exist: `python -m keras_rnnreg train --help`, `tune --help`,
# `tune sweep --help`.
_DATA = "--max_train_sequences 4 --max_valid_sequences 2 --max_test_sequences 2 --window 20 --verbose 0"
TRAIN = f"--epochs 1 --units 8 {_DATA} --notensorboard --noexport"
TUNE = f"--trials 2 --epochs 1 --fixed units=8 {_DATA}"
SWEEP = f"--values 0,1e-3 --seeds 0 --epochs 1 --fixed units=8 {_DATA}"

MAIN = 'python -m keras_rnnreg train --model rnn_do'
TUNED = ("python -m keras_rnnreg tune --model rnn_mns --dataset jsb_chorales --trials 50 --epochs 200 "
         "--seed 0 --directory runs/tune_rnn_mns")
EXPORTED = "python -m keras_rnnreg export --run_dir runs/rnn_do_jsb_chorales_seed0 --out rnn_do_savedmodel"


@dataclasses.dataclass(frozen=True)
class Run:
    """Run the command with ``flags`` appended.

    Attributes:
        flags: small settings appended to the documented command.
        after: a documented command that must have run first in the shared
            directory (it makes the run, search or export this one reads).
        expect: text the output must contain.
        slow: leave it to ``pytest -m slow``.
    """

    flags: str = ""
    after: str | None = None
    expect: str | None = None
    slow: bool = False


@dataclasses.dataclass(frozen=True)
class Skip:
    """A documented command that cannot run in CI, and why."""

    reason: str


#: Every shell command of README.md and docs/ (whitespace collapsed), and how CI runs it.
COMMANDS = {
    # Set-up (README, docs/index.md).
    'pip install -e ".[dev]"': Skip("installs the package: CI does this before the tests (.ci/run)"),
    MAIN: Run(TRAIN, expect="test NLL:"),
    "python -m pytest -q": Skip("runs this test suite itself"),
    "mkdocs serve": Skip("serves until stopped; test_mkdocs_build_strict builds the same site"),
    # Command line (README, docs/cli.md).
    "python -m keras_rnnreg evaluate --run_dir runs/rnn_do_jsb_chorales_seed0 --average sequences":
        Run(after=MAIN, expect="nats per time step"),
    # docs/cli.md's variants of README's commands.
    "python -m keras_rnnreg evaluate --run_dir runs/rnn_do_jsb_chorales_seed0 --split valid":
        Run(after=MAIN, expect="nats per time step", slow=True),
    "python -m keras_rnnreg sample --run_dir runs/rnn_do_jsb_chorales_seed0 --steps 200": Run(after=MAIN),
    "python -m keras_rnnreg sample --run_dir runs/rnn_do_jsb_chorales_seed0 --steps 200 --out song.mid":
        Run(after=MAIN, slow=True),
    "python -m keras_rnnreg export --run_dir runs/rnn_do_jsb_chorales_seed0": Run(after=MAIN, slow=True),
    EXPORTED: Run(after=MAIN),
    "python -m keras_rnnreg train --model rnn_mns --dataset nottingham --optimizer sgd --learning_rate 0.05":
        Run(TRAIN, expect="test NLL:", slow=True),
    "python -m keras_rnnreg train --model rnn_mns --dataset jsb_chorales --epochs 50 --batch_size 32 "
    "--run_dir runs/rnn_mns_jsb": Run(TRAIN, expect="test NLL:", slow=True),
    "python -m keras_rnnreg train --model rnn_do --optimizer sgd --learning_rate 0.05 --momentum 0.9 "
    "--run_dir runs/rnn_do_sgd": Run(TRAIN, expect="test NLL:", slow=True),
    "python -m keras_rnnreg train --model rnn_dos --cell lstm": Run(TRAIN, expect="test NLL:", slow=True),
    "keras-rnnreg train --help": Run(expect="--model"),
    "python -m keras_rnnreg data stats jsb_chorales": Run(expect="note density"),
    # Tuning (README, docs/tuning.md).
    TUNED: Run(TUNE, slow=True),
    "python -m keras_rnnreg tune summarize --directory runs/tune_rnn_mns": Run(after=TUNED, slow=True),
    "python -m keras_rnnreg tune --model rnn_dos --cell gru --trials 20 --directory runs/tune_rnn_dos_gru":
        Run(TUNE, slow=True),
    "python -m keras_rnnreg tune --distributed --workers 4 --model rnn_mns --trials 50 --epochs 200 "
    "--directory runs/tune_rnn_mns_distributed": Run(f"{TUNE} --workers 1 --timeout 600", slow=True),
    "KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 "
    "python -m keras_rnnreg tune --model rnn_mns --trials 50 --directory /shared/tune_rnn_mns":
        Skip("a chief on another machine's address, waiting for workers (tests/test_tuning_distributed.py "
             "runs chief and workers locally)"),
    "KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 "
    "python -m keras_rnnreg tune --model rnn_mns --trials 50 --directory /shared/tune_rnn_mns":
        Skip("a worker of a chief on another machine (tests/test_tuning_distributed.py runs chief and "
             "workers locally)"),
    "python -m keras_rnnreg tune sweep --model rnn_nbr --param l2 --values 0,1e-5,1e-4,1e-3,1e-2 --seeds 0,1,2 "
    "--out fig8.csv": Run(SWEEP, slow=True),
    "python -m keras_rnnreg tune sweep --model rnn_nbr --param l1 --values 0,1e-5,1e-4,1e-3,1e-2 --seeds 0,1,2 "
    "--out fig8.csv --plot fig8.png": Run(SWEEP, slow=True),
    "python -m keras_rnnreg tune sweep --model rnn_ns --param sigma --values 0,0.001,0.01,0.1,0.3 "
    "--out fig9.csv --plot fig9.png": Run(SWEEP, slow=True),
    "python -m keras_rnnreg tune sweep --model rnn_dos --param dropconnect_p --values 0,0.2,0.4,0.6,0.8 "
    "--out fig10.csv --plot fig10.png": Run(SWEEP, slow=True),
}


@dataclasses.dataclass(frozen=True)
class Block:
    """How a Python block runs, where the default (both backends, fresh directory) is not enough.

    Attributes:
        after: a documented command that must have run first in the shared directory.
        backends: the Keras backends it runs on.
        check: Python run after the block, in the same process (assertions on its names).
        slow: leave it to ``pytest -m slow``.
    """

    after: str | None = None
    backends: tuple = ("tensorflow", "jax")
    check: str = ""
    slow: bool = False


#: Python blocks by a line they contain (a block shown on two pages has one entry).
BLOCKS = {
    'model.compile(optimizer="adam", loss=NoteNLL(), metrics=[FrameNLL()])': Block(
        check="assert tuple(model.output_shape) == (None, None, 88)"),
    'both = keras.layers.Bidirectional(NoisySimpleRNN(32, recurrent_noise="multiplicative", sigma=0.1,': Block(
        check="assert tuple(h.shape) == (4, 30, 32) and tuple(both.shape) == (4, 30, 64)\n"
              "assert tuple(moments.shape) == (4, 30, 64) and tuple(probs.shape) == (4, 30, 88)"),
    # The zoo on all of JSB Chorales (2 epochs of 100 units; README and docs/zoo.md).
    'model = models.get("rnn_mns", units=100, sigma=0.05, seed=0)': Block(slow=True),
    'model = models.get("rnn_fd", fd_variant="authors", units=64, seed=0)': Block(
        check="assert probs.shape == (1, 20, 88) and len(models.names()) == 10"),
    'splits = dp.load_dataset("jsb_chorales")': Block(
        check="assert {k: len(v) for k, v in splits.items()} == {'train': 229, 'valid': 76, 'test': 77}\n"
              "assert tuple(inputs.shape) == (32, 100, 88) and tuple(weights.shape) == (32, 100)"),
    # A SavedModel is a TensorFlow graph: loading it is TensorFlow's, whatever the backend.
    'exported = tf.saved_model.load("rnn_do_savedmodel")': Block(
        after=EXPORTED, backends=("tensorflow",),
        check="assert probs.shape == (2, 50, 88) and np.abs(model.predict(rolls, verbose=0) - probs).max() < 1e-5"),
}


# --------------------------------------------------------------------------- extraction

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def fenced_blocks():
    """``(page, line, language, code)`` of every fenced block of README.md and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((page.relative_to(REPO).as_posix(), line, match.group(1).strip().lower(), match.group(2)))
    return found


def shell_commands():
    """``{command: where}`` of every command of the shell blocks, whitespace collapsed."""
    commands = {}
    for page, line, language, code in fenced_blocks():
        if language not in SHELL_FENCES:
            continue
        for offset, text in enumerate(code.replace("\\\n", " ").splitlines()):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            for command in text.split(" && "):
                commands.setdefault(" ".join(command.split()), f"{page}:{line + 1 + offset}")
    return commands


def python_blocks():
    """``{code: where}`` of every Python block (a block shown twice runs once)."""
    blocks = {}
    for page, line, language, code in fenced_blocks():
        if language == "python":
            blocks.setdefault(code, f"{page}:{line}")
    return blocks


def block_settings(code):
    keys = [key for key in BLOCKS if key in code]
    assert len(keys) <= 1, f"more than one BLOCKS entry matches a block: {keys}"
    return BLOCKS[keys[0]] if keys else Block()


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    """The working directory every documented command and block runs in (runs/ lands here)."""
    return tmp_path_factory.mktemp("docs_workdir")


_DONE = {}  # command -> its completed process, in this session's shared directory


def _env(backend=None):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # `python` and `keras-rnnreg` of the docs are the ones of this interpreter.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return env


def _tail(result):
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"


def run_command(command, workdir):
    """Run a documented command (after what it needs) in ``workdir``, once per session."""
    if command in _DONE:
        return _DONE[command]
    entry = COMMANDS[command]
    assert isinstance(entry, Run), f"{command!r} is a skipped command; nothing can run after it"
    if entry.after:
        prerequisite = run_command(entry.after, workdir)
        assert prerequisite.returncode == 0, f"{entry.after!r} failed:\n{_tail(prerequisite)}"
    line = f"{command} {entry.flags}".strip()
    result = subprocess.run(["bash", "-c", line], cwd=workdir, env=_env(), capture_output=True, text=True,
                            timeout=900)
    _DONE[command] = result
    return result


def _command_params():
    params = []
    for command, where in shell_commands().items():
        entry = COMMANDS.get(command)
        marks = [pytest.mark.slow] if isinstance(entry, Run) and entry.slow else []
        params.append(pytest.param(command, where, marks=marks, id=command))
    return params


def _block_params():
    params = []
    for code, where in python_blocks().items():
        settings = block_settings(code)
        marks = [pytest.mark.slow] if settings.slow else []
        for backend in ("tensorflow", "jax"):
            params.append(pytest.param(code, where, backend, marks=marks, id=f"{where}-{backend}"))
    return params


# --------------------------------------------------------------------------- tests


def test_the_docs_have_commands_and_blocks():
    # If extraction broke, the parametrized tests below would check nothing.
    commands, blocks = shell_commands(), python_blocks()
    assert MAIN in commands and commands[MAIN].startswith("README.md:")
    assert sum(where.startswith("README.md:") for where in blocks.values()) >= 2
    assert len(commands) >= 15 and len(blocks) >= 5


def test_every_fence_is_python_shell_or_inert():
    unknown = [f"{page}:{line}: ```{language}" for page, line, language, _ in fenced_blocks()
               if language not in SHELL_FENCES | INERT_FENCES | {"python"}]
    assert not unknown, f"fences that neither run nor are declared inert (use ```text): {unknown}"


def test_every_documented_command_is_registered():
    commands = shell_commands()
    missing = [f"{where}: {command}" for command, where in commands.items() if command not in COMMANDS]
    assert not missing, "documented commands without an entry in tests/test_docs.py COMMANDS:\n" + "\n".join(missing)
    stale = sorted(set(COMMANDS) - set(commands))
    assert not stale, f"COMMANDS entries no page documents any more: {stale}"
    for command, entry in COMMANDS.items():
        if isinstance(entry, Run) and entry.after:
            assert isinstance(COMMANDS.get(entry.after), Run), f"{command!r} runs after an unknown command"


def test_every_block_entry_matches_one_block():
    blocks = python_blocks()
    for key, settings in BLOCKS.items():
        assert any(key in code for code in blocks), f"BLOCKS key matches no block: {key!r}"
        assert settings.after is None or isinstance(COMMANDS.get(settings.after), Run)


@pytest.mark.parametrize("command, where", _command_params())
def test_documented_command_runs(command, where, shared_dir):
    entry = COMMANDS.get(command)
    if entry is None:
        pytest.fail(f"{where}: {command!r} has no entry in COMMANDS")
    if isinstance(entry, Skip):
        pytest.skip(f"not run in CI: {entry.reason}")
    result = run_command(command, shared_dir)
    assert result.returncode == 0, f"{where}: {command}\n{_tail(result)}"
    if entry.expect:
        assert entry.expect in result.stdout + result.stderr, f"{where}: {command}\n{_tail(result)}"


def test_main_command_trains_names_its_run_and_prints_the_test_nll(shared_dir):
    """README's first command, as the set-up section describes its output."""
    result = run_command(MAIN, shared_dir)
    assert result.returncode == 0, _tail(result)
    output = result.stdout + result.stderr
    assert "runs/rnn_do_jsb_chorales_seed0" in output
    nll = re.search(r"test NLL: ([0-9.]+) nats per time step", output)
    assert nll and 0 < float(nll.group(1)) < 100, _tail(result)
    assert (shared_dir / "runs" / "rnn_do_jsb_chorales_seed0" / "model.keras").is_file()


@pytest.mark.parametrize("code, where, backend", _block_params())
def test_documented_python_block_runs(code, where, backend, shared_dir, tmp_path):
    settings = block_settings(code)
    if backend not in settings.backends:
        pytest.skip(f"{where} runs on {settings.backends} only")
    if backend == "jax" and importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    workdir = tmp_path
    if settings.after:
        prerequisite = run_command(settings.after, shared_dir)
        assert prerequisite.returncode == 0, f"{settings.after!r} failed:\n{_tail(prerequisite)}"
        workdir = shared_dir
    source = code + ("\n" + settings.check + "\n" if settings.check else "")
    result = subprocess.run([sys.executable, "-c", source], cwd=workdir, env=_env(backend), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"{where} on {backend}:\n{_tail(result)}"


def test_readme_is_short():
    size = len(README.read_text())
    assert size <= 8000, f"README.md has {size} characters; the limit is 8000 (move the details to docs/)"


def test_readme_links_resolve():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "README links to no page of docs/"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_docs_search_space_is_the_generated_table():
    from keras_rnnreg.tuning import search_space

    assert (DOCS / "search_space.md").read_text() == search_space.render_markdown(), (
        "docs/search_space.md differs from the search space: copy tuning/SEARCH_SPACE.md there")


def test_mkdocs_build_strict(tmp_path):
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(name.split(".")[0]) is None
               or (name == "mkdocstrings_handlers.python" and importlib.util.find_spec(name) is None)]
    if missing:
        pytest.skip(f"documentation tools not installed ({', '.join(missing)}): "
                    'pip install "mkdocs-material>=9" "mkdocstrings[python]>=0.24"')
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, env={**_env(), "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, _tail(result)
    assert (tmp_path / "site" / "api" / "layers" / "index.html").is_file()
    assert "NoisySimpleRNNCell" in (tmp_path / "site" / "api" / "layers" / "index.html").read_text()
