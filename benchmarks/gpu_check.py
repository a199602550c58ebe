"""The GPU check: throughput on the GPU and a short KerasTuner search, under JAX, without TensorFlow.

Run through ``benchmarks/gpu_check.sh`` on a machine with JAX (CUDA), PyTorch
and no network: the script installs the project and the pure-Python packages
it needs from the wheels that ``benchmarks/make_gpu_wheels.sh`` put into
``.whl/``, then runs ``python -m benchmarks.gpu_check`` (``--help`` for the
flags), which

1. checks what it needs (the JAX backend, a GPU that JAX sees, the packages;
   TensorFlow is not needed) and says what is missing in one line;
2. measures every zoo model against ``keras.layers.SimpleRNN`` on the GPU with
   :mod:`benchmarks.throughput` (and ``torch.nn.RNN`` with cuDNN where PyTorch
   is installed), writing ``results/throughput_gpu.md``;
3. runs a 4-trial random search of ``rnn_dos`` on JSB Chorales
   (:func:`keras_rnnreg.tuning.search.run_search`, NumPy ``PyDataset``
   pipelines) and prints its summary;
4. measures gated zoo models (``--gated-models``) against ``keras.layers.LSTM``
   and ``GRU`` on the GPU, writing ``results/throughput_gpu_lstm.md`` and
   ``_gru.md`` beside the report;
5. checks the cuDNN handover of :class:`keras_rnnreg.NoisyLSTM`
   (:mod:`keras_rnnreg.rnn.cudnn`): with per-sequence DropConnect, the same
   draws through cuDNN and through the layer's own loop give the same outputs
   and gradients (their largest differences are printed; TF32 matmuls allow
   ~1e-3), and one jitted training step of each and of ``keras.layers.LSTM``
   is timed.

Parts 4 and 5 start only within the first 5 minutes (else they are skipped,
with a line saying so); ``--nothroughput --nosearch`` runs them alone.

The default sizes keep the whole check under 8 minutes on one H100: short
timed passes (20 batches, 3 repeats) and a short search (20 epochs a trial,
patience 5). Every part also runs on a CPU with ``--norequire-gpu`` and small
sizes, which is how ``tests/test_gpu_check.py`` tests it.
"""

import os
import sys
import tempfile
import time

# Before Keras is imported: the check is of the JAX backend. JAX must not take
# most of the GPU's memory at start-up, or PyTorch's peer could not run beside it.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from absl import flags  # noqa: E402

from benchmarks import _flags  # noqa: E402

PROG = "python -m benchmarks.gpu_check"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, "results", "throughput_gpu.md")
#: Modules the check imports, and the wheel that brings each (make_gpu_wheels.sh).
REQUIRED = {"jax": "jax (with its CUDA plugin)", "keras": "keras", "optree": "optree", "namex": "namex",
            "keras_tuner": "keras-tuner (and kt-legacy)", "keras_rnnreg": "keras_rnnreg",
            "scipy": "scipy", "absl": "absl-py", "h5py": "h5py"}
#: Wall-clock budget of the whole check with its default sizes (issue 31: under 8 minutes).
BUDGET_S = 480
#: The gated rows and the cuDNN check start only this early into the check (else: skipped, said so).
EXTRAS_START_LIMIT_S = 300


class CheckError(Exception):
    """Something the check needs is missing: one line, exit status 1."""


def define_flags(fv):
    flags.DEFINE_string("output", DEFAULT_OUTPUT, "Markdown report of the throughput ('' for none).", flag_values=fv)
    flags.DEFINE_boolean("require-gpu", True, "Fail unless JAX computes on a GPU (--norequire-gpu: run on what "
                         "there is, e.g. the CPU in the tests).", flag_values=fv)
    flags.DEFINE_boolean("throughput", True, "Measure the throughput (--nothroughput: skip).", flag_values=fv)
    flags.DEFINE_boolean("search", True, "Run the search (--nosearch: skip).", flag_values=fv)
    flags.DEFINE_boolean("torch", True, "Time PyTorch's peer where torch can be imported (--notorch: never).",
                         flag_values=fv)
    flags.DEFINE_string("models", None, "Comma-separated zoo models of the throughput (default: all ten).",
                        flag_values=fv)
    flags.DEFINE_integer("batch", 32, "Throughput: sequences per batch.", flag_values=fv)
    flags.DEFINE_integer("units", 200, "Throughput: hidden units.", flag_values=fv)
    flags.DEFINE_integer("length", 100, "Throughput: sequence length.", flag_values=fv)
    flags.DEFINE_integer("steps", 20, "Throughput: batches per timed pass.", flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "Throughput: timed repeats.", flag_values=fv)
    flags.DEFINE_integer("infer-rounds", 2, "Throughput: times an inference pass goes over the batches.",
                         flag_values=fv)
    flags.DEFINE_enum("optimizer", "adam", ["sgd", "adam"], "Throughput: optimizer of every row.", flag_values=fv)
    flags.DEFINE_string("gated-models", "rnn,rnn_dos,rnn_do", "Gated throughput: comma-separated zoo models "
                        "on LSTM and GRU cells ('' to skip).", flag_values=fv)
    flags.DEFINE_boolean("cudnn", True, "Check and time NoisyLSTM's cuDNN handover (--nocudnn: skip).",
                         flag_values=fv)
    flags.DEFINE_string("model", "rnn_dos", "Search: zoo model.", flag_values=fv)
    flags.DEFINE_string("dataset", "jsb_chorales", "Search: dataset (the packaged files; no network).",
                        flag_values=fv)
    flags.DEFINE_integer("trials", 4, "Search: trials.", flag_values=fv)
    flags.DEFINE_integer("epochs", 20, "Search: maximum epochs a trial.", flag_values=fv)
    flags.DEFINE_integer("patience", 5, "Search: early-stopping patience.", flag_values=fv)
    flags.DEFINE_integer("search-batch", 8, "Search: windows per batch.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the throughput data and of the search.", flag_values=fv)
    flags.DEFINE_string("search-dir", None, "Search folder (default: a fresh temporary folder).", flag_values=fv)
    for split in ("train", "valid", "test"):
        flags.DEFINE_integer(f"max-{split}-sequences", None, f"Search: only the first N {split} sequences "
                             "(the tests' tiny search).", flag_values=fv)


def parse_args(argv=None):
    return _flags.parse(PROG, __doc__.split("\n")[0], define_flags, sys.argv[1:] if argv is None else argv)


def log(message):
    print(f"gpu_check: {message}", file=sys.stderr, flush=True)


def preflight(require_gpu, want_torch):
    """Check the backend, the packages and the GPU; return ``(device words, torch usable)``."""
    import importlib

    for module, wheel in REQUIRED.items():
        try:
            importlib.import_module(module)
        except Exception as e:  # a missing package, or one that fails to load (a wrong-Python wheel)
            raise CheckError(f"cannot import {module} ({type(e).__name__}: {e}); install the {wheel} wheel "
                             "(benchmarks/make_gpu_wheels.sh puts the project's into .whl/)") from None
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise CheckError(f"the Keras backend is {keras.backend.backend()!r}; the check is of JAX "
                         "(unset KERAS_BACKEND or set it to jax)")
    devices = jax.devices()
    gpus = [d for d in devices if d.platform == "gpu"]
    if require_gpu and not gpus:
        raise CheckError(f"JAX sees no GPU (devices: {', '.join(map(str, devices))}; is its CUDA plugin "
                         "installed?); --norequire-gpu runs on the CPU")
    where = f"{len(gpus)} GPU ({gpus[0].device_kind})" if gpus else f"no GPU ({devices[0].platform})"
    use_torch = False
    if want_torch:
        from benchmarks.throughput import torch_missing

        reason = torch_missing()
        if reason:
            log(f"PyTorch cannot be imported ({reason}): no torch.nn.RNN row")
        else:
            import torch

            use_torch = True
            if gpus and not torch.cuda.is_available():
                raise CheckError("JAX sees a GPU but PyTorch does not (torch.cuda.is_available() is False)")
    import keras_rnnreg

    tf = sys.modules.get("tensorflow")
    log(f"JAX {jax.__version__} on {where}, Keras {keras.__version__}, "
        f"TensorFlow {'not used' if tf is None else 'imported (not needed)'}, "
        f"keras_rnnreg {keras_rnnreg.__version__} from {os.path.dirname(keras_rnnreg.__file__)}")
    return where, use_torch


def run_throughput(args, use_torch):
    from benchmarks import throughput

    argv = [f"--batch={args.batch}", f"--units={args.units}", f"--length={args.length}", f"--steps={args.steps}",
            f"--repeats={args.repeats}", f"--infer-rounds={args.infer_rounds}", f"--seed={args.seed}",
            f"--optimizer={args.optimizer}", f"--output={args.output}"]
    if args.models:
        argv.append(f"--models={args.models}")
    if use_torch:
        argv.append("--torch")
    return throughput.main(argv)


def run_gated_throughput(args, use_torch):
    """The gated rows against Keras's LSTM / GRU; the reports beside ``--output``."""
    from benchmarks import throughput

    reports = {}
    for cell in ("lstm", "gru"):
        output = f"{os.path.splitext(args.output)[0]}_{cell}.md" if args.output else ""
        argv = [f"--cell={cell}", f"--models={args.gated_models}", f"--batch={args.batch}", f"--units={args.units}",
                f"--length={args.length}", f"--steps={args.steps}", f"--repeats={args.repeats}",
                f"--infer-rounds={args.infer_rounds}", f"--seed={args.seed}", f"--optimizer={args.optimizer}",
                f"--output={output}"]
        reports[cell] = throughput.main(argv + (["--torch"] if use_torch else []))
        log(f"gated throughput ({cell})" + (f": report {output}" if output else ""))
    return reports


def _lstm_train_step(layer, x):
    """A jitted ``(trainable, non_trainable) -> (outputs, gradients)`` of ``sum(outputs^2)`` for ``layer``."""
    import jax

    def loss(trainable, non_trainable):
        out, _ = layer.stateless_call(trainable, non_trainable, x, training=True)
        return jax.numpy.sum(out * out), out

    return jax.jit(jax.value_and_grad(loss, has_aux=True))


def check_cudnn(args):
    """Outputs and gradients of NoisyLSTM through cuDNN vs. its own loop (same draws), and their step times."""
    import jax
    import keras
    import numpy as np

    from keras_rnnreg import NoisyLSTM
    from keras_rnnreg.rnn import cudnn

    if not cudnn.available():
        log(f"cuDNN handover: not available here (JAX's default backend is {jax.default_backend()}): skipped")
        return None
    x = np.random.default_rng(args.seed).normal(size=(args.batch, args.length, 88)).astype("float32")
    ours = NoisyLSTM(args.units, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_noise_scope="sequence",
                     seed=args.seed)
    theirs = keras.layers.LSTM(args.units, return_sequences=True, seed=args.seed)
    for layer in (ours, theirs):
        layer.build(x.shape)
    results, times = {}, {}
    for name, layer, enabled in (("cuDNN", ours, True), ("own loop", ours, False), ("keras.layers.LSTM", theirs, True)):
        cudnn.ENABLED = enabled
        try:
            step = _lstm_train_step(layer, x)
            weights = ([v.value for v in layer.trainable_variables], [v.value for v in layer.non_trainable_variables])
            (_, out), grads = jax.block_until_ready(step(*weights))  # compile
            start = time.perf_counter()
            for _ in range(10):
                jax.block_until_ready(step(*weights))
            times[name] = (time.perf_counter() - start) / 10 * 1000
        finally:
            cudnn.ENABLED = True
        if layer is ours:
            results[name] = (np.asarray(out), [np.asarray(g) for g in grads])
    (out_a, grads_a), (out_b, grads_b) = results["cuDNN"], results["own loop"]
    diff_out = float(np.abs(out_a - out_b).max())
    diff_grad = max(float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12)) for a, b in zip(grads_a, grads_b))
    log(f"cuDNN handover: NoisyLSTM({args.units}), per-sequence DropConnect 0.3, batch {x.shape}: largest "
        f"output difference {diff_out:.2e}, largest gradient difference {diff_grad:.2e} (relative to the "
        f"gradient's largest entry); train step " + ", ".join(f"{k} {v:.2f} ms" for k, v in times.items()))
    return {"output_difference": diff_out, "gradient_difference": diff_grad, "step_ms": times}


def run_search(args):
    import keras_rnnreg
    from keras_rnnreg.app import fitting
    from keras_rnnreg.tuning.search import SearchSettings
    from keras_rnnreg.tuning.search import run_search as search

    keras_rnnreg._register_layers()
    directory = args.search_dir or tempfile.mkdtemp(prefix="gpu_check_search_")
    settings = SearchSettings(
        model=args.model, directory=directory, dataset=args.dataset, trials=args.trials, epochs=args.epochs,
        patience=args.patience, seed=args.seed, batch_size=args.search_batch, overwrite=True,
        max_train_sequences=args.max_train_sequences, max_valid_sequences=args.max_valid_sequences,
        max_test_sequences=args.max_test_sequences,
    )
    # The pipeline the search trains on: without TensorFlow, NumPy PyDatasets.
    splits = fitting.load_splits(args.dataset, None, max_train_sequences=args.max_train_sequences,
                                 max_valid_sequences=args.max_valid_sequences,
                                 max_test_sequences=args.max_test_sequences)
    train, _ = fitting.window_datasets(splits, settings.window, settings.batch_size, settings.seed)
    x, y, w = train[0] if hasattr(train, "__getitem__") else next(iter(train))
    log(f"search pipeline: {type(train).__name__}, first batch {tuple(x.shape)} {tuple(y.shape)} {tuple(w.shape)}")
    summary = search(settings)
    with open(os.path.join(directory, "summary.md")) as f:
        print(f.read())
    best = summary.get("best") or {}
    if summary.get("error") or not best or best.get("test_error"):
        raise CheckError(f"the search failed: {summary.get('error') or best.get('test_error') or 'no trial ended'}")
    return summary


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        where, use_torch = preflight(args.require_gpu, args.torch)
        result = summary = None
        if args.throughput:
            t0 = time.perf_counter()
            result = run_throughput(args, use_torch)
            log(f"throughput on {where}: {time.perf_counter() - t0:.0f} s"
                + (f", report {args.output}" if args.output else ""))
        if args.search:
            t0 = time.perf_counter()
            summary = run_search(args)
            log(f"search: {time.perf_counter() - t0:.0f} s")
        gated = handover = None
        for part, wanted in (("gated throughput", bool(args.gated_models)), ("cuDNN handover", args.cudnn)):
            elapsed = time.perf_counter() - start
            if not wanted:
                continue
            if elapsed > EXTRAS_START_LIMIT_S:
                # Within the 8-minute budget the throughput and the search come first.
                log(f"{part}: skipped, {elapsed:.0f} s already spent (run it alone: --nothroughput --nosearch)")
                continue
            t0 = time.perf_counter()
            if part == "gated throughput":
                gated = run_gated_throughput(args, use_torch)
            else:
                handover = check_cudnn(args)
            log(f"{part}: {time.perf_counter() - t0:.0f} s")
    except CheckError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    wall = time.perf_counter() - start
    log(f"done in {wall:.0f} s" + (f" (over the {BUDGET_S} s budget)" if wall > BUDGET_S else ""))
    return {"throughput": result, "search": summary, "gated": gated, "cudnn": handover, "seconds": wall,
            "device": where}


if __name__ == "__main__":
    main()
