"""Table 1 by the paper's protocol: random search per model, best configuration retrained with seeds.

For each model:

1. **Search** (on ``--search_dataset``, JSB Chorales by default): a KerasTuner
   random search of ``--trials`` configurations over ``tuning/SEARCH_SPACE.md``
   (:func:`keras_rnnreg.tuning.search.run_search`), each trial capped at
   ``--search_epochs`` with early stopping (``--search_patience``), picked by
   validation NLL. ``--range NAME=LOW:HIGH`` replaces a row's bounds (e.g. to
   widen the space where a first search's best lies at an edge).
2. **Retrain** the best configuration from scratch with
   :func:`keras_rnnreg.app.training.train` for every seed of every dataset
   (``--seeds`` on JSB Chorales and Piano-midi.de, ``--seeds_large`` on
   Nottingham and MuseData), with no epoch cap (``--max_epochs``, by default
   far beyond any run) and early stopping on the validation NLL
   (``--patience``, default 20), the best epoch's weights kept; the larger
   datasets reuse the search dataset's best configuration.
3. **Report** ``results/table1.json`` (one record per search and per run:
   model, dataset, NLLs, seed, trials, hyperparameters, commit, command, wall
   time, run directory) and ``results/table1.md`` (test NLL mean +- std over
   seeds per cell, with its trials and seeds, beside the paper's).

Resumable: ``table1.json`` is the ledger. A finished search or run recorded
there is never redone; an unfinished one resumes from its directory under
``--runs_root`` (KerasTuner's reload, ``train``'s resume). Several processes
can work side by side on different ``--models`` (the ledger is updated under a
file lock). Paths in the results are relative to the repository.

Usage (the whole protocol; many hours on 2 CPU cores)::

    python -m benchmarks.table1_protocol --trials 20 --seeds 0,1,2 --seeds_large 0

**Recipes** (``--recipe fd_notebook``): instead of a search, ``rnn_fd`` trained
with the authors' published JSB notebook settings (:data:`RECIPES`), in each
fast-dropout variant of ``--variants`` (``authors``: their computation and
initialization; ``consistent``: ours; ``authors_keep_mean``, only when named:
theirs with the recurrent mean scaled by the keep probability as ours), for
``--seeds`` / ``--seeds_large``;
``--recipe rnn_notebook``: the plain RNN with the same settings. Recorded in the
same ledger (``kind: "recipe"``) and shown as extra rows.
"""

import contextlib
import fcntl
import json
import math
import os
import pathlib
import statistics
import sys
import time

from absl import flags

from benchmarks import _flags
from benchmarks.provenance import REPO_ROOT, code_version
from benchmarks.reproduce_table1 import DATASET_COLUMN, PAPER
from keras_rnnreg.app import rundir
from keras_rnnreg.rnn.choices import FAST_DROPOUT_VARIANTS

DATASETS = ("jsb_chorales", "nottingham", "piano_midi", "musedata")
LARGE = ("nottingham", "musedata")
#: The retraining seeds: --seeds on the other two datasets, --seeds_large on LARGE.
DEFAULT_SEEDS = {"seeds": [0, 1, 2], "seeds_large": [0]}
#: Fixed training settings that replace the search for one model.
RECIPES = {
    # The authors' JSB notebook (Breze, notebooks/recurrent-networks): 400 units, fast
    # dropout 0.1 / 0.2 / 0.5, W_hh radius 1.2 then 15 per column, std 1e-2 in and 1e-4 out,
    # output bias -8, climin RMSprop step 1e-3, Nesterov momentum 0.99, decay 0.8, batch 9,
    # no gradient clipping; best-validation parameters kept (they trained up to 600 min,
    # ~250 epochs; here at most 400 epochs with patience 50).
    "fd_notebook": {
        "model": "rnn_fd",
        "hyperparameters": {"units": 400, "input_dropout": 0.1, "hidden_dropout": 0.2, "output_dropout": 0.5,
                            "spectral_radius": 1.2, "sparsity_k": 15, "input_init_stddev": 0.01,
                            "output_init_stddev": 1e-4, "output_bias_init": -8.0},
        "training": {"optimizer": "rmsprop_nesterov", "learning_rate": 1e-3, "momentum": 0.99, "decay": 0.8,
                     "batch_size": 9, "clipnorm": None, "epochs": 400, "patience": 50},
        "variants": True,
    },
}
# The same with a longer early-stopping patience (their runs had no early stopping: up to
# 600 minutes, the best validation epoch kept).
RECIPES["fd_notebook_long"] = {**RECIPES["fd_notebook"],
                               "training": {**RECIPES["fd_notebook"]["training"], "epochs": 800, "patience": 150}}
# The plain RNN with the same notebook settings (no dropout): the well-initialized baseline
# the paper compares against, trained the way the authors trained their best model.
RECIPES["rnn_notebook"] = {
    "model": "rnn",
    "hyperparameters": {k: v for k, v in RECIPES["fd_notebook"]["hyperparameters"].items() if "dropout" not in k},
    "training": dict(RECIPES["fd_notebook"]["training"]),
    "variants": False,
}
# The ablation of the authors' fast dropout: their computation (mean scaling by the rate,
# tanh(a/2), published variance formula, trained initial state) and their initialization
# (radius before sparsifying, sparse input/output weights) each with the other's partner.
# Run as `--recipe fd_notebook_authors_init --variants consistent` and
# `--recipe fd_notebook_zoo_init --variants authors`; `fd_notebook` holds the two originals.
RECIPES["fd_notebook_authors_init"] = {
    **RECIPES["fd_notebook"], "hyperparameters": {**RECIPES["fd_notebook"]["hyperparameters"], "fd_init": "authors"}}
RECIPES["fd_notebook_zoo_init"] = {
    **RECIPES["fd_notebook"], "hyperparameters": {**RECIPES["fd_notebook"]["hyperparameters"], "fd_init": "zoo"}}
# Our computation with a higher recurrent rate. The authors' recurrent step, written with
# U = rate * W_hh, is mu = ... + m U, var = ... + (20 v + 4 m^2) U^2 (rate 0.2); ours with
# keep probability q is mu = ... + m U, var = ... + (v / q + (1 - q) / q m^2) U^2, whose m^2
# term matches at q = 0.2: their rate 0.2 acts like our rate 0.8 (and 4x the carried-over
# variance). Run as `--recipe fd_notebook_hidden_0.8 --variants consistent`.
for _rate in (0.5, 0.8):
    RECIPES[f"fd_notebook_hidden_{_rate}"] = {
        **RECIPES["fd_notebook"], "hyperparameters": {**RECIPES["fd_notebook"]["hyperparameters"], "hidden_dropout": _rate}}
#: The fast-dropout variants --variants runs by default; it also takes the ablation's
#: authors_keep_mean (the authors' computation with the recurrent mean scaled as ours).
VARIANTS = ("authors", "consistent")

TITLES = {"jsb_chorales": "JSB Chorales", "nottingham": "Nottingham", "piano_midi": "Piano-midi.de",
          "musedata": "MuseData"}


def _relative(path):
    """``path`` relative to the repository when it lies inside it (results never hold absolute paths)."""
    path = pathlib.Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return os.path.relpath(path, REPO_ROOT)


def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


class Ledger:
    """``table1.json``: the list of finished records, read and rewritten under a lock.

    Each update re-reads the file, so processes working on other models side by
    side never drop each other's records.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self):
        if not self.path.exists():
            return []
        try:
            records = json.loads(self.path.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"error: {self.path} is not valid JSON ({e}); it is the ledger of finished "
                             f"runs: restore it from git (`git checkout -- {_relative(self.path)}`)") from None
        if not isinstance(records, list):
            raise SystemExit(f"error: {self.path} must hold a JSON list of records")
        return records

    def find(self, **key):
        return [r for r in self.read() if all(r.get(k) == v for k, v in key.items())]

    def add(self, record, render):
        """Append ``record`` (replacing one with the same key) and re-render the table."""
        # ``cell``: the gated protocol's records (benchmarks.gated_protocol); absent in Table 1's.
        key = {k: record.get(k) for k in ("kind", "model", "cell", "dataset", "seed", "recipe", "variant")}
        with self._locked():
            records = [r for r in self.read() if {k: r.get(k) for k in key} != key]
            records.append(record)
            records.sort(key=lambda r: (r["kind"], r["model"], r.get("cell") or "", r.get("variant") or "",
                                        DATASETS.index(r["dataset"]), r.get("seed", -1)))
            rundir.atomic_write_text(self.path, json.dumps(records, indent=1, sort_keys=True) + "\n")
            render(records)


def seeds_for(dataset, args):
    return args.seeds_large if dataset in LARGE else args.seeds


def search(model, args, ledger, command, commit):
    """The finished search record of ``model`` (running or resuming the search if needed)."""
    done = ledger.find(kind="search", model=model, dataset=args.search_dataset)
    if done and done[0]["trials"] >= args.trials:
        return done[0]
    from keras_rnnreg.tuning.search import SearchSettings, run_search
    from keras_rnnreg.tuning.search_space import parse_ranges

    ranges = parse_ranges(model, args.range)
    directory = pathlib.Path(args.runs_root) / "search" / model
    print(f"[search] {model} on {args.search_dataset}: {args.trials} trials, in {_relative(directory)}", flush=True)
    started = time.time()
    summary = run_search(SearchSettings(
        model=model, directory=str(directory), dataset=args.search_dataset, data_dir=args.data_dir,
        trials=args.trials, epochs=args.search_epochs, patience=args.search_patience, seed=args.search_seed,
        batch_size=args.batch_size, final="none", verbose=1, fixed=args.fixed,  # a line per trial
        ranges=ranges,
        max_train_sequences=args.max_sequences, max_valid_sequences=args.max_sequences,
        max_test_sequences=args.max_sequences,
    ))
    best = summary["best"]
    if best is None:
        raise SystemExit(f"error: the search of {model} finished no trial ({summary.get('error')}); "
                         f"see {_relative(directory)}")
    counts = summary["status_counts"]
    record = {
        "kind": "search", "model": model, "dataset": args.search_dataset, "seed": args.search_seed,
        "trials": sum(counts.values()), "status_counts": counts,
        "best_trial": best["trial_id"], "valid_nll": best["val_nll"], "best_epoch": best["best_epoch"],
        "hyperparameters": best["hyperparameters"], "batch_size": args.batch_size,
        "ranges": {k: list(v) for k, v in ranges.items()},
        "epochs_cap": args.search_epochs, "patience": args.search_patience,
        "search_dir": _relative(directory), "commit": commit, "command": command,
        # Wall time of this call; a resumed search adds its earlier sittings' trials, not their time.
        "wall_time_s": round(time.time() - started, 1),
    }
    ledger.add(record, lambda records: render(records, args))
    print(f"[search] {model}: best trial {best['trial_id']} valid NLL {best['val_nll']:.4f}", flush=True)
    return record


def retrain(model, dataset, seed, found, args, ledger, command, commit):
    """Train the search's best configuration of ``model`` on ``dataset`` with ``seed`` (once)."""
    if ledger.find(kind="run", model=model, dataset=dataset, seed=seed):
        return
    from keras_rnnreg.app import training
    from keras_rnnreg.tuning.search_space import split_config

    model_kwargs, optimizer_kwargs = split_config(model, {k: v for k, v in found["hyperparameters"].items()
                                                          if not k.startswith("tuner/")})
    run_dir = pathlib.Path(args.runs_root) / "runs" / f"{model}-{dataset}-seed{seed}"
    print(f"[train] {model} on {dataset}, seed {seed}, in {_relative(run_dir)}", flush=True)
    started = time.time()
    metrics = training.train(
        model, dataset, str(run_dir), hyperparameters=model_kwargs, epochs=args.max_epochs,
        batch_size=found["batch_size"], patience=args.patience, seed=seed, data_dir=args.data_dir,
        verbose=0, tensorboard=False, export_saved_model=False, max_train_sequences=args.max_sequences,
        max_valid_sequences=args.max_sequences, max_test_sequences=args.max_sequences, **optimizer_kwargs,
    )
    record = {
        "kind": "run", "model": model, "dataset": dataset, "seed": seed,
        "test_nll": metrics.get("test_nll"), "valid_nll": metrics.get("valid_nll"),
        "train_nll": metrics.get("train_nll"), "status": metrics.get("status"),
        "epochs": metrics.get("epochs_completed"), "best_epoch": metrics.get("best_epoch"),
        "hyperparameters": found["hyperparameters"], "batch_size": found["batch_size"],
        "patience": args.patience, "max_epochs": args.max_epochs,
        "configuration_from": f"search of {model} on {found['dataset']} ({found['trials']} trials, "
                              f"best trial {found['best_trial']})",
        "run_dir": _relative(run_dir), "commit": commit, "command": command,
        "wall_time_s": metrics.get("wall_time_s", round(time.time() - started, 1)),
    }
    ledger.add(record, lambda records: render(records, args))
    print(f"[train] {model} on {dataset}, seed {seed}: test NLL {record['test_nll']} "
          f"({record['status']}, {record['epochs']} epochs)", flush=True)


def recipe_run(recipe, variant, dataset, seed, args, ledger, command, commit):
    """Train ``RECIPES[recipe]`` in fast-dropout ``variant`` on ``dataset`` with ``seed`` (once)."""
    spec = RECIPES[recipe]
    variant = variant if spec["variants"] else None
    key = dict(kind="recipe", recipe=recipe, variant=variant, model=spec["model"], dataset=dataset, seed=seed)
    if ledger.find(**key):
        return
    from keras_rnnreg.app import training

    settings = dict(spec["training"])
    epochs, patience = settings.pop("epochs"), settings.pop("patience")
    hp = {**spec["hyperparameters"], **({"fd_variant": variant} if variant else {})}
    name = f"{recipe}-{variant}" if variant else recipe
    run_dir = pathlib.Path(args.runs_root) / "recipes" / f"{name}-{dataset}-seed{seed}"
    print(f"[recipe] {name} on {dataset}, seed {seed}, in {_relative(run_dir)}", flush=True)
    started = time.time()
    metrics = training.train(
        spec["model"], dataset, str(run_dir), hyperparameters=hp, epochs=epochs, patience=patience, seed=seed,
        data_dir=args.data_dir, verbose=0, tensorboard=False, export_saved_model=False,
        max_train_sequences=args.max_sequences, max_valid_sequences=args.max_sequences,
        max_test_sequences=args.max_sequences, **settings,
    )
    record = {
        **key,
        "test_nll": metrics.get("test_nll"), "valid_nll": metrics.get("valid_nll"),
        "train_nll": metrics.get("train_nll"), "status": metrics.get("status"),
        "epochs": metrics.get("epochs_completed"), "best_epoch": metrics.get("best_epoch"),
        "hyperparameters": hp, "training": spec["training"], "trials": 0,
        "configuration_from": f"recipe {recipe} (benchmarks.table1_protocol.RECIPES)",
        "run_dir": _relative(run_dir), "commit": commit, "command": command,
        "wall_time_s": metrics.get("wall_time_s", round(time.time() - started, 1)),
    }
    ledger.add(record, lambda records: render(records, args))
    print(f"[recipe] {name} on {dataset}, seed {seed}: test NLL {record['test_nll']} "
          f"({record['status']}, {record['epochs']} epochs)", flush=True)


def _row_name(r):
    """The table row of a record: the model, or for a recipe run the model, recipe and variant."""
    if r["kind"] == "recipe":
        return f"{r['model']} ({r['recipe']}{', ' + r['variant'] if r.get('variant') else ''})"
    return r["model"]


def cells(records):
    """``{(model, dataset): cell}`` with the mean/std of the finished runs' test NLL."""
    searches = {r["model"]: r for r in records if r["kind"] == "search"}
    out = {}
    for r in records:
        if r["kind"] not in ("run", "recipe"):
            continue
        cell = out.setdefault((_row_name(r), r["dataset"]), {"test": [], "valid": [], "seeds": [], "wall": 0.0,
                                                              "recipe": r["kind"] == "recipe"})
        if _finite(r.get("test_nll")):
            cell["test"].append(r["test_nll"])
            cell["valid"].append(r["valid_nll"])
            cell["seeds"].append(r["seed"])
        cell["wall"] += r.get("wall_time_s") or 0.0
    for (model, _), cell in out.items():
        cell["trials"] = 0 if cell["recipe"] else searches[model]["trials"] if model in searches else None
        cell["mean"] = statistics.fmean(cell["test"]) if cell["test"] else None
        cell["std"] = statistics.stdev(cell["test"]) if len(cell["test"]) > 1 else None
    return out


def _cell_text(cell, paper):
    if cell is None or cell["mean"] is None:
        return f"— / {paper:.2f}"
    spread = f" ± {cell['std']:.2f}" if cell["std"] is not None else ""
    seeds = f"{len(cell['seeds'])} seed{'s' if len(cell['seeds']) != 1 else ''}"
    budget = "fixed recipe" if cell["recipe"] else f"{cell['trials']} trials"
    return f"{cell['mean']:.2f}{spread} / {paper:.2f} ({budget}, {seeds})"


def _ranges_text(record):
    """The bounds a search replaced, or the table's (``tuning/SEARCH_SPACE.md``)."""
    ranges = record.get("ranges") or {}
    return ", ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in sorted(ranges.items())) or "SEARCH_SPACE.md"


def render(records, args):
    table = cells(records)
    commits = sorted({r["commit"] for r in records})
    wall = sum(r.get("wall_time_s") or 0.0 for r in records)
    lines = [
        "# Table 1 by the paper's protocol (test NLL, nats per time step)",
        "",
        "Written by `python -m benchmarks.table1_protocol` as its runs finish (records: "
        f"`{_relative(args.out)}.json`). Each cell: our test NLL, mean ± standard deviation over the "
        "seeds that finished, / the paper's; then the number of search trials and of seeds. Each "
        f"model's configuration is the best of a random search on {TITLES[args.search_dataset]} by "
        "validation NLL (`tuning/SEARCH_SPACE.md`); the other datasets reuse it. Retraining: no epoch "
        "cap, early stopping on the validation NLL, the best epoch kept. A dash: not run yet.",
        "",
        "| model | " + " | ".join(TITLES[d] for d in DATASETS) + " |",
        "|---|" + "---|" * len(DATASETS),
    ]
    for model in PAPER:
        row = [_cell_text(table.get((model, d)), PAPER[model][DATASET_COLUMN[d]]) for d in DATASETS]
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    recipe_rows = sorted({_row_name(r): r["model"] for r in records if r["kind"] == "recipe"}.items())
    for name, model in recipe_rows:
        row = [_cell_text(table.get((name, d)), PAPER[model][DATASET_COLUMN[d]]) for d in DATASETS]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    if recipe_rows:
        lines += ["", "Rows with a recipe in parentheses: no search; the fixed settings of "
                  "`benchmarks.table1_protocol.RECIPES` (`fd_notebook`: the authors' JSB notebook), in the "
                  "fast-dropout variant named (`authors`: their computation and initialization, "
                  "`consistent`: ours, `authors_keep_mean`: theirs with the recurrent mean scaled by the "
                  "keep probability as ours; `fd_notebook_authors_init` / `fd_notebook_zoo_init`: the variant's "
                  "computation with the authors' / our initialization; `fd_notebook_hidden_R`: hidden "
                  "dropout rate R instead of 0.2); same retraining and early stopping otherwise."]
    lines += [
        "",
        "## Runs",
        "",
        "| model | dataset | seed | test NLL | valid NLL | train NLL | epochs (best) | status | wall time (s) | run directory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] not in ("run", "recipe"):
            continue
        nums = [f"{r[k]:.4f}" if _finite(r.get(k)) else "" for k in ("test_nll", "valid_nll", "train_nll")]
        lines.append(f"| {_row_name(r)} | {r['dataset']} | {r['seed']} | " + " | ".join(nums)
                     + f" | {r['epochs']} ({r['best_epoch']}) | {r['status']} | {r['wall_time_s']:.0f} | "
                     f"`{r['run_dir']}` |")
    lines += [
        "",
        "## Searches",
        "",
        "| model | dataset | trials (statuses) | best trial | valid NLL | search seed | ranges | wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] == "search":
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(r["status_counts"].items()))
            lines.append(f"| {r['model']} | {r['dataset']} | {r['trials']} ({statuses}) | {r['best_trial']} | "
                         f"{r['valid_nll']:.4f} | {r['seed']} | {_ranges_text(r)} | {r['wall_time_s']:.0f} |")
    lines += [
        "",
        f"Code: {', '.join(commits) if commits else '—'}. Wall time of the recorded calls: {wall:.0f} s "
        f"({wall / 3600:.1f} h), on the 2-core CPU machine, jobs side by side where noted in the records.",
    ]
    rundir.atomic_write_text(pathlib.Path(f"{args.out}.md"), "\n".join(lines) + "\n")


PROG = "python -m benchmarks.table1_protocol"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("models", ",".join(PAPER), "Comma-separated zoo names, in order.", flag_values=fv)
    flags.DEFINE_string("datasets", ",".join(DATASETS), "Datasets to retrain on (comma-separated).", flag_values=fv)
    flags.DEFINE_enum("search_dataset", "jsb_chorales", DATASETS, "Dataset of the searches.", flag_values=fv)
    flags.DEFINE_integer("trials", 20, "Random-search trials per model.", flag_values=fv)
    flags.DEFINE_integer("search_epochs", 200, "Epoch cap of each trial.", flag_values=fv)
    flags.DEFINE_integer("search_patience", 10, "Early-stopping patience of each trial.", flag_values=fv)
    # Seed 0 makes KerasTuner's oracle draw a seed of its own (it tests `seed or random`).
    flags.DEFINE_integer("search_seed", 1, "Seed of the searches.", flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "Batch size of the search and the retraining.", flag_values=fv)
    _flags.define_int_list("seeds", list(DEFAULT_SEEDS["seeds"]), "Seeds on JSB Chorales and Piano-midi.de "
                           "(comma-separated).", fv)
    _flags.define_int_list("seeds_large", list(DEFAULT_SEEDS["seeds_large"]), "Seeds on Nottingham and MuseData "
                           "(comma-separated).", fv)
    flags.DEFINE_integer("patience", 20, "Early-stopping patience of the retraining.", flag_values=fv)
    flags.DEFINE_integer("max_epochs", 100_000, "Epoch limit of the retraining (no cap).", flag_values=fv)
    flags.DEFINE_string("runs_root", "runs/table1_protocol", "Folder of the searches and runs.", flag_values=fv)
    flags.DEFINE_string("out", "results/table1", "Writes OUT.json and OUT.md.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).", flag_values=fv)
    flags.DEFINE_multi(_flags.NameValue(), flags.ArgumentSerializer(), "fixed", [],
                       "Pin a hyperparameter in every search: NAME=VALUE (repeatable).", flag_values=fv)
    flags.DEFINE_multi_string("range", [], "Replace the bounds of a searched numeric hyperparameter in every "
                              "search: NAME=LOW:HIGH (repeatable; see tuning/SEARCH_SPACE.md).", flag_values=fv)
    flags.DEFINE_integer("max_sequences", None, "Keep only the first N sequences of each split (smoke tests).",
                         flag_values=fv)
    flags.DEFINE_enum("recipe", None, sorted(RECIPES), "Train this fixed recipe instead of searching (see "
                      "RECIPES); --models is then ignored.", flag_values=fv)
    flags.DEFINE_string("variants", ",".join(VARIANTS), "Fast-dropout variants of --recipe, comma-separated "
                        f"({', '.join(FAST_DROPOUT_VARIANTS)}).", flag_values=fv)
    flags.DEFINE_enum("only", "all", ["search", "all"], "'search': run the searches only (e.g. all of them "
                      "before any retraining).", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value.

    ``fixed`` becomes a ``{name: value}`` dict and ``variants`` a list.
    """
    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n\n")[0], define_flags, argv)
    args.fixed = dict(args.fixed)
    unknown = [m for m in args.models.split(",") if m not in PAPER]
    if unknown:
        _flags.fail(PROG, f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(PAPER)}")
    bad = [d for d in args.datasets.split(",") if d not in DATASETS]
    if bad:
        _flags.fail(PROG, f"unknown dataset(s) {', '.join(bad)}; valid: {', '.join(DATASETS)}")
    for name in ("trials", "search_epochs", "batch_size", "max_epochs"):
        if getattr(args, name) < 1:
            _flags.fail(PROG, f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.patience < 1:
        _flags.fail(PROG, f"--patience must be >= 1 (early stopping is the protocol), got {args.patience}")
    from keras_rnnreg.tuning.search_space import parse_ranges

    for model in args.models.split(","):
        try:
            parse_ranges(model, args.range)
        except ValueError as e:
            _flags.fail(PROG, str(e))
    args.variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in args.variants if v not in FAST_DROPOUT_VARIANTS]
    if bad or not args.variants:
        _flags.fail(PROG, f"unknown variant(s) {', '.join(bad) or '(none given)'}; "
                          f"valid: {', '.join(FAST_DROPOUT_VARIANTS)}")
    if not args.seeds or not args.seeds_large:
        _flags.fail(PROG, "--seeds and --seeds_large need at least one seed each")
    # Seeds other than the default that no dataset of the command reads would be silently
    # ignored (seeds_for); the defaults are harmless and some recorded commands spell them out.
    datasets = args.datasets.split(",")
    for flag, other, large in (("seeds", "seeds_large", False), ("seeds_large", "seeds", True)):
        if getattr(args, flag) != DEFAULT_SEEDS[flag] and not any((d in LARGE) == large for d in datasets):
            readers = [d for d in DATASETS if (d in LARGE) == large]
            _flags.fail(PROG, f"--{flag} sets the seeds of {' and '.join(readers)}, and --datasets {args.datasets} "
                              f"has neither; use --{other}")
    return args


def run(args, argv):
    command = "python -m benchmarks.table1_protocol " + " ".join(argv)
    commit = code_version()
    ledger = Ledger(f"{args.out}.json")
    if args.recipe:
        for dataset in sorted(args.datasets.split(","), key=lambda d: (d in LARGE, DATASETS.index(d))):
            for seed in seeds_for(dataset, args):
                for variant in (args.variants if RECIPES[args.recipe]["variants"] else [None]):
                    recipe_run(args.recipe, variant, dataset, seed, args, ledger, command, commit)
        return ledger.read()
    models = args.models.split(",")
    datasets = args.datasets.split(",")
    # Model by model: its search, then its cells on the search dataset; then the other
    # small dataset (Piano-midi.de), then the large ones, which reuse the searches.
    found = {}
    first = [d for d in datasets if d == args.search_dataset]
    for model in models:
        found[model] = search(model, args, ledger, command, commit)
        if args.only == "search":
            continue
        for dataset in first:
            for seed in seeds_for(dataset, args):
                retrain(model, dataset, seed, found[model], args, ledger, command, commit)
    if args.only == "search":
        return ledger.read()
    rest = sorted((d for d in datasets if d not in first), key=lambda d: (d in LARGE, DATASETS.index(d)))
    for dataset in rest:
        for seed in seeds_for(dataset, args):
            for model in models:
                retrain(model, dataset, seed, found[model], args, ledger, command, commit)
    return ledger.read()


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
