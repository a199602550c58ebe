"""Sweep of one hyperparameter (figures 8-10): CSV rows, resume, base configuration and plot."""

import csv
import json
import math

import pytest

from keras_rnnreg.tuning import cli, sweep

SMALL = ["--fixed", "units=8", "--max_train_sequences", "8", "--max_valid_sequences", "4",
         "--max_test_sequences", "2", "--epochs", "1", "--patience", "0", "--verbose", "0"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_cli_writes_csv_resumes_and_plots(tmp_path, data_dir):
    out, png = tmp_path / "fig8.csv", tmp_path / "fig8.png"
    argv = ["sweep", "--model", "rnn_nbr", "--param", "l2", "--values", "0,1e-3", "--seeds", "0",
            "--out", str(out), *SMALL]
    assert cli.main(argv) == 0
    rows = _rows(out)
    assert [(r["param"], float(r["value"]), r["seed"], r["status"]) for r in rows] == [
        ("l2", 0.0, "0", "ok"), ("l2", 1e-3, "0", "ok")]
    assert all(5 < float(r["test_nll"]) < 30 and math.isfinite(float(r["val_nll"])) for r in rows)
    assert tuple(rows[0]) == sweep.COLUMNS
    # Rerun with one more value: the two finished runs are skipped, one row added; L1 into the same file.
    assert cli.main([*argv[:6], "0,1e-3,1e-2", *argv[7:], "--plot", str(png)]) == 0
    assert len(_rows(out)) == 3
    assert cli.main(["sweep", "--model", "rnn_nbr", "--param", "l1", "--values", "1e-3", "--out", str(out),
                     "--plot", str(png), *SMALL]) == 0
    rows = _rows(out)
    assert [r["param"] for r in rows] == ["l2", "l2", "l2", "l1"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    groups = sweep.aggregate(rows)
    assert set(groups) == {("rnn_nbr", "l2"), ("rnn_nbr", "l1")}
    assert [p[0] for p in groups[("rnn_nbr", "l2")]] == [0.0, 1e-3, 1e-2]


def test_base_config_holds_the_others_fixed(tmp_path):
    config = sweep.base_config("rnn_nbr", "l1")
    assert config["penalty"] == "l1" and "l2" not in config
    config = sweep.base_config("rnn_nbr", "l1", fixed={"l2": 1e-4})
    assert config["penalty"] == "l1_l2" and config["l2"] == 1e-4
    summary = {"model": "rnn_dos", "best": {"hyperparameters": {"units": 300, "dropconnect_p": 0.4,
                                                                 "learning_rate": 0.02}}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    config = sweep.base_config("rnn_dos", "dropconnect_p", fixed={"units": 50}, base=str(path))
    assert config["units"] == 50 and config["learning_rate"] == 0.02 and config["optimizer"] == "sgd"
    with pytest.raises(ValueError, match="not 'rnn'"):
        sweep.base_config("rnn", "units", base=str(path))


def test_plot_sweep_needs_successful_runs(tmp_path):
    path = tmp_path / "empty.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, sweep.COLUMNS)
        writer.writeheader()
        writer.writerow(dict(model="rnn_n", dataset="jsb_chorales", param="sigma", value="0.1", seed="0",
                             status="diverged", val_nll="", test_nll="", epochs="1", seconds="1"))
    with pytest.raises(ValueError, match="no successful runs"):
        sweep.plot_sweep(str(path), str(tmp_path / "x.png"))
