"""Fast dropout against Monte Carlo dropout on small networks.

The moment propagation is an approximation (Gaussian pre-activations, the
sigmoid approximations of docs/references.md, independence across units and steps), so
the tolerances below are stated for each quantity; the Monte Carlo estimates
use 20,000 masks and a fixed seed, their own error is < 0.005.
"""

import keras
import numpy as np
import pytest

from keras_rnnreg import FastDropoutDense, FastDropoutSimpleRNN

D, H, O = 40, 30, 10
N_MC = 20_000


def _weights(seed=0):
    rng = np.random.RandomState(seed)
    return (
        rng.normal(scale=0.25, size=(D, H)),
        rng.normal(scale=0.15, size=(H, H)),
        rng.normal(scale=0.1, size=(H,)),
        rng.normal(scale=0.3, size=(H, O)),
        rng.normal(scale=0.1, size=(O,)),
    )


def _fd_model(input_rate, hidden_rate, output_rate, weights):
    w_ih, w_hh, b_h, w_ho, b_o = weights
    rnn = FastDropoutSimpleRNN(H, input_rate=input_rate, hidden_rate=hidden_rate)
    dense = FastDropoutDense(O, rate=output_rate)
    rnn.build((None, None, D))
    dense.build([(None, None, H), (None, None, H)])
    rnn.set_weights([w.astype("float32") for w in (w_ih, w_hh, b_h)])
    dense.set_weights([w.astype("float32") for w in (w_ho, b_o)])
    return rnn, dense


def _monte_carlo(x, input_rate, hidden_rate, output_rate, weights, seed=0):
    """Sampled dropout: fresh masks at every step. Returns hidden and output samples."""
    w_ih, w_hh, b_h, w_ho, b_o = weights
    rng = np.random.RandomState(seed)
    steps = x.shape[0]
    h = np.zeros((N_MC, H))
    hs, ys = [], []
    for t in range(steps):
        d_in = rng.uniform(size=(N_MC, D)) >= input_rate
        d_h = rng.uniform(size=(N_MC, H)) >= hidden_rate
        h = np.tanh((d_in * x[t]) @ w_ih + (d_h * h) @ w_hh + b_h)
        d_o = rng.uniform(size=(N_MC, H)) >= output_rate
        ys.append(1 / (1 + np.exp(-((d_o * h) @ w_ho + b_o))))
        hs.append(h)
    return np.stack(hs, 1), np.stack(ys, 1)


@pytest.fixture(scope="module")
def inputs():
    return (np.random.RandomState(7).uniform(size=(4, D)) < 0.3).astype("float64")


def test_first_step_hidden_moments_match_monte_carlo(inputs):
    """One step, input dropout only: mean within 0.02, variance within 0.04."""
    weights = _weights()
    rnn, _ = _fd_model(0.3, 0.0, 0.0, weights)
    mean, var = (np.asarray(v)[0, 0] for v in rnn(inputs[None, :1].astype("float32")))
    hs, _ = _monte_carlo(inputs[:1], 0.3, 0.0, 0.0, weights)
    np.testing.assert_allclose(mean, hs[:, 0].mean(0), atol=0.02)
    np.testing.assert_allclose(var, hs[:, 0].var(0), atol=0.04)


def test_recurrent_moments_match_monte_carlo(inputs):
    """Four steps, dropout on inputs and hidden: mean within 0.03, variance within 0.04."""
    weights = _weights(1)
    rnn, _ = _fd_model(0.2, 0.3, 0.0, weights)
    mean, var = (np.asarray(v)[0] for v in rnn(inputs[None].astype("float32")))
    hs, _ = _monte_carlo(inputs, 0.2, 0.3, 0.0, weights)
    np.testing.assert_allclose(mean, hs.mean(0), atol=0.03)
    np.testing.assert_allclose(var, hs.var(0), atol=0.04)
    # The moments do carry the dropout noise: variance is far from 0.
    assert var.mean() > 0.01


def test_output_mean_matches_monte_carlo(inputs):
    """Output probabilities (all three dropout rates, paper's 0.1/0.2/0.5): within 0.02."""
    weights = _weights(2)
    rnn, dense = _fd_model(0.1, 0.2, 0.5, weights)
    probs = np.asarray(dense(rnn(inputs[None].astype("float32"))))[0]
    _, ys = _monte_carlo(inputs, 0.1, 0.2, 0.5, weights)
    np.testing.assert_allclose(probs, ys.mean(0), atol=0.02)


def test_no_dropout_is_the_deterministic_rnn(inputs):
    weights = _weights(3)
    rnn, dense = _fd_model(0.0, 0.0, 0.0, weights)
    mean, var = (np.asarray(v)[0] for v in rnn(inputs[None].astype("float32")))
    hs, ys = _monte_carlo(inputs, 0.0, 0.0, 0.0, weights)
    np.testing.assert_allclose(mean, hs[0], atol=1e-5)
    np.testing.assert_allclose(var, 0.0, atol=1e-6)
    probs = np.asarray(dense(rnn(inputs[None].astype("float32"))))[0]
    np.testing.assert_allclose(probs, ys[0], atol=1e-5)


def test_bad_rates_raise():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropoutSimpleRNN(4, input_rate=1.0)
    with pytest.raises(ValueError, match="rate"):
        FastDropoutDense(4, rate=-0.1)


def test_config_round_trip():
    layer = FastDropoutSimpleRNN(4, input_rate=0.1, hidden_rate=0.3)
    assert FastDropoutSimpleRNN.from_config(layer.get_config()).get_config() == layer.get_config()
    dense = FastDropoutDense(3, rate=0.4, kernel_regularizer=keras.regularizers.L2(1e-3))
    assert FastDropoutDense.from_config(dense.get_config()).get_config() == dense.get_config()
