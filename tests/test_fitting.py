"""The one training loop (keras_rnnreg.app.fitting): divergence, early stopping, and who goes through it."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_rnnreg.app import fitting, training
from keras_rnnreg import defaults, models
from keras_rnnreg.app.callbacks import DivergenceGuard
from keras_rnnreg.optim import compile_model
from keras_rnnreg.tuning import hypermodel, sweep
from keras_rnnreg.tuning.search import SearchSettings


def _splits(seed=0):
    rng = np.random.default_rng(seed)
    make = lambda n: [(rng.random((int(rng.integers(20, 40)), 88)) < 0.1).astype("float32") for _ in range(n)]
    return {"train": make(6), "valid": make(3), "test": make(2)}


def _model(learning_rate=1e-3):
    model = models.get("rnn", units=8, seed=0)
    compile_model(model, keras.optimizers.Adam(learning_rate), jit_compile=False)
    return model


def test_fit_reports_best_epoch_and_restores_its_weights():
    keras.utils.set_random_seed(0)
    train, valid = fitting.window_datasets(_splits(), window=16, batch_size=4, seed=0)
    model = _model()
    outcome = fitting.fit(model, train, valid, epochs=3, patience=0)
    values = outcome.history.history["val_nll"]
    assert outcome.epochs == 3 and not outcome.diverged
    assert outcome.best_valid_nll == pytest.approx(min(values))
    assert outcome.best_epoch == int(np.argmin(values)) + 1
    restored = model.evaluate(valid, verbose=0, return_dict=True)["nll"]
    assert restored == pytest.approx(min(values), rel=1e-4)  # the best epoch's weights, not the last


def test_fit_stops_on_divergence_and_says_when():
    train, valid = fitting.window_datasets(_splits(), window=16, batch_size=4, seed=0)
    outcome = fitting.fit(_model(learning_rate=1e38), train, valid, epochs=5, patience=0)
    assert outcome.diverged and outcome.diverged_epoch == 1
    assert outcome.epochs == 1 and "loss" in outcome.divergence


def test_fit_raises_the_given_error_on_divergence():
    train, valid = fitting.window_datasets(_splits(), window=16, batch_size=4, seed=0)
    with pytest.raises(hypermodel.TrialDiverged, match="training diverged: loss"):
        fitting.fit(_model(learning_rate=1e38), train, valid, epochs=5, divergence_error=hypermodel.TrialDiverged)


def test_guard_threshold_counts_a_finite_explosion():
    guard = DivergenceGuard(threshold=100.0)
    guard.set_model(_model())
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"loss": 50.0})
    assert guard.divergence is None and not guard.model.stop_training
    guard.on_train_batch_end(1, {"loss": 500.0})
    assert guard.diverged_epoch == 3 and "exceeds the divergence threshold 100" in guard.divergence
    assert guard.model.stop_training


def test_tuner_trials_train_and_sweeps_all_use_the_same_defaults():
    settings = SearchSettings(model="rnn", directory="unused")
    for key in ("epochs", "patience", "batch_size", "window"):
        assert getattr(settings, key) == defaults.TRAINING[key] == training.DEFAULTS[key]
    import inspect

    sweep_defaults = inspect.signature(sweep.run_sweep).parameters
    for key in ("epochs", "patience", "batch_size", "window"):
        assert sweep_defaults[key].default == defaults.TRAINING[key]
    assert hypermodel.RNNHyperModel("rnn").patience == defaults.TRAINING["patience"]


def test_train_trials_and_sweeps_go_through_fitting_fit(monkeypatch, tmp_path, data_dir):
    calls = []
    real = fitting.fit

    def spy(model, *args, **kwargs):
        outcome = real(model, *args, **kwargs)
        calls.append(kwargs.get("divergence_error"))
        return outcome

    monkeypatch.setattr(fitting, "fit", spy)
    small = dict(max_train_sequences=4, max_valid_sequences=2, max_test_sequences=1)
    training.train("rnn", "jsb_chorales", tmp_path / "run", hyperparameters={"units": 8}, epochs=1,
                   data_dir=data_dir, verbose=0, export_saved_model=False, tensorboard=False, log=None, **small)
    assert calls == [None]

    hm = hypermodel.RNNHyperModel("rnn", fixed={"units": 8}, patience=1)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    train, valid = fitting.window_datasets(_splits(), window=16, batch_size=4, seed=0)
    history = hm.fit(hp, model, train, validation_data=valid, epochs=1)
    assert isinstance(history, keras.callbacks.History)  # what KerasTuner reads the objective from
    assert calls[-1] is hypermodel.TrialDiverged

    rows = sweep.run_sweep("rnn", "units", [8], data_dir=data_dir, epochs=1, verbose=0, **small)
    assert calls[-1] is None and rows[0]["status"] == "ok"
    assert len(calls) == 3


@pytest.mark.parametrize("patience", [0, 3])
def test_train_builds_its_resumable_stopper_with_the_same_patience_rule(monkeypatch, tmp_path, data_dir, patience):
    from keras_rnnreg.app import callbacks

    made = []
    real = fitting.early_stopping

    def spy(*args, **kwargs):
        stopper = real(*args, **kwargs)
        made.append(stopper)
        return stopper

    monkeypatch.setattr(fitting, "early_stopping", spy)
    small = dict(max_train_sequences=4, max_valid_sequences=2, max_test_sequences=1)
    training.train("rnn", "jsb_chorales", tmp_path / "run", hyperparameters={"units": 8}, epochs=1,
                   patience=patience, data_dir=data_dir, verbose=0, export_saved_model=False, tensorboard=False,
                   log=None, **small)
    assert len(made) == 1 and isinstance(made[0], callbacks.ResumableEarlyStopping)
    assert made[0].patience == (patience or fitting.NEVER)
    assert made[0].patience == fitting.early_stopping(patience).patience
