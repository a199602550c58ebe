"""Fault-injection probes of issue 13 (``python -m pytest -m slow tests/test_fault_injection.py -s``).

Repeats the hostile-user probes: SIGKILLs of real ``train`` / ``export`` /
``tune`` processes at random fault points (and at random moments), every
search state file emptied, truncated or garbled in turn, and a battery of bad
command-line values and bad files. Each test prints its figures::

    FAULT-INJECTION train kills: 14 kills, 14 survived, 0 data lost
    FAULT-INJECTION tune kills: ...
    FAULT-INJECTION state damage: ...
    FAULT-INJECTION bad inputs: 60 bad inputs, 60 clear errors, 0 tracebacks, 0 accepted

``KERAS_RNNREG_FAULT_SEED`` (default 0) picks the random kill points.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from keras_rnnreg.app import cli, rundir
from keras_rnnreg import models
from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.tuning import cli as tune_cli
from keras_rnnreg.tuning import state

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("KERAS_RNNREG_FAULT_SEED", "0"))
EPOCHS = 4
TRAIN = ["--model", "rnn", "--units", "16", "--epochs", str(EPOCHS), "--patience", "0",
         "--max_train_sequences", "24", "--max_valid_sequences", "8", "--max_test_sequences", "4",
         "--verbose", "0", "--notensorboard", "--seed", "0"]
SEARCH = ["--model", "rnn", "--dataset", "jsb_chorales", "--trials", "3", "--epochs", "2", "--patience", "0",
          "--seed", "0", "--final", "none", "--fixed", "units=8", "--max_train_sequences", "8",
          "--max_valid_sequences", "4", "--verbose", "0"]
PROJECT = "rnn_jsb_chorales"


def _report(capsys, line):
    with capsys.disabled():
        print(f"\nFAULT-INJECTION {line}", flush=True)


def _env(kill_at=None):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_RNNREG_KILL_AT"}
    if kill_at:
        env["KERAS_RNNREG_KILL_AT"] = kill_at
    return env


def _start(module, argv, kill_at=None):
    return subprocess.Popen([sys.executable, "-m", module, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=_env(kill_at))


def _kill(module, argv, kill_at=None, delay=None):
    """Run until the fault point kills it (or SIGKILL after ``delay`` s); return the exit code."""
    proc = _start(module, argv, kill_at)
    try:
        proc.wait(timeout=delay if delay is not None else 400)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


# --------------------------------------------------------------------------- train / export


def _train_points(rng, count):
    pool = [f"backup:weights_written:{k}" for k in range(1, EPOCHS + 1)]
    pool += [f"backup:committed:{k}" for k in range(1, EPOCHS + 1)]
    pool += [f"replace:{name}:{k}" for name in ("training_metadata.json", "history.csv", "metrics.json",
                                                 "spectral_radius.csv") for k in (1, 2, 3)]
    pool += ["replace:model.keras:1", "replace:config.json:1"]
    points = rng.sample(pool, count - 3)
    return [*points, *(f"time:{rng.uniform(4, 20):.1f}" for _ in range(3))]


def _check_run(run):
    """Problems of a finished run directory ([] when it is complete and consistent)."""
    problems = []
    metrics = rundir.read_metrics(run) if hasattr(rundir, "read_metrics") else rundir.read_json(run / "metrics.json")
    if not metrics or metrics.get("status") != "completed" or metrics.get("epochs_completed") != EPOCHS:
        problems.append(f"metrics {metrics and metrics.get('status')}")
    if [int(r["epoch"]) for r in rundir.read_csv(run / "history.csv")] != list(range(1, EPOCHS + 1)):
        problems.append("history rows")
    if [int(r["epoch"]) for r in rundir.read_csv(run / "spectral_radius.csv")] != list(range(EPOCHS + 1)):
        problems.append("spectral radius rows")
    if list(run.glob(".tmp-*")) or (run / "backup").exists() or (run / ".lock").exists():
        problems.append("leftovers")
    if not (run / "saved_model" / "saved_model.pb").is_file():
        problems.append("no saved_model")
    return problems


def test_train_and_export_kills(tmp_path, data_dir, capsys):
    rng = random.Random(SEED)
    points = _train_points(rng, 14)
    survived = lost = 0
    failures = []
    for i, point in enumerate(points):
        run = tmp_path / f"run{i}"
        argv = ["train", *TRAIN, "--run_dir", str(run), "--data_dir", str(data_dir)]
        if point.startswith("time:"):
            code = _kill("keras_rnnreg", argv, delay=float(point[5:]))
        else:
            code = _kill("keras_rnnreg", argv, kill_at=point)
        committed = rundir.read_json(run / "backup" / "training_metadata.json") or {}
        before = [dict(r) for r in committed.get("history", [])]
        rerun = subprocess.run([sys.executable, "-m", "keras_rnnreg", *argv], capture_output=True, text=True,
                               timeout=400, env=_env())
        problems = [] if rerun.returncode == 0 else [f"rerun exit {rerun.returncode}: {rerun.stderr[-300:]}"]
        problems += _check_run(run)
        after = [{k: float(v) for k, v in r.items()} for r in rundir.read_csv(run / "history.csv")]
        if [{k: float(v) for k, v in r.items()} for r in before] != after[: len(before)]:
            problems.append("a committed epoch changed")
            lost += 1
        if problems:
            failures.append((point, code, problems))
        else:
            survived += 1
    # export over an existing export, killed between moving the old one aside and the new one in
    run = tmp_path / "run0"
    out = tmp_path / "export"
    assert cli.main(["keras-rnnreg", "export", "--run_dir", str(run), "--out", str(out)]) == 0
    for point in ("replace_dir:export:1", "time:6"):
        argv = ["export", "--run_dir", str(run), "--out", str(out)]
        code = (_kill("keras_rnnreg", argv, kill_at=point) if not point.startswith("time:")
                else _kill("keras_rnnreg", argv, delay=float(point[5:])))
        rerun = subprocess.run([sys.executable, "-m", "keras_rnnreg", *argv], capture_output=True, text=True,
                               timeout=300, env=_env())
        if rerun.returncode == 0 and (out / "saved_model.pb").is_file():
            survived += 1
        else:
            failures.append((point, code, [rerun.stderr[-300:]]))
        points.append(point)
    _report(capsys, f"train/export kills: {len(points)} kills, {survived} survived, {lost} data lost"
                    + (f"; failures: {failures}" if failures else ""))
    assert not failures


# --------------------------------------------------------------------------- tune


@pytest.fixture(scope="module")
def reference_search(tmp_path_factory, data_dir):
    directory = tmp_path_factory.mktemp("ref") / "s"
    assert tune_cli.main([*SEARCH, "--directory", str(directory)]) == 0
    return directory


def _trials(directory):
    summary = rundir.read_json(directory / "summary.json") or {}
    return [(t["trial_id"], t["status"], t["hyperparameters"]) for t in summary.get("trials", [])]


def _completed(directory):
    out = {}
    for path in (directory / PROJECT).glob("trial_*/trial.json"):
        record = rundir.read_json(path)
        if record and record.get("status") == "COMPLETED":
            out[record["trial_id"]] = record["score"]
    return out


def test_tune_kills(tmp_path, reference_search, capsys):
    rng = random.Random(SEED + 1)
    pool = [f"replace:trial.json:{k}" for k in range(1, 12)]
    pool += [f"replace:oracle.json:{k}" for k in range(1, 6)]
    pool += [f"replace:tuner0.json:{k}" for k in range(1, 4)]
    pool += ["replace:search_config.json:1", "replace:summary.json:1"]
    points = [*rng.sample(pool, 8), *(f"time:{rng.uniform(6, 30):.1f}" for _ in range(2))]
    survived = lost = 0
    failures = []
    reference = _trials(reference_search)
    for i, point in enumerate(points):
        directory = tmp_path / f"s{i}"
        argv = [*SEARCH, "--directory", str(directory)]
        if point.startswith("time:"):
            code = _kill("keras_rnnreg.tuning", argv, delay=float(point[5:]))
        else:
            code = _kill("keras_rnnreg.tuning", argv, kill_at=point)
        finished = _completed(directory) if directory.exists() else {}
        problems = []
        unreadable = state.unreadable_files(directory, PROJECT) if directory.exists() else []
        if unreadable:
            problems.append(f"unreadable after the kill: {unreadable}")
        rerun = tune_cli.main(argv)
        if rerun != 0:
            problems.append(f"rerun exit {rerun}")
        if _trials(directory) != reference:
            problems.append("trials differ from an uninterrupted search")
        after = _completed(directory)
        if any(after.get(t) != score for t, score in finished.items()):
            problems.append("a finished trial changed")
            lost += 1
        if problems:
            failures.append((point, code, problems))
        else:
            survived += 1
    _report(capsys, f"tune kills: {len(points)} kills, {survived} survived, {lost} data lost"
                    + (f"; failures: {failures}" if failures else ""))
    assert not failures


def test_state_damage(tmp_path, reference_search, capsys):
    files = ["search_config.json", f"{PROJECT}/oracle.json", f"{PROJECT}/tuner0.json",
             *sorted(str(p.relative_to(reference_search)) for p in reference_search.glob(f"{PROJECT}/trial_*/trial.json"))]
    damages = {"empty": lambda t: "", "truncated": lambda t: t[: len(t) // 2], "garbage": lambda t: "\x00{]" + t,
               "one byte": lambda t: t[:1]}
    total = clear = repaired = lost = 0
    failures = []
    for victim in files:
        for name, damage in damages.items():
            total += 1
            directory = tmp_path / f"{total}"
            shutil.copytree(reference_search, directory)
            target = directory / victim
            target.write_text(damage(target.read_text()))
            finished = {p: (directory / p).read_text() for p in files if "trial_" in p and p != victim}
            argv = [*SEARCH, "--directory", str(directory)]
            code = tune_cli.main(argv)
            err = capsys.readouterr().err
            lines = [line for line in err.splitlines() if line.strip()]
            if code == 2 and len(lines) == 1 and str(target) in lines[0] and "--repair" in lines[0]:
                clear += 1
            else:
                failures.append((victim, name, "error", err[-300:]))
            if tune_cli.main([*argv, "--repair"]) == 0 and not state.unreadable_files(directory, PROJECT):
                repaired += 1
            else:
                failures.append((victim, name, "repair"))
            if any(json.loads((directory / p).read_text()) != json.loads(c) for p, c in finished.items()):
                lost += 1
                failures.append((victim, name, "a finished trial changed"))
    capsys.readouterr()
    _report(capsys, f"state damage: {total} damaged files, {clear} clear errors naming the file, "
                    f"{repaired} repaired with --repair, {lost} data lost" + (f"; failures: {failures}" if failures else ""))
    assert not failures


# --------------------------------------------------------------------------- bad inputs


def _bad_files(tmp_path, data_dir):
    """``[(label, argv, must_name)]`` of commands reading a bad file."""
    cases = []
    good = dp.load_dataset("jsb_chorales", data_dir)
    mat_bytes = (data_dir / "JSB_Chorales.mat").read_bytes()
    for label, data in (("empty .mat", b""), ("truncated .mat", mat_bytes[: len(mat_bytes) // 3]),
                        ("garbage .mat", b"MATLAB 5.0 nonsense" * 50), ("flipped .mat", mat_bytes[:200] + bytes(
                            b ^ 0xFF for b in mat_bytes[200:400]) + mat_bytes[400:])):
        folder = tmp_path / label.replace(" ", "_").replace(".", "")
        folder.mkdir()
        (folder / "JSB_Chorales.mat").write_bytes(data)
        cases.append((label, ["data", "stats", "jsb_chorales", "--data_dir", str(folder)], "JSB_Chorales.mat"))
    from keras_rnnreg.data_pipelines.notes_io import piano_roll_to_notes

    notes = {s: [piano_roll_to_notes(r) for r in good[s][:2]] for s in ("train", "valid", "test")}
    json_cases = {
        "empty json": "", "truncated json": json.dumps(notes)[:100], "json list": "[]",
        "json note 200": json.dumps(dict(notes, train=[[[200]]])),
        "json note string": json.dumps(dict(notes, train=[[["C4"]]])),
        "json huge value": json.dumps(dict(notes, train=[[["x" * 2_000_000]]])),
        "json huge int": '{"train": [[[' + "9" * 5000 + ']]], "valid": [[[60],[61]]], "test": [[[60],[61]]]}',
        "json deep": '{"train": ' + "[" * 100_000 + "]" * 100_000 + ', "valid": [], "test": []}',
        "json missing split": json.dumps({"train": notes["train"]}),
        "json one-step test": json.dumps(dict(notes, test=[[[60]]])),
        "json NaN note": json.dumps(dict(notes, train=[[[float("nan")]]])),
    }
    for label, text in json_cases.items():
        folder = tmp_path / label.replace(" ", "_")
        folder.mkdir()
        # Nottingham's JSON has no pinned sha256, so its content reaches the JSON checks.
        (folder / "Nottingham.notes.json").write_text(text)
        cases.append((label, ["data", "stats", "nottingham", "--data_dir", str(folder), "--source", "notes"],
                      "Nottingham.notes.json"))
    import pickle

    split = pickle.dumps([[[60], [62]]], protocol=2)[2:-1]
    pickles = {
        "pickle os.system": b"cos\nsystem\n(S'echo pwned'\ntR.",
        "pickle truncated": pickle.dumps(notes)[:50],
        "pickle deep": (b"\x80\x02}X\x05\x00\x00\x00train]" + b"]" * 100_000 + b"a" * 99_999 + b"as"
                        + b"X\x05\x00\x00\x00valid" + split + b"sX\x04\x00\x00\x00test" + split + b"s."),
        "pickle eval": b"c__builtin__\neval\n(S'1'\ntR.",
    }
    for label, blob in pickles.items():
        folder = tmp_path / label.replace(" ", "_").replace(".", "")
        folder.mkdir()
        (folder / "JSB_Chorales.pickle").write_bytes(blob)
        cases.append((label, ["data", "stats", "jsb_chorales", "--data_dir", str(folder), "--source", "notes"],
                      "JSB_Chorales.pickle"))
    # .keras files in a run directory
    source = tmp_path / "source.keras"
    rundir.atomic_save_model(models.get("rnn", units=4, seed=0), source)
    with zipfile.ZipFile(source) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(files["config.json"])

    def crafted(mutate):
        c = json.loads(json.dumps(config))
        mutate(c)
        return c

    def os_system(c):
        c["config"]["layers"][1]["config"]["activation"] = {"module": "os", "class_name": "function",
                                                            "config": "system", "registered_name": "system"}

    def get_file(c):
        c["config"]["layers"][1] = {"module": "keras.utils", "class_name": "get_file",
                                    "config": {"fname": "x", "origin": "http://127.0.0.1:9/x"}}

    def lambda_layer(c):
        c["config"]["layers"][1] = {"module": "keras.layers", "class_name": "Lambda",
                                    "config": {"function": {"class_name": "__lambda__",
                                                            "config": {"code": "YQ==", "defaults": None,
                                                                       "closure": None}}}}

    keras_files = {"keras os.system": crafted(os_system), "keras get_file": crafted(get_file),
                   "keras lambda": crafted(lambda_layer), "keras truncated": None, "keras not a zip": "x"}
    for label, cfg in keras_files.items():
        run = tmp_path / label.replace(" ", "_").replace(".", "")
        run.mkdir()
        rundir.atomic_write_json(run / "config.json", {"model": "rnn", "dataset": "jsb_chorales"})
        path = run / "model.keras"
        if cfg is None:
            path.write_bytes(source.read_bytes()[:400])
        elif isinstance(cfg, str):
            path.write_text(cfg)
        else:
            with zipfile.ZipFile(path, "w") as archive:
                for n, data in files.items():
                    archive.writestr(n, json.dumps(cfg) if n == "config.json" else data)
        cases.append((label, ["evaluate", "--run_dir", str(run)], "model.keras"))
    return cases


def _bad_values(tmp_path):
    """``[(label, argv, must_name)]`` of bad command-line values."""
    run = tmp_path / "valid_run"
    run.mkdir()
    rundir.atomic_write_json(run / "config.json", {"model": "rnn", "dataset": "jsb_chorales"})
    rundir.atomic_save_model(models.get("rnn", units=4, seed=0), run / "model.keras")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    t = ["train", "--run_dir", str(tmp_path / "never")]
    s = ["sample", "--run_dir", str(run), "--out", str(tmp_path / "x.mid")]
    u = ["tune", "--model", "rnn", "--directory", str(tmp_path / "never_tune")]
    cases = [
        (t + ["--epochs", "0"], "--epochs"), (t + ["--epochs", "-1"], "--epochs"), (t + ["--epochs", "x"], "--epochs"),
        (t + ["--learning_rate", "0"], "--learning_rate"), (t + ["--learning_rate", "nan"], "--learning_rate"),
        (t + ["--learning_rate", "inf"], "--learning_rate"), (t + ["--momentum", "1"], "--momentum"),
        (t + ["--momentum", "nan"], "--momentum"), (t + ["--clipnorm", "-1"], "--clipnorm"),
        (t + ["--clipnorm", "nan"], "--clipnorm"), (t + ["--batch_size", "0"], "--batch_size"),
        (t + ["--window", "0"], "--window"), (t + ["--seed", "-1"], "--seed"), (t + ["--patience", "-1"], "--patience"),
        (t + ["--model", "lstm"], "--model"), (t + ["--dataset", "x"], "--dataset"),
        (t + ["--optimizer", "lion"], "--optimizer"), (t + ["--units", "0"], "units"),
        (t + ["--units", "1e9999"], "--units"), (t + ["--output_bias_init", "nan"], "--output_bias_init"),
        (t + ["--output_bias_init", "-inf"], "--output_bias_init"), (t + ["--spectral_radius", "nan"], "spectral_radius"),
        (t + ["--sparsity_k", "-3"], "sparsity_k"), (t + ["--model", "rnn_do", "--dropconnect_p", "1.5"], "dropconnect"),
        (t + ["--model", "rnn_n", "--sigma", "-1"], "sigma"), (t + ["--model", "rnn", "--sigma", "0.1"], "--sigma"),
        (t + ["--max_train_sequences", "0"], "--max_train_sequences"), (t + ["--verbose", "7"], "--verbose"),
        (["train", "--run_dir", str(a_file)], str(a_file)), (t + ["extra"], "extra"),
        (["evaluate", "--run_dir", str(tmp_path / "missing")], "missing"), (["evaluate"], "--run_dir"),
        (["evaluate", "--run_dir", str(run), "--split", "dev"], "--split"),
        (["export", "--run_dir", str(run), "--out", str(a_file)], str(a_file)),
        (s[:-2] + ["--out", str(tmp_path / "no" / "dir" / "x.mid")], "does not exist"),
        (s + ["--tempo", "1e9"], "--tempo"), (s + ["--tempo", "0"], "--tempo"), (s + ["--tempo", "nan"], "--tempo"),
        (s + ["--steps", "0"], "--steps"), (s + ["--primer_steps", "-1"], "--primer_steps"),
        (s + ["--frames_per_beat", "0"], "--frames_per_beat"),
        (["data", "stats", "bach"], "bach"), (["data", "frob"], "frob"), (["fly"], "fly"),
        (u + ["--trials", "0"], "--trials"), (u + ["--seed", "-1"], "--seed"), (u + ["--tuner", "grid"], "--tuner"),
        (u + ["--fixed", "units"], "units"), (u + ["--fixed", "nope=1"], "nope"),
        (u + ["--fixed", "learning_rate=nan"], "learning_rate"), (u + ["--divergence_threshold", "nan"], "divergence"),
        (u + ["--project_name", ".."], "--project_name"), (u + ["--project_name", "/tmp/x", "--overwrite"], "--project_name"),
        (["tune", "--model", "rnn", "--directory", str(a_file)], str(a_file)),
        (["tune", "--model", "lstm", "--directory", str(tmp_path / "d")], "lstm"),
        (["tune", "frob"], "frob"), (["tune", "sweep", "--model", "rnn", "--param", "units", "--values", "abc",
                                      "--out", str(tmp_path / "s.csv")], "abc"),
        (["tune", "sweep", "--model", "rnn_nbr", "--param", "l2", "--values", "0", "--out", str(a_file)], str(a_file)),
    ]
    return [(" ".join(argv)[:80], argv, name) for argv, name in cases]


def test_bad_inputs(tmp_path, data_dir, capsys):
    cases = _bad_files(tmp_path, data_dir) + _bad_values(tmp_path)
    clear = tracebacks = accepted = 0
    unclear = []
    for label, argv, must_name in cases:
        try:
            code = cli.main(["keras-rnnreg", *argv])
        except BaseException as e:  # noqa: BLE001 - an escaped exception is a traceback for the user
            capsys.readouterr()
            tracebacks += 1
            unclear.append((label, f"{type(e).__name__}: {str(e)[:200]}"))
            continue
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if "error:" in line]
        if code == 0:
            accepted += 1
            unclear.append((label, "accepted"))
        elif "Traceback" in err:
            tracebacks += 1
            unclear.append((label, "traceback"))
        elif len(lines) == 1 and must_name in lines[0] and len(lines[0]) <= 600:
            clear += 1
        else:
            unclear.append((label, err[-300:]))
    _report(capsys, f"bad inputs: {len(cases)} bad inputs, {clear} clear errors, {tracebacks} tracebacks, "
                    f"{accepted} accepted" + (f"; not clear: {unclear}" if unclear else ""))
    assert tracebacks == 0 and accepted == 0 and clear == len(cases)
