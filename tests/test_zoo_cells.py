"""The zoo's ``cell`` hyperparameter: every model on an LSTM or a GRU, through ``models.get``,
``train --cell`` and ``tune --cell``."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rnnreg import FastDropoutDense, NoisyDense, NoisyGRU, NoisyLSTM, data_pipelines, models
from keras_rnnreg.optim import compile_model
from keras_rnnreg.rnn.initializers import spectral_radius
from keras_rnnreg.tuning import cli as tune_cli
from keras_rnnreg.tuning import search_space

GATED = {"lstm": (NoisyLSTM, 4), "gru": (NoisyGRU, 3)}
NOISY = [n for n in models.names() if n != "rnn_fd"]


@pytest.fixture(scope="module")
def jsb_batches(data_dir):
    splits = data_pipelines.load_dataset("jsb_chorales", data_dir)
    ds = data_pipelines.make_window_dataset(splits["train"][:40], window=50, batch_size=8, shuffle=True, seed=0)
    return [tuple(np.asarray(t) for t in batch) for batch in ds.take(3)]


def test_cell_is_a_common_hyperparameter_simple_by_default():
    for name in models.names():
        assert models.default_hyperparameters(name)["cell"] == "simple"
    assert models.CHOICES["cell"] == ("simple", "lstm", "gru")
    assert type(models.get("rnn_dos", units=8).get_layer("hidden")).__name__ == "NoisySimpleRNN"


@pytest.mark.parametrize("cell", sorted(GATED))
@pytest.mark.parametrize("name", NOISY)
def test_every_noisy_model_takes_a_gated_cell_with_its_regularizer(name, cell):
    layer_class, gates = GATED[cell]
    model = models.get(name, cell=cell, units=12, seed=0)
    hidden, notes = model.get_layer("hidden"), model.get_layer("notes")
    assert type(hidden) is layer_class and isinstance(notes, NoisyDense)
    assert tuple(hidden.recurrent_kernel.shape) == (12, gates * 12)
    spec = models.spec(name)
    hp = models.default_hyperparameters(name)
    # The spec's noise kind and scope, at the model's default level, on W_hh of the gated cell.
    fixed = spec.fixed
    assert hidden.cell.recurrent_noise == fixed.get("recurrent_noise")
    if fixed:
        assert hidden.cell.recurrent_noise_scope == fixed["recurrent_noise_scope"]
        level = hidden.cell.dropconnect_p if fixed["recurrent_noise"] == "dropconnect" else hidden.cell.sigma
        assert level == hp.get("dropconnect_p", hp.get("sigma"))
    if spec.feedforward_noise:
        assert hidden.cell.input_noise == "additive" and hidden.cell.input_sigma == hp["ff_sigma"]
    else:
        assert hidden.cell.input_noise is None
    penalized = [w for w in (hidden.cell.kernel_regularizer, hidden.cell.recurrent_regularizer) if w is not None]
    assert len(penalized) == (2 if spec.norm_penalty else 0)
    x = np.random.default_rng(0).binomial(1, 0.05, size=(2, 5, 88)).astype("float32")
    probs = np.asarray(model(x, training=True))
    assert probs.shape == (2, 5, 88) and np.all((probs > 0) & (probs < 1))


@pytest.mark.parametrize("cell", sorted(GATED))
@pytest.mark.parametrize("sparsity_k", [15, None])
def test_correct_regime_init_is_per_gate_block(cell, sparsity_k):
    """Each gate block of W_hh: k nonzeros per column (or dense), spectral radius 1.1, its own draw."""
    units, gates = 40, GATED[cell][1]
    kernel = np.asarray(models.get("rnn", cell=cell, units=units, sparsity_k=sparsity_k, seed=3)
                        .get_layer("hidden").recurrent_kernel)
    blocks = np.split(kernel, gates, axis=1)
    for block in blocks:
        nonzeros = (block != 0).sum(axis=0)
        assert np.all(nonzeros == (sparsity_k or units))
        assert spectral_radius(block) == pytest.approx(1.1, rel=1e-4)
    for i in range(gates):
        for j in range(i):
            assert not np.allclose(blocks[i], blocks[j])
    # The logged radius of a gated kernel is the largest over its blocks.
    assert spectral_radius(kernel) == pytest.approx(1.1, rel=1e-4)
    # The same seed gives the same model.
    again = models.get("rnn", cell=cell, units=units, sparsity_k=sparsity_k, seed=3).get_layer("hidden")
    np.testing.assert_array_equal(np.asarray(again.recurrent_kernel), kernel)


@pytest.mark.parametrize("cell", sorted(GATED))
def test_fast_dropout_model_on_a_gated_cell(cell):
    model = models.get("rnn_fd", cell=cell, units=10, seed=0)
    hidden = model.get_layer("hidden")
    assert type(hidden).__name__ == {"lstm": "FastDropoutLSTM", "gru": "FastDropoutGRU"}[cell]
    assert isinstance(model.get_layer("notes"), FastDropoutDense)
    assert (hidden.cell.input_rate, hidden.cell.hidden_rate) == (0.1, 0.2)
    x = np.random.default_rng(0).binomial(1, 0.05, size=(2, 5, 88)).astype("float32")
    probs = np.asarray(model(x))
    assert probs.shape == (2, 5, 88) and np.all((probs > 0) & (probs < 1))


@pytest.mark.parametrize("overrides, message", [
    ({"cell": "transformer"}, "cell must be 'simple' or 'lstm' or 'gru'"),
    ({"cell": "lstm", "fd_variant": "authors"}, "Valid combinations: cell='simple' with any fd_variant"),
    ({"cell": "gru", "fd_init": "authors"}, "cell='gru' takes fd_init 'variant' or 'zoo'"),
])
def test_combinations_that_cannot_work_are_one_clear_error(overrides, message):
    name = "rnn_fd" if "fd_variant" in overrides or "fd_init" in overrides else "rnn_dos"
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        models.get(name, units=4, **overrides)


@pytest.mark.parametrize("name, cell", [("rnn_dos", "lstm"), ("rnn_n", "gru"), ("rnn_fd", "gru")])
def test_gated_zoo_models_train_and_round_trip(name, cell, jsb_batches, tmp_path):
    keras.utils.set_random_seed(0)
    model = models.get(name, cell=cell, units=16, seed=0)
    compile_model(model, optimizer="adam", learning_rate=0.02)
    x, y, w = jsb_batches[0]
    before = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["nll"]
    for _ in range(3):
        for xb, yb, wb in jsb_batches:
            model.train_on_batch(xb, yb, sample_weight=wb)
    after = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["nll"]
    assert np.isfinite(after) and after < before - 0.5, (before, after)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


# -- the tuner ---------------------------------------------------------------


def test_cell_row_is_opt_in_in_the_search_space():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    config = search_space.declare(hp, "rnn_dos")
    assert "cell" not in config and "cell" not in hp.values  # not searched: the zoo's simple cell
    hp = kt.HyperParameters()
    config = search_space.declare(hp, "rnn_dos", ranges={"cell": ("lstm", "gru")})
    assert config["cell"] in ("lstm", "gru")
    assert [p.values for p in hp.space if p.name == "cell"] == [["lstm", "gru"]]
    hp = kt.HyperParameters()
    assert search_space.declare(hp, "rnn_dos", fixed={"cell": "gru"})["cell"] == "gru"
    with pytest.raises(ValueError, match="cell takes simple, lstm, gru; got rnn"):
        search_space.space("rnn_dos", {"cell": ("lstm", "rnn")})
    assert "| `cell` | all | simple, lstm, gru | choice |" in search_space.render_table()


def _tune_settings(argv):
    from absl import flags

    fv = flags.FlagValues()
    tune_cli._define_search(fv)
    fv(["tune", *argv])
    return tune_cli._settings(fv)


def test_tune_cell_flag_pins_or_searches(tmp_path):
    base = ["--model", "rnn_dos", "--directory", str(tmp_path)]
    plain = _tune_settings(base)
    assert "cell" not in plain.fixed and "cell" not in plain.ranges
    assert _tune_settings([*base, "--cell", "gru"]).fixed["cell"] == "gru"
    assert _tune_settings([*base, "--cell", "lstm,gru"]).ranges["cell"] == ("lstm", "gru")
    with pytest.raises(Exception, match="--cell takes simple, lstm, gru"):
        _tune_settings([*base, "--cell", "lstm,rnn"])
    with pytest.raises(Exception, match="--cell or --fixed cell"):
        _tune_settings([*base, "--cell", "gru", "--fixed", "cell=lstm"])


# -- the user's path: the command line in subprocesses ---------------------------

TINY = ["--units", "8", "--epochs", "1", "--max_train_sequences", "4", "--max_valid_sequences", "2",
        "--max_test_sequences", "2", "--batch_size", "4"]


def _run(args, cwd):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_train_cell_lstm_then_load_in_a_new_process(tmp_path):
    proc = _run(["-m", "keras_rnnreg", "train", "--model", "rnn_dos", "--cell", "lstm", "--noexport", *TINY],
                cwd=tmp_path)
    run_dir = tmp_path / "runs" / "rnn_dos_lstm_jsb_chorales_seed0"  # the cell is in the default name
    assert "test NLL:" in proc.stdout and str(run_dir) in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["hyperparameters"]["cell"] == "lstm"
    code = (
        "import json, numpy as np, keras, keras_rnnreg\n"
        f"m = keras.saving.load_model({str(run_dir / 'model.keras')!r}, safe_mode=True)\n"
        "h = m.get_layer('hidden')\n"
        "p = np.asarray(m(np.zeros((1, 3, 88), 'float32')))\n"
        "print(json.dumps([type(h).__name__, h.cell.recurrent_noise, h.cell.recurrent_noise_scope, list(p.shape)]))\n"
    )
    out = json.loads(_run(["-c", code], cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert out == ["NoisyLSTM", "dropconnect", "sequence", [1, 3, 88]]


def test_tune_cell_gru_through_the_command_line(tmp_path):
    directory = tmp_path / "search"
    proc = _run(["-m", "keras_rnnreg", "tune", "--model", "rnn_ns", "--cell", "gru", "--trials", "1", "--epochs",
                 "1", "--final", "none", "--directory", str(directory), "--fixed", "units=8",
                 "--max_train_sequences", "4", "--max_valid_sequences", "2", "--max_test_sequences", "2"],
                cwd=tmp_path)
    assert "1 trials (COMPLETED 1)" in proc.stdout
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["fixed"]["cell"] == "gru"
    assert summary["trials"][0]["hyperparameters"]["cell"] == "gru"
