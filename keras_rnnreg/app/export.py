"""SavedModel export of trained models and safe loading of ``.keras`` files.

:func:`export_saved_model` writes what ``model.export(path)`` writes (a
TensorFlow SavedModel, through :class:`keras.export.ExportArchive`) atomically. Its ``serve`` endpoint and ``serving_default``
signature take a ``(batch, time, 88)`` float32 piano roll and return the
``(batch, time, 88)`` next-step note probabilities, with the clean (noise-free)
inference weights. Reload it with :func:`load_saved_model`
(``tf.saved_model.load``) or as a Keras layer with :func:`load_tfsm_layer`
(``keras.layers.TFSMLayer``).

``.keras`` files are only ever loaded with ``safe_mode=True``
(:func:`load_keras_model`), which refuses to deserialize arbitrary Python
lambdas.
"""

from __future__ import annotations

import os
import pathlib

import keras

from keras_rnnreg.app import rundir

NUM_NOTES = 88

#: What a SavedModel folder holds; an existing folder with anything else is never replaced.
SAVED_MODEL_ENTRIES = frozenset(
    {"saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "keras_metadata.pb", "variables", "assets"}
)


class ExportTargetError(ValueError):
    """The export path holds something that is not a SavedModel (it is left untouched)."""


def check_export_target(path):
    """Refuse an export ``path`` whose replacement would destroy data.

    ``path`` may be absent, an empty folder or a previous SavedModel export
    (only :data:`SAVED_MODEL_ENTRIES`, with a ``saved_model.pb``). A file, or a
    folder holding anything else (notes, another model, ...), raises
    :class:`ExportTargetError` naming it; nothing is deleted.
    """
    path = pathlib.Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise ExportTargetError(
            f"refusing to export to {str(path)!r}: it exists and is not a folder; choose another --out"
        )
    names = sorted(entry.name for entry in path.iterdir())
    if not names:
        return
    foreign = [n for n in names if n not in SAVED_MODEL_ENTRIES]
    if foreign or "saved_model.pb" not in names:
        shown = ", ".join(repr(n) for n in (foreign or names)[:3]) + (" ..." if len(foreign or names) > 3 else "")
        raise ExportTargetError(
            f"refusing to export to {str(path)!r}: it is a folder that is not a SavedModel export "
            f"(it holds {shown}); choose another --out or an empty folder"
        )


class ModelFileError(ValueError):
    """A ``.keras`` file that is corrupt or refused (the message names it and says why)."""


#: Modules a zoo model's ``config.json`` may refer to.
ALLOWED_MODULES = ("keras", "keras_rnnreg")
#: Parts of Keras a model config never needs (file and network access, saving).
DENIED_MODULES = ("keras.utils", "keras.src.utils", "keras.saving", "keras.src.saving", "keras.backend",
                  "keras.src.backend")
_MESSAGE_LIMIT = 300


def _foreign_references(node, found):
    """Collect ``module.name`` of every serialized object outside :data:`ALLOWED_MODULES`."""
    if isinstance(node, dict):
        module = node.get("module")
        if isinstance(module, str) and "class_name" in node:
            top = module.split(".")[0]
            denied = any(module == d or module.startswith(d + ".") for d in DENIED_MODULES)
            if top not in ALLOWED_MODULES or denied:
                inner = node.get("config")
                name = inner if isinstance(inner, str) else node.get("class_name")
                found.append(f"{module}.{name}")
        if node.get("class_name") == "__lambda__":
            found.append("a Python lambda")
        for value in node.values():
            _foreign_references(value, found)
    elif isinstance(node, list):
        for value in node:
            _foreign_references(value, found)
    return found


def _check_keras_file(path):
    """Refuse a corrupt ``.keras`` archive or one whose config refers to foreign code, in one line."""
    import json
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{str(path)!r} is not a .keras model file (not a zip archive: truncated or corrupt?)")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json").decode("utf-8"))
    except (KeyError, zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "no config.json" if isinstance(e, KeyError) else type(e).__name__
        raise ModelFileError(f"{str(path)!r} is not a readable .keras model file ({reason})") from None
    foreign = _foreign_references(config, [])
    if foreign:
        shown = ", ".join(repr(f[:60]) for f in foreign[:3])
        raise ModelFileError(
            f"refusing to load {str(path)!r}: it refers to {shown}, which is not a Keras layer, "
            "initializer or keras_rnnreg object (a crafted file?)"
        )


def load_keras_model(path):
    """Load a ``.keras`` model with ``keras.saving.load_model(path, safe_mode=True)``.

    Importing :mod:`keras_rnnreg` registers the custom layers, so the zoo's
    models deserialize without ``custom_objects``. Before Keras sees the
    file, a corrupt archive, or a config naming objects outside Keras and
    keras_rnnreg or in Keras's utilities (``os.system``,
    ``keras.utils.get_file``), is refused; any failure of Keras itself becomes a
    one-line :class:`ModelFileError`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ModelFileError: corrupt or refused file.
    """
    import keras_rnnreg  # noqa: F401  (registers the custom objects)

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .keras model at {str(path)!r}")
    _check_keras_file(path)
    try:
        return keras.saving.load_model(os.fspath(path), safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises TypeError/KeyError/ValueError with pages of config
        text = str(e)
        reason = text.rsplit("Exception encountered:", 1)[-1].strip() if text else type(e).__name__
        reason = (reason.splitlines() or [type(e).__name__])[0]
        if len(reason) > _MESSAGE_LIMIT:
            reason = reason[: _MESSAGE_LIMIT - 3] + "..."
        raise ModelFileError(f"cannot load {str(path)!r} (safe_mode): {type(e).__name__}: {reason}") from None


def export_saved_model(model, path, verbose=False):
    """Export ``model`` as a SavedModel at ``path``, atomically.

    The ``serve`` endpoint (also the ``serving_default`` signature) maps a
    float32 ``(batch, time, 88)`` tensor to probabilities of the same shape.
    An existing export at ``path`` is replaced; anything else there (a file,
    a folder of other files) is refused before anything is written
    (:func:`check_export_target`).

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ExportTargetError: ``path`` holds something other than a SavedModel.
    """
    import tensorflow as tf

    check_export_target(path)

    def build(tmp):
        # What ``model.export(tmp)`` does, plus one save option: the recurrent
        # layers' hand-written gradients are not traced into the SavedModel
        # (serving needs no gradients, and tracing them with a dynamic time
        # axis fails).
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            name="serve",
            fn=lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec(shape=(None, None, NUM_NOTES), dtype=tf.float32, name="piano_roll")],
        )
        archive.write_out(
            os.fspath(tmp),
            options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
            verbose=verbose,
        )

    rundir.atomic_replace_dir(build, path)
    return pathlib.Path(path)


def load_saved_model(path):
    """``tf.saved_model.load(path)``: the restored object (``.serve``, ``.signatures``)."""
    import tensorflow as tf

    return tf.saved_model.load(os.fspath(path))


def serving_function(path):
    """A callable ``f(x) -> probabilities`` from the ``serving_default`` signature at ``path``."""
    import tensorflow as tf

    signature = load_saved_model(path).signatures["serving_default"]

    def predict(x):
        outputs = signature(tf.convert_to_tensor(x, dtype=tf.float32))
        return next(iter(outputs.values()))

    return predict


def load_tfsm_layer(path):
    """``keras.layers.TFSMLayer(path, call_endpoint="serve")``: the export as a Keras layer."""
    return keras.layers.TFSMLayer(os.fspath(path), call_endpoint="serve")
