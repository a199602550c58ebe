"""benchmarks.verify_table1: every ledger run re-evaluated from its run directory."""

import json
import time

import pytest

from benchmarks import verify_table1 as verify
from keras_rnnreg.app import training


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir):
    run_dir = tmp_path_factory.mktemp("runs") / "rnn-jsb_chorales-seed0"
    training.train("rnn", "jsb_chorales", str(run_dir), hyperparameters={"units": 4}, epochs=1, seed=0,
                   data_dir=str(data_dir), verbose=0, tensorboard=False, export_saved_model=False, log=None,
                   max_train_sequences=3, max_valid_sequences=2, max_test_sequences=2)
    return run_dir, json.loads((run_dir / "metrics.json").read_text())["test_nll"]


def _ledger(tmp_path, records):
    path = tmp_path / "table1.json"
    path.write_text(json.dumps(records))
    return path


def _record(run_dir, test_nll, **extra):
    return {"kind": "run", "model": "rnn", "dataset": "jsb_chorales", "seed": 0, "run_dir": str(run_dir),
            "test_nll": test_nll, **extra}


def test_a_run_reproduces_its_ledger_number_and_a_missing_directory_is_named(tmp_path, tiny_run, data_dir):
    run_dir, nll = tiny_run
    ledger = _ledger(tmp_path, [_record(run_dir, nll), _record(tmp_path / "gone", 8.0, seed=1),
                                {"kind": "search", "model": "rnn", "dataset": "jsb_chorales", "valid_nll": 8.6}])
    out = tmp_path / "checked"
    counts = verify.main(["--ledger", str(ledger), "--out", str(out), "--data_dir", str(data_dir)])
    assert counts == {verify.REPRODUCED: 1, verify.MISSING: 1}  # the search record is not a run
    written = json.loads(out.with_suffix(".json").read_text())
    first = written["checks"][0]
    assert first["evaluated_test_nll"] == pytest.approx(nll, abs=1e-3)
    assert written["tolerance"] == 1e-3 and written["commit"]
    table = out.with_suffix(".md").read_text()
    assert "Reproduced: 1, differs: 0, not on this machine: 1." in table


def test_a_wrong_ledger_number_fails(tmp_path, tiny_run, data_dir, capsys):
    run_dir, nll = tiny_run
    ledger = _ledger(tmp_path, [_record(run_dir, nll + 0.01)])
    with pytest.raises(SystemExit) as stop:
        verify.main(["--ledger", str(ledger), "--out", str(tmp_path / "checked"), "--data_dir", str(data_dir)])
    assert stop.value.code == 1
    assert "differs" in capsys.readouterr().out
    check = json.loads((tmp_path / "checked.json").read_text())["checks"][0]
    assert check["status"] == verify.DIFFERS and check["difference"] == pytest.approx(-0.01, abs=1e-3)


def test_an_unreadable_ledger_is_named(tmp_path):
    bad = tmp_path / "table1.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read the ledger"):
        verify.main(["--ledger", str(bad), "--out", str(tmp_path / "checked")])


def test_a_check_made_on_an_earlier_machine_is_kept_with_its_date(tmp_path, tiny_run, data_dir):
    run_dir, nll = tiny_run
    gone = str(tmp_path / "gone")
    out = tmp_path / "checked"
    # An earlier machine checked `gone` (reproduced) and `gone2` (whose ledger number has changed since).
    out.with_suffix(".json").write_text(json.dumps({"commit": "git abc1234", "date": "2026-01-02", "checks": [
        {"run_dir": gone, "ledger_test_nll": 8.0, "evaluated_test_nll": 8.0, "difference": 0.0,
         "status": verify.REPRODUCED},
        {"run_dir": gone + "2", "ledger_test_nll": 7.0, "evaluated_test_nll": 7.0, "difference": 0.0,
         "status": verify.REPRODUCED}]}))
    ledger = _ledger(tmp_path, [_record(run_dir, nll), _record(gone, 8.0, seed=1), _record(gone + "2", 7.5, seed=2)])
    counts = verify.main(["--ledger", str(ledger), "--out", str(out), "--data_dir", str(data_dir)])
    assert counts == {verify.REPRODUCED: 2, verify.MISSING: 1}
    here, kept, stale = json.loads(out.with_suffix(".json").read_text())["checks"]
    assert kept["status"] == verify.REPRODUCED and kept["checked"] == "git abc1234, 2026-01-02"
    assert stale["status"] == verify.MISSING and "checked" not in stale  # a different number is not vouched for
    assert here["checked"].endswith(time.strftime("%Y-%m-%d", time.gmtime()))
    # Run again: what was carried over stays carried over.
    assert verify.main(["--ledger", str(ledger), "--out", str(out), "--data_dir", str(data_dir)]) == counts
    assert "| git abc1234, 2026-01-02 |" in out.with_suffix(".md").read_text()
