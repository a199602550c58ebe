"""Re-evaluate every run of the Table 1 ledger from its run directory and compare.

For each training record of ``--ledger`` (``kind`` ``run`` or ``recipe``, as
written by :mod:`benchmarks.table1_protocol`), loads the run directory's
``model.keras`` (``safe_mode``) exactly as ``python -m keras_rnnreg evaluate
--run_dir DIR`` does, computes the test NLL on whole sequences, and compares it
with the number in the ledger (``--tolerance``, absolute, nats per time step).
Run directories are not committed; one missing on this machine is listed as
such, not counted as a failure; where ``OUT.json`` already holds a check of that
directory made on an earlier machine (same ledger number), that check is kept with
the commit and date it was made, so the evaluations of several machines add up.
Writes ``OUT.json`` and ``OUT.md`` (atomically)
with the commit, command and wall time, prints one line per run, and exits 1
when a present run does not reproduce its ledger number.

    python -m benchmarks.verify_table1
"""

import collections
import json
import pathlib
import sys
import time

from absl import flags

from benchmarks import _flags
from benchmarks.provenance import REPO_ROOT, code_version
from benchmarks.table1_protocol import _finite, _row_name

PROG = "python -m benchmarks.verify_table1"
REPRODUCED, DIFFERS, MISSING = "reproduced", "differs", "run directory not on this machine"


def define_flags(fv):
    flags.DEFINE_string("ledger", "results/table1.json", "The ledger (relative to the repository or absolute).",
                        flag_values=fv)
    flags.DEFINE_string("out", "results/table1_evaluated", "Writes OUT.json and OUT.md.", flag_values=fv)
    flags.DEFINE_float("tolerance", 1e-3, "Largest |ledger - evaluate| counted as reproduced (nats per step).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: each run's, else $KERAS_RNNREG_DATA_DIR).",
                        flag_values=fv)


def _in_repo(path):
    path = pathlib.Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def check(record, tolerance, data_dir=None):
    """The check of one ledger record: its row, the two NLLs and a status."""
    from keras_rnnreg.app.cli import evaluate_run

    result = {"row": _row_name(record), "dataset": record["dataset"], "seed": record.get("seed"),
              "run_dir": record["run_dir"], "ledger_test_nll": record["test_nll"]}
    directory = _in_repo(record["run_dir"])
    if not (directory / "config.json").is_file():
        return {**result, "evaluated_test_nll": None, "difference": None, "status": MISSING}
    nll = evaluate_run(str(directory), "test", data_dir=data_dir)["nll"]
    difference = nll - record["test_nll"]
    return {**result, "evaluated_test_nll": nll, "difference": difference,
            "status": REPRODUCED if abs(difference) <= tolerance else DIFFERS}


def _earlier_checks(path):
    """The checks of an earlier ``OUT.json`` that evaluated a directory, by run directory ({} if none)."""
    try:
        written = json.loads(path.read_text())
        earlier, made = written["checks"], f"{written['commit']}, {written['date']}"
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # first evaluation, or an unreadable one: nothing to carry over
    # A check without its own date was made by the run that wrote the file.
    return {c["run_dir"]: {"checked": made, **c} for c in earlier if c.get("status") in (REPRODUCED, DIFFERS)}


def render(checks, header):
    lines = [
        "# Table 1 runs re-evaluated from their run directories", "",
        f"Written by `{header['command']}` at {header['commit']} in {header['wall_time_s']:.0f} s "
        f"({header['date']}). Each run's `model.keras` loaded with `safe_mode=True` and evaluated "
        "on the test split (whole sequences), as `python -m keras_rnnreg evaluate --run_dir DIR` does; "
        f"tolerance {header['tolerance']:g} nats per time step. Run directories are not committed: "
        "a run whose directory is not on this machine keeps the check made on an earlier machine "
        "(column checked: commit and date of the check), or is listed as not on this machine.", "",
        f"Reproduced: {header['counts'].get(REPRODUCED, 0)}, differs: {header['counts'].get(DIFFERS, 0)}, "
        f"not on this machine: {header['counts'].get(MISSING, 0)}.", "",
        "| row | dataset | seed | ledger test NLL | evaluate | difference | status | checked | run directory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        evaluated = "—" if c["evaluated_test_nll"] is None else f"{c['evaluated_test_nll']:.4f}"
        difference = "—" if c["difference"] is None else f"{c['difference']:+.1e}"
        lines.append(f"| {c['row']} | {c['dataset']} | {c['seed']} | {c['ledger_test_nll']:.4f} | {evaluated} | "
                     f"{difference} | {c['status']} | {c.get('checked') or '—'} | `{c['run_dir']}` |")
    return "\n".join(lines) + "\n"


def run(args, argv):
    from keras_rnnreg.app import rundir

    started = time.time()
    ledger = _in_repo(args.ledger)
    try:
        records = json.loads(ledger.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read the ledger {args.ledger} ({e})") from None
    trained = [r for r in records if r.get("kind") in ("run", "recipe") and _finite(r.get("test_nll"))]
    out = _in_repo(args.out)
    earlier = _earlier_checks(out.with_suffix(".json"))
    commit, date = code_version(), time.strftime("%Y-%m-%d", time.gmtime())
    now = f"{commit}, {date}"
    checks = []
    for i, record in enumerate(trained, 1):
        c = check(record, args.tolerance, args.data_dir)
        kept = earlier.get(c["run_dir"])
        if c["status"] != MISSING:
            c["checked"] = now
        elif kept and kept["ledger_test_nll"] == c["ledger_test_nll"]:
            c = {**c, **{k: kept[k] for k in ("evaluated_test_nll", "difference", "status", "checked")}}
        checks.append(c)
        shown = "" if c["difference"] is None else f" (evaluate {c['evaluated_test_nll']:.4f}, {c['difference']:+.1e})"
        print(f"[{i}/{len(trained)}] {c['row']} {c['dataset']} seed {c['seed']}: ledger "
              f"{c['ledger_test_nll']:.4f}{shown}: {c['status']}", flush=True)
    counts = dict(collections.Counter(c["status"] for c in checks))
    header = {"command": " ".join([PROG, *argv]), "commit": commit, "ledger": args.ledger,
              "tolerance": args.tolerance, "counts": counts, "wall_time_s": round(time.time() - started, 1),
              "date": date}
    out.parent.mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_text(out.with_suffix(".json"), json.dumps({**header, "checks": checks}, indent=1) + "\n")
    rundir.atomic_write_text(out.with_suffix(".md"), render(checks, header))
    return counts


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    return _flags.parse(PROG, __doc__.split("\n\n")[0], define_flags, argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    counts = run(args, argv)
    if counts.get(DIFFERS):
        raise SystemExit(1)
    return counts


if __name__ == "__main__":
    main()
