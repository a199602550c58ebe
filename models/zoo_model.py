"""``ZooModel``: the functional ``keras.Model`` every zoo model is built as."""

import keras

from keras_rnnreg.optim import prefers_whole_model_xla


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class ZooModel(keras.Model):
    """A functional model whose ``compile`` picks whole-model XLA as the library does.

    Built like any functional model (``ZooModel(inputs, outputs, name=...)``).
    The one difference from ``keras.Model``: ``compile(..., jit_compile="auto")``
    (Keras's default) turns whole-model XLA on where
    :func:`keras_rnnreg.optim.prefers_whole_model_xla` says it is faster, so a
    plain ``model.compile(optimizer, loss)`` trains as fast as
    :func:`keras_rnnreg.optim.compile_model` (Keras's own ``"auto"`` never uses
    XLA on a CPU-only TensorFlow machine). An explicit ``True`` / ``False`` is
    kept as given.

    ``.keras`` files saved before this class existed load as plain functional
    models and keep Keras's ``"auto"``.
    """

    def compile(self, *args, jit_compile="auto", **kwargs):
        if jit_compile == "auto" and prefers_whole_model_xla(self):
            jit_compile = True
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of any model whose compile()
        # is overridden (it cannot know what the override does); ours only
        # changes the jit_compile default, so restoring it is safe. Same steps
        # as keras.Model.compile_from_config.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)
