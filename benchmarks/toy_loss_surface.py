"""The paper's section-5 toy problem (its Figures 2 and 3): the loss surface of a one-unit RNN.

One hidden unit, no input (the paper's Eq. 2 with ``u_t`` dropped), started at
zero and run for ``steps`` steps::

    x_0 = 0,   x_t = tanh(w * x_{t-1} + b),   L(w, b) = (x_T - z)^2

``--form pascanu`` uses the variant of Pascanu et al. (2012), which the paper
cites for this demonstration, with the nonlinearity inside the recurrence and
an unbounded state: ``x_t = w * sigmoid(x_{t-1}) + b``.

The command evaluates ``L`` on a grid of (w, b) (100 x 100 = the paper's 10,000
settings by default), plain (Figure 2) and with an L2 penalty
``lambda * (w^2 + b^2)`` (Figure 3, the "more desirable" regime), and draws both
surfaces side by side, with the norm of the gradient of each, into one PNG.
The gradient comes from the exact backward recursion (checked against finite
differences in the tests), so the figure shows where the surface has the steep
wall the paper describes: near the bifurcation of the recurrence, where the
gradient norm jumps by orders of magnitude between neighbouring settings.

Usage::

    python -m benchmarks.toy_loss_surface --out results/fig2_3_toy_loss_surface.png
"""

import json
import pathlib
import sys
import time

import numpy as np
from absl import flags

from benchmarks import _flags
from benchmarks.provenance import code_version

FORMS = ("paper", "pascanu")


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def loss_and_gradient(w, b, steps=50, target=0.5, form="paper", x0=0.0):
    """Loss ``(x_T - target)^2`` and its gradient in (w, b), element-wise over arrays.

    Args:
        w, b: arrays of the same shape (or scalars): the recurrent weight and the bias.
        steps: T, the number of recurrence steps.
        target: z, the value ``x_T`` must reach.
        form: ``"paper"`` (``x_t = tanh(w x_{t-1} + b)``) or ``"pascanu"``
            (``x_t = w sigmoid(x_{t-1}) + b``).
        x0: the start value.

    Returns:
        ``(loss, dloss_dw, dloss_db)``, arrays of the broadcast shape of w and b.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    w, b = np.broadcast_arrays(np.asarray(w, np.float64), np.asarray(b, np.float64))
    x = np.full(w.shape, float(x0))
    # Forward-mode sensitivities dx/dw and dx/db, carried with the state: two
    # numbers per setting instead of storing the whole trajectory.
    dx_dw = np.zeros(w.shape)
    dx_db = np.zeros(w.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            if form == "paper":
                x_new = np.tanh(w * x + b)
                slope = 1.0 - x_new**2          # d tanh(a) / da
                dx_dw = slope * (x + w * dx_dw)
                dx_db = slope * (1.0 + w * dx_db)
            else:
                s = _sigmoid(x)
                x_new = w * s + b
                ds = s * (1.0 - s)              # d sigmoid(x) / dx
                dx_dw = s + w * ds * dx_dw
                dx_db = 1.0 + w * ds * dx_db
            x = x_new
        residual = x - target
        return residual**2, 2.0 * residual * dx_dw, 2.0 * residual * dx_db


def surfaces(w_range=(-4.0, 4.0), b_range=(-2.0, 2.0), grid=100, steps=50, target=0.5, form="paper",
             l2=0.1):
    """The plain and L2-penalized loss surfaces and their gradient norms on a (w, b) grid."""
    if grid < 2:
        raise ValueError(f"grid must be >= 2, got {grid}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    w, b = np.meshgrid(np.linspace(*w_range, grid), np.linspace(*b_range, grid))
    loss, gw, gb = loss_and_gradient(w, b, steps=steps, target=target, form=form)
    penalized = loss + l2 * (w**2 + b**2)
    pgw, pgb = gw + 2.0 * l2 * w, gb + 2.0 * l2 * b
    return {
        "w": w, "b": b,
        "loss": loss, "grad_norm": np.hypot(gw, gb),
        "loss_l2": penalized, "grad_norm_l2": np.hypot(pgw, pgb),
    }


def plot(result, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 10))
    panels = (("loss", "Plain: L = (x_T - z)^2 (Fig. 2)"),
              ("loss_l2", "With L2 penalty: L + lambda (w^2 + b^2) (Fig. 3)"))
    for col, (key, label) in enumerate(panels):
        ax = fig.add_subplot(2, 2, col + 1, projection="3d")
        ax.plot_surface(result["w"], result["b"], result[key], cmap="viridis", linewidth=0, antialiased=True)
        ax.set_xlabel("w")
        ax.set_ylabel("b")
        ax.set_zlabel("L")
        ax.set_title(label, fontsize=10)
        ax2 = fig.add_subplot(2, 2, col + 3)
        grad = result["grad_norm" if key == "loss" else "grad_norm_l2"]
        im = ax2.pcolormesh(result["w"], result["b"], np.log10(grad + 1e-12), shading="auto", cmap="magma")
        ax2.set_xlabel("w")
        ax2.set_ylabel("b")
        ax2.set_title("log10 |grad L|", fontsize=10)
        fig.colorbar(im, ax=ax2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")  # no half-written PNG under the final name
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


PROG = "python -m benchmarks.toy_loss_surface"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("out", "results/fig2_3_toy_loss_surface.png", "PNG to write.", flag_values=fv)
    flags.DEFINE_enum("form", "paper", FORMS, "The recurrence (see the module doc).", flag_values=fv)
    flags.DEFINE_integer("steps", 50, "Recurrence steps T.", flag_values=fv)
    flags.DEFINE_float("target", 0.5, "Target z for x_T.", flag_values=fv)
    flags.DEFINE_integer("grid", 100, "Grid points per axis (100: the paper's 10,000).", flag_values=fv)
    # Two words (`--w_range -4 4`, the older spelling, still accepted) or one (`--w_range=-4,4`).
    flags.DEFINE(_flags.FloatTuple(2), "w_range", (-4.0, 4.0), "Range of w: LOW HIGH (or LOW,HIGH).",
                 flag_values=fv, serializer=flags.CsvListSerializer(","))
    flags.DEFINE(_flags.FloatTuple(2), "b_range", (-2.0, 2.0), "Range of b: LOW HIGH (or LOW,HIGH).",
                 flag_values=fv, serializer=flags.CsvListSerializer(","))
    flags.DEFINE_float("l2", 0.1, "Lambda of the L2 penalty.", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n\n")[0], define_flags, argv, words={"w_range": 2, "b_range": 2})
    if args.steps < 1:
        _flags.fail(PROG, f"--steps must be >= 1, got {args.steps}")
    if args.grid < 2:
        _flags.fail(PROG, f"--grid must be >= 2, got {args.grid}")
    if not args.l2 >= 0:
        _flags.fail(PROG, f"--l2 must be >= 0, got {args.l2}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    start = time.time()
    result = surfaces(tuple(args.w_range), tuple(args.b_range), args.grid, args.steps, args.target, args.form,
                      args.l2)
    title = (f"one-unit RNN, form {args.form!r}, T={args.steps}, z={args.target}, lambda={args.l2}, "
             f"{args.grid}x{args.grid} settings\n`python -m benchmarks.toy_loss_surface "
             f"{' '.join(argv)}`, {code_version()}")
    plot(result, args.out, title)
    summary = {
        "out": str(args.out),
        "max_grad_norm": float(np.nanmax(result["grad_norm"])),
        "max_grad_norm_l2": float(np.nanmax(result["grad_norm_l2"])),
        "seconds": round(time.time() - start, 2),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
