"""RMSpropNesterov against a NumPy rendering of climin's RmsProp."""

import keras
import numpy as np
import pytest

import keras_rnnreg
from keras_rnnreg.rmsprop_nesterov import RMSpropNesterov

# A quadratic with an anisotropic curvature: grad(theta) = A theta - c.
A = np.diag([3.0, 0.5, 0.05]).astype(np.float64)
C = np.array([1.0, -2.0, 0.5])


def climin_rmsprop(theta, steps, step_rate, decay, momentum, initial=1.0, eps=1e-8):
    """climin.RmsProp._iterate (without step-rate adaptation), in NumPy."""
    theta = theta.copy()
    mean_square, step = initial, np.zeros_like(theta)
    for _ in range(steps):
        step1 = momentum * step
        theta -= step1
        grad = A @ theta - C
        mean_square = decay * mean_square + (1 - decay) * grad**2
        step2 = step_rate * grad / np.sqrt(mean_square + eps)
        theta -= step2
        step = step1 + step2
    return theta, step


@pytest.mark.parametrize("decay,momentum", [(0.8, 0.99), (0.9, 0.0), (0.5, 0.9)])
def test_matches_climin(decay, momentum):
    theta0 = np.array([0.3, -0.2, 1.0])
    var = keras.Variable(theta0, dtype="float64")
    opt = RMSpropNesterov(learning_rate=0.01, decay=decay, momentum=momentum)
    for _ in range(50):
        grad = A @ np.asarray(var.numpy()) - C
        opt.apply_gradients([(keras.ops.convert_to_tensor(grad, "float64"), var)])
    theta, step = climin_rmsprop(theta0, 50, 0.01, decay, momentum)
    # The variable holds the look-ahead point theta - momentum * step.
    # rtol 1e-6: Keras keeps the learning rate in float32 (0.01 -> 0.0099999998).
    np.testing.assert_allclose(var.numpy(), theta - momentum * step, rtol=1e-6, atol=1e-9)


def test_differs_from_keras_rmsprop_at_the_start():
    # Keras starts the squared-gradient average at 0: its first step is ~lr / sqrt(1 - rho)
    # per coordinate whatever the gradient's size; climin's starts at 1: ~lr * grad.
    grad = np.array([1e-2, 1e-2])
    steps = {}
    for name, opt in (("climin", RMSpropNesterov(learning_rate=0.1, decay=0.8)),
                      ("keras", keras.optimizers.RMSprop(learning_rate=0.1, rho=0.8))):
        var = keras.Variable(np.zeros(2), dtype="float64")
        opt.apply_gradients([(keras.ops.convert_to_tensor(grad, "float64"), var)])
        steps[name] = -var.numpy()[0]
    assert steps["climin"] == pytest.approx(0.1 * 1e-2 / np.sqrt(0.8 + 0.2e-4 + 1e-8), rel=1e-6)
    assert steps["keras"] == pytest.approx(0.1 / np.sqrt(0.2), rel=1e-2)  # its epsilon 1e-7 aside


def test_bad_arguments_and_serialization():
    for kwargs, message in (({"decay": 1.0}, "decay must be in"), ({"momentum": -0.1}, "momentum must be in"),
                            ({"epsilon": 0.0}, "epsilon must be > 0")):
        with pytest.raises(ValueError, match=message):
            RMSpropNesterov(**kwargs)
    opt = RMSpropNesterov(learning_rate=2e-3, decay=0.8, momentum=0.99, clipnorm=5.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, RMSpropNesterov)
    assert (again.decay, again.momentum, again.initial_mean_square, again.clipnorm) == (0.8, 0.99, 1.0, 5.0)
    assert keras_rnnreg.RMSpropNesterov is RMSpropNesterov


def test_make_optimizer_by_name():
    from keras_rnnreg.optim import make_optimizer

    opt = make_optimizer("rmsprop_nesterov", learning_rate=1e-3, momentum=0.99, clipnorm=5.0, decay=0.8)
    assert isinstance(opt, RMSpropNesterov) and (opt.decay, opt.momentum, opt.clipnorm) == (0.8, 0.99, 5.0)
    assert make_optimizer("rmsprop", decay=0.8).rho == 0.8
    with pytest.raises(ValueError, match="decay must be in"):
        make_optimizer("rmsprop", decay=1.5)
