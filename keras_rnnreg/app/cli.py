"""The command line: ``python -m keras_rnnreg COMMAND [flags]`` (or ``keras-rnnreg``).

Commands::

    train      train a zoo model on a benchmark into a run directory (resumable)
    evaluate   NLL (nats per time step) of a trained run on a split
    export     write the SavedModel export of a trained run (and check it)
    sample     draw a piano roll from a trained run; write MIDI and a PNG
    data       data utilities: ``data stats DATASET``
    tune       hyperparameter search (keras_rnnreg.tuning.cli)

Each command defines its flags on its own :class:`absl.flags.FlagValues`
(never the global ``FLAGS``) and parses its own argv, so commands and other
modules cannot clash. ``COMMAND --help`` lists a command's flags. One
dispatcher (:func:`dispatch`, :func:`run_command`) runs these commands and
``tune``'s subcommands; it answers ``--help`` and flag errors before
TensorFlow, Keras and the layers are imported (the flags take their defaults
and choices from Keras-free modules: :mod:`keras_rnnreg.defaults`,
:mod:`keras_rnnreg.zoo_specs`, the data registry).

Exit status: 0 success; 2 bad usage, a bad value or a file that cannot be
written (disk full, read-only, no permission: one ``error:`` line on stderr
naming the path and the cause, no traceback; set ``KERAS_RNNREG_DEBUG=1`` to
get the traceback); 3 a diverged training run; 130 interrupted by SIGINT
(Ctrl-C), 143 terminated by SIGTERM (rerun the same command to resume; see
:mod:`keras_rnnreg.app.signals`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Callable

from absl import flags

# Keras-free: the flags' defaults and choices (``--help`` must not start Keras).
from keras_rnnreg import defaults, zoo_specs

PROG = "keras-rnnreg"
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: Longest error line printed (a message quoting a huge value is cut).
MESSAGE_LIMIT = 500
#: Fastest MIDI tempo accepted by ``sample`` (quarter notes per minute).
MAX_TEMPO = 1000.0


class CommandError(Exception):
    """A user error: printed as one ``error:`` line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand, run by :func:`dispatch`.

    Attributes:
        name: the word after the program name.
        summary: one line for the usage listing.
        define: ``define(fv)`` defines the command's flags on ``fv`` (from
            Keras-free modules only: ``--help`` must not start Keras); ``None``
            for a command with subcommands of its own, whose ``main(argv)``
            gets its arguments unparsed.
        main: ``main(fv, args) -> int`` runs it (``args``: positional arguments).
        usage: the synopsis shown by ``--help``.
        help: ``help(fv, name) -> str``, the ``--help`` text, if not the
            default (usage, summary and flags).
        positional: whether it takes positional arguments (else one is an error).
        check: ``check(fv)``: cheap checks of the paths the flags name, run
            before TensorFlow starts (seconds), so a mistyped folder is
            answered at once; raises :class:`CommandError`.
    """

    name: str
    summary: str
    define: Callable | None
    main: Callable
    usage: str = ""
    help: Callable | None = None
    positional: bool = False
    check: Callable | None = None


def _check_data_dir(fv):
    """An explicit data folder (``--data_dir`` or ``$KERAS_RNNREG_DATA_DIR``) must exist."""
    given = getattr(fv, "data_dir", None)
    where = "--data_dir"
    if given is None and os.environ.get("KERAS_RNNREG_DATA_DIR"):
        given, where = os.environ["KERAS_RNNREG_DATA_DIR"], "$KERAS_RNNREG_DATA_DIR"
    if given is not None and not os.path.isdir(os.path.expanduser(given)):
        raise CommandError(f"data directory {given!r} ({where}) does not exist or is not a directory")


def _check_trained_run_dir(fv):
    """``--run_dir`` of evaluate, export and sample: a folder holding a trained run."""
    path = fv.run_dir
    if not os.path.isdir(path):
        raise CommandError(f"run_dir {path!r} does not exist or is not a directory")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise CommandError(f"run_dir {path!r} holds no config.json (not a training run)")
    if not os.path.isfile(os.path.join(path, "model.keras")):
        raise CommandError(f"run_dir {path!r} holds no trained model.keras (see its metrics.json)")


def _check_train(fv):
    if fv.run_dir is not None and os.path.exists(fv.run_dir) and not os.path.isdir(fv.run_dir):
        raise CommandError(f"run_dir {fv.run_dir!r} exists and is not a directory")
    _check_data_dir(fv)


def _check_run_and_data(fv):
    _check_trained_run_dir(fv)
    if getattr(fv, "data_dir", None) is not None:
        _check_data_dir(fv)


# --------------------------------------------------------------------------- helpers


def _positive_float(fv, name, default, help_text, allow_zero=False):
    flags.DEFINE_float(name, default, help_text, flag_values=fv)
    if allow_zero:
        flags.register_validator(
            name, lambda v: v is None or v >= 0, message=f"--{name} must be >= 0", flag_values=fv
        )
    else:
        flags.register_validator(
            name, lambda v: v is None or v > 0, message=f"--{name} must be > 0", flag_values=fv
        )


class _NumberOrNone(flags.ArgumentParser):
    """Parse an int or float flag that also accepts ``none``."""

    def __init__(self, kind):
        self.kind = kind

    def parse(self, argument):
        if argument is None or isinstance(argument, (int, float)) and not isinstance(argument, bool):
            return argument
        text = str(argument).strip()
        if text.lower() in ("none", "null"):
            return None
        try:
            return self.kind(text)
        except ValueError:
            raise ValueError(f"expected {'an integer' if self.kind is int else 'a number'} or 'none'") from None

    def flag_type(self):
        return f"{self.kind.__name__} or none"


#: Hyperparameters that may be ``None`` (``--sparsity_k=none``: dense init;
#: ``--spectral_radius=none``: no rescaling).
_NULLABLE = ("sparsity_k", "spectral_radius")


def hyperparameter_table():
    """``{name: {model: default}}`` over the union of all zoo models' hyperparameters (no ``seed``)."""
    table = {}
    for model in zoo_specs.names():
        for key, value in zoo_specs.default_hyperparameters(model).items():
            if key != "seed":
                table.setdefault(key, {})[model] = value
    return table


def define_hyperparameter_flags(fv):
    """Define one flag per model hyperparameter (union over the zoo) on ``fv``.

    The flag's default is ``None`` (meaning: the model's own default); its help
    lists the models that have it and their defaults. Returns the names.
    """
    table = hyperparameter_table()
    for key, per_model in sorted(table.items()):
        model_defaults = sorted({repr(v) for v in per_model.values()})
        if len(per_model) == len(hyperparameter_models()):
            where = f"all models; default {', '.join(model_defaults)}"
        else:
            where = ", ".join(f"{m}={per_model[m]!r}" for m in per_model)
        help_text = f"Model hyperparameter ({where})."
        sample = next(iter(per_model.values()))
        if isinstance(sample, str):
            choices = list(zoo_specs.CHOICES[key])
            flags.DEFINE_enum(key, None, choices, help_text, flag_values=fv)
        elif key in _NULLABLE:
            kind = int if isinstance(sample, int) else float
            flags.DEFINE(_NumberOrNone(kind), key, None, help_text + " 'none' turns it off.", flag_values=fv)
        elif isinstance(sample, bool):
            flags.DEFINE_boolean(key, None, help_text, flag_values=fv)
        elif isinstance(sample, int):
            flags.DEFINE_integer(key, None, help_text, flag_values=fv)
        else:
            flags.DEFINE_float(key, None, help_text, flag_values=fv)
    return sorted(table)


def hyperparameter_models():
    """The zoo's model names."""
    return zoo_specs.names()


def hyperparameter_overrides(fv, model):
    """The hyperparameter flags the user set, checked against ``model``.

    Raises:
        CommandError: a flag set that ``model`` has no such hyperparameter.
    """
    accepted = zoo_specs.default_hyperparameters(model)
    overrides = {}
    for key in hyperparameter_table():
        if fv[key].present:
            if key not in accepted:
                valid = ", ".join(f"--{k}" for k in sorted(accepted) if k != "seed")
                raise CommandError(
                    f"model {model!r} has no hyperparameter --{key} (its hyperparameters: {valid})"
                )
            overrides[key] = fv[key].value
    return overrides


def _run_dir_of(fv):
    from keras_rnnreg.app import rundir

    rd = rundir.RunDir(fv.run_dir)
    rd.check_usable()
    return rd


def _load_run(fv):
    """``(run_dir, config, model)`` of the run in ``--run_dir``."""
    from keras_rnnreg.app import export

    rd = _run_dir_of(fv)
    path = rd.require_model()
    config = rd.read_config() or {}
    return rd, config, export.load_keras_model(path)


# --------------------------------------------------------------------------- train


def _define_train(fv):
    from keras_rnnreg.data_pipelines.registry import DATASETS

    d = defaults.TRAINING
    flags.DEFINE_enum("model", d["model"], zoo_specs.names(), "Zoo model (a row of the paper's Table 1).", flag_values=fv)
    flags.DEFINE_enum("dataset", d["dataset"], list(DATASETS), "Benchmark.", flag_values=fv)
    flags.DEFINE_integer("epochs", d["epochs"], "Maximum number of epochs.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", d["batch_size"], "Training windows per batch.", lower_bound=1, flag_values=fv)
    flags.DEFINE_enum("optimizer", d["optimizer"], list(defaults.OPTIMIZERS),
                      "sgd (Nesterov momentum, the paper's), rmsprop (Keras's), rmsprop_nesterov (climin's, the authors') or adam.", flag_values=fv)
    _positive_float(fv, "learning_rate", d["learning_rate"], "Step size.")
    flags.DEFINE_float("momentum", d["momentum"], "Momentum in [0, 1) (sgd, rmsprop, rmsprop_nesterov).",
                       lower_bound=0.0, upper_bound=0.999999, flag_values=fv)
    flags.DEFINE_float("decay", d["decay"], "Decay of the squared-gradient average in [0, 1) "
                       "(rmsprop, rmsprop_nesterov; the authors' notebook: 0.8).",
                       lower_bound=0.0, upper_bound=0.999999, flag_values=fv)
    _positive_float(fv, "clipnorm", d["clipnorm"], "Clip each gradient to this norm; 0 disables clipping.",
                    allow_zero=True)
    flags.DEFINE_integer("patience", d["patience"],
                         "Early-stopping patience in epochs on val_nll (0: never stop early; "
                         "the best weights are restored either way).", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("seed", d["seed"], "Random seed (model, shuffling, noise).", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("window", d["window"], "Training/validation window length.", lower_bound=1, flag_values=fv)
    flags.DEFINE_string("run_dir", None, "Output folder (default runs/<model>_<dataset>_seed<seed>). "
                        "Rerunning the same command resumes an interrupted run.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).", flag_values=fv)
    flags.DEFINE_enum("source", "mat", ["mat", "notes"], "Data encoding to read.", flag_values=fv)
    for split in ("train", "valid", "test"):
        flags.DEFINE_integer(f"max_{split}_sequences", None,
                             f"Use only the first N {split} sequences (quick runs, tests).",
                             lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress bars, 2 one line per epoch.",
                         lower_bound=0, upper_bound=2, flag_values=fv)
    flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA compilation.", flag_values=fv)
    flags.DEFINE_boolean("export", True, "Also write the SavedModel export.", flag_values=fv)
    flags.DEFINE_boolean("tensorboard", True, "Write TensorBoard logs.", flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "Discard an existing run in --run_dir.", flag_values=fv)
    define_hyperparameter_flags(fv)


def _main_train(fv, args):
    from keras_rnnreg.app import training

    overrides = hyperparameter_overrides(fv, fv.model)
    run_dir = (fv.run_dir if fv.run_dir is not None
               else training.default_run_dir(fv.model, fv.dataset, fv.seed, overrides.get("cell", "simple")))
    jit = {"auto": "auto", "true": True, "false": False}[fv.jit_compile]
    run_dir = os.path.abspath(run_dir)  # named in full, first (by train) and last: where to look
    metrics = training.train(
        fv.model, fv.dataset, run_dir,
        hyperparameters=overrides, epochs=fv.epochs, batch_size=fv.batch_size, optimizer=fv.optimizer,
        learning_rate=fv.learning_rate, momentum=fv.momentum, decay=fv.decay, clipnorm=fv.clipnorm or None,
        patience=fv.patience, seed=fv.seed, window=fv.window, data_dir=fv.data_dir, source=fv.source,
        max_train_sequences=fv.max_train_sequences, max_valid_sequences=fv.max_valid_sequences,
        max_test_sequences=fv.max_test_sequences, verbose=fv.verbose, jit_compile=jit,
        export_saved_model=fv.export, tensorboard=fv.tensorboard, overwrite=fv.overwrite,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    if metrics.get("status") == training.STATUS_DIVERGED:
        print(f"{PROG} train: {metrics['message']}; see {os.path.join(str(run_dir), 'metrics.json')}",
              file=sys.stderr)
        return EXIT_DIVERGED
    print(f"test NLL: {metrics['test_nll']:.4f} nats per time step "
          f"(valid {metrics['valid_nll']:.4f}, train {metrics['train_nll']:.4f}; "
          f"{metrics['epochs_completed']} epochs, {metrics['wall_time_s']:.0f} s; run_dir {run_dir})")
    return 0


# --------------------------------------------------------------------------- evaluate


def _define_evaluate(fv):
    flags.DEFINE_string("run_dir", None, "Run directory of a trained model.", flag_values=fv)
    flags.mark_flag_as_required("run_dir", flag_values=fv)
    flags.DEFINE_enum("split", "test", ["train", "valid", "test"], "Split to evaluate.", flag_values=fv)
    flags.DEFINE_enum("on", "auto", ["auto", "sequences", "windows"],
                      "Whole sequences (the paper's test metric) or the training windows; "
                      "auto: sequences for test, windows for train/valid (as in metrics.json).", flag_values=fv)
    flags.DEFINE_enum("average", "frames", ["frames", "sequences"],
                      "On whole sequences: every predicted frame weighs the same (frames: the authors' code, "
                      "every number in results/) or every sequence does (sequences: the paper's formula "
                      "read literally).", flag_values=fv)
    flags.DEFINE_boolean("saved_model", False, "Evaluate the SavedModel export instead of model.keras. "
                         "A SavedModel is code (its graph runs as it is): use it only for exports you "
                         "made; only .keras files load safely (safe_mode) from untrusted sources.",
                         flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder (default: the run's, else $KERAS_RNNREG_DATA_DIR, "
                        "else the packaged files).",
                        flag_values=fv)
    flags.DEFINE_boolean("json", False, "Print the result as JSON.", flag_values=fv)


def evaluate_run(run_dir, split="test", on="auto", data_dir=None, use_saved_model=False, average="frames"):
    """NLL of the trained run in ``run_dir`` on ``split``; returns a result dict.

    ``average`` (whole sequences only): ``"frames"`` or ``"sequences"``, see
    :func:`keras_rnnreg.app.evaluation.evaluate_nll`.
    """
    from keras_rnnreg.app import evaluation, export, rundir, training
    from keras_rnnreg import data_pipelines

    rd = rundir.RunDir(run_dir)
    rd.check_usable()
    if not rd.path.is_dir():
        raise rundir.RunDirError(f"run_dir {str(rd.path)!r} does not exist")
    config = rd.read_config()
    if config is None:
        raise rundir.RunDirError(f"run_dir {str(rd.path)!r} holds no config.json (not a training run)")
    path = rd.require_model()
    if use_saved_model:
        if not rd.saved_model.is_dir():
            raise rundir.RunDirError(f"run_dir {str(rd.path)!r} has no saved_model/ export")
        model = export.serving_function(rd.saved_model)
    else:
        model = export.load_keras_model(path)
    splits = training.load_splits(
        config["dataset"], data_dir or config.get("data_dir"), config.get("source", "mat"),
        config.get("max_train_sequences"), config.get("max_valid_sequences"), config.get("max_test_sequences"),
    )
    sequences = splits[split]
    mode = on if on != "auto" else ("sequences" if split == "test" else "windows")
    if average != "frames" and mode != "sequences":
        raise ValueError(f"--average {average} needs whole sequences (--on sequences); "
                         f"the {split} split is scored on {mode} here")
    if mode == "sequences":
        nll = evaluation.evaluate_nll(model, sequences, average=average)
        frames = sum(len(s) - 1 for s in sequences)
    else:
        ds = data_pipelines.make_window_dataset(sequences, config.get("window", 100), 32, shuffle=False)
        total = count = 0.0
        import numpy as np

        from keras_rnnreg.losses import frame_nll

        for x, y, w in ds:
            out = model(x, training=False) if not use_saved_model else model(x)
            nll_frames = np.asarray(frame_nll(y, out), dtype=np.float64)
            total += float(np.sum(nll_frames * w.numpy()))
            count += float(np.sum(w.numpy()))
        nll = total / count
        frames = int(count)
    return {"run_dir": str(rd.path), "dataset": config["dataset"], "model": config["model"], "split": split,
            "on": mode, "average": average, "nll": nll, "sequences": len(sequences), "frames": frames,
            "source": "saved_model" if use_saved_model else "model.keras"}


def _main_evaluate(fv, args):
    result = evaluate_run(fv.run_dir, fv.split, fv.on, fv.data_dir, fv.saved_model, fv.average)
    if fv.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['split']} NLL: {result['nll']:.4f} nats per time step "
              f"({result['sequences']} sequences, {result['frames']} predicted frames, "
              f"{result['on']}, averaged over {result['average']}; {result['model']} on {result['dataset']}, {result['source']})")
    return 0


# --------------------------------------------------------------------------- export


def _define_export(fv):
    flags.DEFINE_string("run_dir", None, "Run directory of a trained model.", flag_values=fv)
    flags.mark_flag_as_required("run_dir", flag_values=fv)
    flags.DEFINE_string("out", None, "Export folder (default <run_dir>/saved_model). It must be absent, "
                        "empty or a previous SavedModel export; anything else is refused.", flag_values=fv)


def _main_export(fv, args):
    import numpy as np

    from keras_rnnreg.app import export

    if fv.out:
        export.check_export_target(fv.out)  # before anything is loaded or written
    rd, _, model = _load_run(fv)
    out = fv.out or rd.saved_model
    export.export_saved_model(model, out)
    # Check the export: same predictions as the Keras model on a random roll.
    x = np.random.default_rng(0).binomial(1, 0.05, size=(2, 16, 88)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    got = np.asarray(export.serving_function(out)(x))
    err = float(np.max(np.abs(expected - got)))
    if not err < 1e-5:
        raise CommandError(f"export check failed: SavedModel predictions differ by {err:g}")
    print(f"exported {out} (signature serving_default: piano_roll float32 (batch, time, 88) -> "
          f"probabilities (batch, time, 88); max difference to model.keras {err:.1e})")
    return 0


# --------------------------------------------------------------------------- sample


def _define_sample(fv):
    flags.DEFINE_string("run_dir", None, "Run directory of a trained model.", flag_values=fv)
    flags.mark_flag_as_required("run_dir", flag_values=fv)
    flags.DEFINE_integer("steps", 64, "Frames to draw.", lower_bound=1, flag_values=fv)
    flags.DEFINE_string("out", None, "Output MIDI file (.mid); default <run_dir>/samples/sample_seed<seed>.mid "
                        "(the folder is created).", flag_values=fv)
    flags.DEFINE_string("png", None, "Piano-roll image (default: --out with .png).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the Bernoulli draws.", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("primer_steps", 0, "Start from the first N frames of the run's first test sequence.",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("frames_per_beat", 1, "Frames per quarter note in the MIDI file "
                         "(JSB Chorales is quantized to quarter notes).", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("tempo", 100.0, f"Tempo of the MIDI file (quarter notes per minute, at most {MAX_TEMPO:g}).",
                       flag_values=fv)
    flags.register_validator("tempo", lambda v: v is not None and 0 < v <= MAX_TEMPO,
                             message=f"--tempo must be > 0 and <= {MAX_TEMPO:g} quarter notes per minute",
                             flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Data folder for --primer_steps.", flag_values=fv)


def _main_sample(fv, args):
    import pathlib

    from keras_rnnreg.app import rundir, sampling, training

    if fv.out is None:  # beside the model, not wherever the command happens to run
        rd = _run_dir_of(fv)
        rd.require_model()  # names a missing run before any folder is made in it
        out = rd.path / "samples" / f"sample_seed{fv.seed}.mid"
        with rundir.writing(out.parent):  # a read-only run: one "cannot write" line
            out.parent.mkdir(exist_ok=True)
    else:
        out = pathlib.Path(fv.out)
    png = pathlib.Path(fv.png) if fv.png else out.with_suffix(".png")
    for flag, path in (("--out", out), ("--png", png)):
        folder = path.parent
        if not folder.is_dir():
            raise CommandError(f"{flag} {str(path)!r}: folder {str(folder)!r} does not exist (it is not created)")
        if path.is_dir():
            raise CommandError(f"{flag} {str(path)!r} is a directory")
    rd, config, model = _load_run(fv)
    primer = None
    if fv.primer_steps:
        splits = training.load_splits(config["dataset"], fv.data_dir or config.get("data_dir"),
                                      config.get("source", "mat"), max_test_sequences=1)
        first = splits["test"][0]
        if fv.primer_steps > len(first):
            raise CommandError(
                f"--primer_steps {fv.primer_steps} exceeds the {len(first)} time steps of the primer "
                f"(the first test sequence of {config['dataset']})"
            )
        primer = first[: fv.primer_steps]
    roll = sampling.sample_piano_roll(model, fv.steps, seed=fv.seed, primer=primer)
    sampling.write_midi(roll, out, frames_per_beat=fv.frames_per_beat, tempo=fv.tempo)
    sampling.write_piano_roll_png(roll, png, title=f"{config.get('model', 'model')} sample, seed {fv.seed}")
    print(f"wrote {out} and {png} ({len(roll)} frames, {int(roll.sum())} notes on, "
          f"{roll.sum(axis=1).mean():.2f} notes per frame)")
    return 0


# --------------------------------------------------------------------------- data


def _define_data(fv):
    flags.DEFINE_string("data_dir", None, "Data folder (default: $KERAS_RNNREG_DATA_DIR, else the packaged files, "
                        "else a download).", flag_values=fv)
    flags.DEFINE_enum("source", "mat", ["mat", "notes"], "Data encoding to read.", flag_values=fv)


def _main_data(fv, args):
    from keras_rnnreg import data_pipelines

    if not args or args[0] != "stats":
        got = f" {args[0]!r}" if args else ""
        raise CommandError(f"data: unknown or missing action{got}; usage: {PROG} data stats DATASET")
    if len(args) != 2:
        raise CommandError(f"data stats: expected one DATASET ({', '.join(data_pipelines.DATASETS)})")
    name = args[1]
    if name not in data_pipelines.DATASETS:
        raise CommandError(f"unknown dataset {name!r}; valid names: {', '.join(data_pipelines.DATASETS)}")
    print(data_pipelines.format_stats(data_pipelines.dataset_stats(name, fv.data_dir, source=fv.source)))
    return 0


# --------------------------------------------------------------------------- tune


def run_tune(argv):
    """Hand ``argv`` (the arguments after ``tune``) to ``keras_rnnreg.tuning.cli.main``.

    The tuning module is imported only here, so the other commands work
    without it; when it is missing the error says so in one line.
    """
    try:
        from keras_rnnreg.tuning import cli as tuning_cli
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("keras_rnnreg.tuning"):
            raise CommandError(
                "the tune command is not available: module keras_rnnreg.tuning.cli is missing "
                "from this installation"
            ) from None
        raise
    result = tuning_cli.main(argv)
    return 0 if result is None else int(result)


COMMANDS = {
    c.name: c
    for c in (
        Command("train", "train a zoo model on a benchmark into a run directory (resumable)",
                _define_train, _main_train, "train --model rnn --dataset jsb_chorales [flags]", check=_check_train),
        Command("evaluate", "NLL (nats per time step) of a trained run on a split",
                _define_evaluate, _main_evaluate, "evaluate --run_dir DIR [--split test]",
                check=_check_run_and_data),
        Command("export", "write and check the SavedModel export of a trained run",
                _define_export, _main_export, "export --run_dir DIR [--out DIR]", check=_check_trained_run_dir),
        Command("sample", "draw a piano roll from a trained run; write MIDI and a PNG",
                _define_sample, _main_sample, "sample --run_dir DIR --steps N --out song.mid",
                check=_check_run_and_data),
        Command("data", "data utilities: statistics of a benchmark",
                _define_data, _main_data, "data stats DATASET [--data_dir DIR]", positional=True,
                check=_check_data_dir),
        Command("tune", f"hyperparameter search, sweeps and search summaries (see: {PROG} tune --help)",
                None, run_tune, "tune [search|sweep|summarize] [flags]"),
    )
}


def usage():
    """The top-level usage text listing the commands."""
    lines = [f"usage: {PROG} COMMAND [flags]   (or: python -m keras_rnnreg COMMAND [flags])", "", "commands:"]
    for c in COMMANDS.values():
        lines.append(f"  {c.name:<9} {c.summary}")
    lines += ["", f"'{PROG} COMMAND --help' lists the flags of a command."]
    return "\n".join(lines)


def _debug():
    return os.environ.get("KERAS_RNNREG_DEBUG", "") not in ("", "0")


def non_finite_flag(fv):
    """``"flag --x=nan: ..."`` for the first float flag set to NaN or an infinity, else ``None``."""
    import math

    for name in fv:
        value = fv[name].value
        if fv[name].present and isinstance(value, float) and not math.isfinite(value):
            return f"flag --{name}={value}: must be a finite number"
    return None


def _error(prefix, message):
    message = str(message)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3] + "..."
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull")


def _os_error_message(e):
    """One line for an ``OSError`` the program hit, naming the path and the cause.

    A file the program writes (disk full, read-only, no permission) reads
    ``cannot write '<path>': <cause>``.
    """
    import errno

    from keras_rnnreg.app import rundir

    if isinstance(e, rundir.WriteError):
        return str(e)
    code = rundir.write_error_code(e)
    cause = e.strerror or (os.strerror(code) if code else str(e).splitlines()[0] if str(e) else type(e).__name__)
    if e.filename is None:
        return cause
    verb = "cannot access" if code in (None, errno.EACCES, errno.EPERM) else "cannot write"
    return f"{verb} {os.fspath(e.filename)!r}: {cause}"


def _interrupted(prefix, e):
    """The line and exit status of an interrupt: SIGTERM 143, SIGINT 130."""
    from keras_rnnreg.app import signals

    if isinstance(e, signals.Terminated):
        print(f"{prefix}: terminated; run the same command again to resume", file=sys.stderr)
        return EXIT_TERMINATED
    print(f"{prefix}: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _run_guarded(prefix, run):
    """``run()``'s exit status; an interrupt is 130 (SIGTERM 143) and a user error one ``error:`` line, exit 2."""
    try:
        return run()
    except KeyboardInterrupt as e:
        return _interrupted(prefix, e)
    except (CommandError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
        if _debug():
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        return _error(prefix, message)
    except BrokenPipeError:
        raise  # the reader of stdout went away: keras_rnnreg.__main__ ends quietly (status 141)
    except OSError as e:  # disk full, read-only, permissions: where and why, in one line
        if _debug():
            raise
        return _error(prefix, _os_error_message(e))


def run_command(prog, command, argv):
    """Define, parse and run ``command`` on ``argv`` (its arguments); returns the exit status.

    ``--help`` and flag errors are answered before TensorFlow, Keras and the
    layers are imported (:func:`keras_rnnreg.app._startup.start_command`), which
    happens only once the flags parsed.
    """
    prefix = f"{prog} {command.name}"
    if command.define is None:  # a group with subcommands of its own (tune)
        return _run_guarded(prefix, lambda: command.main(argv))
    fv = flags.FlagValues()
    command.define(fv)
    if any(a in HELP_FLAGS for a in argv):
        if command.help is not None:
            print(command.help(fv, command.name))
        else:
            print(f"usage: {prog} {command.usage}\n\n{command.summary}\n\nflags:")
            print(fv.get_help(include_special_flags=False))
        return 0
    try:
        args = fv([prefix, *argv])[1:]
    except flags.Error as e:
        return _error(prefix, str(e).splitlines()[0] if str(e) else type(e).__name__)
    bad = non_finite_flag(fv)
    if args and not command.positional:
        bad = f"unexpected argument {args[0]!r}"
    if bad:
        return _error(prefix, bad)
    if command.check is not None:
        try:
            command.check(fv)
        except CommandError as e:
            return _error(prefix, str(e))
    from keras_rnnreg.app import _startup

    _startup.start_command()
    return _run_guarded(prefix, lambda: command.main(fv, args))


def dispatch(prog, commands, argv, usage_text, default=None, noun="command"):
    """Run the command of ``commands`` that ``argv[0]`` names on the rest of ``argv``; the exit status.

    Shared by the top level (``keras-rnnreg COMMAND``) and ``tune SUBCOMMAND``.

    Args:
        prog: the program as messages name it (``keras-rnnreg``, ``keras-rnnreg tune``).
        commands: ``{name: Command}``.
        argv: the arguments after ``prog``.
        usage_text: printed to stderr for a missing or unknown command.
        default: the command run when ``argv`` is empty or starts with a flag
            (``tune --model ...`` is ``tune search --model ...``); ``None``: none.
        noun: what the error message calls a command.
    """
    if argv and argv[0] in commands:
        return run_command(prog, commands[argv[0]], argv[1:])
    if default is not None and (not argv or argv[0].startswith("-")):
        return run_command(prog, commands[default], argv)
    print(usage_text, file=sys.stderr)
    if not argv:
        return EXIT_USAGE
    return _error(prog, f"unknown {noun} {argv[0]!r}; valid {noun}s: {', '.join(commands)}")


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv``); returns the exit status.

    While it runs, SIGTERM stops a command as Ctrl-C does (one line, exit 143;
    see :mod:`keras_rnnreg.app.signals`).
    """
    from keras_rnnreg.app import signals

    argv = list(sys.argv if argv is None else argv)
    rest = argv[1:]
    if rest and rest[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    with signals.terminate_as_interrupt():
        try:
            return dispatch(PROG, COMMANDS, rest, usage())
        except KeyboardInterrupt as e:  # before a command's own guard (parsing flags, starting TensorFlow)
            return _interrupted(PROG, e)
