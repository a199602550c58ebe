"""The command line: dispatch, usage, flag generation and clean one-line errors."""

import os
import subprocess
import sys
import types

import pytest

from keras_rnnreg.app import cli
from keras_rnnreg import models


def _error_lines(text):
    return [line for line in text.splitlines() if "error:" in line]


def test_usage_lists_every_command(capsys):
    assert cli.main(["keras-rnnreg", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("train", "evaluate", "export", "sample", "data", "tune"):
        assert f"  {name} " in out


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main(["keras-rnnreg"]) == cli.EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_unknown_command(capsys):
    assert cli.main(["keras-rnnreg", "fly"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        "keras-rnnreg: error: unknown command 'fly'; valid commands: train, evaluate, export, sample, data, tune"
    ]


def test_command_help_lists_its_flags(capsys):
    assert cli.main(["keras-rnnreg", "train", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--dataset", "--epochs", "--learning_rate", "--clipnorm", "--patience",
                 "--max_train_sequences", "--units", "--sigma", "--dropconnect_p", "--l1", "--l2"):
        assert flag in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--model", "lstm"], "flag --model=lstm: value should be one of"),
        (["train", "--dataset", "bach"], "flag --dataset=bach: value should be one of"),
        (["train", "--epochs=-3"], "flag --epochs=-3"),
        (["train", "--epochs=0"], "flag --epochs=0"),
        (["train", "--learning_rate=-1"], "--learning_rate must be > 0"),
        (["train", "--momentum=1.5"], "flag --momentum=1.5"),
        (["train", "--no_such_flag"], "Unknown command line flag 'no_such_flag'"),
        (["train", "--model", "rnn", "--sigma", "0.1"], "model 'rnn' has no hyperparameter --sigma"),
        (["train", "--model", "rnn_mns", "--dropconnect_p", "0.1"], "model 'rnn_mns' has no hyperparameter --dropconnect_p"),
        (["train", "--units", "abc"], "flag --units=abc"),
        (["train", "extra"], "unexpected argument 'extra'"),
        (["evaluate"], "--run_dir"),
        (["sample", "--run_dir", "x"], "run_dir 'x' does not exist"),
        (["data", "stats", "bach"], "unknown dataset 'bach'"),
        (["data", "frobnicate"], "unknown or missing action 'frobnicate'"),
        # tune's subcommands go through the same dispatcher: the same one-line errors.
        (["tune", "frobnicate"], "keras-rnnreg tune: error: unknown subcommand 'frobnicate'; valid subcommands: "
                                 "search, sweep, summarize"),
        (["tune", "sweep", "--bogus", "1"], "keras-rnnreg tune sweep: error: Unknown command line flag 'bogus'"),
        (["tune", "--model", "rnn"], "keras-rnnreg tune search: error: flag --directory=None"),
        (["tune", "summarize", "--directory", "d", "extra"], "keras-rnnreg tune summarize: error: unexpected argument"),
    ],
)
def test_bad_flags_give_one_error_line(capsys, argv, expected):
    code = cli.main(["keras-rnnreg", *argv])
    captured = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    lines = _error_lines(captured.err)
    assert len(lines) == 1, captured.err
    assert expected in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_run_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("not a run")
    code = cli.main(["keras-rnnreg", "train", "--run_dir", str(target), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert _error_lines(err) == [f"keras-rnnreg train: error: run_dir '{target}' exists and is not a directory"]
    assert target.read_text() == "not a run"


def test_evaluate_missing_run_dir(tmp_path, capsys):
    code = cli.main(["keras-rnnreg", "evaluate", "--run_dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert "holds no config.json" in _error_lines(err)[0] or "does not exist" in _error_lines(err)[0]


def test_subprocess_bad_model_no_traceback(tmp_path):
    """The real entry point: non-zero exit, one error line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "keras_rnnreg", "train", "--model", "nope", "--run_dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == cli.EXIT_USAGE
    assert "Traceback" not in proc.stderr
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("keras-rnnreg train: error: flag --model=nope")
    assert not (tmp_path / "r").exists()


def test_hyperparameter_flags_cover_every_model():
    table = cli.hyperparameter_table()
    for name in models.names():
        for key in models.default_hyperparameters(name):
            if key != "seed":
                assert name in table[key]
    assert "seed" not in table


def test_hyperparameter_overrides_only_what_was_set():
    from absl import flags

    fv = flags.FlagValues()
    cli._define_train(fv)
    fv(["prog", "--model", "rnn_do", "--units", "32", "--dropconnect_p", "0.3", "--sparsity_k", "none"])
    assert cli.hyperparameter_overrides(fv, "rnn_do") == {"units": 32, "dropconnect_p": 0.3, "sparsity_k": None}


def test_data_stats(data_dir, capsys):
    assert cli.main(["keras-rnnreg", "data", "stats", "jsb_chorales", "--data_dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "JSB Chorales" in out and "229" in out


def test_tune_dispatches_arguments(monkeypatch):
    seen = {}
    fake = types.ModuleType("keras_rnnreg.tuning.cli")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 7
    import keras_rnnreg.tuning as tuning_pkg
    import keras_rnnreg.tuning.cli  # noqa: F401  the real one first: monkeypatch must restore it, not the fake

    monkeypatch.setitem(sys.modules, "keras_rnnreg.tuning.cli", fake)
    monkeypatch.setattr(tuning_pkg, "cli", fake, raising=False)
    assert cli.main(["keras-rnnreg", "tune", "--model", "rnn"]) == 7
    assert seen["argv"] == ["--model", "rnn"]


def test_tune_missing_module_is_a_clear_error(monkeypatch, capsys):
    import keras_rnnreg.tuning as tuning_pkg

    monkeypatch.setitem(sys.modules, "keras_rnnreg.tuning.cli", None)
    monkeypatch.delattr(tuning_pkg, "cli", raising=False)
    assert cli.main(["keras-rnnreg", "tune"]) == cli.EXIT_USAGE
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "keras_rnnreg.tuning.cli is missing" in lines[0]


def test_entry_point_declared():
    """pyproject's ``keras-rnnreg`` script points at ``keras_rnnreg.__main__:run``."""
    import keras_rnnreg.__main__ as entry

    assert callable(entry.run)
    assert os.path.basename(entry.__file__) == "__main__.py"


@pytest.mark.parametrize("argv", [["tune", "--help"], ["tune", "search", "--help"], ["tune", "sweep", "-h"],
                                  ["tune", "summarize", "--help"]])
def test_tune_help_shows_every_form(argv, capsys):
    assert cli.main(["keras-rnnreg", *argv]) == 0
    out = capsys.readouterr().out
    usage = [line.strip() for line in out.splitlines()[:3]]
    assert usage[0].startswith("usage: python -m keras_rnnreg tune [search] --model MODEL --directory DIR")
    assert usage[1].startswith("python -m keras_rnnreg tune sweep --model MODEL --param NAME")
    assert usage[2].startswith("python -m keras_rnnreg tune summarize --directory DIR")
    assert "tune search --model" not in out  # 'search' is optional, as README writes it
    for name in ("search", "sweep", "summarize"):
        assert f"\n  {name} " in out
    flag = {"sweep": "--values", "summarize": "--project_name"}.get(argv[1], "--trials")
    assert flag in out and f"flags of 'tune {argv[1] if argv[1] != '--help' else 'search'}'" in out


def test_readme_tune_commands_parse():
    """Every ``python -m keras_rnnreg tune ...`` line of README and docs/ parses (flags known, subcommand valid)."""
    import pathlib
    import shlex

    from keras_rnnreg.tuning import cli as tuning_cli

    repo = pathlib.Path(__file__).resolve().parents[1]
    readme = "\n".join(p.read_text() for p in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))])
    commands = [line.split("python -m keras_rnnreg tune", 1)[1] for line in readme.splitlines()
                if "python -m keras_rnnreg tune" in line and "`" not in line]
    assert len(commands) >= 4
    for command in commands:
        words = [w for w in shlex.split(command.replace("...", "")) if w]
        name = words[0] if words and words[0] in tuning_cli.SUBCOMMANDS else "search"
        words = words[1:] if words and words[0] == name else words
        fv = {"search": tuning_cli.search_flags, "sweep": tuning_cli.sweep_flags,
              "summarize": tuning_cli.summarize_flags}[name]()
        fv(["tune", *words])  # raises on an unknown flag or a bad value
