"""End to end through the command line: train on JSB windows, export, reload, evaluate, sample."""

import json
import math

import numpy as np
import pytest

from keras_rnnreg.app import cli, evaluation, export, training
from keras_rnnreg import models


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_dir):
    """A small real training run on a subset of JSB Chorales (a few seconds on 2 cores)."""
    run = tmp_path_factory.mktemp("e2e") / "run"
    code = cli.main([
        "keras-rnnreg", "train", "--model", "rnn", "--dataset", "jsb_chorales", "--units", "32",
        "--epochs", "8", "--batch_size", "8", "--optimizer", "sgd", "--learning_rate", "0.05", "--clipnorm", "5",
        "--max_train_sequences", "60", "--max_valid_sequences", "12", "--max_test_sequences", "12",
        "--verbose", "0", "--run_dir", str(run), "--data_dir", str(data_dir), "--seed", "0",
    ])
    assert code == 0
    return run


def test_training_beats_an_untrained_model(trained_run, data_dir, capsys):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert math.isfinite(metrics["test_nll"])
    splits = training.load_splits("jsb_chorales", data_dir, max_test_sequences=12)
    untrained = models.get("rnn", units=32, seed=0)
    baseline = evaluation.evaluate_nll(untrained, splits["test"])
    assert baseline > 14  # ~14.8 nats per step before training
    assert metrics["test_nll"] < baseline - 2.0
    assert (trained_run / "tensorboard").is_dir()


def test_export_reload_evaluate(trained_run, data_dir, capsys):
    import tensorflow as tf

    assert cli.main(["keras-rnnreg", "export", "--run_dir", str(trained_run)]) == 0
    assert "serving_default" in capsys.readouterr().out
    metrics = json.loads((trained_run / "metrics.json").read_text())
    splits = training.load_splits("jsb_chorales", data_dir, max_test_sequences=12)

    model = export.load_keras_model(trained_run / "model.keras")
    keras_nll = evaluation.evaluate_nll(model, splits["test"])
    assert keras_nll == pytest.approx(metrics["test_nll"], rel=1e-5)

    loaded = tf.saved_model.load(str(trained_run / "saved_model"))
    signature = loaded.signatures["serving_default"]
    sm_nll = evaluation.evaluate_nll(lambda x: signature(x), splits["test"])
    layer_nll = evaluation.evaluate_nll(export.load_tfsm_layer(trained_run / "saved_model"), splits["test"])
    assert sm_nll == pytest.approx(keras_nll, rel=1e-5)
    assert layer_nll == pytest.approx(keras_nll, rel=1e-5)

    for extra in ([], ["--saved_model"]):
        assert cli.main(["keras-rnnreg", "evaluate", "--run_dir", str(trained_run), "--json", *extra]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["split"] == "test" and result["on"] == "sequences"
        assert result["nll"] == pytest.approx(metrics["test_nll"], rel=1e-5)
    assert cli.main(["keras-rnnreg", "evaluate", "--run_dir", str(trained_run), "--split", "valid", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nll"] == pytest.approx(metrics["valid_nll"], rel=1e-4)
    assert cli.main(["keras-rnnreg", "evaluate", "--run_dir", str(trained_run), "--average", "sequences",
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["average"] == "sequences"
    assert result["nll"] == pytest.approx(evaluation.evaluate_nll(model, splits["test"], average="sequences"), rel=1e-5)
    with pytest.raises(ValueError, match="needs whole sequences"):
        cli.evaluate_run(str(trained_run), "valid", average="sequences")


def test_sample_command(trained_run, tmp_path, capsys):
    out = tmp_path / "song.mid"
    code = cli.main(["keras-rnnreg", "sample", "--run_dir", str(trained_run), "--steps", "24",
                     "--out", str(out), "--seed", "1"])
    assert code == 0
    assert "24 frames" in capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".png").is_file()
    from keras_rnnreg.data_pipelines import midi

    roll = np.asarray(midi.midi_to_piano_roll(out, frames_per_beat=1))
    assert roll.shape[1] == 88 and roll.shape[0] == 24

    # Without --out the files go beside the model, not into the current folder.
    assert cli.main(["keras-rnnreg", "sample", "--run_dir", str(trained_run), "--steps", "8", "--seed", "2"]) == 0
    assert (trained_run / "samples" / "sample_seed2.mid").is_file()
    assert (trained_run / "samples" / "sample_seed2.png").is_file()
