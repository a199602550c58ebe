"""Trial records and the ``summary.json`` / ``summary.md`` of a search."""

from __future__ import annotations

import glob
import json
import math
import os

from keras_rnnreg.app import rundir

TRIAL_KEYS = ("trial_id", "status", "val_nll", "best_epoch", "hyperparameters", "message")


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def _last_line(message):
    if not message:
        return None
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def trial_record(trial):
    """One trial as a plain dict: id, status, val_nll (best epoch), best_epoch,
    hyperparameter values and the last line of its error message."""
    return {
        "trial_id": trial.trial_id,
        "status": str(trial.status),
        "val_nll": _clean(trial.score) if trial.score is not None else None,
        # Numbered from 1, as train numbers epochs (KerasTuner's best_step counts from 0).
        "best_epoch": int(trial.best_step) + 1 if trial.score is not None else None,
        "hyperparameters": {k: _clean(v) for k, v in trial.hyperparameters.values.items()},
        "message": _last_line(trial.message),
    }


def _sort_key(record):
    trial_id = record["trial_id"]
    return (0, int(trial_id), "") if str(trial_id).isdigit() else (1, 0, str(trial_id))


def oracle_records(oracle):
    """Records of every trial an oracle knows, sorted by trial id."""
    return sorted((trial_record(t) for t in oracle.trials.values()), key=_sort_key)


def directory_records(project_dir):
    """Records read back from ``project_dir/trial_*/trial.json`` (works anywhere,
    e.g. after a distributed search, where workers hold no trials)."""
    from keras_tuner.engine import trial as trial_module

    records = [
        trial_record(trial_module.Trial.load(path))
        for path in glob.glob(os.path.join(str(project_dir), "trial_*", "trial.json"))
    ]
    return sorted(records, key=_sort_key)


def _run_log_lines(project_dir, suffix):
    """The lines of the tuners' ``run_logs/*<suffix>`` files, split into words (empty lines left out)."""
    for path in sorted(glob.glob(os.path.join(str(project_dir), "run_logs", f"*{suffix}"))):
        with open(path) as f:
            for line in f:
                if line.split():
                    yield line.split()


def run_counts(project_dir):
    """``{trial_id: number of times a tuner started it}`` from the run logs."""
    counts = {}
    for words in _run_log_lines(project_dir, ".log"):
        counts[words[0]] = counts.get(words[0], 0) + 1
    return counts


def trial_seconds(project_dir):
    """``{trial_id: seconds}``: how long the run that finished each trial took, from the
    ``run_logs/*.seconds`` files the tuners append to (a trial run again counts its last run;
    a trial still running, or stopped by a kill, has no entry)."""
    seconds = {}
    for words in _run_log_lines(project_dir, ".seconds"):
        try:
            seconds[words[0]] = float(words[1])
        except (IndexError, ValueError):  # a line cut short by a kill
            continue
    return seconds


def status_counts(records):
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def best_record(records):
    """The completed trial with the lowest validation NLL (``None`` if none)."""
    done = [r for r in records if r["status"] == "COMPLETED" and r["val_nll"] is not None]
    return min(done, key=lambda r: r["val_nll"]) if done else None


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def render_markdown(summary):
    """``summary.md``: header, best configuration and one row per trial."""
    records = summary["trials"]
    names = []
    for r in records:
        for name in r["hyperparameters"]:
            if name not in names:
                names.append(name)
    lines = [
        f"# Search: {summary.get('model')} on {summary.get('dataset')}",
        "",
        f"Tuner: {summary.get('tuner')}; objective: validation NLL (nats per time step, min); "
        f"trials: {len(records)} of {summary.get('max_trials')}; "
        f"status: {', '.join(f'{k} {v}' for k, v in sorted(status_counts(records).items()))}.",
        "",
    ]
    best = summary.get("best")
    if best:
        test = best.get("test_nll")
        lines += [
            f"Best trial: **{best['trial_id']}**, validation NLL {_cell(best['val_nll'])}, "
            f"test NLL {_cell(test) if test is not None else 'n/a'} ({best.get('final')}).",
            "",
        ]
        if best.get("test_error"):
            lines += [f"Test evaluation failed: {best['test_error']}", ""]
    seconds = summary.get("trial_seconds") or {}
    header = ["trial", "status", "val_nll", "best epoch", *names, "seconds", "message"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in records:
        row = [r["trial_id"], r["status"], r["val_nll"], r["best_epoch"],
               *(r["hyperparameters"].get(n) for n in names), seconds.get(r["trial_id"]), r["message"]]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_summary(summary, directory):
    """Write ``directory/summary.json`` and ``directory/summary.md`` (atomically)."""
    os.makedirs(str(directory), exist_ok=True)
    paths = {}
    for name, text in (("summary.json", json.dumps(summary, indent=2, sort_keys=False) + "\n"),
                       ("summary.md", render_markdown(summary))):
        path = os.path.join(str(directory), name)
        rundir.atomic_write_text(path, text)
        paths[name] = path
    return paths
