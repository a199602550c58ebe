"""The section-5 toy problem (benchmarks.toy_loss_surface)."""

import math

import numpy as np
import pytest

from benchmarks import toy_loss_surface as toy


def _direct_loss(w, b, steps, target, form):
    x = 0.0
    for _ in range(steps):
        x = math.tanh(w * x + b) if form == "paper" else w / (1.0 + math.exp(-x)) + b
    return (x - target) ** 2


@pytest.mark.parametrize("form,target", [("paper", 0.5), ("pascanu", 8.5)])
def test_loss_matches_a_direct_loop_and_gradient_matches_finite_differences(form, target):
    rng = np.random.default_rng(0)
    w = rng.uniform(-3, 3, 20)
    b = rng.uniform(-1.5, 1.5, 20)
    loss, gw, gb = toy.loss_and_gradient(w, b, steps=12, target=target, form=form)
    expected = [_direct_loss(wi, bi, 12, target, form) for wi, bi in zip(w, b)]
    np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-12)
    eps = 1e-6
    fd_w = (toy.loss_and_gradient(w + eps, b, 12, target, form)[0]
            - toy.loss_and_gradient(w - eps, b, 12, target, form)[0]) / (2 * eps)
    fd_b = (toy.loss_and_gradient(w, b + eps, 12, target, form)[0]
            - toy.loss_and_gradient(w, b - eps, 12, target, form)[0]) / (2 * eps)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb, fd_b, rtol=1e-5, atol=1e-6)


def test_the_plain_surface_has_a_wall_and_the_penalty_adds_the_l2_term():
    res = toy.surfaces(grid=60, steps=50, l2=0.1)
    np.testing.assert_allclose(res["loss_l2"] - res["loss"], 0.1 * (res["w"] ** 2 + res["b"] ** 2), atol=1e-12)
    # The wall: between neighbouring grid settings the loss jumps by a large part of its
    # range somewhere (the bifurcation near w = -1), while most steps are small.
    jumps = np.abs(np.diff(res["loss"], axis=1))
    assert jumps.max() > 0.3 * (res["loss"].max() - res["loss"].min())
    assert np.median(jumps) < 0.02 * jumps.max()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="form must be one of"):
        toy.loss_and_gradient(1.0, 0.0, form="lstm")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        toy.loss_and_gradient(1.0, 0.0, steps=0)
    with pytest.raises(SystemExit):
        toy.parse_args(["--grid", "1"])


def test_command_writes_the_png(tmp_path):
    out = tmp_path / "fig" / "toy.png"
    summary = toy.main(["--grid", "12", "--steps", "10", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["toy.png"]  # no temporary left behind
    assert summary["max_grad_norm"] > 0
