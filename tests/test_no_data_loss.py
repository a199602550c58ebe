"""Issue 13, items 1-2: no command destroys the user's files (export --out, tune --overwrite/--project_name)."""

import json
import os
import pathlib

import pytest

from keras_rnnreg import cli, models, rundir
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
        f"error: --directory '{target}' exists and is not a directory"
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
