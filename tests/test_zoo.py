"""The zoo: every named model builds, trains on real JSB windows, saves and loads."""

import keras
import numpy as np
import pytest

from keras_rnnreg import data_pipelines, models
from keras_rnnreg.optim import compile_model

ALL = models.names()


@pytest.fixture(scope="module")
def jsb_batches(data_dir):
    """Four fixed batches of 8 real JSB training windows (x, y, weights)."""
    splits = data_pipelines.load_dataset("jsb_chorales", data_dir)
    ds = data_pipelines.make_window_dataset(splits["train"][:40], window=100, batch_size=8, shuffle=True, seed=0)
    return [tuple(np.asarray(t) for t in batch) for batch in ds.take(4)]


def test_names_are_the_rows_of_table_1():
    assert ALL == ["rnn", "rnn_fd", "rnn_nbr", "rnn_n", "rnn_ns", "rnn_mn", "rnn_mns", "rnn_do", "rnn_dos", "rnn_ff"]


@pytest.mark.parametrize("name", ALL)
def test_model_trains_and_round_trips(name, jsb_batches, tmp_path):
    keras.utils.set_random_seed(0)
    model = models.get(name, units=24, seed=0)
    assert model.name == name
    assert model.output_shape == (None, None, 88)
    compile_model(model, optimizer="adam", learning_rate=0.02)
    x, y, w = jsb_batches[0]
    before = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["nll"]
    for _ in range(3):
        for xb, yb, wb in jsb_batches:
            model.train_on_batch(xb, yb, sample_weight=wb)
    after = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["nll"]
    assert np.isfinite(after) and after < before - 0.5, (before, after)

    probs = model.predict(x, verbose=0)
    assert probs.shape == x.shape and np.all((probs > 0) & (probs < 1))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), probs, atol=1e-6)
    assert loaded.get_layer("hidden").get_config() == model.get_layer("hidden").get_config()


@pytest.mark.parametrize("name", ["rnn", "rnn_fd", "rnn_mn", "rnn_do", "rnn_ff"])
def test_models_compile_with_xla(name, jsb_batches):
    model = models.get(name, units=16, seed=1)
    compile_model(model, learning_rate=0.01, jit_compile=True)
    x, y, w = jsb_batches[1]
    losses = [model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"] for _ in range(3)]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow graph / XLA behaviour")


@TF_ONLY
def test_auto_jit_compile_is_whole_model_xla_except_simple_fast_dropout():
    """compile_model(jit_compile="auto"): XLA for the zoo models measured faster with it
    (benchmarks.throughput), plain graph for rnn_fd, Keras's choice otherwise."""
    expected = {name: name != "rnn_fd" for name in ALL}
    got = {name: bool(compile_model(models.get(name, units=8)).jit_compile) for name in ALL}
    assert got == expected
    assert compile_model(models.get("rnn", units=8), jit_compile=False).jit_compile is False
    # The gated fast-dropout models measured faster under XLA (keras_rnnreg.optim), as the noisy gated ones.
    for name in ("rnn_fd", "rnn_dos"):
        for cell in ("lstm", "gru"):
            assert compile_model(models.get(name, units=8, cell=cell)).jit_compile is True, (name, cell)
    inputs = keras.Input((None, 88))
    plain = keras.Model(inputs, keras.layers.Dense(88, activation="sigmoid")(keras.layers.SimpleRNN(8, return_sequences=True)(inputs)))
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        assert compile_model(plain).jit_compile is False  # Keras's "auto" on a CPU-only TensorFlow


@TF_ONLY
def test_plain_compile_picks_the_same_whole_model_xla_as_compile_model(jsb_batches, tmp_path):
    """model.compile(optimizer, loss), the way most users call it, gets the library's
    jit_compile choice (ZooModel.compile); an explicit choice is kept; reloading a
    compiled model restores its compile state with that choice."""
    got = {}
    for name in ALL:
        model = models.get(name, units=8)
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        got[name] = bool(model.jit_compile)
    assert got == {name: bool(compile_model(models.get(name, units=8)).jit_compile) for name in ALL}
    explicit = models.get("rnn", units=8)
    explicit.compile(optimizer="sgd", loss="binary_crossentropy", jit_compile=False)
    assert explicit.jit_compile is False

    model = models.get("rnn_mns", units=8, seed=0)
    assert isinstance(model, models.ZooModel)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y, w = jsb_batches[0]
    model.train_on_batch(x, y, sample_weight=w)
    path = tmp_path / "rnn_mns.keras"
    model.save(path)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path, safe_mode=True)
    # Keras warns (and skips the compile state) when compile_from_config is not overridden.
    assert not [w for w in caught if "compile()` was not called" in str(w.message)]
    assert isinstance(loaded, models.ZooModel) and loaded.compiled and loaded.jit_compile is True
    assert loaded.optimizer.iterations.numpy() == 1
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_the_zoo_builds_what_a_spec_declares(monkeypatch):
    """What get() builds follows the spec's fields, not the model's name."""
    import dataclasses

    from keras_rnnreg import FastDropoutSimpleRNN

    for source, name in (("rnn_nbr", "my_nbr"), ("rnn_ff", "my_ff"), ("rnn_fd", "my_fd")):
        monkeypatch.setitem(models.SPECS, name, dataclasses.replace(models.SPECS[source], name=name))
    assert len(models.get("my_nbr", units=8, l2=1e-2).losses) == 3
    ff = models.get("my_ff", units=8, ff_sigma=0.05)
    assert ff.get_layer("notes").weight_noise == "additive" and ff.get_layer("hidden").cell.input_noise == "additive"
    assert isinstance(models.get("my_fd", units=8).get_layer("hidden"), FastDropoutSimpleRNN)
    plain = models.get("rnn", units=8)
    assert plain.losses == [] and plain.get_layer("notes").weight_noise is None


def test_nbr_adds_penalties_on_all_three_matrices():
    model = models.get("rnn_nbr", units=8, l1=1e-3, l2=1e-2)
    assert len(model.losses) == 3
    plain = models.get("rnn_nbr", units=8, l1=0.0, l2=0.0)
    assert len(plain.losses) == 0


def test_defaults_and_overrides():
    hp = models.default_hyperparameters("rnn_mns")
    assert hp["sigma"] > 0 and hp["units"] >= 1
    model = models.get("rnn_do", units=12, dropconnect_p=0.4, spectral_radius=1.2, sparsity_k=5, seed=3)
    hidden = model.get_layer("hidden")
    assert hidden.dropconnect_p == 0.4 and hidden.recurrent_noise_scope == "step"
    w_hh = keras.ops.convert_to_numpy(hidden.recurrent_kernel)
    np.testing.assert_array_equal((w_hh != 0).sum(0), 5)
    assert abs(np.abs(np.linalg.eigvals(w_hh)).max() - 1.2) < 1e-4


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("rnn_xyz", {}, "valid names: rnn, rnn_fd"),
        ("rnn", {"units": 0}, "units"),
        ("rnn_n", {"sigma": -0.1}, "sigma"),
        ("rnn_do", {"dropconnect_p": 1.0}, r"\[0, 1\)"),
        ("rnn_fd", {"hidden_dropout": -0.2}, r"\[0, 1\)"),
        ("rnn", {"sigma": 0.1}, "valid hyperparameters"),
    ],
)
def test_bad_names_and_values_raise(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        models.get(name, **overrides)


@TF_ONLY
@pytest.mark.parametrize("name", ["rnn", "rnn_fd", "rnn_n", "rnn_mn", "rnn_do", "rnn_ff"])
def test_unknown_sequence_length_in_graph_mode(name):
    """Whole test sequences have varying lengths: a graph traced with T unknown must
    run forward (both modes) and backward. (Regression: keras.ops.scan over several
    sequences of unknown length failed.)"""
    import tensorflow as tf

    model = models.get(name, units=8, seed=0)

    @tf.function(input_signature=[tf.TensorSpec((None, None, 88), tf.float32)])
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        return model(x, training=False), grads

    for length in (7, 13):
        x = (np.random.RandomState(length).uniform(size=(2, length, 88)) < 0.1).astype("float32")
        probs, grads = step(x)
        assert probs.shape == (2, length, 88)
        assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


def test_resolve_hyperparameters_is_the_check_get_and_train_share():
    hp = models.resolve_hyperparameters("rnn_mns", {"sigma": 0.05})
    assert hp == {**models.default_hyperparameters("rnn_mns"), "sigma": 0.05}
    with pytest.raises(ValueError, match="model 'rnn' has no hyperparameter sigma; valid hyperparameters: .*units"):
        models.resolve_hyperparameters("rnn", {"sigma": 0.1})
    from keras_rnnreg.app import training

    with pytest.raises(ValueError, match="model 'rnn' has no hyperparameter sigma; valid hyperparameters"):
        training.train("rnn", hyperparameters={"sigma": 0.1})
