"""Search space, HyperModel, divergence guard, oracle repair and CLI errors (no training)."""

import math
import pathlib
import types

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_rnnreg import models
from keras_rnnreg.tuning import cli, search_space, summary, tuner
from keras_rnnreg.app.callbacks import DivergenceGuard
from keras_rnnreg.tuning.hypermodel import RNNHyperModel, TrialDiverged

TUNING_DIR = pathlib.Path(search_space.__file__).resolve().parent

COMMON = {"units", "optimizer", "learning_rate", "momentum", "clipnorm", "input_init_stddev",
          "output_init_stddev", "sparsity_k", "spectral_radius"}
OWN = {
    "rnn": set(),
    "rnn_fd": {"input_dropout", "hidden_dropout", "output_dropout"},
    "rnn_nbr": {"penalty", "l1", "l2"},
    "rnn_n": {"sigma"}, "rnn_ns": {"sigma"}, "rnn_mn": {"sigma"}, "rnn_mns": {"sigma"},
    "rnn_do": {"dropconnect_p"}, "rnn_dos": {"dropconnect_p"},
    "rnn_ff": {"ff_sigma"},
}


def test_table_docstring_and_markdown_agree():
    table = search_space.render_table()
    assert table in search_space.__doc__
    assert (TUNING_DIR / "SEARCH_SPACE.md").read_text() == search_space.render_markdown()


@pytest.mark.parametrize("name", models.names())
def test_space_covers_what_the_paper_tuned(name):
    names = {p.name for p in search_space.space(name) if not p.opt_in}
    assert names == COMMON | OWN[name]
    # ...and, only when asked, the cell (tune --cell lstm,gru).
    assert [p.name for p in search_space.space(name) if p.opt_in] == ["cell"]
    assert OWN.keys() == set(models.names())


@pytest.mark.parametrize("name", models.names())
def test_random_samples_lie_in_the_ranges_and_build(name):
    rows = {}
    for p in search_space.space(name):
        rows[p.name] = p
    hm = RNNHyperModel(name, fixed={"units": 8}, seed=0)
    hp = kt.HyperParameters()
    hm.config(hp)  # declare
    rng_state = 0
    for _ in range(20):
        values = {}
        for h in hp.space:
            values[h.name] = h.random_sample(rng_state)
            rng_state += 1
        for key, value in values.items():
            assert search_space.check_value(rows[key], value) or (key == "units" and value == 8), (key, value)
    # One random configuration builds a compiled model that runs.
    sample = kt.HyperParameters()
    hm.config(sample)
    for h in sample.space:
        if sample.is_active(h):
            sample.values[h.name] = h.random_sample(7)
    model = hm.build(sample)
    assert model.optimizer is not None
    out = model(np.zeros((2, 5, 88), np.float32))
    assert out.shape == (2, 5, 88)


def test_defaults_are_the_zoo_and_reference_values():
    d = search_space.defaults("rnn_fd")
    assert d["optimizer"] == "rmsprop"
    assert (d["input_dropout"], d["hidden_dropout"], d["output_dropout"]) == (0.1, 0.2, 0.5)
    d = search_space.defaults("rnn_nbr")
    assert d["penalty"] == "l2" and "l2" in d and "l1" not in d
    assert search_space.defaults("rnn")["optimizer"] == "sgd"


def test_penalty_conditional_and_split():
    model_kwargs, compile_kwargs = search_space.split_config(
        "rnn_nbr", {"penalty": "l2", "l2": 1e-3, "units": 10, "learning_rate": 0.1, "optimizer": "sgd"})
    assert model_kwargs == {"l1": 0.0, "l2": 1e-3, "units": 10}
    assert compile_kwargs == {"learning_rate": 0.1, "optimizer": "sgd"}
    # No penalty in the configuration (the zoo defaults, as gated_protocol's stage 1 trains them):
    # the zoo's own penalty stays, not none at all.
    model_kwargs, _ = search_space.split_config("rnn_nbr", {"cell": "gru"})
    assert model_kwargs == {"cell": "gru"}
    model = models.get("rnn_nbr", units=8, **model_kwargs)
    assert model.count_params() and sum(float(loss) for loss in model.losses) > 0
    assert search_space.split_config("rnn_nbr", {"penalty": "l1", "l1": 1e-5})[0] == {"l1": 1e-5, "l2": 0.0}
    hp = kt.HyperParameters()
    config = search_space.declare(hp, "rnn_nbr", {"l1": 1e-5})
    assert config["penalty"] == "l1" and config["l1"] == 1e-5 and "l2" not in config
    config = search_space.declare(kt.HyperParameters(), "rnn_nbr", {"l1": 1e-5, "l2": 2e-5})
    assert config["penalty"] == "l1_l2" and config["l2"] == 2e-5


def test_parse_fixed_types_and_errors():
    fixed = search_space.parse_fixed("rnn_mn", ["units=32", "sigma=0.5", "sparsity_k=None",
                                                 "noise_implementation=exact"])
    assert fixed == {"units": 32, "sigma": 0.5, "sparsity_k": None, "noise_implementation": "exact"}
    assert isinstance(fixed["units"], int)
    with pytest.raises(ValueError, match="valid names: .*sigma"):
        search_space.parse_fixed("rnn_mns", ["dropconnect_p=0.1"])
    with pytest.raises(ValueError, match="name=value"):
        search_space.parse_fixed("rnn_mns", ["units"])
    with pytest.raises(ValueError, match="valid names: rnn, rnn_fd"):
        search_space.space("nope")
    with pytest.raises(ValueError, match="valid names: rnn, rnn_fd"):
        RNNHyperModel("nope")
    with pytest.raises(ValueError, match="valid names"):
        RNNHyperModel("rnn", fixed={"sigma": 0.1})


def test_ranges_replace_the_bounds_the_tuner_samples():
    ranges = search_space.parse_ranges("rnn", ["sparsity_k=60:100", "clipnorm=0.01:0.1", "spectral_radius=0.5:0.7"])
    assert ranges == {"sparsity_k": (60, 100), "clipnorm": (0.01, 0.1), "spectral_radius": (0.5, 0.7)}
    assert isinstance(ranges["sparsity_k"][0], int)
    rows = {p.name: p for p in search_space.space("rnn", ranges)}
    # A default outside the new bounds moves to the nearest bound; the step and sampling stay.
    assert (rows["sparsity_k"].default, rows["sparsity_k"].step) == (60, 5)
    assert rows["clipnorm"].default == 0.1 and rows["clipnorm"].sampling == "log"
    assert rows["units"] == next(p for p in search_space.PARAMS if p.name == "units")  # untouched row
    hp = kt.HyperParameters()
    RNNHyperModel("rnn", ranges=ranges).config(hp)
    space = {h.name: h for h in hp.space}
    draws = {name: [space[name].random_sample(seed) for seed in range(200)] for name in ranges}
    # Every draw lies in the new bounds, none in the table's own (5 - 50, 0.5 - 50, 0.8 - 1.3).
    assert all(60 <= k <= 100 and k % 5 == 0 for k in draws["sparsity_k"])
    assert all(0.01 <= c <= 0.1 for c in draws["clipnorm"])
    assert all(0.5 <= r <= 0.7 for r in draws["spectral_radius"])
    # Log sampling: about half of the draws below the geometric mean (binomial 200, 0.5: 5 sigma ~ 35).
    assert abs(sum(c < math.sqrt(0.01 * 0.1) for c in draws["clipnorm"]) - 100) < 35


@pytest.mark.parametrize("items, message", [
    (["units"], "name=low:high"),
    (["units=100"], "name=low:high"),
    (["sigma=0.1:1"], "no searched numeric hyperparameter 'sigma'; valid: clipnorm, .*units"),
    (["optimizer=1:2"], "no searched numeric hyperparameter 'optimizer'"),
    (["units=100.5:200"], "units takes integers"),
    (["momentum=a:0.9"], "momentum takes numbers"),
    (["momentum=0.9:0.5"], "low < high"),
    (["momentum=0.5:inf"], "finite bounds"),
    (["clipnorm=0:10"], "log space; low must be > 0"),
])
def test_parse_ranges_names_the_bad_item(items, message):
    with pytest.raises(ValueError, match=message):
        search_space.parse_ranges("rnn", items)


def test_ranges_belong_to_a_search_s_identity(tmp_path):
    from keras_rnnreg.tuning import search

    plain = search.SearchSettings(model="rnn", directory=str(tmp_path / "s"))
    # No key for the table's own space: searches recorded before ranges existed still resume.
    assert "ranges" not in plain.identity()
    wide = search.SearchSettings(model="rnn", directory=str(tmp_path / "s"), ranges={"sparsity_k": (10, 100)})
    search._check_config(wide)
    search._check_config(wide)  # the same ranges resume
    with pytest.raises(ValueError, match=r"other settings \(ranges: .*sparsity_k.*None now\)"):
        search._check_config(plain)
    with pytest.raises(ValueError, match="no searched numeric hyperparameter 'sigma'"):
        RNNHyperModel("rnn", ranges={"sigma": (0.1, 1.0)})


def test_fixed_none_is_passed_through_and_builds():
    hm = RNNHyperModel("rnn", fixed={"units": 8, "sparsity_k": None, "spectral_radius": None})
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert "sparsity_k" not in hp.values
    assert model.get_layer("hidden").units == 8


class _Model:
    stop_training = False


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 5e3])
def test_divergence_guard_raises_failed_trial_error(value):
    guard = DivergenceGuard(threshold=1e3, error=TrialDiverged)
    guard.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    guard.on_train_batch_end(0, {"loss": 10.0})
    with pytest.raises(TrialDiverged) as info:
        guard.on_train_batch_end(1, {"loss": value})
    assert isinstance(info.value, kt.errors.FailedTrialError)
    assert guard.model.stop_training
    with pytest.raises(TrialDiverged):
        guard.on_epoch_end(0, {"loss": 1.0, "val_nll": value})


def test_divergence_guard_without_threshold_only_catches_non_finite():
    guard = DivergenceGuard(threshold=None, error=TrialDiverged)
    guard.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    guard.on_train_batch_end(0, {"loss": 1e30})
    with pytest.raises(TrialDiverged):
        guard.on_train_batch_end(0, {"loss": float("nan")})


def _trial(trial_id, status):
    return types.SimpleNamespace(trial_id=trial_id, status=status)


def test_repair_oracle_after_a_kill_between_writes():
    oracle = types.SimpleNamespace(
        trials={"0": _trial("0", "COMPLETED"), "1": _trial("1", "COMPLETED"), "2": _trial("2", "RUNNING"),
                "3": _trial("3", "RUNNING")},
        _retry_queue=["1", "3"], ongoing_trials={}, end_order=["0"], start_order=["0", "1", "3"],
    )
    tuner.repair_oracle(oracle)
    # "1" completed on disk: not run again; "2" on disk but unknown to the oracle: queued.
    assert oracle._retry_queue == ["3", "2"]
    assert oracle.end_order == ["0", "1"]
    assert oracle.start_order == ["0", "1", "3", "2"]


def test_make_tuner_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="valid tuners: random, bayesian, hyperband"):
        tuner.make_tuner("grid", RNNHyperModel("rnn"), tmp_path, "p")


def test_cli_usage_errors(capsys, tmp_path):
    assert cli.main(["--model", "bogus", "--directory", str(tmp_path)]) == 2
    assert "valid names: rnn, rnn_fd" in capsys.readouterr().err
    assert cli.main(["--directory", str(tmp_path)]) == 2
    assert "--model" in capsys.readouterr().err
    assert cli.main(["--model", "rnn", "--directory", str(tmp_path), "--bogus", "1"]) == 2
    assert cli.main(["tune", "frobnicate"]) == 2
    assert "valid subcommands: search, sweep, summarize" in capsys.readouterr().err
    assert cli.main(["--model", "rnn", "--directory", str(tmp_path), "--tuner", "grid"]) == 2
    assert cli.main(["sweep", "--model", "rnn", "--param", "sigma", "--values", "0.1",
                     "--out", str(tmp_path / "s.csv")]) == 2
    assert "valid names" in capsys.readouterr().err
    assert cli.main(["--model", "rnn", "--directory", str(tmp_path), "--range", "sigma=0.1:1"]) == 2
    assert "no searched numeric hyperparameter 'sigma'" in capsys.readouterr().err
    assert cli.main(["--model", "rnn", "--directory", str(tmp_path), "--range", "units=400:100"]) == 2
    assert "low < high" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything was written
    assert cli.main(["--help"]) == 0
    assert "--trials" in capsys.readouterr().out


def test_child_argv_drops_launcher_flags():
    fv = cli.search_flags()
    fv(["tune", "--model", "rnn", "--directory", "d", "--distributed", "--workers", "3", "--fixed", "units=8",
        "--fixed", "sparsity_k=5", "--range", "clipnorm=0.1:5", "--overwrite", "--timeout", "9"])
    argv = cli.child_argv(fv)
    assert "--model=rnn" in argv and "--directory=d" in argv
    assert argv.count("--fixed=units=8") == 1 and "--fixed=sparsity_k=5" in argv
    assert "--range=clipnorm=0.1:5" in argv  # the workers search the same space
    assert not any(a.startswith(("--workers", "--distributed", "--overwrite", "--timeout")) for a in argv)


def test_summary_markdown_lists_every_trial():
    records = [
        {"trial_id": "0", "status": "COMPLETED", "val_nll": 8.5, "best_epoch": 3,
         "hyperparameters": {"units": 100, "sigma": 0.1}, "message": None},
        {"trial_id": "1", "status": "FAILED", "val_nll": None, "best_epoch": None,
         "hyperparameters": {"units": 200, "sigma": 0.3}, "message": "TrialDiverged: loss = nan"},
    ]
    best = summary.best_record(records)
    assert best["trial_id"] == "0"
    text = summary.render_markdown({"model": "rnn_mns", "dataset": "jsb_chorales", "tuner": "random",
                                    "max_trials": 2, "trials": records, "trial_seconds": {"0": 12.5},
                                    "best": dict(best, test_nll=8.4, final="reload")})
    assert "| 0 | COMPLETED | 8.5 | 3 | 100 | 0.1 | 12.5 |  |" in text
    # A trial with no timing line (killed before it ended) leaves the seconds cell empty.
    assert "| 1 | FAILED |  |  | 200 | 0.3 |  | TrialDiverged: loss = nan |" in text
    assert "test NLL 8.4" in text
    assert math.isclose(summary.status_counts(records)["FAILED"], 1)
