"""The command line starts fast: ``--help`` and usage errors answer without TensorFlow, Keras or JAX.

Each case runs the real entry point in a fresh process through a small wrapper
that starts the package the way ``python -m keras_rnnreg`` (or the
``keras-rnnreg`` script) does and, after the command line exits, reports which
of those modules were imported.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from keras_rnnreg import data_pipelines, defaults, models, optim

HEAVY = ("tensorflow", "keras", "jax")

# sys.argv[0] is "-m" while `python -m` imports the package (how it detects the command
# line); runpy then runs keras_rnnreg.__main__ as `-m` does. "script" is the console script.
WRAPPER = """
import json, runpy, sys
entry, args = sys.argv[1], json.loads(sys.argv[2])
code = 0
try:
    if entry == "module":
        sys.argv = ["-m", *args]
        runpy.run_module("keras_rnnreg", run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["/usr/local/bin/keras-rnnreg", *args]
        from keras_rnnreg.__main__ import run
        run()
except SystemExit as e:
    code = e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("\\nWRAPPER " + json.dumps({"code": code, "heavy": heavy,
                                 "layers": "keras_rnnreg.rnn.noisy_simple_rnn" in sys.modules}))
""" % (HEAVY,)


def _run(args, entry="module", env=None):
    """``(report, stdout, stderr)`` of the command line run on ``args`` in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, entry, json.dumps(args)], capture_output=True,
                          text=True, timeout=300, env=env)
    lines = proc.stdout.splitlines()
    assert lines and lines[-1].startswith("WRAPPER "), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1][len("WRAPPER "):]), "\n".join(lines[:-1]), proc.stderr


HELP = [
    [], ["--help"], ["train", "--help"], ["evaluate", "--help"], ["export", "-h"], ["sample", "--help"],
    ["data", "--help"], ["tune", "--help"], ["tune", "search", "--help"], ["tune", "sweep", "--help"],
    ["tune", "summarize", "--help"],
]
USAGE_ERRORS = [
    ["fly"], ["train", "--no_such_flag"], ["train", "--model", "lstm"], ["train", "--epochs=0"],
    ["evaluate"], ["train", "extra"], ["tune", "frobnicate"], ["tune", "--model", "rnn"],
    ["tune", "sweep", "--model", "rnn", "--bogus", "1"], ["tune", "--divergence_threshold", "inf"],
]


@pytest.mark.parametrize("args", HELP + USAGE_ERRORS, ids=lambda a: " ".join(a) or "(no arguments)")
def test_help_and_usage_errors_import_no_tensorflow_keras_or_jax(args):
    report, out, err = _run(args)
    expected = 0 if args and any(a in ("-h", "--help") for a in args) else 2
    assert report["code"] == expected, out + err
    assert report["heavy"] == [], (args, report)
    if expected == 2:
        assert [line for line in err.splitlines() if "error:" in line] or "usage:" in err, err


PATH_ERRORS = [
    (["export", "--run_dir", "{missing}"], "run_dir '{missing}' does not exist or is not a directory"),
    (["evaluate", "--run_dir", "{empty}"], "run_dir '{empty}' holds no config.json"),
    (["sample", "--run_dir", "{missing}", "--steps", "4", "--out", "{empty}/x.mid"], "does not exist"),
    (["train", "--data_dir", "{missing}", "--run_dir", "{empty}/run"],
     "data directory '{missing}' (--data_dir) does not exist or is not a directory"),
    (["data", "stats", "jsb_chorales", "--data_dir", "{missing}"], "data directory '{missing}' (--data_dir)"),
]


@pytest.mark.parametrize("args, expected", PATH_ERRORS, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_path_errors_answer_before_tensorflow_starts(tmp_path, args, expected):
    """A mistyped folder is one error line at once, not after TensorFlow's seconds of start-up."""
    names = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path)}
    report, out, err = _run([a.format(**names) for a in args])
    assert report["code"] == 2 and report["heavy"] == [], (report, err)
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and expected.format(**names) in lines[0], err
    assert not (tmp_path / "run").exists()


def test_console_script_help_imports_no_keras():
    report, out, _ = _run(["train", "--help"], entry="script")
    assert report == {"code": 0, "heavy": [], "layers": False}
    assert "--batch_size" in out


def _help_defaults(text):
    """``{flag: default text or None}`` from absl's ``--help`` listing."""
    found = {}
    for block in re.split(r"\n  --(?:\[no\])?", "\n" + text)[1:]:
        name = re.match(r"(\w+):", block).group(1)
        default = re.search(r"\(default: '([^']*)'\)", block)
        found[name] = default.group(1) if default else None
    return found


def test_train_help_lists_the_defaults():
    _, out, _ = _run(["train", "--help"])
    shown = _help_defaults(out)
    assert shown["batch_size"] == "8"
    for name, value in defaults.TRAINING.items():
        assert shown[name] == str(value), name
    assert "<" + "|".join(models.names()) + ">" in out  # --model's choices, in the zoo's order
    assert "<" + "|".join(data_pipelines.DATASETS) + ">" in out
    assert "<" + "|".join(optim.OPTIMIZERS) + ">" in out
    assert shown["units"] is None and "--units: Model hyperparameter (all models; default 200)" in out
    assert "--dropconnect_p: Model hyperparameter (rnn_do=0.2, rnn_dos=0.2)" in out


@pytest.mark.parametrize("subcommand", ["search", "sweep"])
def test_tune_help_lists_the_shared_defaults(subcommand):
    _, out, _ = _run(["tune", subcommand, "--help"])
    shown = _help_defaults(out.split(f"flags of 'tune {subcommand}':", 1)[1])
    for name in ("epochs", "batch_size", "patience", "window"):
        assert shown[name] == str(defaults.TRAINING[name]), name
    assert shown["divergence_threshold"] == str(defaults.DIVERGENCE_THRESHOLD)
    if subcommand == "search":
        assert shown["trials"] == str(defaults.TRIALS)


def test_keras_free_declarations_match_the_zoo():
    """What ``--help`` offers comes from modules that import no Keras, and equals what the zoo builds."""
    code = (
        "import json, sys\n"
        "sys.argv[0] = '-m'\n"
        "from keras_rnnreg import defaults, zoo_specs\n"
        "from keras_rnnreg.data_pipelines import registry\n"
        "hp = {name: zoo_specs.default_hyperparameters(name) for name in zoo_specs.names()}\n"
        "print(json.dumps({'names': zoo_specs.names(), 'datasets': list(registry.DATASETS),\n"
        "                  'optimizers': list(defaults.OPTIMIZERS), 'hp': hp,\n"
        "                  'choices': {k: list(v) for k, v in zoo_specs.CHOICES.items()},\n"
        "                  'heavy': sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax'})}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    free = json.loads(proc.stdout.splitlines()[-1])
    assert free["heavy"] == []
    assert free["names"] == models.names()
    assert free["datasets"] == list(data_pipelines.DATASETS)
    assert free["optimizers"] == list(optim.OPTIMIZERS)
    assert free["hp"] == {name: models.default_hyperparameters(name) for name in models.names()}
    from keras_rnnreg.rnn import recurrence, weight_noise

    # The zoo's string choices are the values its layers accept.
    assert free["choices"] == {"noise_implementation": list(weight_noise.IMPLEMENTATIONS),
                               "fd_variant": list(recurrence.FAST_DROPOUT_VARIANTS),
                               # the zoo's own: which initialization rnn_fd builds (models/zoo.py)
                               "fd_init": ["variant", "authors", "zoo"],
                               # the hidden layers models.get builds (models/zoo.py)
                               "cell": ["simple", "lstm", "gru"]}


def test_lazy_public_names_on_the_command_line():
    """In command-line mode the layers are imported on first use of a public name, then all registered."""
    code = (
        "import sys\n"
        "sys.argv[0] = '-m'\n"
        "import keras_rnnreg\n"
        "before = 'keras' in sys.modules\n"
        "layer = keras_rnnreg.NoisySimpleRNN\n"
        "import keras\n"
        "print(before, layer.__name__, keras.saving.get_registered_object('keras_rnnreg>NoisyDense') is keras_rnnreg.NoisyDense)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert proc.stdout.split()[-3:] == ["False", "NoisySimpleRNN", "True"]


def test_a_real_command_starts_tensorflow_quietly(data_dir):
    """A command that runs imports TensorFlow and the layers, with no TensorFlow C++ lines on stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_RNNREG_DEBUG")}
    report, out, err = _run(["data", "stats", "jsb_chorales", "--data_dir", str(data_dir)], env=env)
    assert report["code"] == 0 and {"keras", "tensorflow"} <= set(report["heavy"]) and report["layers"], report
    assert "JSB Chorales" in out
    chatter = [line for line in err.splitlines()
               if line.startswith(("E0000", "W0000", "I0000", "WARNING: All log messages")) or "cuInit" in line]
    assert chatter == [] and not err.strip(), err


@pytest.mark.parametrize("args", [["train", "--help"], ["--help"], ["tune", "search", "--help"]])
def test_closed_pipe_is_no_traceback(args):
    """``keras-rnnreg train --help | head -0``: a reader that is gone is no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, whatever the timing
    try:
        proc = subprocess.run([sys.executable, "-m", "keras_rnnreg", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 141, proc.stderr
