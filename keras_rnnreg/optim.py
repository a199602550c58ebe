"""Optimizers and model compilation shared by training, tuning and benchmarks."""

import keras

from keras_rnnreg.losses import FrameNLL, NoteNLL

OPTIMIZERS = ("sgd", "rmsprop", "adam")


def make_optimizer(name="sgd", learning_rate=1e-3, momentum=0.9, clipnorm=None):
    """Build an optimizer by name.

    Args:
        name: ``"sgd"`` (SGD with Nesterov momentum, the paper's optimizer),
            ``"rmsprop"`` (``momentum`` is RMSprop's momentum) or ``"adam"``.
        learning_rate: step rate, > 0.
        momentum: momentum in [0, 1).
        clipnorm: if set (> 0), clip each gradient to this norm.
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
    if name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=momentum, **kwargs)
    return keras.optimizers.Adam(**kwargs)


def compile_model(model, optimizer="sgd", learning_rate=1e-3, momentum=0.9, clipnorm=None,
                  jit_compile="auto", steps_per_execution=1):
    """Compile ``model`` with the NLL loss and the frame-weighted NLL metric.

    ``optimizer`` is a name (see :func:`make_optimizer`) or an optimizer instance.
    The metric is named ``nll`` (so validation reports ``val_nll``); pass the
    per-frame weights of the data pipelines as ``sample_weight``.
    """
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, learning_rate, momentum, clipnorm)
    model.compile(
        optimizer=optimizer,
        loss=NoteNLL(),
        weighted_metrics=[FrameNLL()],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
