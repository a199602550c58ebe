"""Fast dropout as the paper's authors computed it (``variant="authors"``), against a
direct NumPy rendering of their Breze code (tests/fd_authors_reference.py)."""

import keras
import numpy as np
import pytest

import fd_authors_reference as ref
from keras_rnnreg import FastDropoutDense, FastDropoutSimpleRNN, FastDropoutSimpleRNNCell, models
from keras_rnnreg.rnn import recurrence
from keras_rnnreg.rnn.initializers import SparsifyColumns, SpectralRadius, spectral_radius

UNITS, NOTES = 6, 88
RATES = dict(p_in=0.1, p_hidden=0.2, p_out=0.5)


def _authors_model(units=UNITS, seed=0, variant="authors"):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, NOTES))
    hidden = FastDropoutSimpleRNN(units, input_rate=RATES["p_in"], hidden_rate=RATES["p_hidden"],
                                  variant=variant, name="hidden")
    dense = FastDropoutDense(NOTES, rate=RATES["p_out"], variant=variant, name="notes")
    return keras.Model(inputs, dense(hidden(inputs))), hidden, dense


def _weights(seed=1, units=UNITS):
    rng = np.random.default_rng(seed)
    return dict(
        w_ih=rng.normal(0, 0.3, (NOTES, units)), b_h=rng.normal(0, 0.3, units),
        w_hh=rng.normal(0, 0.6, (units, units)), w_ho=rng.normal(0, 0.5, (units, NOTES)),
        b_o=rng.normal(0, 0.5, NOTES), initial_mean=rng.normal(0, 0.3, units),
        initial_std=np.abs(rng.normal(0, 0.3, units)),
    )


def _set(hidden, dense, w):
    cell = hidden.cell
    for var, key in [(cell.kernel, "w_ih"), (cell.bias, "b_h"), (cell.recurrent_kernel, "w_hh"),
                     (cell.initial_mean, "initial_mean"), (cell.initial_std, "initial_std"),
                     (dense.kernel, "w_ho"), (dense.bias, "b_o")]:
        var.assign(w[key].astype("float32"))


def test_authors_variant_equals_their_computation():
    """Means of the whole model (recurrent mean scaled by the rate, tanh(a/2) moments,
    trained initial state, clipped sigmoid) equal the NumPy rendering to float32 precision."""
    model, hidden, dense = _authors_model()
    w = _weights()
    _set(hidden, dense, w)
    x = (np.random.default_rng(2).random((3, 12, NOTES)) < 0.15).astype("float32")
    got = np.asarray(model(x))
    want_mean, _ = ref.forward(x.transpose(1, 0, 2).astype(np.float64), **w, **RATES)
    np.testing.assert_allclose(got, want_mean.transpose(1, 0, 2), rtol=2e-5, atol=1e-6)
    assert not hidden.uses_fast_path()


def test_authors_keep_mean_differs_from_theirs_only_in_the_recurrent_mean_scale():
    """authors_keep_mean: the NumPy rendering with the recurrent mean scaled by the keep
    probability (0.8), and not their computation (0.2)."""
    model, hidden, dense = _authors_model(variant="authors_keep_mean")
    w = _weights()
    _set(hidden, dense, w)  # it has their trained initial state too
    x = (np.random.default_rng(2).random((3, 12, NOTES)) < 0.15).astype("float32")
    got = np.asarray(model(x)).transpose(1, 0, 2)
    x64 = x.transpose(1, 0, 2).astype(np.float64)
    want, _ = ref.forward(x64, **w, **RATES, mean_scale=1.0 - RATES["p_hidden"])
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    theirs, _ = ref.forward(x64, **w, **RATES)
    assert np.max(np.abs(got - theirs)) > 1e-3
    assert not hidden.uses_fast_path()
    # The zoo gives it the authors' initialization by default, as for "authors".
    cell = models.get("rnn_fd", units=60, sparsity_k=15, seed=0, fd_variant="authors_keep_mean").get_layer(
        "hidden").cell
    assert cell.variant == "authors_keep_mean"
    assert spectral_radius(np.asarray(cell.recurrent_kernel)) < 0.9  # radius, then sparsified


def test_authors_moments_equal_the_reference_and_differ_from_the_consistent_ones():
    mu = np.linspace(-4, 4, 17)[:, None] * np.ones((1, 3))
    var = np.array([0.0, 0.5, 3.0])[None, :] * np.ones((17, 1))
    m, v = (np.asarray(t) for t in recurrence.authors_tanh_moments(mu.astype("float32"), var.astype("float32")))
    rm, rv = ref.tanh_moments(mu, var)
    np.testing.assert_allclose(m, rm, atol=1e-6)
    np.testing.assert_allclose(v, rv, atol=1e-6)
    # The moments are those of tanh(a / 2): at var = 0 the mean is tanh(mu / 2), not tanh(mu).
    np.testing.assert_allclose(m[:, 0], np.tanh(mu[:, 0] / 2), atol=1e-5)
    consistent, _ = recurrence.tanh_moments(mu.astype("float32"), var.astype("float32"))
    assert np.max(np.abs(np.asarray(consistent) - m)) > 0.25  # tanh(1) - tanh(1/2) = 0.30
    s, _ = recurrence.authors_sigmoid_moments(np.array([-40.0, 0.0, 40.0], "float32"), np.zeros(3, "float32"))
    np.testing.assert_allclose(np.asarray(s), [1e-7, 0.5, 1 - 1e-7], rtol=1e-6)


def test_initial_state_is_trained_and_the_cell_runs_in_keras_rnn(tmp_path):
    model, hidden, dense = _authors_model()
    w = _weights(3)
    _set(hidden, dense, w)
    x = (np.random.default_rng(4).random((2, 5, NOTES)) < 0.2).astype("float32")
    y = (np.random.default_rng(5).random((2, 5, NOTES)) < 0.2).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    before = [np.array(hidden.cell.initial_mean), np.array(hidden.cell.initial_std)]
    model.train_on_batch(x, y)
    assert np.max(np.abs(np.asarray(hidden.cell.initial_mean) - before[0])) > 1e-4
    assert np.max(np.abs(np.asarray(hidden.cell.initial_std) - before[1])) > 1e-6

    # The same cell in a plain keras.layers.RNN gives the same moments.
    cell = FastDropoutSimpleRNNCell(UNITS, input_rate=0.1, hidden_rate=0.2, variant="authors")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    rnn.build((None, None, NOTES))
    for a, b in zip(rnn.weights, hidden.weights):
        a.assign(b)
    mean, var = hidden(x)
    np.testing.assert_allclose(np.asarray(rnn(x)), np.concatenate([mean, var], -1), atol=1e-6)

    path = tmp_path / "fd_authors.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_layer("hidden").cell.variant == "authors"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_bad_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="variant"):
        FastDropoutSimpleRNN(4, variant="breze")
    with pytest.raises(ValueError, match="fd_variant"):
        models.get("rnn_fd", units=4, fd_variant="breze")


def test_zoo_authors_initialization():
    """W_hh: Gaussian, rescaled to radius 1.2, *then* 15 kept per column (radius far
    below 1.2); input and output weights sparse too; output bias as given."""
    model = models.get("rnn_fd", units=60, fd_variant="authors", spectral_radius=1.2, output_bias_init=-8.0,
                       output_init_stddev=1e-4, seed=0)
    cell = model.get_layer("hidden").cell
    w_hh = np.asarray(cell.recurrent_kernel)
    assert np.all((w_hh != 0).sum(axis=0) == 15)
    assert spectral_radius(w_hh) < 0.9
    assert np.all((np.asarray(cell.kernel) != 0).sum(axis=0) == 15)
    notes = model.get_layer("notes")
    assert np.all((np.asarray(notes.kernel) != 0).sum(axis=0) == 15)
    assert 2e-5 < np.asarray(notes.kernel)[np.asarray(notes.kernel) != 0].std() < 5e-4
    np.testing.assert_allclose(np.asarray(notes.bias), -8.0)
    np.testing.assert_allclose(np.asarray(cell.initial_std), 1e-8)


def test_sparsify_columns_after_spectral_radius():
    init = SparsifyColumns(SpectralRadius(keras.initializers.RandomNormal(seed=0), radius=1.2), k=3, seed=1)
    w = np.asarray(init((10, 10)))
    assert np.all((w != 0).sum(axis=0) == 3)
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert again.k == 3 and again.base.radius == 1.2
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        SparsifyColumns("zeros", k=0)


@pytest.mark.parametrize("variant", ["authors", "consistent"])
def test_fd_init_takes_the_initialization_apart_from_the_computation(variant):
    """fd_init="authors" / "zoo" gives that initialization whatever the computation
    (the ablation recipes); "variant" (default) follows fd_variant."""
    common = dict(units=60, spectral_radius=1.2, sparsity_k=15, output_bias_init=-8.0, seed=0, fd_variant=variant)

    def recurrent_and_input(**extra):
        cell = models.get("rnn_fd", **common, **extra).get_layer("hidden").cell
        assert cell.variant == variant  # the computation is untouched
        return np.asarray(cell.recurrent_kernel), np.asarray(cell.kernel)

    w_hh, w_ih = recurrent_and_input(fd_init="authors")
    assert spectral_radius(w_hh) < 0.9  # radius, then sparsified
    assert np.all((w_ih != 0).sum(axis=0) == 15)
    w_hh, w_ih = recurrent_and_input(fd_init="zoo")
    assert spectral_radius(w_hh) == pytest.approx(1.2, rel=1e-3)  # sparse, then scaled to the radius
    assert np.all(w_ih != 0)
    w_hh, _ = recurrent_and_input()
    assert (spectral_radius(w_hh) < 0.9) == (variant == "authors")
    with pytest.raises(ValueError, match="fd_init"):
        models.get("rnn_fd", units=4, fd_init="breze")
