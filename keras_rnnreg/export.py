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
    An existing export at ``path`` is replaced.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    import tensorflow as tf

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
