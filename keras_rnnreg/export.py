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

from keras_rnnreg import rundir

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


def load_keras_model(path):
    """Load a ``.keras`` model with ``keras.saving.load_model(path, safe_mode=True)``.

    Importing :mod:`keras_rnnreg` registers the custom layers, so the zoo's
    models deserialize without ``custom_objects``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    import keras_rnnreg  # noqa: F401  (registers the custom objects)

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .keras model at {str(path)!r}")
    return keras.saving.load_model(os.fspath(path), safe_mode=True, compile=False)


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
