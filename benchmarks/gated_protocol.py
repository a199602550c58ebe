"""Gated results: every zoo regularizer on an LSTM and a GRU, searched, retrained, beside the published gated baselines.

Four stages, each resumable and runnable alone (``--stage``), in this order:

1. ``defaults``: every zoo model (``--models``) x cell (``--cells``) on JSB
   Chorales at its zoo defaults and the training defaults of ``train``
   (:data:`keras_rnnreg.defaults.TRAINING`: Adam, learning rate 1e-3, batch 8,
   clipping 5, early stopping with patience 20, at most 200 epochs), for every
   seed of ``--seeds``. Record kind ``"defaults"``.
2. ``search``: per cell, a random search of ``--trials`` configurations over
   ``tuning/SEARCH_SPACE.md`` (the cell pinned) for the plain ``rnn`` and the
   ``--n_best`` regularizers with the lowest mean **validation** NLL of stage 1
   (never chosen on test NLL). Record kind ``"search"``, with the ranking it
   chose from. ``--models`` names the searched models by hand instead.
3. ``best``: each searched best configuration retrained from scratch on JSB
   Chorales with every seed of ``--seeds``. Record kind ``"run"``.
4. ``other_datasets``: the same configurations on Nottingham, Piano-midi.de and
   MuseData, seeds ``--seeds_other``. Record kind ``"run"``.

``--stage all`` runs the four in turn. Before a stage starts, its planned runs
are printed (with those already in the ledger and, once some have finished,
an estimate of the time), so that a sitting can be sized with ``--models``,
``--cells`` and ``--seeds``.

The ledger is ``OUT.json`` (:class:`benchmarks.table1_protocol.Ledger`: one
record per run and per search, with its cell, NLLs, seed, trials,
hyperparameters, commit, command, wall time and run directory relative to the
repository; updated under a file lock, so sittings can run side by side on
other models or cells). A recorded run or search is never redone; an
unfinished run resumes from its directory under ``--runs_root``, an unfinished
search from its directory under ``--search_root``. That folder is tracked in
git (``.gitignore`` leaves out only the trials' weights and the lock files):
each trial's hyperparameters, score and status, committed as trials land,
let a search split over sittings resume on a fresh checkout, and are the
search's per-trial record. ``OUT.md`` is
rewritten as records land: the tables, the published gated baselines on the
same data and metric, and the goal (a regularized gated model below 8.20 on
JSB Chorales).

Usage (one sitting per stage and cell; hours on 2 CPU cores)::

    python -m benchmarks.gated_protocol --stage defaults --cells lstm --seeds 0,1,2
    python -m benchmarks.gated_protocol --stage search --cells lstm --trials 20
    python -m benchmarks.gated_protocol --stage best --cells lstm
    python -m benchmarks.gated_protocol --stage other_datasets --cells lstm
"""

import pathlib
import statistics
import sys
import time

from absl import flags

from benchmarks import _flags
from benchmarks.provenance import REPO_ROOT, code_version
from benchmarks.table1_protocol import TITLES, Ledger, _finite, _ranges_text, _relative
from keras_rnnreg import defaults as defaults_lib
from keras_rnnreg import zoo_specs
from keras_rnnreg.app import rundir

STAGES = ("defaults", "search", "best", "other_datasets")
GATED_CELLS = ("lstm", "gru")
JSB = "jsb_chorales"
OTHER_DATASETS = ("nottingham", "piano_midi", "musedata")
DATASETS = (JSB, *OTHER_DATASETS)
#: The plain model, always searched beside the best regularizers.
PLAIN = "rnn"
#: The goal of issue 30: the best regularized gated model on JSB Chorales below the RRU paper's tuned GRU.
GOAL = 8.20

#: Published gated baselines: test NLL in nats per time step, on the same splits (Boulanger-Lewandowski et al. 2012).
PUBLISHED = (
    {"source": "Chung et al. 2014", "cite": "Empirical evaluation of gated recurrent neural networks on sequence "
     "modeling, arXiv:1412.3555", "note": "trained with weight noise", "cell": "gru", "dataset": JSB, "nll": 8.54},
    {"source": "Chung et al. 2014", "cite": "arXiv:1412.3555", "note": "trained with weight noise", "cell": "lstm",
     "dataset": JSB, "nll": 8.67},
    {"source": "Bai et al. 2018", "cite": "An empirical evaluation of generic convolutional and recurrent networks "
     "for sequence modeling, arXiv:1803.01271", "note": "", "cell": "lstm", "dataset": JSB, "nll": 8.45},
    {"source": "Bai et al. 2018", "cite": "arXiv:1803.01271", "note": "", "cell": "gru", "dataset": JSB, "nll": 8.43},
    {"source": "Bai et al. 2018", "cite": "arXiv:1803.01271", "note": "", "cell": "lstm", "dataset": "nottingham",
     "nll": 3.29},
    {"source": "Bai et al. 2018", "cite": "arXiv:1803.01271", "note": "", "cell": "gru", "dataset": "nottingham",
     "nll": 3.46},
    {"source": "RRU paper (Zakovskis et al. 2021)", "cite": "Gates are not what you need in RNNs, arXiv:2108.00527",
     "note": "tuned baseline", "cell": "gru", "dataset": JSB, "nll": 8.20},
    {"source": "RRU paper (Zakovskis et al. 2021)", "cite": "arXiv:2108.00527", "note": "tuned baseline",
     "cell": "lstm", "dataset": JSB, "nll": 8.33},
)


def _say(text):
    print(text, flush=True)


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _split(model, hyperparameters):
    """``(model_kwargs, optimizer_kwargs)`` of a configuration (tuner bookkeeping keys dropped)."""
    from keras_rnnreg.tuning.search_space import split_config

    return split_config(model, {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")})


def _train(model, cell, dataset, seed, run_dir, hyperparameters, batch_size, args):
    """:func:`keras_rnnreg.app.training.train` on ``run_dir``: the metrics and the wall time of this call."""
    from keras_rnnreg.app import training

    model_kwargs, optimizer_kwargs = _split(model, {**hyperparameters, "cell": cell})
    started = time.time()
    metrics = training.train(
        model, dataset, str(run_dir), hyperparameters=model_kwargs, epochs=args.max_epochs, batch_size=batch_size,
        patience=args.patience, seed=seed, data_dir=args.data_dir, verbose=0, tensorboard=False,
        export_saved_model=False, max_train_sequences=args.max_sequences, max_valid_sequences=args.max_sequences,
        max_test_sequences=args.max_sequences, **optimizer_kwargs,
    )
    return metrics, round(time.time() - started, 1)


def _run_record(kind, model, cell, dataset, seed, run_dir, metrics, wall, hyperparameters, batch_size, args,
                command, commit, configuration_from):
    return {
        "kind": kind, "model": model, "cell": cell, "dataset": dataset, "seed": seed,
        "test_nll": metrics.get("test_nll"), "valid_nll": metrics.get("valid_nll"),
        "train_nll": metrics.get("train_nll"), "status": metrics.get("status"),
        "epochs": metrics.get("epochs_completed"), "best_epoch": metrics.get("best_epoch"),
        "hyperparameters": hyperparameters, "training": metrics.get("training"), "batch_size": batch_size,
        "patience": args.patience, "max_epochs": args.max_epochs, "configuration_from": configuration_from,
        "run_dir": _relative(run_dir), "commit": commit, "command": command,
        "wall_time_s": metrics.get("wall_time_s", wall),
    }


def _announce(stage, planned, done, ledger, kind):
    """Print the planned runs of a stage, how many are recorded, and a time estimate from recorded ones."""
    todo = planned - done
    walls = [r["wall_time_s"] for r in ledger.read() if r["kind"] == kind and _finite(r.get("wall_time_s"))]
    estimate = ""
    if todo and walls:
        seconds = todo * statistics.fmean(walls)
        span = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
        estimate = f"; about {span} at the mean recorded {kind} time ({statistics.fmean(walls):.0f} s)"
    _say(f"[plan] stage {stage}: {_plural(planned, kind + ' job')}, {done} already recorded, {todo} to do{estimate}")


# Stage 1 ------------------------------------------------------------------------------------------------


def defaults_stage(args, ledger, command, commit):
    """Every model of ``--models`` x cell of ``--cells`` at its defaults on JSB, for every seed."""
    models = args.models or list(zoo_specs.names())
    jobs = [(m, c, s) for c in args.cells for m in models for s in args.seeds]
    done = [j for j in jobs if ledger.find(kind="defaults", model=j[0], cell=j[1], dataset=JSB, seed=j[2])]
    _announce("defaults", len(jobs), len(done), ledger, "defaults")
    for model, cell, seed in jobs:
        if (model, cell, seed) in done:
            continue
        run_dir = pathlib.Path(args.runs_root) / "defaults" / f"{model}-{cell}-{JSB}-seed{seed}"
        _say(f"[defaults] {model} ({cell}) on {JSB}, seed {seed}, in {_relative(run_dir)}")
        metrics, wall = _train(model, cell, JSB, seed, run_dir, dict(args.fixed), args.batch_size, args)
        hp = {k: v for k, v in metrics.get("hyperparameters", {}).items()} or {**args.fixed, "cell": cell}
        record = _run_record("defaults", model, cell, JSB, seed, run_dir, metrics, wall, hp, args.batch_size,
                             args, command, commit, "zoo defaults and the training defaults of `train`"
                             + (f", with {_fixed_text(args.fixed)}" if args.fixed else ""))
        ledger.add(record, lambda records: render(records, args))
        _say(f"[defaults] {model} ({cell}) on {JSB}, seed {seed}: test NLL {record['test_nll']}, valid NLL "
             f"{record['valid_nll']} ({record['status']}, {record['epochs']} epochs, {record['wall_time_s']:.0f} s)")


def _fixed_text(fixed):
    return ", ".join(f"{k}={v}" for k, v in sorted(fixed.items()))


# Stage 2 ------------------------------------------------------------------------------------------------


def ranking(records, cell):
    """The regularizers of ``cell`` by mean validation NLL of stage 1: ``[(model, mean, n_seeds), ...]``.

    Validation, not test: the test split must not choose what is reported on it.
    Models without a finished stage-1 run are left out (see :func:`missing_defaults`).
    """
    by_model = {}
    for r in records:
        if r["kind"] == "defaults" and r.get("cell") == cell and r["model"] != PLAIN and _finite(r.get("valid_nll")):
            by_model.setdefault(r["model"], []).append(r["valid_nll"])
    return sorted(((m, statistics.fmean(v), len(v)) for m, v in by_model.items()), key=lambda t: (t[1], t[0]))


def missing_defaults(records, cell):
    """Zoo regularizers with no finished stage-1 run on ``cell`` (the selection could not consider them)."""
    ranked = {m for m, _, _ in ranking(records, cell)}
    return [m for m in zoo_specs.names() if m != PLAIN and m not in ranked]


def selected(records, cell, n_best):
    """The models stage 2 searches on ``cell``: the plain model and the ``n_best`` best regularizers."""
    return [PLAIN] + [m for m, _, _ in ranking(records, cell)[:n_best]]


def search_models(args, ledger, cell):
    """``(models, selection)``: what stage 2 searches on ``cell`` and how it was chosen."""
    records = ledger.read()
    rank = ranking(records, cell)
    missing = missing_defaults(records, cell)
    if args.models:
        how = "named by hand (--models)"
        models = list(args.models)
    else:
        how = f"rnn and the {_plural(args.n_best, 'regularizer')} of lowest mean validation NLL in stage 1"
        models = selected(records, cell, args.n_best)
        if len(models) < 1 + args.n_best:
            raise SystemExit(f"error: stage 1 has finished runs of {_plural(len(rank), 'regularizer')} on {cell}, "
                             f"{args.n_best} needed to choose the searches; run --stage defaults first or name "
                             f"--models")
        if missing:
            _say(f"[search] warning: no finished stage-1 run of {', '.join(missing)} on {cell}; "
                 "chosen among the others")
    selection = {"by": how, "ranking": [[m, round(v, 4), n] for m, v, n in rank], "missing": missing}
    return models, selection


def search_stage(args, ledger, command, commit):
    plan = {cell: search_models(args, ledger, cell) for cell in args.cells}
    jobs = [(m, c) for c, (models, _) in plan.items() for m in models]
    done = [j for j in jobs if _search_record(ledger, j[0], j[1], args)]
    _announce("search", len(jobs), len(done), ledger, "search")
    _say(f"[plan] each search: {_plural(args.trials, 'trial')} of at most {args.search_epochs} epochs")
    for cell, (models, selection) in plan.items():
        if selection["ranking"]:
            ranked = ", ".join(f"{m} {v:.4f} ({_plural(n, 'seed')})" for m, v, n in selection["ranking"])
            _say(f"[search] {cell}: stage-1 mean valid NLL: {ranked}")
        _say(f"[search] {cell}: searching {', '.join(models)} ({selection['by']})")
        for model in models:
            search(model, cell, selection, args, ledger, command, commit)


def _search_time_text(record):
    """The summed time of a search's trials over all its sittings (from the tuners' ``.seconds``
    logs in its folder); the record's own wall time covers only the sitting that finished it."""
    from keras_rnnreg.tuning import summary as summary_lib

    seconds = {}
    if record.get("search_dir"):
        for run_logs in (REPO_ROOT / record["search_dir"]).glob("*/run_logs"):
            seconds.update(summary_lib.trial_seconds(run_logs.parent))
    if not seconds:
        return f"{record['wall_time_s']:.0f} (last sitting only)"
    text = f"{sum(seconds.values()):.0f}"
    return text if len(seconds) >= record["trials"] else f"{text} ({len(seconds)} of {record['trials']} trials timed)"


def _search_record(ledger, model, cell, args):
    done = ledger.find(kind="search", model=model, cell=cell, dataset=JSB)
    return done[0] if done and done[0]["trials"] >= args.trials else None


def search(model, cell, selection, args, ledger, command, commit):
    """The finished search record of ``model`` on ``cell`` (running or resuming the search if needed)."""
    found = _search_record(ledger, model, cell, args)
    if found:
        return found
    from keras_rnnreg.tuning.search import SearchSettings, run_search
    from keras_rnnreg.tuning.search_space import parse_ranges

    ranges = parse_ranges(model, args.range)
    directory = pathlib.Path(args.search_root) / f"{model}-{cell}"
    _say(f"[search] {model} ({cell}) on {JSB}: {args.trials} trials, in {_relative(directory)}")
    started = time.time()
    summary = run_search(SearchSettings(
        model=model, directory=str(directory), dataset=JSB, data_dir=args.data_dir, trials=args.trials,
        epochs=args.search_epochs, patience=args.search_patience, seed=args.search_seed,
        batch_size=args.batch_size, final="none", verbose=1,  # a line per trial
        fixed={**args.fixed, "cell": cell}, ranges=ranges,
        max_train_sequences=args.max_sequences, max_valid_sequences=args.max_sequences,
        max_test_sequences=args.max_sequences,
    ))
    best = summary["best"]
    if best is None:
        raise SystemExit(f"error: the search of {model} ({cell}) finished no trial ({summary.get('error')}); "
                         f"see {_relative(directory)}")
    counts = summary["status_counts"]
    record = {
        "kind": "search", "model": model, "cell": cell, "dataset": JSB, "seed": args.search_seed,
        "trials": sum(counts.values()), "status_counts": counts,
        "best_trial": best["trial_id"], "valid_nll": best["val_nll"], "best_epoch": best["best_epoch"],
        "hyperparameters": best["hyperparameters"], "batch_size": args.batch_size,
        "fixed": dict(args.fixed), "ranges": {k: list(v) for k, v in ranges.items()},
        "epochs_cap": args.search_epochs, "patience": args.search_patience, "selection": selection,
        "search_dir": _relative(directory), "commit": commit, "command": command,
        # Wall time of this call; a resumed search adds its earlier sittings' trials, not their time.
        "wall_time_s": round(time.time() - started, 1),
    }
    ledger.add(record, lambda records: render(records, args))
    _say(f"[search] {model} ({cell}): best trial {best['trial_id']} valid NLL {best['val_nll']:.4f}")
    return record


# Stages 3 and 4 -----------------------------------------------------------------------------------------


def _searched(args, ledger):
    """The search records to retrain: every finished one of ``--cells`` (of ``--models`` when given)."""
    found = [r for r in ledger.read() if r["kind"] == "search" and r.get("cell") in args.cells
             and r["dataset"] == JSB and (not args.models or r["model"] in args.models)]
    if not found:
        raise SystemExit(f"error: no finished search of {', '.join(args.models or ['any model'])} on "
                         f"{', '.join(args.cells)} in {_relative(ledger.path)}; run --stage search first")
    return sorted(found, key=lambda r: (GATED_CELLS.index(r["cell"]) if r["cell"] in GATED_CELLS else 9, r["model"]))


def retrain_stage(stage, datasets, seeds, args, ledger, command, commit):
    searches = _searched(args, ledger)
    jobs = [(r, d, s) for d in datasets for s in seeds for r in searches]
    done = [j for j in jobs if _run_done(ledger, j[0], j[1], j[2])]
    _announce(stage, len(jobs), len(done), ledger, "run")
    for found, dataset, seed in jobs:
        if not _run_done(ledger, found, dataset, seed):
            retrain(found, dataset, seed, args, ledger, command, commit)


def _run_done(ledger, found, dataset, seed):
    return bool(ledger.find(kind="run", model=found["model"], cell=found["cell"], dataset=dataset, seed=seed))


def retrain(found, dataset, seed, args, ledger, command, commit):
    """Train the best configuration of search record ``found`` on ``dataset`` with ``seed``."""
    model, cell = found["model"], found["cell"]
    run_dir = pathlib.Path(args.runs_root) / "runs" / f"{model}-{cell}-{dataset}-seed{seed}"
    _say(f"[train] {model} ({cell}) on {dataset}, seed {seed}, in {_relative(run_dir)}")
    metrics, wall = _train(model, cell, dataset, seed, run_dir, found["hyperparameters"], found["batch_size"], args)
    record = _run_record(
        "run", model, cell, dataset, seed, run_dir, metrics, wall, found["hyperparameters"], found["batch_size"],
        args, command, commit, f"search of {model} ({cell}) on {found['dataset']} ({found['trials']} trials, "
                               f"best trial {found['best_trial']})")
    record["trials"] = found["trials"]
    ledger.add(record, lambda records: render(records, args))
    _say(f"[train] {model} ({cell}) on {dataset}, seed {seed}: test NLL {record['test_nll']}, valid NLL "
         f"{record['valid_nll']} ({record['status']}, {record['epochs']} epochs, {record['wall_time_s']:.0f} s)")


# Report -------------------------------------------------------------------------------------------------


def summarize(records, kind):
    """``{(model, cell, dataset): cell}`` of the finished runs of ``kind``: test/valid means and stds, seeds."""
    out = {}
    for r in records:
        if r["kind"] != kind:
            continue
        cell = out.setdefault((r["model"], r.get("cell"), r["dataset"]),
                              {"test": [], "valid": [], "seeds": [], "wall": 0.0, "commits": set(), "runs": 0})
        cell["runs"] += 1
        cell["wall"] += r.get("wall_time_s") or 0.0
        cell["commits"].add(r.get("commit") or "unknown")
        if _finite(r.get("test_nll")) and _finite(r.get("valid_nll")):
            cell["test"].append(r["test_nll"])
            cell["valid"].append(r["valid_nll"])
            cell["seeds"].append(r["seed"])
    for cell in out.values():
        for split in ("test", "valid"):
            values = cell[split]
            cell[f"{split}_mean"] = statistics.fmean(values) if values else None
            cell[f"{split}_std"] = statistics.stdev(values) if len(values) > 1 else None
    return out


def _mean_text(cell, split):
    mean, std = cell[f"{split}_mean"], cell[f"{split}_std"]
    if mean is None:
        return "—"
    return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def _seeds_text(cell):
    failed = cell["runs"] - len(cell["seeds"])
    return ",".join(map(str, sorted(cell["seeds"]))) + (f" (+{failed} not finite)" if failed else "")


def best_regularized(records):
    """The lowest mean JSB test NLL of a regularizer: ``(mean, model, cell, stage)`` or ``None``.

    Over stage 1 (zoo defaults) and stage 3 (searched, retrained) alike.
    """
    candidates = [(c["test_mean"], m, cl, stage) for kind, stage in (("defaults", "defaults"), ("run", "searched"))
                  for (m, cl, d), c in summarize(records, kind).items()
                  if d == JSB and m != PLAIN and c["test_mean"] is not None]
    return min(candidates) if candidates else None


def render(records, args):
    defaults = summarize(records, "defaults")
    runs = summarize(records, "run")
    searches = [r for r in records if r["kind"] == "search"]
    commits = sorted({r["commit"] for r in records})
    wall = sum(r.get("wall_time_s") or 0.0 for r in records)
    lines = [
        "# Regularized gated RNNs (test NLL, nats per time step)",
        "",
        f"Written by `python -m benchmarks.gated_protocol` as its runs finish (records: `{_relative(args.out)}.json`; "
        "commands, commits and wall times of every run below). Mean ± standard deviation over the seeds that "
        "finished. Every model of the zoo with an LSTM or GRU cell (`cell`).",
        "",
        f"**Goal**: the best regularized gated model on JSB Chorales below {GOAL:.2f} (the tuned GRU of the RRU "
        "paper, arXiv:2108.00527). ",
    ]
    best = best_regularized(records)
    if best is None:
        lines[-1] += "Not measured yet."
    else:
        mean, model, cell, stage = best
        verdict = "met" if mean < GOAL else "not met yet"
        lines[-1] += f"Best so far: {model} ({cell}, {stage}) {mean:.2f} (mean over its seeds): {verdict}."
    lines += [
        "",
        "## Published gated baselines",
        "",
        "| source | cell | dataset | test NLL | note | reference |",
        "|---|---|---|---|---|---|",
    ]
    for p in PUBLISHED:
        lines.append(f"| {p['source']} | {p['cell']} | {TITLES[p['dataset']]} | {p['nll']:.2f} | {p['note']} | "
                     f"{p['cite']} |")
    lines += [
        "",
        "## Stage 1: zoo defaults on JSB Chorales",
        "",
        f"Zoo defaults and the training defaults of `train` ({_training_text()}; early stopping on the "
        "validation NLL, the best epoch kept; each run's settings in its record). The searches of stage 2 are "
        "chosen by the mean **validation** NLL of this table, never by test NLL.",
        "",
        "| model | cell | test NLL | valid NLL | seeds | wall time (s) | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    for (model, cell, _), c in sorted(defaults.items(), key=lambda kv: (_cell_order(kv[0][1]), kv[0][0])):
        lines.append(f"| {model} | {cell} | {_mean_text(c, 'test')} | {_mean_text(c, 'valid')} | {_seeds_text(c)} "
                     f"| {c['wall']:.0f} | {', '.join(sorted(c['commits']))} |")
    lines += [
        "",
        "## Stage 2: searches on JSB Chorales",
        "",
        "Random search over `tuning/SEARCH_SPACE.md` with the cell pinned, each trial early-stopped on the "
        "validation NLL; the best trial by validation NLL. Trial time: the summed wall time of the trials' "
        "finishing runs over all the sittings of the search (a trial cut short by the end of a sitting "
        "and run again counts once); commit: the code of the sitting that finished the search.",
        "",
        "| model | cell | trials (statuses) | best trial | valid NLL | search seed | fixed | ranges | chosen | "
        "trial time (s) | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(searches, key=lambda r: (_cell_order(r.get("cell")), r["model"])):
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(r["status_counts"].items()))
        lines.append(f"| {r['model']} | {r['cell']} | {r['trials']} ({statuses}) | {r['best_trial']} | "
                     f"{r['valid_nll']:.4f} | {r['seed']} | {_fixed_text(r.get('fixed') or {}) or '—'} | "
                     f"{_ranges_text(r)} | {_selection_text(r)} | {_search_time_text(r)} | {r['commit']} |")
    lines += [
        "",
        "## Stage 3 and 4: best configurations, retrained",
        "",
        "Each search's best configuration trained from scratch (early stopping on the validation NLL, the best "
        "epoch kept); the other datasets reuse the JSB Chorales configuration.",
        "",
        "| model | cell | dataset | test NLL | valid NLL | trials | seeds | wall time (s) | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    trials = {(r["model"], r["cell"]): r["trials"] for r in searches}
    for (model, cell, dataset), c in sorted(runs.items(), key=lambda kv: (DATASETS.index(kv[0][2]),
                                                                         _cell_order(kv[0][1]), kv[0][0])):
        lines.append(f"| {model} | {cell} | {TITLES[dataset]} | {_mean_text(c, 'test')} | {_mean_text(c, 'valid')} "
                     f"| {trials.get((model, cell), '—')} | {_seeds_text(c)} | {c['wall']:.0f} | "
                     f"{', '.join(sorted(c['commits']))} |")
    lines += [
        "",
        "## Runs",
        "",
        "| stage | model | cell | dataset | seed | test NLL | valid NLL | train NLL | epochs (best) | status | "
        "wall time (s) | run directory |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] not in ("defaults", "run"):
            continue
        stage = "defaults" if r["kind"] == "defaults" else "best" if r["dataset"] == JSB else "other datasets"
        nums = [f"{r[k]:.4f}" if _finite(r.get(k)) else "" for k in ("test_nll", "valid_nll", "train_nll")]
        lines.append(f"| {stage} | {r['model']} | {r['cell']} | {r['dataset']} | {r['seed']} | " + " | ".join(nums)
                     + f" | {r['epochs']} ({r['best_epoch']}) | {r['status']} | {r['wall_time_s']:.0f} | "
                     f"`{r['run_dir']}` |")
    commands = sorted({r["command"] for r in records})
    lines += ["", "## Commands", ""] + [f"- `{c}`" for c in commands] + [
        "",
        f"Code: {', '.join(commits) if commits else '—'}. Wall time of the recorded calls: {wall:.0f} s "
        f"({wall / 3600:.1f} h).",
    ]
    rundir.atomic_write_text(pathlib.Path(f"{args.out}.md"), "\n".join(lines) + "\n")


def _training_text():
    t = defaults_lib.TRAINING
    return (f"{t['optimizer']}, learning rate {t['learning_rate']:g}, batch {t['batch_size']}, clipping "
            f"{t['clipnorm']:g}, patience {t['patience']}, at most {t['epochs']} epochs")


def _cell_order(cell):
    return GATED_CELLS.index(cell) if cell in GATED_CELLS else len(GATED_CELLS)


def _selection_text(record):
    selection = record.get("selection") or {}
    if not selection.get("by", "").startswith(PLAIN + " and"):
        return "by hand" if selection else "—"
    if record["model"] == PLAIN:
        return "plain model"
    for i, (model, value, _) in enumerate(selection["ranking"], 1):
        if model == record["model"]:
            return f"#{i} by stage-1 valid NLL ({value:.4f})"
    return "—"


# Command line -------------------------------------------------------------------------------------------

PROG = "python -m benchmarks.gated_protocol"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    training = defaults_lib.TRAINING
    flags.DEFINE_enum("stage", "all", [*STAGES, "all"], "Which stage to run ('all': the four in turn).",
                      flag_values=fv)
    flags.DEFINE_list("cells", list(GATED_CELLS), "Cells, comma-separated (lstm, gru).", flag_values=fv)
    flags.DEFINE_list("models", [], "Zoo models, comma-separated. Stage defaults: the models to run (default: all); "
                      "search: the models to search instead of rnn and the --n_best regularizers; best and "
                      "other_datasets: only these searches' configurations.", flag_values=fv)
    _flags.define_int_list("seeds", [0, 1, 2], "Seeds of stage defaults and best (comma-separated).", fv)
    _flags.define_int_list("seeds_other", [0], "Seeds of stage other_datasets (comma-separated).", fv)
    flags.DEFINE_integer("n_best", 2, "Regularizers searched per cell (those of lowest stage-1 mean valid NLL).",
                         flag_values=fv)
    flags.DEFINE_integer("trials", 20, "Random-search trials per model and cell.", flag_values=fv)
    flags.DEFINE_integer("search_epochs", training["epochs"], "Epoch cap of each trial.", flag_values=fv)
    flags.DEFINE_integer("search_patience", training["patience"], "Early-stopping patience of each trial.",
                         flag_values=fv)
    # Seed 0 makes KerasTuner's oracle draw a seed of its own (it tests `seed or random`).
    flags.DEFINE_integer("search_seed", 1, "Seed of the searches.", flag_values=fv)
    flags.DEFINE_integer("batch_size", training["batch_size"], "Batch size of every stage.", flag_values=fv)
    flags.DEFINE_integer("max_epochs", training["epochs"], "Epoch limit of the runs of stages defaults, best and "
                         "other_datasets.", flag_values=fv)
    flags.DEFINE_integer("patience", training["patience"], "Early-stopping patience of those runs.", flag_values=fv)
    flags.DEFINE_multi(_flags.NameValue(), flags.ArgumentSerializer(), "fixed", [],
                       "Pin a hyperparameter in stage defaults and every search: NAME=VALUE (repeatable; e.g. "
                       "units=400, optimizer=adam).", flag_values=fv)
    flags.DEFINE_multi_string("range", [], "Replace the bounds of a searched numeric hyperparameter in every "
                              "search: NAME=LOW:HIGH (repeatable; see tuning/SEARCH_SPACE.md).", flag_values=fv)
    flags.DEFINE_string("runs_root", "runs/gated", "Folder of the runs (stages defaults, best, other_datasets).",
                        flag_values=fv)
    flags.DEFINE_string("search_root", "results/gated_searches", "Folder of the searches' state (KerasTuner "
                        "trials, tracked in git so that a search resumes on a fresh checkout).", flag_values=fv)
    flags.DEFINE_string("out", "results/gated", "Writes OUT.json and OUT.md.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).", flag_values=fv)
    flags.DEFINE_integer("max_sequences", None, "Keep only the first N sequences of each split (smoke tests).",
                         flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n\n")[0], define_flags, argv)
    args.fixed = dict(args.fixed)
    args.cells = list(dict.fromkeys(c for c in args.cells if c))
    bad = [c for c in args.cells if c not in GATED_CELLS]
    if bad or not args.cells:
        _flags.fail(PROG, f"unknown cell(s) {', '.join(bad) or '(none given)'}; valid: {', '.join(GATED_CELLS)}")
    if "cell" in args.fixed:
        _flags.fail(PROG, "the cell is --cells, not --fixed cell=...")
    args.models = list(dict.fromkeys(m for m in args.models if m))
    unknown = [m for m in args.models if m not in zoo_specs.names()]
    if unknown:
        _flags.fail(PROG, f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(zoo_specs.names())}")
    for name in ("trials", "search_epochs", "batch_size", "max_epochs", "search_patience", "patience"):
        if getattr(args, name) < 1:
            _flags.fail(PROG, f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.n_best < 0:
        _flags.fail(PROG, f"--n_best must be >= 0, got {args.n_best}")
    if not args.seeds or not args.seeds_other:
        _flags.fail(PROG, "--seeds and --seeds_other need at least one seed each")
    from keras_rnnreg.tuning.search_space import parse_ranges

    for model in args.models or zoo_specs.names():
        try:
            parse_ranges(model, args.range)
        except ValueError as e:
            _flags.fail(PROG, str(e))
    return args


def run(args, argv):
    command = f"{PROG} " + " ".join(argv)
    commit = code_version()
    ledger = Ledger(f"{args.out}.json")
    stages = STAGES if args.stage == "all" else (args.stage,)
    for stage in stages:
        if stage == "defaults":
            defaults_stage(args, ledger, command, commit)
        elif stage == "search":
            search_stage(args, ledger, command, commit)
        elif stage == "best":
            retrain_stage(stage, (JSB,), args.seeds, args, ledger, command, commit)
        else:
            retrain_stage(stage, OTHER_DATASETS, args.seeds_other, args, ledger, command, commit)
    records = ledger.read()
    render(records, args)  # also when nothing new ran (e.g. after the format of the table changed)
    return records


def main(argv=None):
    from keras_rnnreg.app._startup import prefer_bfc_cpu_allocator

    argv = sys.argv[1:] if argv is None else list(argv)
    prefer_bfc_cpu_allocator()  # as the command line does, before TensorFlow's first op
    args = parse_args(argv)
    return run(args, argv)


def run_from_command_line(argv=None):
    """:func:`main` as a command: SIGTERM and Ctrl-C stop it with one line and 143 / 130 (finished runs stay
    recorded, so the same command goes on from where it stopped)."""
    from keras_rnnreg.app import signals

    return signals.run_resumable(main, PROG, argv)


if __name__ == "__main__":
    from keras_rnnreg.app import signals

    signals.exit_process(run_from_command_line())
