"""The on-disk state of a search: safe names, safe clearing, checks on resume.

A search folder (``--directory``) holds ``search_config.json``, the summary
files and one KerasTuner project folder (``--project_name``) with
``oracle.json``, ``<tuner_id>.json``, ``trial_*/trial.json`` (and each trial's
checkpoint) and ``run_logs/``.

* :func:`check_project_name` keeps ``--project_name`` a plain folder name, so
  ``--overwrite`` can never reach outside ``--directory``.
* :func:`clear_search` (``--overwrite``) deletes only a project folder that
  holds nothing but KerasTuner's and this package's files, and the summary
  and config files; anything else there is an error and nothing is removed.
* :func:`check_state` reads every state file before KerasTuner does: an
  unreadable one (emptied or truncated by a kill of an older version, or
  damaged by hand) is an error naming it, with the way out;
  :func:`repair_state` (``--repair``) is that way out: it rebuilds what can
  be rebuilt from the trials' own records, keeping every finished trial.

KerasTuner's own writes go through :func:`atomic_json` (see
:mod:`.tuner`), so from this version on a kill can no longer leave a
partial state file.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil

from keras_rnnreg.app import rundir

CONFIG_FILE = "search_config.json"
SUMMARY_FILES = ("summary.json", "summary.md")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
#: Longest piece of a file an error message quotes.
QUOTE_LIMIT = 80


class SearchStateError(ValueError):
    """A search folder that cannot be used as it is (the message says why and what to do)."""


def check_project_name(name):
    """``name`` if it is a plain folder name (no separator, not ``.``/``..``, not absolute)."""
    text = str(name)
    if not _NAME.match(text) or text in (".", "..") or set(text) <= {"."} or len(text) > 200:
        raise SearchStateError(
            f"--project_name {text[:QUOTE_LIMIT]!r} is not a plain folder name (letters, digits, '_', '-', "
            "'.', '+'; no path separators, not '.' or '..'): it names a folder inside --directory"
        )
    return text


def check_directory(directory):
    """``SearchStateError`` when ``directory`` exists and is not a folder."""
    if os.path.lexists(str(directory)) and not os.path.isdir(str(directory)):
        raise SearchStateError(f"--directory {str(directory)!r} exists and is not a directory")


def _is_search_entry(name):
    """Names KerasTuner and this package write into a project folder."""
    return (
        name == "oracle.json"
        or name == "run_logs"
        or name.startswith("trial_")
        or name.startswith(rundir.TMP_PREFIX)
        or name.endswith(".lock")
        or (name.endswith(".json") and (name.startswith("tuner") or name == "chief.json"))
    )


def clear_search(directory, project_name, extra_files=()):
    """Delete the search ``directory/project_name`` for ``--overwrite``, safely.

    The project folder is removed only when every entry in it is one a search
    writes (:func:`_is_search_entry`); otherwise :class:`SearchStateError`
    names the foreign entries and nothing is deleted. Then the summary files
    (and ``extra_files``) in ``directory`` are removed.
    """
    project_name = check_project_name(project_name)
    check_directory(directory)
    project_dir = os.path.join(str(directory), project_name)
    from keras_rnnreg.app import locking

    for lock in sorted(glob.glob(os.path.join(glob.escape(str(directory)), f".{glob.escape(project_name)}.*.lock"))):
        holder = locking.read_holder(lock)
        if holder and holder.get("pid") != os.getpid() and not locking.is_stale(holder):
            raise SearchStateError(
                f"--overwrite: the search {project_dir!r} is in use ({locking.describe(holder)}); nothing was deleted"
            )
    if os.path.lexists(project_dir):
        if os.path.islink(project_dir) or not os.path.isdir(project_dir):
            raise SearchStateError(
                f"--overwrite: {project_dir!r} is not a KerasTuner project folder (a file or a link); "
                "nothing was deleted"
            )
        foreign = sorted(n for n in os.listdir(project_dir) if not _is_search_entry(n))
        if foreign:
            shown = ", ".join(repr(n) for n in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise SearchStateError(
                f"--overwrite: {project_dir!r} holds files that are not a search's ({shown}); "
                "nothing was deleted; use another --project_name or --directory"
            )
        shutil.rmtree(project_dir)
    for name in (*SUMMARY_FILES, *extra_files):
        path = os.path.join(str(directory), name)
        if os.path.isfile(path):
            os.remove(path)


def atomic_json(path, obj):
    """Write ``obj`` as compact JSON at ``path`` atomically (what KerasTuner's ``save_json`` writes)."""
    rundir.atomic_write_text(path, json.dumps(obj))


def _quote(text):
    text = str(text).splitlines()[0] if str(text) else ""
    return text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + "..."


def _read(path):
    """``(object, None)`` or ``(None, reason)`` for a JSON file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, e.strerror or type(e).__name__
    if not data.strip():
        return None, f"empty ({len(data)} bytes)"
    try:
        return json.loads(data.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, f"not valid JSON ({_quote(e)})"


def _trial_ok(state):
    return isinstance(state, dict) and {"trial_id", "hyperparameters", "status"} <= set(state)


def _oracle_ok(state):
    return isinstance(state, dict) and {"ongoing_trials", "hyperparameters", "start_order", "end_order"} <= set(state)


def unreadable_files(directory, project_name):
    """``[(path, reason)]`` for every state file of the search that cannot be read back."""
    bad = []
    config = os.path.join(str(directory), CONFIG_FILE)
    if os.path.exists(config):
        obj, why = _read(config)
        if why is None and not isinstance(obj, dict):
            why = "not a JSON object"
        if why:
            bad.append((config, why))
    project_dir = os.path.join(str(directory), project_name)
    if not os.path.isdir(project_dir):
        return bad
    oracle = os.path.join(project_dir, "oracle.json")
    if os.path.exists(oracle):
        obj, why = _read(oracle)
        if why is None and not _oracle_ok(obj):
            why = "not an oracle state"
        if why:
            bad.append((oracle, why))
    for path in sorted(glob.glob(os.path.join(project_dir, "*.json"))):
        if os.path.basename(path) == "oracle.json":
            continue
        obj, why = _read(path)
        if why is None and not isinstance(obj, dict):
            why = "not a JSON object"
        if why:
            bad.append((path, why))
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        obj, why = _read(path)
        if why is None and not _trial_ok(obj):
            why = "not a trial record"
        if why:
            bad.append((path, why))
    return bad


def check_state(directory, project_name):
    """Raise :class:`SearchStateError` naming the first unreadable state file, and the way out."""
    bad = unreadable_files(directory, project_name)
    if bad:
        path, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise SearchStateError(
            f"search state file {path!r} is unreadable: {why}{more}; rerun the same command with --repair "
            "to rebuild it from the trials' own records (finished trials are kept), or --overwrite to start over"
        )


def _trial_states(project_dir):
    states = {}
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        obj, why = _read(path)
        if why is None and _trial_ok(obj):
            states[str(obj["trial_id"])] = obj
    return states


def _values_hash(values):
    # KerasTuner's Oracle._compute_values_hash (the same string, so that resumed
    # searches do not propose a configuration a second time).
    import hashlib

    keys = sorted(values)
    text = "".join(f"{k}={values[k]}" for k in keys)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _rebuilt_oracle(trials, template, hyperparameters_config):
    """An oracle state made from the trial records: finished trials kept, the others retried.

    ``template`` is the ``get_state()`` of a fresh oracle of the search's kind
    (its seed and algorithm settings); the trial bookkeeping comes from ``trials``.
    """
    seed = int(template.get("seed") or 0)
    ids = sorted(trials, key=lambda t: (len(t), t))
    finished = [t for t in ids if trials[t]["status"] not in ("RUNNING", "IDLE")]
    unfinished = [t for t in ids if t not in finished]
    draws = sum(len(trials[t]["hyperparameters"].get("values", {})) for t in ids)
    id_to_hash = {t: _values_hash(trials[t]["hyperparameters"].get("values", {})) for t in ids}
    return {
        **template,
        "ongoing_trials": {},
        "hyperparameters": hyperparameters_config,
        "start_order": ids,
        "end_order": finished,
        "run_times": {t: 1 for t in finished},
        "retry_queue": unfinished,
        "seed": seed,
        "seed_state": seed + draws,
        "tried_so_far": sorted(set(id_to_hash.values())),
        "id_to_hash": id_to_hash,
        "display": {"search_start": None, "trial_start": {}, "trial_number": {t: i + 1 for i, t in enumerate(ids)}},
    }


def _placeholder(trial_id):
    """A FAILED trial record standing in for an unreadable ``trial.json``.

    KerasTuner numbers new trials by how many it knows, so a trial cannot
    simply be forgotten (its number would be given out again).
    """
    return {
        "trial_id": trial_id, "hyperparameters": {"space": [], "values": {}}, "metrics": {"metrics": {}},
        "score": None, "best_step": 0, "status": "FAILED",
        "message": "trial.json was unreadable and its record was lost (replaced by tune --repair)",
    }


def repair_state(directory, project_name, current_config, oracle_template, tuner_kind):
    """Rebuild the unreadable state files of a search (``--repair``); returns ``[(path, what was done)]``.

    * ``search_config.json``: rewritten from the current settings.
    * ``<tuner_id>.json``: KerasTuner's tuner state is empty (``{}``); rewritten.
    * ``trial_*/trial.json``: that trial's record is lost; it is replaced by
      a FAILED record saying so, and the trial is not run again.
    * ``oracle.json``: rebuilt from the trial records (random and Bayesian
      search): finished trials are kept, unfinished ones run again. A
      Hyperband oracle cannot be rebuilt (its brackets are in no other file).

    Raises:
        SearchStateError: a Hyperband ``oracle.json`` is unreadable.
    """
    done = []
    project_dir = os.path.join(str(directory), project_name)
    bad = [path for path, _ in unreadable_files(directory, project_name)]
    oracle_path = os.path.join(project_dir, "oracle.json")
    if oracle_path in bad and tuner_kind == "hyperband":
        raise SearchStateError(
            f"{oracle_path!r} is unreadable and a Hyperband oracle cannot be rebuilt from the trial records "
            f"(in {project_dir}/trial_*/trial.json, kept); start over with --overwrite or another --project_name"
        )
    lost = []
    for path in bad:
        if path == os.path.join(str(directory), CONFIG_FILE):
            rundir.atomic_write_json(path, current_config)
            done.append((path, "rewritten from the current settings"))
        elif os.path.basename(path) == "trial.json":
            trial_id = os.path.basename(os.path.dirname(path))[len("trial_"):]
            atomic_json(path, _placeholder(trial_id))
            lost.append(trial_id)
            done.append((path, "record lost; replaced by a FAILED record"))
        elif path != oracle_path:
            atomic_json(path, {})
            done.append((path, "rewritten (a tuner's state is empty)"))
    if oracle_path in bad:
        trials = _trial_states(project_dir)
        space = next((r["hyperparameters"] for r in trials.values() if r["hyperparameters"].get("space")), None)
        space = {"space": (space or {}).get("space", []), "values": {}}
        atomic_json(oracle_path, _rebuilt_oracle(trials, oracle_template, space))
        done.append((oracle_path, f"rebuilt from {len(trials)} trial records"))
    elif lost and os.path.exists(oracle_path):
        state, _ = _read(oracle_path)
        state["retry_queue"] = [t for t in state.get("retry_queue", []) if t not in lost]
        state["ongoing_trials"] = {k: v for k, v in state.get("ongoing_trials", {}).items() if v not in lost}
        for trial_id in lost:
            for key in ("start_order", "end_order"):
                if trial_id not in state.setdefault(key, []):
                    state[key].append(trial_id)
        atomic_json(oracle_path, state)
        done.append((oracle_path, "updated: the lost trials are not run again"))
    return done
