"""Command line of ``python -m keras_rnnreg tune`` (also ``python -m keras_rnnreg.tuning``).

Search (single machine; resumes ``--directory`` when rerun)::

    python -m keras_rnnreg tune --model rnn_mns --dataset jsb_chorales \\
        --trials 50 --epochs 200 --seed 0 --directory runs/rnn_mns

Distributed search (a chief serving the oracle plus N workers on this machine)::

    python -m keras_rnnreg tune --distributed --workers 4 --model rnn_mns ... --directory DIR
    # or by hand, one process each (KerasTuner's own variables):
    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m keras_rnnreg tune --model rnn_mns ... --directory DIR
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m keras_rnnreg tune --model rnn_mns ... --directory DIR

Sweep of one hyperparameter (figures 8-10)::

    python -m keras_rnnreg tune sweep --model rnn_nbr --param l2 \\
        --values 0,1e-5,1e-4,1e-3 --seeds 0,1,2 --out sweep.csv --plot sweep.png

Summary of an existing directory (no training)::

    python -m keras_rnnreg tune summarize --directory DIR

Flags are defined on private ``absl.flags.FlagValues`` instances, so they never
clash with the flags of other subcommands. The subcommands are
:class:`keras_rnnreg.app.cli.Command` objects run by the command line's own dispatcher
(:func:`keras_rnnreg.app.cli.dispatch`): the same ``--help``, one-line errors and
deferred TensorFlow start. :func:`main` takes the arguments that follow
``tune`` (a leading ``"tune"`` is ignored) and returns an exit status: 0
success, 1 failure of the run, 2 usage error.
"""

from __future__ import annotations

import sys

from absl import flags

from keras_rnnreg.app.cli import PROG as CLI_PROG
from keras_rnnreg.app.cli import Command, CommandError, dispatch
from keras_rnnreg.defaults import DIVERGENCE_THRESHOLD, TRAINING, TRIALS
from keras_rnnreg.rnn.choices import CELLS

# Flags of the launcher only (not passed on to the chief and workers).
LAUNCHER_FLAGS = ("distributed", "workers", "oracle_ip", "oracle_port", "timeout", "overwrite")


def _data_flags(fv):
    flags.DEFINE_string("model", None, "Zoo model name (e.g. rnn_mns).", flag_values=fv)
    flags.DEFINE_string("dataset", "jsb_chorales", "Benchmark dataset name.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).",
                        flag_values=fv)
    flags.DEFINE_integer("epochs", TRAINING["epochs"], "Maximum epochs of each trial / run (early stopping ends most sooner).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("patience", TRAINING["patience"], "Early-stopping patience in epochs on val_nll (0: none).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("batch_size", TRAINING["batch_size"], "Windows per batch.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("window", TRAINING["window"], "Training/validation window length.", lower_bound=1, flag_values=fv)
    flags.DEFINE_multi_string("fixed", [], "Pin a hyperparameter: name=value (repeatable), "
                              "e.g. --fixed units=64.", flag_values=fv)
    flags.DEFINE_integer("max_train_sequences", None, "Use only the first N training sequences.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("max_valid_sequences", None, "Use only the first N validation sequences.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("max_test_sequences", None, "Use only the first N test sequences.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_float("divergence_threshold", DIVERGENCE_THRESHOLD, "A training loss above this (nats/frame), NaN or inf "
                       "fails the trial (<= 0 disables the threshold; NaN/inf always fail).", flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0 quiet, 1 one line per finished trial (on stderr).", flag_values=fv)


def _define_search(fv):
    _data_flags(fv)
    flags.DEFINE_string("directory", None, "Search folder: KerasTuner state, summary.json, summary.md.",
                        flag_values=fv)
    flags.DEFINE_string("project_name", None, "KerasTuner project name (default MODEL_DATASET).",
                        flag_values=fv)
    flags.DEFINE_integer("trials", TRIALS, "Number of configurations (ignored by hyperband).", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_multi_string("range", [], "Replace the bounds of a searched numeric hyperparameter: "
                              "name=low:high (repeatable), e.g. --range sparsity_k=10:100.", flag_values=fv)
    flags.DEFINE_list("cell", ["simple"], f"Recurrent cell: {', '.join(CELLS)} (the paper's tanh RNN, the "
                      "default); several, comma-separated (e.g. lstm,gru), are searched as a choice.",
                      flag_values=fv)
    flags.register_validator("cell", lambda v: bool(v) and all(c in CELLS for c in v),
                             message=f"--cell takes {', '.join(CELLS)} (one, or several comma-separated)",
                             flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the oracle, the models and the data order (the same seed gives "
                         "the same trials).", lower_bound=0, flag_values=fv)
    flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "Search algorithm.",
                      flag_values=fv)
    flags.DEFINE_enum("final", "reload", ["reload", "retrain", "none"], "Evaluate the best configuration "
                      "on the test split from its best-epoch checkpoint, retrained, or not at all.",
                      flag_values=fv)
    flags.DEFINE_integer("max_consecutive_failed_trials", 10, "Abort after this many failed trials in a row.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "Delete an existing search in --directory instead of resuming "
                         "(only the project folder, if it holds nothing but a search's files, and the "
                         "summary).", flag_values=fv)
    flags.DEFINE_boolean("repair", False, "Before resuming, rebuild unreadable state files (oracle.json, "
                         "tuner0.json, trial.json, search_config.json) from the trials' own records; "
                         "finished trials are kept.", flag_values=fv)
    flags.DEFINE_enum("distribution_strategy", "none", ["none", "mirrored"], "Run each trial under "
                      "tf.distribute.MirroredStrategy (all GPUs of this machine).", flag_values=fv)
    flags.DEFINE_integer("hyperband_factor", 3, "Hyperband reduction factor.", lower_bound=2, flag_values=fv)
    flags.DEFINE_integer("hyperband_iterations", 1, "Hyperband iterations.", lower_bound=1, flag_values=fv)
    flags.DEFINE_list("force_nan_trials", [], "Test hook: trial ids forced to diverge (learning rate 1e38).",
                      flag_values=fv)
    flags.DEFINE_boolean("distributed", False, "Start a chief and --workers workers on this machine.",
                         flag_values=fv)
    flags.DEFINE_integer("workers", 2, "Workers of --distributed.", lower_bound=1, flag_values=fv)
    flags.DEFINE_string("oracle_ip", "127.0.0.1", "Address the chief listens on (--distributed).",
                        flag_values=fv)
    flags.DEFINE_integer("oracle_port", 0, "Chief's port (0: a free ephemeral port).", lower_bound=0,
                         flag_values=fv)
    flags.DEFINE_float("timeout", None, "Kill all processes of --distributed after this many seconds.",
                       flag_values=fv)
    flags.mark_flags_as_required(["model", "directory"], flag_values=fv)


def _define_sweep(fv):
    _data_flags(fv)
    flags.DEFINE_string("param", None, "Hyperparameter to sweep (e.g. l2, sigma, dropconnect_p).",
                        flag_values=fv)
    flags.DEFINE_list("values", None, "Comma-separated values of --param.", flag_values=fv)
    flags.DEFINE_list("seeds", ["0"], "Comma-separated seeds; each value runs once per seed.", flag_values=fv)
    flags.DEFINE_string("base", None, "summary.json of a search: start from its best configuration.",
                        flag_values=fv)
    flags.DEFINE_string("out", None, "CSV file (rows already there are kept and skipped).", flag_values=fv)
    flags.DEFINE_string("plot", None, "Also plot mean test NLL against --param to this image file.",
                        flag_values=fv)
    flags.mark_flags_as_required(["model", "param", "values", "out"], flag_values=fv)


def _define_summarize(fv):
    flags.DEFINE_string("directory", None, "Search folder.", flag_values=fv)
    flags.DEFINE_string("project_name", None, "KerasTuner project (default: the one in search_config.json).",
                        flag_values=fv)
    flags.mark_flag_as_required("directory", flag_values=fv)


def _fresh(define):
    fv = flags.FlagValues()
    define(fv)
    return fv


def search_flags():
    """A fresh ``FlagValues`` with the flags of a search (and the launcher)."""
    return _fresh(_define_search)


def sweep_flags():
    """A fresh ``FlagValues`` with the flags of ``tune sweep``."""
    return _fresh(_define_sweep)


def summarize_flags():
    """A fresh ``FlagValues`` with the flags of ``tune summarize``."""
    return _fresh(_define_summarize)


PROG = "python -m keras_rnnreg tune"


def usage_text():
    """The usage of every form of ``tune`` and what each does."""
    lines = []
    for i, command in enumerate(COMMANDS.values()):
        lines.append(f"{'usage: ' if i == 0 else '       '}{PROG} {command.usage}")
    lines += ["", "subcommands:"]
    lines += [f"  {command.name:<10} {command.summary}" for command in COMMANDS.values()]
    return "\n".join(lines)


def help_text(fv, command):
    """``tune --help``: the usage of every form, what each does, then the flags of ``command``."""
    return "\n".join([usage_text(), "", f"'{PROG} SUBCOMMAND --help' lists the flags of a subcommand.", "",
                      f"flags of 'tune {command}':", fv.get_help()])


def _threshold(fv):
    return fv.divergence_threshold if fv.divergence_threshold and fv.divergence_threshold > 0 else None


def child_argv(fv):
    """The search flags given on the command line, minus the launcher's own."""
    argv = []
    for name in fv:
        flag = fv[name]
        if name in LAUNCHER_FLAGS or not flag.present:
            continue
        argv.extend(line for line in flag.serialize().split("\n") if line)
    return argv


def _settings(fv):
    from keras_rnnreg.tuning import search_space
    from keras_rnnreg.tuning.search import SearchSettings

    fixed = search_space.parse_fixed(fv.model, fv.fixed)
    ranges = search_space.parse_ranges(fv.model, fv.range)
    cells = list(dict.fromkeys(fv.cell))
    if fv["cell"].present and "cell" in fixed:
        raise CommandError("give the cell once: --cell or --fixed cell=..., not both")
    if len(cells) > 1:
        ranges["cell"] = tuple(cells)  # searched: the choice row of tuning/SEARCH_SPACE.md
    elif cells != ["simple"]:
        fixed["cell"] = cells[0]
    return SearchSettings(
        model=fv.model, directory=fv.directory, dataset=fv.dataset, data_dir=fv.data_dir,
        project_name=fv.project_name, trials=fv.trials, epochs=fv.epochs, patience=fv.patience,
        seed=fv.seed, tuner=fv.tuner, batch_size=fv.batch_size, window=fv.window,
        fixed=fixed, ranges=ranges,
        final=fv.final,
        max_consecutive_failed_trials=fv.max_consecutive_failed_trials,
        divergence_threshold=_threshold(fv), overwrite=fv.overwrite, repair=fv.repair,
        max_train_sequences=fv.max_train_sequences, max_valid_sequences=fv.max_valid_sequences,
        max_test_sequences=fv.max_test_sequences, distribution_strategy=fv.distribution_strategy,
        hyperband_factor=fv.hyperband_factor, hyperband_iterations=fv.hyperband_iterations,
        verbose=fv.verbose, force_nan_trials=tuple(fv.force_nan_trials),
    )


def _print_result(summary):
    import os

    best = summary.get("best")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["status_counts"].items()))
    print(f"{len(summary['trials'])} trials ({counts}); summary in {os.path.join(os.path.dirname(summary['project_dir']), 'summary.json')}")
    if best:
        test = best.get("test_nll")
        print(f"best trial {best['trial_id']}: val_nll {best['val_nll']:.4f}"
              + (f", test_nll {test:.4f} ({best['final']})" if test is not None else ""))
        if best.get("test_error"):
            print(f"test evaluation failed: {best['test_error']}", file=sys.stderr)
    if summary.get("error"):
        print(f"search stopped: {summary['error']}", file=sys.stderr)


def _main_search(fv, args):
    # A ValueError (bad setting, refused resume) is one error line, exit 2 (keras_rnnreg.app.cli.run_command).
    settings = _settings(fv)
    if fv.distributed:
        from keras_rnnreg.tuning import launch

        return launch.run_distributed(
            child_argv(fv), workers=fv.workers, ip=fv.oracle_ip, port=fv.oracle_port,
            timeout=fv.timeout, settings=settings,
        )
    from keras_rnnreg.tuning.search import run_search

    summary = run_search(settings)
    if summary is None:  # distributed worker
        return 0
    _print_result(summary)
    best = summary.get("best")
    failed = summary.get("error") or best is None or (best.get("test_error") is not None)
    return 1 if failed else 0


def _main_sweep(fv, args):
    from keras_rnnreg.tuning import search_space, sweep

    rows = sweep.run_sweep(
        fv.model, fv.param, fv.values, seeds=[int(s) for s in fv.seeds], out=fv.out,
        dataset=fv.dataset, data_dir=fv.data_dir, epochs=fv.epochs, patience=fv.patience,
        batch_size=fv.batch_size, window=fv.window, fixed=search_space.parse_fixed(fv.model, fv.fixed),
        base=fv.base, max_train_sequences=fv.max_train_sequences,
        max_valid_sequences=fv.max_valid_sequences, max_test_sequences=fv.max_test_sequences,
        divergence_threshold=_threshold(fv), verbose=fv.verbose,
    )
    if fv.plot:
        sweep.plot_sweep(fv.out, fv.plot)
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{len(rows)} runs ({ok} ok) in {fv.out}" + (f"; plot {fv.plot}" if fv.plot else ""))
    return 0 if ok else 1


def _main_summarize(fv, args):
    import json
    import os

    from keras_rnnreg.tuning import summary as summary_lib

    config_path = os.path.join(fv.directory, "search_config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
    project = fv.project_name or config.get("project_name")
    if not project:
        raise CommandError(f"no search_config.json in {fv.directory}; pass --project_name")
    project_dir = os.path.join(fv.directory, project)
    records = summary_lib.directory_records(project_dir)
    best = summary_lib.best_record(records)
    summary = {
        "model": config.get("model"), "dataset": config.get("dataset"), "tuner": config.get("tuner"),
        "objective": {"name": "val_nll", "direction": "min"}, "max_trials": None, "seed": config.get("seed"),
        "fixed": config.get("fixed"), "project_dir": project_dir,
        "status_counts": summary_lib.status_counts(records), "run_counts": summary_lib.run_counts(project_dir),
        "trial_seconds": summary_lib.trial_seconds(project_dir),
        "best": dict(best, final="none", test_nll=None, test_error=None) if best else None,
        "error": None, "trials": records,
    }
    summary_lib.write_summary(summary, fv.directory)
    _print_result(summary)
    return 0


#: ``tune``'s subcommands, run by the command line's dispatcher (``search`` is the default
#: and may be left out: ``tune --model ...``).
COMMANDS = {
    c.name: c
    for c in (
        Command("search", "hyperparameter search (KerasTuner; resumes DIR when rerun; --distributed for a "
                "chief and workers)", _define_search, _main_search,
                "[search] --model MODEL --directory DIR [flags]", help_text),
        Command("sweep", "test NLL against one hyperparameter, the others fixed (figures 8-10)",
                _define_sweep, _main_sweep,
                "sweep --model MODEL --param NAME --values V1,V2,... --out FILE.csv [--plot FILE.png] [flags]",
                help_text),
        Command("summarize", "rebuild summary.json / summary.md of an existing search folder (no training)",
                _define_summarize, _main_summarize, "summarize --directory DIR [--project_name NAME]",
                help_text),
    )
}
SUBCOMMANDS = tuple(COMMANDS)


def main(argv=None):
    """Entry point of ``tune``: ``argv`` are the arguments after ``tune``.

    The first argument may be a subcommand (``search``, the default,
    ``sweep`` or ``summarize``). Returns the exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "tune":
        argv = argv[1:]
    return dispatch(f"{CLI_PROG} tune", COMMANDS, argv, usage_text(), default="search", noun="subcommand")

