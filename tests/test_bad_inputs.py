"""Issue 13, items 6-9: bad input gives one clear line, early; the same seed gives the same trials."""

import json
import zipfile

import numpy as np
import pytest

from keras_rnnreg.app import cli, export, rundir
from keras_rnnreg import models
from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import notes_io
from keras_rnnreg.tuning import cli as tune_cli


def _one_error_line(err, prefix="keras-rnnreg"):
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


# --------------------------------------------------------------------------- item 6


def test_seed_zero_gives_the_same_trials(tmp_path):
    from keras_rnnreg.tuning.search import SearchSettings, build_tuner

    drawn = []
    for name in ("a", "b"):
        settings = SearchSettings(model="rnn_mns", directory=str(tmp_path / name), trials=3, seed=0)
        oracle = build_tuner(settings).oracle
        assert oracle.seed == 1  # KerasTuner would replace 0 by a random seed
        drawn.append([oracle.create_trial(f"t{i}").hyperparameters.values for i in range(3)])
    assert drawn[0] == drawn[1]
    assert len({json.dumps(v, sort_keys=True) for v in drawn[0]}) == 3


# --------------------------------------------------------------------------- item 7


def test_deeply_nested_pickle_is_one_line(tmp_path):
    import pickle

    depth = 100_000
    split = pickle.dumps([[[60], [62]]], protocol=2)[2:-1]  # one two-step sequence, no header / STOP
    nested = b"]" * depth + b"a" * (depth - 1)  # [[[...]]] 100 000 deep, built without recursion
    blob = (b"\x80\x02}" + b"X\x05\x00\x00\x00train]" + nested + b"as"
            + b"X\x05\x00\x00\x00valid" + split + b"s" + b"X\x04\x00\x00\x00test" + split + b"s.")
    path = tmp_path / "deep.pickle"
    path.write_bytes(blob)
    with pytest.raises(dp.DataError) as info:
        notes_io.load_notes_pickle(path)
    message = str(info.value)
    assert "deep.pickle" in message and "split 'train', sequence 0" in message
    assert len(message) < 300 and "\n" not in message


def _keras_file(tmp_path, mutate=None, name="model.keras"):
    path = tmp_path / name
    rundir.atomic_save_model(models.get("rnn", units=4, seed=0), path)
    if mutate is not None:
        with zipfile.ZipFile(path) as archive:
            files = {n: archive.read(n) for n in archive.namelist()}
        config = json.loads(files["config.json"])
        mutate(config)
        files["config.json"] = json.dumps(config).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for n, data in files.items():
                archive.writestr(n, data)
    return path


def _inject_os_system(config):
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "system"}


def _inject_get_file(config):
    config["config"]["layers"][1] = {"module": "keras.utils", "class_name": "get_file",
                                     "config": {"fname": "x", "origin": "http://127.0.0.1:9/x"},
                                     "registered_name": None}


@pytest.mark.parametrize("mutate, expected", [
    (_inject_os_system, "refusing to load .* it refers to 'os.system'"),
    (_inject_get_file, "refusing to load .* it refers to 'keras.utils.get_file'"),
])
def test_crafted_keras_file_is_refused_in_one_line(tmp_path, capsys, mutate, expected):
    path = _keras_file(tmp_path, mutate)
    with pytest.raises(export.ModelFileError, match=expected):
        export.load_keras_model(path)
    rundir.atomic_write_json(tmp_path / "config.json", {"model": "rnn", "dataset": "jsb_chorales"})
    assert cli.main(["keras-rnnreg", "export", "--run_dir", str(tmp_path), "--out", str(tmp_path / "sm")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "refusing to load" in line and len(line) < 400
    assert not (tmp_path / "sm").exists()


def test_corrupt_keras_file_is_not_reported_as_missing(tmp_path, capsys):
    path = _keras_file(tmp_path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(export.ModelFileError, match="is not a .keras model file .*truncated or corrupt"):
        export.load_keras_model(path)


def test_valid_keras_file_still_loads(tmp_path):
    model = export.load_keras_model(_keras_file(tmp_path))
    assert model.count_params() == 88 * 4 + 4 * 4 + 4 + 4 * 88 + 88


# --------------------------------------------------------------------------- item 8


def test_one_step_test_sequence_fails_at_load_time(tmp_path, capsys):
    rng = np.random.default_rng(0)
    roll = lambda t: rng.binomial(1, 0.1, size=(t, 88)).astype(np.float32)  # noqa: E731
    # Nottingham's note-list JSON has no pinned sha256 (a benchmark .mat with other content
    # would be refused by its checksum before its sequences are read).
    dp.save_notes_json({"train": [roll(20)], "valid": [roll(20)], "test": [roll(20), roll(1)]},
                       tmp_path / "Nottingham.notes.json")
    assert cli.main(["keras-rnnreg", "data", "stats", "nottingham", "--data_dir", str(tmp_path),
                     "--source", "notes"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Nottingham.notes.json" in line and "split 'test', sequence 1" in line and "1 time step" in line
    code = cli.main(["keras-rnnreg", "train", "--run_dir", str(tmp_path / "run"), "--data_dir", str(tmp_path),
                     "--dataset", "nottingham", "--source", "notes", "--epochs", "1", "--units", "4", "--noexport", "--notensorboard", "--verbose", "0"])
    assert code == 2
    assert "split 'test', sequence 1" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "run" / "metrics.json").exists()  # no run left "running"


@pytest.mark.parametrize("argv, expected", [
    (["train", "--output_bias_init", "nan"], "flag --output_bias_init=nan: must be a finite number"),
    (["train", "--units", "4", "--momentum", "nan"], "flag --momentum=nan: must be a finite number"),
    (["sample", "--run_dir", "r", "--out", "x.mid", "--tempo", "1e9"], "--tempo must be > 0 and <= 1000"),
])
def test_non_finite_and_absurd_values(capsys, argv, expected):
    assert cli.main(["keras-rnnreg", *argv]) == 2
    assert expected in _one_error_line(capsys.readouterr().err)


def test_tune_non_finite_values(tmp_path, capsys):
    base = ["--model", "rnn", "--directory", str(tmp_path / "d"), "--trials", "1"]
    assert tune_cli.main([*base, "--fixed", "learning_rate=nan"]) == 2
    assert "must be a finite number" in capsys.readouterr().err
    assert tune_cli.main([*base, "--divergence_threshold", "inf"]) == 2
    assert "flag --divergence_threshold=inf: must be a finite number" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.fixture
def run_dir(tmp_path, data_dir):
    rd = tmp_path / "run"
    _keras_file(tmp_path / "", name="run_model.keras")
    rd.mkdir()
    (tmp_path / "run_model.keras").rename(rd / "model.keras")
    rundir.atomic_write_json(rd / "config.json", {"model": "rnn", "dataset": "jsb_chorales",
                                                  "data_dir": str(data_dir)})
    return rd


def test_sample_checks_out_and_primer_before_sampling(tmp_path, run_dir, capsys):
    missing = tmp_path / "nonexistent" / "dir" / "x.mid"
    assert cli.main(["keras-rnnreg", "sample", "--run_dir", str(run_dir), "--out", str(missing)]) == 2
    assert "does not exist (it is not created)" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "nonexistent").exists()
    out = tmp_path / "x.mid"
    assert cli.main(["keras-rnnreg", "sample", "--run_dir", str(run_dir), "--out", str(out),
                     "--primer_steps", "100000"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--primer_steps 100000 exceeds the" in line and "time steps of the primer" in line
    assert not out.exists()


def test_error_lines_are_capped(tmp_path, capsys):
    huge = "x" * 8_000_000
    path = tmp_path / "Nottingham.notes.json"  # no pinned sha256: the content is read
    path.write_text(json.dumps({"train": [[[huge]]], "valid": [[[60], [61]]], "test": [[[60], [61]]]}))
    assert cli.main(["keras-rnnreg", "data", "stats", "nottingham", "--data_dir", str(tmp_path),
                     "--source", "notes"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Nottingham.notes.json" in line and "must be an integer" in line and len(line) < 600


# --------------------------------------------------------------------------- item 9


def test_failed_trials_print_one_line_each(tmp_path, data_dir, capsys):
    argv = ["--model", "rnn", "--trials", "2", "--epochs", "1", "--patience", "0", "--final", "none",
            "--fixed", "units=8", "--fixed", "learning_rate=1e6", "--max_train_sequences", "8",
            "--max_valid_sequences", "4", "--directory", str(tmp_path / "d")]
    assert tune_cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    failed = [line for line in captured.err.splitlines() if " failed: " in line]  # progress lines go to stderr
    assert len(failed) == 2 and all("training diverged" in line for line in failed)
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["FAILED", "FAILED"]
