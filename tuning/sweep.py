"""Test NLL against one hyperparameter, the others fixed (the paper's figures 8-10).

Figure 8: ``lambda`` of L1 and of L2 (``rnn_nbr``, ``--param l1`` / ``l2``);
figure 9: ``sigma`` of additive noise (``rnn_n`` or ``rnn_ns``); figure 10:
DropConnect ``p`` per sequence (``rnn_dos``, ``--param dropconnect_p``).

::

    python -m keras_rnnreg tune sweep --model rnn_nbr --param l2 \\
        --values 0,1e-5,1e-4,1e-3,1e-2 --seeds 0,1,2 --out fig8.csv
    python -m keras_rnnreg tune sweep --model rnn_nbr --param l1 \\
        --values 0,1e-5,1e-4,1e-3,1e-2 --seeds 0,1,2 --out fig8.csv --plot fig8.png

The other hyperparameters are the search-space defaults
(:func:`search_space.defaults`), replaced by the best configuration of a
search with ``--base DIR/summary.json``, then by ``--fixed name=value``. For
``rnn_nbr`` the penalty not swept is 0 unless pinned with ``--fixed``.

Each (value, seed) trains with early stopping on ``val_nll`` (best weights
restored) and is evaluated on the whole test sequences. Rows are appended to
the CSV as they finish; rerunning skips the (value, seed) pairs already there
(so an interrupted sweep resumes). A diverging run is recorded with status
``diverged`` and no test NLL.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time

from keras_rnnreg.app import evaluation, fitting, rundir
from keras_rnnreg import defaults, models

from . import search_space
from .hypermodel import build_model

COLUMNS = ("model", "dataset", "param", "value", "seed", "status", "val_nll", "test_nll", "epochs", "seconds")


def _parse_value(model_name, param, value):
    rows = {p.name: p for p in search_space.space(model_name)}
    if isinstance(value, str):
        return rows[param].parse(value) if param in rows else search_space._parse_scalar(value)
    return value


def base_config(model_name, param, fixed=None, base=None):
    """The configuration a sweep holds fixed (see the module docstring)."""
    config = search_space.defaults(model_name)
    if base:
        with open(base) as f:
            summary = json.load(f)
        best = summary.get("best") or {}
        if summary.get("model") not in (None, model_name):
            raise ValueError(f"{base} is a search of {summary.get('model')!r}, not {model_name!r}")
        if not best:
            raise ValueError(f"{base} has no completed trial to start from")
        config.update({k: v for k, v in best["hyperparameters"].items() if not k.startswith("tuner/")})
    fixed = dict(fixed or {})
    config.update(fixed)
    if models.spec(model_name).norm_penalty and param in ("l1", "l2"):
        other = "l2" if param == "l1" else "l1"
        if other in fixed:
            config["penalty"] = "l1_l2"
        else:
            config.pop(other, None)
            config["penalty"] = param
    return config


def _read_rows(path):
    """The rows of an existing sweep CSV (``[]`` if there is none); a file of other data is refused."""
    if not path or not os.path.exists(path):
        return []
    if os.path.isdir(path):
        raise ValueError(f"--out {path!r} is a directory")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if header and header != list(COLUMNS):
            raise ValueError(
                f"--out {path!r} exists and is not a sweep CSV (its header is {','.join(header)[:80]!r}); "
                "it is left untouched: choose another --out"
            )
        return [row for row in reader if all(row.get(k) is not None for k in COLUMNS)]


def _key(model, dataset, param, value, seed):
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = str(value)
    return (model, dataset, param, value, int(seed))


def run_sweep(model_name, param, values, seeds=(0,), out=None, dataset="jsb_chorales", data_dir=None,
              epochs=defaults.TRAINING["epochs"], patience=defaults.TRAINING["patience"],
              batch_size=defaults.TRAINING["batch_size"], window=defaults.TRAINING["window"], fixed=None, base=None,
              max_train_sequences=None, max_valid_sequences=None, max_test_sequences=None,
              divergence_threshold=defaults.DIVERGENCE_THRESHOLD, verbose=1, jit_compile="auto"):
    """Train ``model_name`` once per (value of ``param``, seed); return the CSV rows.

    Args:
        model_name: zoo name.
        param: the hyperparameter to vary (any name of
            :func:`search_space.tunable_names`).
        values: its values (numbers or strings).
        seeds: one run per seed and value (the figures show means).
        out: CSV path; existing rows are kept and their (value, seed) skipped.

    Returns:
        All rows of the CSV (or of this call when ``out`` is ``None``), as dicts
        with the :data:`COLUMNS`.

    Raises:
        ValueError: unknown model or hyperparameter (messages list the valid names).
    """
    import keras


    valid = search_space.tunable_names(model_name)
    if param not in valid:
        raise ValueError(f"model {model_name!r} has no hyperparameter {param!r}; valid names: {', '.join(valid)}")
    if not values:
        raise ValueError("no values to sweep")
    values = [_parse_value(model_name, param, v) for v in values]
    config0 = base_config(model_name, param, fixed, base)
    rows = _read_rows(out)
    done = {_key(r["model"], r["dataset"], r["param"], r["value"], r["seed"]) for r in rows}
    splits = fitting.load_splits(dataset, data_dir, max_train_sequences=max_train_sequences,
                                 max_valid_sequences=max_valid_sequences, max_test_sequences=max_test_sequences)
    if out and not os.path.exists(out):
        rundir.atomic_write_csv(out, [], COLUMNS)
    for value in values:
        for seed in seeds:
            if _key(model_name, dataset, param, value, seed) in done:
                continue
            started = time.time()
            keras.backend.clear_session()
            keras.utils.set_random_seed(int(seed))
            config = dict(config0, **{param: value})
            model = build_model(model_name, config, seed=int(seed), jit_compile=jit_compile)
            train, valid_ds = fitting.window_datasets(splits, window, batch_size, seed=int(seed))
            outcome = fitting.fit(model, train, valid_ds, epochs=epochs, patience=patience,
                                  divergence_threshold=divergence_threshold)
            row = dict(model=model_name, dataset=dataset, param=param, value=value, seed=int(seed),
                       status="diverged" if outcome.diverged else "ok", val_nll="", test_nll="",
                       epochs=outcome.epochs)
            if not outcome.diverged:
                row["val_nll"] = "" if outcome.best_valid_nll is None else outcome.best_valid_nll
                row["test_nll"] = float(evaluation.evaluate_nll(model, splits["test"]))
            row["seconds"] = round(time.time() - started, 2)
            if verbose:
                print(f"{model_name} {param}={value} seed={seed}: {row['status']} "
                      f"val_nll={row['val_nll']} test_nll={row['test_nll']}", flush=True)
            rows.append({k: str(v) for k, v in row.items()})
            if out:  # the whole file, atomically: a kill never leaves a partial row
                rundir.atomic_write_csv(out, rows, COLUMNS)
    return rows


def aggregate(rows):
    """``{(model, param): [(value, mean, std, n), ...]}`` of the ``ok`` rows, sorted by value."""
    groups = {}
    for r in rows:
        if r["status"] != "ok" or r["test_nll"] in ("", None):
            continue
        groups.setdefault((r["model"], r["param"]), {}).setdefault(float(r["value"]), []).append(
            float(r["test_nll"]))
    result = {}
    for key, by_value in groups.items():
        points = []
        for value in sorted(by_value):
            nlls = by_value[value]
            mean = sum(nlls) / len(nlls)
            std = math.sqrt(sum((x - mean) ** 2 for x in nlls) / len(nlls))
            points.append((value, mean, std, len(nlls)))
        result[key] = points
    return result


def plot_sweep(csv_path, out_path, title=None, logx="auto"):
    """Plot mean (± std over seeds) test NLL against the swept value.

    One line per (model, param) found in the CSV, so L1 and L2 sweeps written
    to the same file share one figure (as in figure 8). ``logx``: ``True``,
    ``False`` or ``"auto"`` (log axis when the positive values span two
    decades or more; a symmetric-log axis when 0 is among them).

    Returns:
        ``out_path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = aggregate(_read_rows(csv_path))
    if not groups:
        raise ValueError(f"{csv_path} has no successful runs to plot")
    xs = sorted({p[0] for points in groups.values() for p in points})
    positive = [x for x in xs if x > 0]
    if logx == "auto":
        logx = len(positive) >= 2 and max(positive) / min(positive) >= 100
    fig, ax = plt.subplots(figsize=(6, 4))
    for (model, param), points in sorted(groups.items()):
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                    marker="o", capsize=3, label=f"{model}: {param}")
    if logx and positive:
        if min(xs) <= 0:
            ax.set_xscale("symlog", linthresh=min(positive))
        else:
            ax.set_xscale("log")
    params = sorted({param for _, param in groups})
    ax.set_xlabel(" / ".join(params))
    ax.set_ylabel("test NLL (nats per time step)")
    ax.set_title(title or f"Test NLL against {' / '.join(params)}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    suffix = os.path.splitext(str(out_path))[1]  # matplotlib picks the format from it
    with rundir.atomic_path(out_path, suffix=suffix) as tmp:
        fig.savefig(str(tmp), dpi=120)
    plt.close(fig)
    return out_path
