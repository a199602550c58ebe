"""SavedModel export: reloads through tf.saved_model.load and TFSMLayer with identical predictions."""

import numpy as np
import pytest

from keras_rnnreg.app import export
from keras_rnnreg import models


@pytest.fixture(scope="module")
def noisy_model():
    """An untrained model whose regularizer is active only in training (noise off at inference)."""
    import keras

    keras.utils.set_random_seed(0)
    return models.get("rnn_mns", units=12, seed=0, output_init_stddev=0.3)


@pytest.fixture(scope="module")
def rolls():
    rng = np.random.default_rng(1)
    return rng.binomial(1, 0.08, size=(3, 25, 88)).astype(np.float32)


def test_saved_model_reloads_with_same_predictions(tmp_path, noisy_model, rolls):
    import tensorflow as tf

    path = export.export_saved_model(noisy_model, tmp_path / "sm")
    expected = np.asarray(noisy_model(rolls, training=False))

    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    (inp,) = signature.structured_input_signature[1].values()
    assert inp.shape.as_list() == [None, None, 88] and inp.dtype == tf.float32
    (out,) = signature(tf.constant(rolls)).values()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded.serve(tf.constant(rolls)).numpy(), expected, rtol=1e-6, atol=1e-6)

    layer = export.load_tfsm_layer(path)
    np.testing.assert_allclose(np.asarray(layer(rolls)), expected, rtol=1e-6, atol=1e-6)

    # Any batch size and length, including a single step.
    one = rolls[:1, :1]
    np.testing.assert_allclose(
        np.asarray(export.serving_function(path)(one)), np.asarray(noisy_model(one, training=False)),
        rtol=1e-6, atol=1e-6,
    )


def test_export_replaces_an_existing_export(tmp_path, noisy_model, rolls):
    path = tmp_path / "sm"
    export.export_saved_model(noisy_model, path)
    first = (path / "saved_model.pb").stat().st_mtime_ns
    export.export_saved_model(noisy_model, path)
    assert (path / "saved_model.pb").is_file() and (path / "saved_model.pb").stat().st_mtime_ns >= first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"]


@pytest.mark.parametrize("kind", ["notes_folder", "export_plus_notes", "file"])
def test_export_refuses_to_replace_other_data(tmp_path, noisy_model, kind):
    path = tmp_path / "target"
    if kind == "file":
        path.write_text("my notes")
    else:
        path.mkdir()
        (path / "notes.txt").write_text("my notes")
        if kind == "export_plus_notes":
            (path / "saved_model.pb").write_bytes(b"x")
    before = sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else None) for p in tmp_path.rglob("*"))
    with pytest.raises(export.ExportTargetError, match="refusing to export to"):
        export.export_saved_model(noisy_model, path)
    after = sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else None) for p in tmp_path.rglob("*"))
    assert after == before


def test_export_into_an_empty_folder(tmp_path, noisy_model):
    (tmp_path / "empty").mkdir()
    export.export_saved_model(noisy_model, tmp_path / "empty")
    assert (tmp_path / "empty" / "saved_model.pb").is_file()


def test_keras_file_loads_in_safe_mode(tmp_path, noisy_model, rolls):
    from keras_rnnreg.app import rundir

    rundir.atomic_save_model(noisy_model, tmp_path / "model.keras")
    reloaded = export.load_keras_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        np.asarray(reloaded(rolls, training=False)), np.asarray(noisy_model(rolls, training=False)), atol=1e-6
    )
    with pytest.raises(FileNotFoundError, match="no .keras model"):
        export.load_keras_model(tmp_path / "missing.keras")
