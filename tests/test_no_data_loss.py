"""Issue 13, items 1-2: no command destroys the user's files (export --out, tune --overwrite/--project_name)."""

import json
import os
import pathlib

import pytest

from keras_rnnreg.app import cli, rundir
from keras_rnnreg import models
from keras_rnnreg.tuning import cli as tune_cli
from keras_rnnreg.tuning import state


def _snapshot(root):
    """Every path under ``root`` with its bytes (folders: None)."""
    return sorted(
        (str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in root.rglob("*")
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with an (untrained) model.keras: enough for export."""
    rd = tmp_path_factory.mktemp("run")
    rundir.atomic_write_json(rd / "config.json", {"model": "rnn", "dataset": "jsb_chorales"})
    rundir.atomic_save_model(models.get("rnn", units=8, seed=0), rd / "model.keras")
    return rd


@pytest.mark.parametrize("kind", ["notes_folder", "file"])
def test_export_out_never_replaces_user_data(tmp_path, run_dir, capsys, kind):
    target = tmp_path / "notes"
    if kind == "file":
        target.write_text("my notes")
    else:
        target.mkdir()
        (target / "todo.txt").write_text("my notes")
        (target / "sub").mkdir()
        (target / "sub" / "more.txt").write_text("more")
    before = _snapshot(tmp_path)
    code = cli.main(["keras-rnnreg", "export", "--run_dir", str(run_dir), "--out", str(target)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "refusing to export to" in lines[0] and str(target) in lines[0]
    assert _snapshot(tmp_path) == before


def test_export_out_new_folder_then_again(tmp_path, run_dir, capsys):
    out = tmp_path / "sm"
    assert cli.main(["keras-rnnreg", "export", "--run_dir", str(run_dir), "--out", str(out)]) == 0
    assert cli.main(["keras-rnnreg", "export", "--run_dir", str(run_dir), "--out", str(out)]) == 0
    assert (out / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"]


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "/abs/dir", "", "a\\b", "..."])
def test_project_name_must_be_a_plain_name(name):
    with pytest.raises(state.SearchStateError, match="--project_name"):
        state.check_project_name(name)


def _tune_argv(directory, *extra):
    return ["--model", "rnn", "--trials", "1", "--epochs", "1", "--directory", str(directory), "--final", "none",
            "--verbose", "0", *extra]


@pytest.mark.parametrize("project", ["..", "ABSOLUTE", "../sibling"])
def test_tune_overwrite_never_leaves_the_directory(tmp_path, capsys, project):
    directory = tmp_path / "searches" / "d"
    directory.mkdir(parents=True)
    sibling = tmp_path / "searches" / "sibling"
    sibling.mkdir()
    (sibling / "keep.txt").write_text("keep")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("keep")
    if project == "ABSOLUTE":
        project = str(victim)
    before = _snapshot(tmp_path)
    code = tune_cli.main(_tune_argv(directory, "--overwrite", "--project_name", project))
    err = capsys.readouterr().err
    assert code == 2
    assert "--project_name" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_tune_overwrite_refuses_a_project_folder_with_foreign_files(tmp_path, capsys):
    directory = tmp_path / "d"
    project = directory / "mine"
    project.mkdir(parents=True)
    (project / "thesis.tex").write_text("keep")
    (project / "oracle.json").write_text("{}")
    before = _snapshot(tmp_path)
    assert tune_cli.main(_tune_argv(directory, "--overwrite", "--project_name", "mine")) == 2
    err = capsys.readouterr().err
    assert "holds files that are not a search's ('thesis.tex')" in err
    assert _snapshot(tmp_path) == before


def test_clear_search_removes_only_a_search(tmp_path):
    directory = tmp_path / "d"
    project = directory / "p"
    (project / "trial_0").mkdir(parents=True)
    (project / "trial_0" / "trial.json").write_text("{}")
    (project / "oracle.json").write_text("{}")
    (project / "tuner0.json").write_text("{}")
    (directory / "summary.json").write_text("{}")
    (directory / "notes.txt").write_text("keep")
    state.clear_search(directory, "p")
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]


def test_tune_directory_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert tune_cli.main(_tune_argv(target)) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"keras-rnnreg tune search: error: --directory '{target}' exists and is not a directory"
    ]
    assert target.read_text() == "x"


def test_sweep_out_never_overwrites_another_csv(tmp_path, capsys):
    out = tmp_path / "grades.csv"
    out.write_text("name,grade\nada,1\n")
    argv = ["sweep", "--model", "rnn_nbr", "--param", "l2", "--values", "0", "--out", str(out), "--verbose", "0"]
    assert tune_cli.main(argv) == 2
    assert "is not a sweep CSV" in capsys.readouterr().err
    assert out.read_text() == "name,grade\nada,1\n"


def test_saved_model_is_code_is_documented(capsys):
    """Item 10: README and evaluate --help say that a SavedModel runs code; .keras with safe_mode is safe."""
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "**A SavedModel is code.**" in readme and "safe_mode=True" in readme
    assert cli.main(["keras-rnnreg", "evaluate", "--help"]) == 0
    assert "A SavedModel is code" in " ".join(capsys.readouterr().out.split())


# Issue 15, item 3: one atomic writer (keras_rnnreg.app.rundir) for every file the project writes.
# Allowed elsewhere, with the reason: the lock (an O_EXCL-like os.link, never a replace), the
# download's streamed .part file and a write to /proc.
_OWN_WRITERS = {"keras_rnnreg/app/rundir.py", "keras_rnnreg/app/locking.py", "data_pipelines/sources.py"}
_WRITE_CALLS = ("os.replace(", "os.fsync(", ".write_text(", ".write_bytes(", "tempfile.mkstemp(")


def test_every_writer_goes_through_rundir():
    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("keras_rnnreg", "tuning", "benchmarks", "data_pipelines", "models"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in _OWN_WRITERS:
                continue
            for n, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                if any(call in code for call in _WRITE_CALLS) or "def _atomic_write" in code:
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "write through keras_rnnreg.app.rundir instead:\n" + "\n".join(offenders)


def _interrupt_before_replace(monkeypatch, name):
    """Make rundir's atomic writes of ``name`` fail just before the rename (as a kill there would)."""
    from keras_rnnreg.app import faults

    real = faults.point

    def point(where):
        if where == f"replace:{name}":
            raise KeyboardInterrupt(where)
        real(where)

    monkeypatch.setattr(faults, "point", point)


def _write_ledger(path):
    from benchmarks import table1_protocol as protocol

    protocol.Ledger(path).add({"kind": "run", "model": "rnn", "dataset": "jsb_chorales", "seed": 0}, lambda r: None)


def _write_plot(path):
    from keras_rnnreg.tuning import sweep

    rows = [dict(model="rnn_n", dataset="jsb_chorales", param="sigma", value=v, seed=0, status="ok",
                 val_nll=8.0, test_nll=8.0 + v, epochs=1, seconds=1) for v in (0.0, 0.1)]
    csv_path = path.with_suffix(".csv")
    rundir.atomic_write_csv(csv_path, rows, sweep.COLUMNS)
    sweep.plot_sweep(str(csv_path), str(path))


def _write_notes(path):
    import numpy as np

    from keras_rnnreg.data_pipelines import notes_io

    roll = np.zeros((4, 88), dtype="float32")
    roll[0, 40] = 1
    notes_io.save_notes_json({"train": [roll], "valid": [roll], "test": [roll]}, path)


@pytest.mark.parametrize("write, name", [(_write_ledger, "table1.json"), (_write_plot, "fig.png"),
                                         (_write_notes, "notes.json")])
def test_benchmark_and_tool_outputs_are_written_atomically(tmp_path, monkeypatch, write, name):
    path = tmp_path / name
    path.write_bytes(b"[]\n")
    _interrupt_before_replace(monkeypatch, name)
    with pytest.raises(KeyboardInterrupt):
        write(path)
    assert path.read_bytes() == b"[]\n"  # interrupted: the old file (an empty ledger), whole
    assert not list(tmp_path.glob(".tmp-*"))
    monkeypatch.undo()
    write(path)
    assert path.read_bytes() != b"[]\n" and path.stat().st_size > 0
    assert not list(tmp_path.glob(".tmp-*"))
