"""The training job: reproducibility, resuming after SIGKILL, divergence, the run directory."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_rnnreg.app import cli, rundir, training

# A tiny, fast configuration on a subset of JSB Chorales.
TINY = dict(
    hyperparameters={"units": 16},
    batch_size=8,
    optimizer="sgd",
    learning_rate=0.05,
    max_train_sequences=24,
    max_valid_sequences=8,
    max_test_sequences=6,
    verbose=0,
    tensorboard=False,
)


def _numbers(metrics):
    """Every number of metrics.json except the wall time and the versions."""
    out = {}
    for key, value in metrics.items():
        if key in ("wall_time_s", "versions"):
            continue
        if isinstance(value, dict):
            for k, v in _numbers(value).items():
                out[f"{key}.{k}"] = v
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    return out


def test_same_seed_gives_identical_metrics(tmp_path, data_dir):
    first = training.train("rnn_mns", "jsb_chorales", tmp_path / "a", epochs=3, seed=3, data_dir=data_dir,
                           export_saved_model=False, **TINY)
    second = training.train("rnn_mns", "jsb_chorales", tmp_path / "b", epochs=3, seed=3, data_dir=data_dir,
                            export_saved_model=False, **TINY)
    assert first["status"] == second["status"] == "completed"
    on_disk = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("a", "b")]
    assert _numbers(on_disk[0]) == _numbers(on_disk[1])
    assert math.isfinite(on_disk[0]["test_nll"])
    assert (tmp_path / "a" / "history.csv").read_text() == (tmp_path / "b" / "history.csv").read_text()
    # A different seed gives different numbers.
    third = training.train("rnn_mns", "jsb_chorales", tmp_path / "c", epochs=3, seed=4, data_dir=data_dir,
                           export_saved_model=False, **TINY)
    assert third["test_nll"] != first["test_nll"]


def test_run_directory_contents(tmp_path, data_dir):
    run = tmp_path / "run"
    metrics = training.train("rnn", "jsb_chorales", run, epochs=2, seed=0, data_dir=data_dir, **TINY)
    names = sorted(os.listdir(run))
    assert names == ["config.json", "history.csv", "learning_curves.png", "metrics.json", "model.keras",
                     "saved_model", "spectral_radius.csv"]
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key in ("train_nll", "valid_nll", "test_nll", "epochs_completed", "wall_time_s", "parameter_count",
                "hyperparameters", "seed", "status", "spectral_radius_final"):
        assert key in metrics, key
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert metrics["hyperparameters"]["units"] == 16 and metrics["hyperparameters"]["seed"] == 0
    assert metrics["parameter_count"] == 88 * 16 + 16 * 16 + 16 + 16 * 88 + 88
    history = rundir.read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1, 2]
    assert {"loss", "nll", "val_loss", "val_nll", "spectral_radius"} <= set(history[0])
    radii = rundir.read_csv(run / "spectral_radius.csv")
    assert [int(r["epoch"]) for r in radii] == [0, 1, 2]
    assert float(radii[0]["spectral_radius"]) == pytest.approx(1.1, rel=1e-4)
    assert float(radii[-1]["spectral_radius"]) == pytest.approx(metrics["spectral_radius_final"])
    assert float(history[-1]["spectral_radius"]) == pytest.approx(metrics["spectral_radius_final"])
    assert not list(run.glob(".tmp-*"))

    # Rerunning a completed run trains nothing and returns the same metrics.
    again = training.train("rnn", "jsb_chorales", run, epochs=2, seed=0, data_dir=data_dir, **TINY)
    assert again["test_nll"] == metrics["test_nll"]
    # A different configuration in the same folder is refused.
    with pytest.raises(rundir.RunDirError, match="holds a different run .*learning_rate"):
        training.train("rnn", "jsb_chorales", run, epochs=2, seed=0, data_dir=data_dir,
                       **{**TINY, "learning_rate": 0.01})
    # So is another budget for the finished run (it would silently stand for a budget it never had).
    with pytest.raises(rundir.RunDirError, match="finished with epochs=2 .*epochs=5 now is not applied"):
        training.train("rnn", "jsb_chorales", run, epochs=5, seed=0, data_dir=data_dir, **TINY)
    with pytest.raises(rundir.RunDirError, match="finished with patience=20 .*patience=3 now"):
        training.train("rnn", "jsb_chorales", run, epochs=2, patience=3, seed=0, data_dir=data_dir, **TINY)
    # A run finished before learning_curves.png existed gets it when asked for again.
    (run / "learning_curves.png").unlink()
    training.train("rnn", "jsb_chorales", run, epochs=2, seed=0, data_dir=data_dir, **TINY)
    assert (run / "learning_curves.png").is_file()


def test_diverging_run_stops_with_status_diverged(tmp_path, data_dir, capsys):
    run = tmp_path / "div"
    code = cli.main([
        "keras-rnnreg", "train", "--model", "rnn", "--units", "16", "--epochs", "5",
        "--optimizer", "sgd", "--learning_rate", "1e12", "--clipnorm", "0", "--max_train_sequences", "24",
        "--max_valid_sequences", "4", "--max_test_sequences", "4", "--verbose", "0",
        "--notensorboard", "--run_dir", str(run), "--data_dir", str(data_dir),
    ])
    err = capsys.readouterr().err
    assert code == cli.EXIT_DIVERGED
    assert "training diverged in epoch 1" in err and "learning_rate" in err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    assert "diverged" in metrics["message"]
    assert metrics["test_nll"] is None
    assert metrics["epochs_completed"] == 1
    assert not (run / "model.keras").exists() and not (run / "backup").exists()


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'lstm'"):
        training.train("lstm", "jsb_chorales", tmp_path / "r")
    with pytest.raises(ValueError, match="unknown dataset 'bach'"):
        training.train("rnn", "bach", tmp_path / "r")
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got -1"):
        training.train("rnn", "jsb_chorales", tmp_path / "r", epochs=-1)
    with pytest.raises(ValueError, match="has no hyperparameter sigma"):
        training.train("rnn", "jsb_chorales", tmp_path / "r", hyperparameters={"sigma": 0.1})
    with pytest.raises(ValueError, match="units"):
        training.train("rnn", "jsb_chorales", tmp_path / "r", hyperparameters={"units": 0})
    with pytest.raises(ValueError, match="learning_rate"):
        training.train("rnn", "jsb_chorales", tmp_path / "r", learning_rate=0)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(rundir.RunDirError, match="not a directory"):
        training.train("rnn", "jsb_chorales", afile)
    assert not (tmp_path / "r").exists()


def _assert_nothing_half_written(run):
    """Every JSON file parses, every model file loads, no temporary is taken for a real file."""
    from keras_rnnreg.app import export

    for name in ("metrics.json", "config.json", "backup/training_metadata.json"):
        if (run / name).exists():
            json.loads((run / name).read_text())
    if (run / "model.keras").exists():
        export.load_keras_model(run / "model.keras")


def test_sigkill_then_rerun_resumes(tmp_path, data_dir):
    run = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "keras_rnnreg", "train", "--model", "rnn", "--units", "16", "--epochs", "6",
        "--patience", "0", "--max_train_sequences", "30", "--max_valid_sequences", "8",
        "--max_test_sequences", "4", "--verbose", "2", "--notensorboard", "--noexport",
        "--run_dir", str(run), "--data_dir", str(data_dir),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = run / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 180
    try:
        while not checkpoint.exists():
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _assert_nothing_half_written(run)
    state = json.loads(checkpoint.read_text())
    killed_after = state["epoch"]
    assert 1 <= killed_after < 6
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "running"

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming {run} after epoch" in done.stderr
    assert f"rnn on jsb_chorales: run_dir {run}\n" in done.stderr  # named in full at the start
    assert "test NLL:" in done.stdout and f"run_dir {run})" in done.stdout
    # Keras reports only the epochs after the checkpoint.
    assert "Epoch 1/6" not in done.stdout and "Epoch 6/6" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["epochs_completed"] == 6
    assert metrics["resumed_from_epochs"] and 1 <= metrics["resumed_from_epochs"][0] < 6
    assert math.isfinite(metrics["test_nll"])
    history = rundir.read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4, 5, 6]
    radii = rundir.read_csv(run / "spectral_radius.csv")
    assert [int(r["epoch"]) for r in radii] == list(range(7))
    assert not (run / "backup").exists()
    assert not list(run.glob(".tmp-*"))
    _assert_nothing_half_written(run)


def test_resume_after_last_epoch_before_results(tmp_path, data_dir):
    """Killed after the last checkpoint but before metrics were written: the rerun only finishes up."""
    run = tmp_path / "late"
    kwargs = dict(epochs=2, seed=1, data_dir=data_dir, export_saved_model=False, **TINY)
    reference = training.train("rnn", "jsb_chorales", tmp_path / "ref", **kwargs)
    # Simulate: a run that checkpointed its last epoch, then died.
    import shutil

    from keras_rnnreg.app import callbacks as cb

    original = cb.AtomicBackupAndRestore.on_train_end
    cb.AtomicBackupAndRestore.on_train_end = lambda self, logs=None: (_ for _ in ()).throw(KeyboardInterrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            training.train("rnn", "jsb_chorales", run, **kwargs)
    finally:
        cb.AtomicBackupAndRestore.on_train_end = original
    assert json.loads((run / "metrics.json").read_text())["status"] == "interrupted"
    assert (run / "backup" / "weights-00002.weights.h5").exists()
    finished = training.train("rnn", "jsb_chorales", run, **kwargs)
    assert finished["status"] == "completed" and finished["epochs_completed"] == 2
    assert finished["test_nll"] == pytest.approx(reference["test_nll"], rel=1e-6)
    shutil.rmtree(tmp_path / "ref")


def test_atomic_writes_never_leave_partial_files(tmp_path):
    target = tmp_path / "metrics.json"
    rundir.atomic_write_json(target, {"a": 1, "b": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1, "b": "nan"}
    with pytest.raises(RuntimeError):
        with rundir.atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1, "b": "nan"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]

    folder = tmp_path / "export"
    rundir.atomic_replace_dir(lambda d: (d.mkdir(), (d / "v").write_text("1")), folder)
    with pytest.raises(RuntimeError):
        rundir.atomic_replace_dir(lambda d: (d.mkdir(), (_ for _ in ()).throw(RuntimeError("x"))), folder)
    rundir.atomic_replace_dir(lambda d: (d.mkdir(), (d / "v").write_text("2")), folder)
    assert (folder / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "metrics.json"]

    rd = rundir.RunDir(tmp_path)
    (tmp_path / ".tmp-model.keras.abc.keras").write_text("partial")
    rd.clean_temporaries()
    assert not list(tmp_path.glob(".tmp-*"))


def test_evaluate_nll_matches_numpy():
    import keras

    from keras_rnnreg.app import evaluation
    from keras_rnnreg import models

    keras.utils.set_random_seed(0)
    model = models.get("rnn", units=8, seed=0, output_init_stddev=0.5)
    rng = np.random.default_rng(0)
    sequences = [rng.binomial(1, 0.1, size=(n, 88)).astype(np.float32) for n in (5, 17, 2, 40, 9)]
    total, count, per_sequence = 0.0, 0, []
    for seq in sequences:
        p = np.asarray(model(seq[None, :-1], training=False), dtype=np.float64)[0]
        p = np.clip(p, 1e-7, 1 - 1e-7)
        y = seq[1:]
        nll = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=-1)
        total += nll.sum()
        count += len(nll)
        per_sequence.append(nll.mean())
    expected = total / count
    by_sequence = float(np.mean(per_sequence))  # the paper's 1/(T-1) 1/N sum read literally
    assert abs(by_sequence - expected) > 1e-3  # lengths 2..40: the two averages differ here
    for batch_size in (1, 2, 8):
        assert evaluation.evaluate_nll(model, sequences, batch_size=batch_size) == pytest.approx(expected, rel=1e-5)
        assert evaluation.evaluate_nll(model, sequences, batch_size=batch_size,
                                       average="sequences") == pytest.approx(by_sequence, rel=1e-5)
    with pytest.raises(ValueError, match="average must be one of"):
        evaluation.evaluate_nll(model, sequences, average="notes")
    per_seq = evaluation.frame_nlls(model, sequences)
    assert [len(n) for n in per_seq] == [4, 16, 1, 39, 8]
    with pytest.raises(ValueError, match="sequence 0 has shape"):
        evaluation.evaluate_nll(model, [np.zeros((1, 88))])


def test_failed_export_keeps_the_model(tmp_path, data_dir, monkeypatch):
    from keras_rnnreg.app import export

    def broken(model, path, verbose=False):
        raise RuntimeError("no SavedModel today")

    monkeypatch.setattr(export, "export_saved_model", broken)
    metrics = training.train("rnn", "jsb_chorales", tmp_path / "r", epochs=1, seed=0, data_dir=data_dir, **TINY)
    assert metrics["status"] == "completed"
    assert metrics["export_error"] == "RuntimeError: no SavedModel today"
    assert (tmp_path / "r" / "model.keras").is_file() and not (tmp_path / "r" / "saved_model").exists()
