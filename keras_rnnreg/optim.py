"""Optimizers and model compilation shared by training, tuning and benchmarks."""

import keras

from keras_rnnreg.defaults import OPTIMIZERS
from keras_rnnreg.losses import FrameNLL, NoteNLL


def make_optimizer(name="sgd", learning_rate=1e-3, momentum=0.9, clipnorm=None, decay=0.9):
    """Build an optimizer by name.

    Args:
        name: ``"sgd"`` (SGD with Nesterov momentum, the paper's optimizer),
            ``"rmsprop"`` (Keras's; ``momentum`` is RMSprop's heavy-ball momentum),
            ``"rmsprop_nesterov"`` (:class:`~keras_rnnreg.RMSpropNesterov`, RMSprop
            as the authors' climin computes it) or ``"adam"``.
        learning_rate: step rate, > 0.
        momentum: momentum in [0, 1).
        clipnorm: if set (> 0), clip each gradient to this norm.
        decay: decay of the squared-gradient average of the two RMSprops
            (Keras's ``rho``), in [0, 1).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid choices: {', '.join(OPTIMIZERS)}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if clipnorm is not None and not clipnorm > 0:
        raise ValueError(f"clipnorm must be > 0 or None, got {clipnorm}")
    kwargs = {"learning_rate": learning_rate}
    if clipnorm:
        kwargs["clipnorm"] = clipnorm
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, nesterov=momentum > 0, **kwargs)
    if not 0 <= decay < 1:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rho=decay, momentum=momentum, **kwargs)
    if name == "rmsprop_nesterov":
        from keras_rnnreg.rmsprop_nesterov import RMSpropNesterov

        return RMSpropNesterov(decay=decay, momentum=momentum, **kwargs)
    return keras.optimizers.Adam(**kwargs)


def iter_layers(layer):
    """Every layer nested in ``layer`` (not ``layer`` itself), depth first.

    Walks the public containers: a model's or ``StackedRNNCells``' ``layers`` /
    ``cells``, a ``keras.layers.RNN``'s ``cell``, a wrapper's ``layer`` and a
    ``Bidirectional``'s two directions.
    """
    children = []
    if isinstance(layer, keras.layers.Bidirectional):
        children = [layer.forward_layer, layer.backward_layer]
    elif isinstance(layer, keras.layers.Wrapper):
        children = [layer.layer]
    elif isinstance(layer, keras.layers.RNN):
        children = [layer.cell]
    elif isinstance(layer, keras.layers.StackedRNNCells):
        children = list(layer.cells)
    elif isinstance(layer, keras.Model):
        children = list(layer.layers)
    for child in children:
        yield child
        yield from iter_layers(child)


def prefers_whole_model_xla(model):
    """Whether ``jit_compile="auto"`` compiles ``model``'s train/predict steps with XLA.

    Keras's own ``"auto"`` never uses XLA on a CPU-only TensorFlow machine. For
    models built on :class:`~keras_rnnreg.NoisySimpleRNN` and NoisyLSTM / NoisyGRU
    (gated loops: benchmarks/profile_gated.py) whole-model XLA is
    faster there too: one compiled program per step instead of a graph of small
    ops around the compiled recurrence loops (``python -m benchmarks.throughput``
    with ``--jit-compile true`` vs ``false``; results/throughput.md). So are the
    gated fast-dropout layers (FastDropoutLSTM / GRU): their step is ~100 small
    elementwise ops, which XLA fuses (training CPU-time ratio to Keras's GRU at
    batch 8, the training default: 0.55 under XLA vs 0.39 as a graph; LSTM 0.72
    vs 0.41; at batch 32 about equal). Models with the simple fast-dropout
    layers are the exception: their training step measured slower under
    whole-model XLA (CPU-time ratio to SimpleRNN 0.47 vs 0.61 as a plain graph
    at batch 32, equal at batch 8), so they keep the plain graph, where the
    graph executor runs the moment projections and gradient contractions beside
    the compiled recurrence loops.
    """
    from keras_rnnreg.rnn.fast_dropout import FastDropoutDense, FastDropoutSimpleRNN
    from keras_rnnreg.rnn.fast_dropout_gated import FastDropoutGRU, FastDropoutLSTM
    from keras_rnnreg.rnn.noisy_gated import NoisyGRU, NoisyLSTM
    from keras_rnnreg.rnn.noisy_simple_rnn import NoisySimpleRNN

    if keras.backend.backend() != "tensorflow":
        return False
    layers = list(iter_layers(model))
    if any(isinstance(layer, (FastDropoutLSTM, FastDropoutGRU)) for layer in layers):
        return True
    if any(isinstance(layer, (FastDropoutSimpleRNN, FastDropoutDense)) for layer in layers):
        return False
    return any(isinstance(layer, (NoisySimpleRNN, NoisyLSTM, NoisyGRU)) for layer in layers)


def compile_model(model, optimizer="sgd", learning_rate=1e-3, momentum=0.9, clipnorm=None,
                  jit_compile="auto", steps_per_execution=1):
    """Compile ``model`` with the NLL loss and the frame-weighted NLL metric.

    ``optimizer`` is a name (see :func:`make_optimizer`) or an optimizer instance.
    The metric is named ``nll`` (so validation reports ``val_nll``); pass the
    per-frame weights of the data pipelines as ``sample_weight``.
    ``jit_compile="auto"`` turns whole-model XLA on where
    :func:`prefers_whole_model_xla` says so and otherwise leaves the choice to
    Keras; ``True`` / ``False`` force it.
    """
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, learning_rate, momentum, clipnorm)
    if jit_compile == "auto" and prefers_whole_model_xla(model):
        jit_compile = True
    model.compile(
        optimizer=optimizer,
        loss=NoteNLL(),
        weighted_metrics=[FrameNLL()],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
