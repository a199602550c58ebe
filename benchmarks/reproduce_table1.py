"""Reproduce the paper's Table 1 (test NLL per model and dataset) on the real data.

Trains every requested zoo model on every requested dataset with
:func:`keras_rnnreg.app.training.train` (SGD with Nesterov momentum, early stopping
on the validation NLL, best weights restored) and writes a markdown table with
the paper's numbers beside ours, the seed, the epoch budget and the wall time of
each run. Runs are resumable: each lives in its own run directory, and a
finished run is not trained again, so the command can be interrupted and
rerun. A second figure shows the spectral radius of ``W_hh`` per epoch (the
paper's Figures 5-7).

Usage::

    python -m benchmarks.reproduce_table1 --datasets jsb_chorales --epochs 60 \
        --runs_root runs/table1 --out results/table1_jsb.md

This is a fixed-configuration reproduction (each model at its zoo defaults,
one seed), not the paper's 50-trial random search per model; see
``python -m keras_rnnreg tune`` for the search.
"""

import json
import pathlib
import sys
import time

from absl import flags

from benchmarks import _flags
from benchmarks.provenance import code_version
from keras_rnnreg.app import rundir

# Paper's Table 1 (docs/references.md): test NLL, nats per time step.
PAPER = {
    "rnn": (8.58, 3.43, 7.58, 6.99),
    "rnn_fd": (8.01, 3.09, 7.39, 6.75),
    "rnn_nbr": (8.83, 3.70, 7.78, 8.62),
    "rnn_n": (8.92, 3.56, 7.66, 8.40),
    "rnn_ns": (8.96, 3.58, 7.74, 8.40),
    "rnn_mn": (8.64, 3.51, 7.71, 8.13),
    "rnn_mns": (8.64, 3.50, 7.70, 8.12),
    "rnn_do": (8.48, 3.49, 7.65, 7.98),
    "rnn_dos": (8.55, 3.57, 7.67, 8.00),
    "rnn_ff": (8.67, 3.54, 7.69, 8.10),
}
DATASET_COLUMN = {"jsb_chorales": 0, "nottingham": 1, "piano_midi": 2, "musedata": 3}


PROG = "python -m benchmarks.reproduce_table1"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("models", ",".join(PAPER), "Comma-separated zoo names.", flag_values=fv)
    flags.DEFINE_string("datasets", "jsb_chorales", "Comma-separated dataset names.", flag_values=fv)
    flags.DEFINE_integer("epochs", 60, "Maximum epochs per run.", flag_values=fv)
    flags.DEFINE_integer("patience", 10, "Early-stopping patience (epochs).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of every run.", flag_values=fv)
    flags.DEFINE_integer("units", None, "Override the hidden units of every model.", flag_values=fv)
    flags.DEFINE_string("runs_root", "runs/table1", "Folder of the per-run directories.", flag_values=fv)
    flags.DEFINE_string("out", "results/table1.md", "Markdown table to write.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    return _flags.parse(PROG, __doc__.split("\n\n")[0], define_flags, argv)


def run_all(args):
    from keras_rnnreg.app import training

    results = []
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            run_dir = pathlib.Path(args.runs_root) / f"{model}-{dataset}-seed{args.seed}"
            hyperparameters = {"units": args.units} if args.units else None
            start = time.time()
            metrics = training.train(
                model, dataset, str(run_dir), hyperparameters=hyperparameters, epochs=args.epochs,
                patience=args.patience, seed=args.seed, data_dir=args.data_dir, verbose=0,
                tensorboard=False, export_saved_model=False,
            )
            print(
                f"{dataset:13s} {model:8s} test NLL {_num(metrics.get('test_nll')):.3f} "
                f"({metrics.get('status')}, {metrics.get('epochs_completed')} epochs, {time.time() - start:.0f} s this call)",
                flush=True,
            )
            results.append({"model": model, "dataset": dataset, "run_dir": str(run_dir), **metrics})
            write_table(results, args)
    plot_spectral_radius(results, pathlib.Path(args.out).with_suffix(".spectral_radius.png"))
    return results


def _num(value):
    return float("nan") if value is None else float(value)


def _optimizer(result):
    training = result.get("training") or {}
    return f"{training.get('optimizer')} lr={training.get('learning_rate')}"


def write_table(results, args):
    lines = [
        "# Table 1 reproduction (test NLL, nats per time step)",
        "",
        f"Command: `python -m benchmarks.reproduce_table1 --models {args.models} --datasets {args.datasets} "
        f"--epochs {args.epochs} --patience {args.patience} --seed {args.seed}"
        + (f" --units {args.units}" if args.units else "")
        + "`",
        "",
        f"Code: {code_version()}.",
        "",
        "Each model at its zoo defaults (`keras_rnnreg.models.default_hyperparameters`), trained with the "
        "training defaults of `keras_rnnreg.app.training.DEFAULTS` (batch 8, gradient clipping, early stopping "
        "on the validation NLL with the best weights restored), one seed, no hyperparameter search. The "
        "paper picked each number from a 50-configuration random search, so ours are single fixed "
        "configurations. Wall time: training and evaluation of the run on 2 shared CPU cores.",
        "",
        "| dataset | model | test NLL (ours) | paper | valid NLL | epochs (best) | optimizer | wall time (s) | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        paper = PAPER[r["model"]][DATASET_COLUMN[r["dataset"]]]
        lines.append(
            f"| {r['dataset']} | {r['model']} | {_num(r.get('test_nll')):.3f} | {paper:.2f} | "
            f"{_num(r.get('valid_nll')):.3f} | {r.get('epochs_completed')} ({r.get('best_epoch')}) | "
            f"{_optimizer(r)} | {_num(r.get('wall_time_s')):.0f} | "
            f"{r.get('status')} |"
        )
    total = sum(_num(r.get("wall_time_s")) for r in results)
    lines += ["", f"Total wall time of the runs: {total:.0f} s ({total / 60:.1f} min)."]
    rundir.atomic_write_text(args.out, "\n".join(lines) + "\n")
    rundir.atomic_write_text(pathlib.Path(args.out).with_suffix(".json"), json.dumps(results, indent=2, default=str))


def plot_spectral_radius(results, path):
    """Spectral radius of W_hh per epoch for every run that logged it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        history = pathlib.Path(r["run_dir"]) / "spectral_radius.csv"
        if not history.is_file():
            continue
        rows = [line.split(",") for line in history.read_text().strip().splitlines()[1:]]
        if rows:
            ax.plot([int(e) for e, *_ in rows], [float(v) for _, v, *_ in rows], label=f"{r['model']} ({r['dataset']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("spectral radius of W_hh")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    from keras_rnnreg.app._startup import prefer_bfc_cpu_allocator

    # As the command line does (before TensorFlow's first op; see _startup).
    prefer_bfc_cpu_allocator()
    run_all(parse_args(argv))


if __name__ == "__main__":
    main()
