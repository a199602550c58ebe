"""Issue 15, item 3: the private Keras / KerasTuner APIs the library relies on.

Every such use lives in :mod:`keras_rnnreg.private_api`. Each test here checks
one of them against the installed Keras / KerasTuner and fails naming the
private API and the file that relies on it; the scans fail when any other file
imports ``keras.src`` / ``keras_tuner.src`` or touches a private attribute of
a Keras or KerasTuner object.
"""

import ast
import inspect
import os
import pathlib

import keras
import numpy as np
import pytest

from keras_rnnreg.app import rundir
from keras_rnnreg import private_api

REPO = pathlib.Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("keras_rnnreg", "models", "tuning", "data_pipelines", "benchmarks")
ALLOWED = REPO / "keras_rnnreg" / "private_api.py"
PRIVATE_PACKAGES = ("keras.src", "keras_tuner.src")


def _changed(private, user, what):
    return (f"private API {private} (relied on by {user}, through keras_rnnreg/private_api.py) changed: {what}. "
            f"Checked with Keras {private_api.KERAS_VERSION_CHECKED}, "
            f"KerasTuner {private_api.KERAS_TUNER_VERSION_CHECKED}; see private_api's docstring.")


def _source_files():
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path != ALLOWED:
                yield path


def _is_private_module(name):
    return any(name == p or name.startswith(p + ".") for p in PRIVATE_PACKAGES)


def _private_imports(tree):
    """``(line, module)`` of each ``keras.src`` / ``keras_tuner.src`` import or attribute access."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute) and node.attr == "src" and isinstance(node.value, ast.Name):
            names = [f"{node.value.id}.src"]  # keras.src.x without an import of its own
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) ==
              "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            names = [str(node.args[0].value)]
        else:
            continue
        private = [name for name in names if _is_private_module(name)]
        if private:
            yield node.lineno, private[0]


def test_scan_finds_private_imports():
    tree = ast.parse("import keras.src.backend\nfrom keras_tuner.src import config\nfrom keras import src\n"
                     "keras.src.backend.rnn\nimportlib.import_module('keras.src.x')\nimport keras\n"
                     "DENIED = ('keras.src.utils',)\n")
    assert sorted(line for line, _ in _private_imports(tree)) == [1, 2, 3, 4, 5]


def test_no_private_import_outside_private_api():
    found = [f"{path.relative_to(REPO)}:{line}: {name}"
             for path in _source_files() for line, name in _private_imports(ast.parse(path.read_text()))]
    assert not found, ("keras.src / keras_tuner.src used outside keras_rnnreg/private_api.py "
                       "(move it there, with a test here):\n" + "\n".join(found))


def _keras_private_names():
    """Private (single-underscore) attribute names of the Keras / KerasTuner objects the library extends."""
    import keras_tuner as kt

    classes = [keras.layers.Layer, keras.Model, keras.layers.RNN, keras.layers.SimpleRNNCell,
               keras.optimizers.Optimizer, keras.callbacks.Callback, keras.callbacks.BackupAndRestore,
               keras.callbacks.EarlyStopping, keras.random.SeedGenerator, keras.Variable,
               keras.initializers.Initializer, kt.Oracle, kt.Tuner, kt.HyperParameters, kt.engine.trial.Trial,
               kt.oracles.HyperbandOracle, kt.oracles.BayesianOptimizationOracle]
    # Instances too: attributes set in __init__ are not in the classes' dir().
    instances = [keras.layers.Dense(1), keras.Sequential(), keras.optimizers.SGD(),
                 keras.callbacks.BackupAndRestore("unused_backup_dir"), keras.callbacks.EarlyStopping(),
                 keras.random.SeedGenerator(1), keras.layers.RNN(keras.layers.SimpleRNNCell(2)),
                 kt.oracles.RandomSearchOracle(objective="val_loss", max_trials=1), kt.HyperParameters()]
    return {n for o in classes + instances for n in dir(o) if n.startswith("_") and not n.startswith("__")}


def _private_name_uses(tree, names):
    """``(line, name)`` of each attribute access, method definition or ``getattr`` string in ``names``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name  # an override of a private hook
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)):
            name = node.args[1].value
        else:
            continue
        if name in names:
            yield node.lineno, name


def test_private_names_include_those_the_library_used():
    # The names the library used before issue 15: the scan below would have found each.
    names = _keras_private_names()
    for name in ("_get_variable_index", "_save_model", "_weights_path", "_current_epoch", "_last_batch_seen",
                 "_save_trial", "_retry_queue", "_project_dir", "_get_trial_dir", "_initial_epoch"):
        assert name in names, name
    uses = _private_name_uses(ast.parse("x._retry_queue\nclass A:\n    def _save_trial(self): pass\n"
                                        "getattr(o, '_project_dir')\nself._own_thing\n"), names)
    assert list(uses) == [(1, "_retry_queue"), (3, "_save_trial"), (4, "_project_dir")]


def test_no_private_keras_attribute_outside_private_api():
    names = _keras_private_names()
    found = [f"{path.relative_to(REPO)}:{line}: {name}"
             for path in _source_files() for line, name in _private_name_uses(ast.parse(path.read_text()), names)]
    assert not found, ("private attribute of a Keras / KerasTuner object used outside keras_rnnreg/private_api.py "
                       "(or an attribute of our own named like one; rename it):\n" + "\n".join(found))


# -- Keras ----------------------------------------------------------------------


class _CountingCell(keras.layers.Layer, private_api.DropoutRNNCell):
    """A cell counting the DropoutRNNCell calls keras.layers.RNN makes."""

    def __init__(self):
        super().__init__()
        self.state_size = self.output_size = 2
        self.calls = []

    def get_dropout_mask(self, step_input):
        self.calls.append("get_dropout_mask")

    def get_recurrent_dropout_mask(self, step_input):
        self.calls.append("get_recurrent_dropout_mask")

    def reset_dropout_mask(self):
        self.calls.append("reset_dropout_mask")

    def reset_recurrent_dropout_mask(self):
        self.calls.append("reset_recurrent_dropout_mask")

    def call(self, inputs, states):
        return inputs, [inputs]


def test_keras_rnn_calls_the_dropout_rnn_cell_protocol():
    private, user = "keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell", "keras_rnnreg/rnn/cells.py"
    assert issubclass(keras.layers.SimpleRNNCell, private_api.DropoutRNNCell), _changed(
        private, user, "keras.layers.SimpleRNNCell no longer inherits it")
    cell = _CountingCell()
    keras.layers.RNN(cell)(np.ones((3, 4, 2), "float32"))
    # Per-sequence noise is drawn in get_dropout_mask (before the loop) and dropped in reset_dropout_mask.
    assert cell.calls.count("get_dropout_mask") == 1 and cell.calls.count("reset_dropout_mask") >= 1, _changed(
        private, user, f"keras.layers.RNN made the calls {cell.calls}, expected get_dropout_mask once before "
        "its loop and reset_dropout_mask after")
    assert cell.calls.index("get_dropout_mask") < max(i for i, c in enumerate(cell.calls) if c == "reset_dropout_mask")


def test_keras_rnn_loop_signature_and_behaviour():
    from keras.src import backend

    private, user = "keras.src.backend.rnn", "keras_rnnreg/rnn/noisy_simple_rnn.py"
    params = inspect.signature(backend.rnn).parameters
    expected = ("step_function", "inputs", "initial_states", "go_backwards", "mask", "unroll", "input_length",
                "zero_output_for_mask", "return_all_outputs")
    missing = [p for p in expected if p not in params]
    assert not missing, _changed(private, user, f"parameters {missing} are gone (has {list(params)})")

    def step(x, states):
        total = states[0] + x
        return total, [total]

    x = np.arange(1, 7, dtype="float32").reshape(1, 3, 2)  # steps (1,2), (3,4), (5,6)
    mask = np.array([[True, True, False]])
    last, outputs, states = private_api.keras_rnn_loop(
        step, x, [np.zeros((1, 2), "float32")], go_backwards=False, mask=mask, unroll=False, input_length=3,
        zero_output_for_mask=True, return_all_outputs=True)
    got = [keras.ops.convert_to_numpy(t) for t in (last, outputs, states[0])]
    # The masked third step keeps the state and outputs zeros (so does last_output, the last step's).
    want = [[[0, 0]], [[[1, 2], [4, 6], [0, 0]]], [[4, 6]]]
    for g, w in zip(got, want):
        assert np.allclose(g, w), _changed(private, user, f"returned {got}, expected {want}")


def test_keras_rnn_loop_unrolled_takes_a_flat_tuple_of_inputs():
    """NoisySimpleRNN's cell loop passes (sequences, *per-step noise) as one flat tuple, unrolled
    or not; both loops must slice every entry by step and give the same result."""
    private, user = "keras.src.backend.rnn", "keras_rnnreg/rnn/noisy_simple_rnn.py (unroll=True)"

    def step(inputs, states):
        x, scale = inputs
        total = states[0] + x * scale
        return total, [total]

    x = np.arange(1, 7, dtype="float32").reshape(1, 3, 2)
    scale = np.array([[[1.0], [10.0], [100.0]]], "float32")
    results = []
    for unroll in (False, True):
        _, outputs, _ = private_api.keras_rnn_loop(
            step, (x, scale), [np.zeros((1, 2), "float32")], go_backwards=False, mask=None, unroll=unroll,
            input_length=3, zero_output_for_mask=False, return_all_outputs=True)
        results.append(keras.ops.convert_to_numpy(outputs))
    want = [[[1, 2], [31, 42], [531, 642]]]
    for unroll, got in zip((False, True), results):
        assert np.allclose(got, want), _changed(private, user, f"unroll={unroll} returned {got}, expected {want}")


# -- KerasTuner -------------------------------------------------------------------


def test_kerastuner_debug_switch():
    from keras_tuner.src import config
    from keras_tuner.src.engine import base_tuner

    private, user = "keras_tuner.src.config.DEBUG", "tuning/tuner.py (quiet_failed_trials)"
    assert isinstance(getattr(config, "DEBUG", None), bool), _changed(private, user, "no bool DEBUG")
    assert getattr(base_tuner, "config_module", None) is config, _changed(
        private, user, "the tuner no longer reads keras_tuner.src.config")
    before = private_api.kerastuner_debug()
    try:
        private_api.set_kerastuner_debug(False)
        assert config.DEBUG is False and not private_api.kerastuner_debug()
        private_api.set_kerastuner_debug(True)
        assert config.DEBUG is True
    finally:
        private_api.set_kerastuner_debug(before)


@pytest.mark.parametrize("env", [{}, {"KERASTUNER_TUNER_ID": "chief"},
                                 {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "1",
                                  "KERASTUNER_TUNER_ID": "chief"},
                                 {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "1",
                                  "KERASTUNER_TUNER_ID": "tuner3"},
                                 {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "tuner3"},
                                 {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "1"}])
def test_distribution_roles_match_kerastuner(monkeypatch, env):
    """tuning/tuner.py reads KerasTuner's documented environment variables itself (no longer
    keras_tuner.src.distribute.utils): same roles, same errors."""
    from keras_tuner.src.distribute import utils

    from keras_rnnreg.tuning import tuner

    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def outcome(fn):
        try:
            return fn()
        except RuntimeError:
            return RuntimeError

    theirs = (outcome(utils.is_chief_oracle), outcome(lambda: utils.has_chief_oracle() and not utils.is_chief_oracle()))
    assert (outcome(tuner.is_chief), outcome(tuner.is_worker)) == theirs


@pytest.fixture
def oracle(tmp_path):
    """A project's random-search oracle, placed in ``tmp_path/project`` by a tuner (as the library does)."""
    import keras_tuner as kt

    from keras_rnnreg.tuning import tuner as tuner_lib

    def build(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 4))])
        model.compile(loss="mse")
        return model

    oracle = tuner_lib.ORACLES["random"](objective=kt.Objective("val_loss", "min"), max_trials=3, seed=1)
    tuner = kt.Tuner(oracle=oracle, hypermodel=build, directory=str(tmp_path), project_name="project")
    return tuner.oracle


def test_oracle_servicer_and_chief_exit(oracle):
    import grpc
    from concurrent import futures

    private, user = "keras_tuner.src.protos / keras_tuner.src.distribute.oracle_chief", "tuning/tuner.py (serve_oracle)"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        servicer = private_api.add_oracle_servicer(server, oracle)
        assert server.add_insecure_port("127.0.0.1:0") > 0
        assert servicer.stop_triggered is False, _changed(private, user, "OracleServicer has no stop_triggered")
    finally:
        server.stop(grace=None)
    assert private_api.chief_may_exit(oracle), _changed(private, user, "a fresh oracle does not let the chief exit")
    oracle.tuner_ids.add("tuner0")
    assert not private_api.chief_may_exit(oracle), _changed(
        private, user, "exit_chief ignores the workers still connected (oracle.tuner_ids)")


def test_oracle_project_and_trial_dirs(oracle, tmp_path):
    private, user = "Oracle._project_dir / Oracle._get_trial_dir", "tuning/tuner.py (AtomicOracleMixin)"
    project = os.path.join(str(tmp_path), "project")
    assert private_api.oracle_project_dir(oracle) == project, _changed(private, user, "another project folder")
    trial_dir = private_api.oracle_trial_dir(oracle, "07")
    assert trial_dir == os.path.join(project, "trial_07") and os.path.isdir(trial_dir), _changed(
        private, user, f"trial folder {trial_dir!r}, expected {project}/trial_07 (created)")


def test_save_trial_hook_writes_every_trial_json(oracle):
    import keras_tuner as kt

    private, user = f"Oracle.{private_api.ORACLE_SAVE_TRIAL_HOOK}", "tuning/tuner.py (AtomicOracleMixin)"
    hook = private_api.ORACLE_SAVE_TRIAL_HOOK
    assert hook in vars(private_api.OracleTrialWriteHook), "OracleTrialWriteHook must override the hook it names"
    assert list(inspect.signature(getattr(kt.Oracle, hook, None) or (lambda: None)).parameters) == [
        "self", "trial"], _changed(private, user, "Oracle has no method _save_trial(self, trial)")
    from keras_rnnreg.tuning import state

    written = []

    def write_trial(self, trial):  # as AtomicOracleMixin's, marking what it wrote
        written.append(trial.trial_id)
        path = os.path.join(private_api.oracle_trial_dir(self, trial.trial_id), "trial.json")
        state.atomic_json(path, {**trial.get_state(), "writes_through_hook": len(written)})

    cls = type(oracle)
    original, cls.write_trial = cls.write_trial, write_trial
    try:
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_loss": 1.0})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    finally:
        cls.write_trial = original
    assert len(written) >= 2 and set(written) == {trial.trial_id}, _changed(
        private, user, f"the hook wrote {written}; expected the trial at its start and its end")
    # The last trial.json written is the hook's: KerasTuner wrote it nowhere else afterwards.
    path = os.path.join(private_api.oracle_trial_dir(oracle, trial.trial_id), "trial.json")
    saved = rundir.read_json(path)
    assert saved.get("writes_through_hook") == len(written) and saved["status"] == "COMPLETED", _changed(
        private, user, "trial.json was last written by KerasTuner itself, not through the hook")


def test_retry_queue_is_the_oracles_queue(oracle):
    private, user = "Oracle._retry_queue", "tuning/tuner.py (repair_oracle)"
    queue = private_api.oracle_retry_queue(oracle)
    assert isinstance(queue, list) and queue == [], _changed(private, user, f"a fresh oracle's queue is {queue!r}")
    first = oracle.create_trial("tuner0")
    oracle.update_trial(first.trial_id, {"val_loss": 1.0})
    first.status = "COMPLETED"
    oracle.end_trial(first)
    # repair_oracle re-queues a trial this way: the oracle must run it next.
    first.status = "RUNNING"
    queue.append(first.trial_id)
    again = oracle.create_trial("tuner0")
    assert again.trial_id == first.trial_id and private_api.oracle_retry_queue(oracle) == [], _changed(
        private, user, "create_trial no longer takes the next trial from the retry queue")
    assert oracle.get_state()["retry_queue"] == []


def test_rebuilt_values_hash_is_kerastuners(oracle):
    from keras_rnnreg.tuning import state

    values = {"units": 3, "learning_rate": 0.001, "noise": "additive"}
    assert state._values_hash(values) == oracle._compute_values_hash(values), _changed(
        "Oracle._compute_values_hash", "tuning/state.py (_values_hash, rebuilt oracle.json)",
        "another hash: a rebuilt oracle would propose tried configurations again")
