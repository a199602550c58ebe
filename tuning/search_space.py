"""Search space of the random search (the paper's missing Table 2).

The paper draws 50 configurations per model "from the ranges given in Tab. 2",
a table missing from the text. The ranges below are designed from the paper's
sections 6-9 and the reference notes (``docs/references.md``): the "correct regime" of
Sutskever et al. (sparse init with k ~ 15, spectral radius close to 1, input
std ~ 0.001-0.01, SGD with Nesterov momentum and gradient clipping), the fast
dropout reference run (RMSprop, dropout 0.1 / 0.2 / 0.5), and the axes of the
figures 8-10 (lambda of L1/L2, sigma of additive noise, DropConnect p searched
over 0-1). Ranges are wide enough to contain those reference points near
their middle (in log space for scale parameters).

Every model tunes the common rows; "own" rows apply to the listed models only.
``fixed`` rows are recorded in every trial but not searched. ``l1`` / ``l2``
of ``rnn_nbr`` are conditional on ``penalty`` (inactive means 0).

| hyperparameter | models | range | sampling | default | rationale |
|---|---|---|---|---|---|
| `cell` | all | simple, lstm, gru | choice | simple | recurrent cell; searched only over the cells `tune --cell` names (default: simple, not searched) |
| `units` | all | 100 - 400, step 50 | linear | 200 | one tanh layer; FD reference used 400 |
| `optimizer` | all but rnn_fd | `sgd` (fixed) | fixed | sgd | SGD with Nesterov momentum (paper, section 6.1) |
| `optimizer` | rnn_fd | `rmsprop` (fixed) | fixed | rmsprop | FD reference run used RMSprop |
| `learning_rate` | all but rnn_fd | 0.0001 - 0.1 | log | 0.001 | SGD step rate |
| `learning_rate` | rnn_fd | 1e-05 - 0.01 | log | 0.001 | RMSprop step (reference 1e-3) |
| `momentum` | all | 0.5 - 0.99 | linear | 0.9 | Nesterov / RMSprop momentum (reference 0.99) |
| `clipnorm` | all | 0.5 - 50 | log | 10 | gradient clipping norm (Pascanu et al.) |
| `input_init_stddev` | all | 0.0001 - 0.1 | log | 0.01 | std of W_ih (notes: 0.001-0.01) |
| `output_init_stddev` | all | 0.0001 - 0.1 | log | 0.01 | std of W_ho (FD reference 1e-4) |
| `sparsity_k` | all | 5 - 50, step 5 | linear | 15 | nonzero incoming recurrent weights (k ~ 15) |
| `spectral_radius` | all | 0.8 - 1.3 | linear | 1.1 | of W_hh at init (close to 1: 0.9, 1.1, 1.2) |
| `penalty` | rnn_nbr | l1, l2, l1_l2 | choice | l2 | which norm penalty (figure 8: L1 vs L2) |
| `l1` | rnn_nbr | 1e-07 - 0.01 | log | 0.0001 | L1 lambda on W_ih, W_hh, W_ho; if penalty in (l1, l1_l2) |
| `l2` | rnn_nbr | 1e-07 - 0.01 | log | 0.0001 | L2 lambda on W_ih, W_hh, W_ho; if penalty in (l2, l1_l2) |
| `sigma` | rnn_n, rnn_ns | 0.001 - 0.3 | log | 0.01 | std of additive noise on W_hh (figure 9) |
| `sigma` | rnn_mn, rnn_mns | 0.01 - 1 | log | 0.1 | std of multiplicative noise on W_hh (relative) |
| `dropconnect_p` | rnn_do, rnn_dos | 0 - 0.9 | linear | 0.2 | DropConnect p on W_hh, searched over 0-1 (figure 10) |
| `ff_sigma` | rnn_ff | 0.001 - 0.3 | log | 0.01 | std of additive noise on W_ih and W_ho |
| `input_dropout` | rnn_fd | 0 - 0.3 | linear | 0.1 | fast-dropout rate of the inputs (reference 0.1) |
| `hidden_dropout` | rnn_fd | 0 - 0.5 | linear | 0.2 | fast-dropout rate of the hidden state (reference 0.2) |
| `output_dropout` | rnn_fd | 0 - 0.7 | linear | 0.5 | fast-dropout rate of hidden-to-output (reference 0.5) |

Not searched (zoo defaults): ``output_bias_init`` = logit(0.04), the mean note
density; ``noise_implementation`` = local reparameterization for per-step
Gaussian noise. Any hyperparameter, searched or not, can be pinned with
``fixed`` (CLI ``--fixed name=value``), and the bounds of any numeric row
replaced with ``ranges`` (CLI ``--range name=low:high``).

``tests/test_tuning_space.py`` checks that this table, :func:`render_markdown`
and ``tuning/SEARCH_SPACE.md`` agree.
"""

from __future__ import annotations

import dataclasses
import math

from keras_rnnreg import models

ALL = "all"
# Optimizer hyperparameters (every model); the rest are the zoo's.
OPTIMIZER_KEYS = ("optimizer", "learning_rate", "momentum", "clipnorm")


@dataclasses.dataclass(frozen=True)
class Param:
    """One row of the search space.

    Attributes:
        name: hyperparameter name (a zoo hyperparameter or an optimizer one).
        kind: ``"int"``, ``"float"``, ``"choice"`` or ``"fixed"``.
        low, high: bounds of ``int`` / ``float`` rows (inclusive).
        step: grid step of ``int`` rows (``None``: every integer).
        sampling: ``"linear"`` or ``"log"``.
        values: the choices of a ``choice`` row, or ``(value,)`` of a ``fixed`` row.
        default: default value (KerasTuner's default; used by sweeps).
        models: model names this row applies to, or ``"all"``.
        exclude: model names excluded from an ``"all"`` row.
        parent: ``(name, values)``: only active when hyperparameter ``name``
            takes one of ``values``.
        opt_in: searched only when asked (``ranges`` names its values);
            otherwise the zoo's default applies and the row is not declared.
        note: rationale shown in the table.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: int | None = None
    sampling: str = "linear"
    values: tuple = ()
    default: object = None
    models: object = ALL
    exclude: tuple = ()
    parent: tuple | None = None
    opt_in: bool = False
    note: str = ""

    def applies_to(self, model_name):
        if self.models == ALL:
            return model_name not in self.exclude
        return model_name in self.models

    def range_text(self):
        if self.kind == "fixed":
            return f"`{self.values[0]}` (fixed)"
        if self.kind == "choice":
            return ", ".join(str(v) for v in self.values)
        text = f"{_fmt(self.low)} - {_fmt(self.high)}"
        if self.step:
            text += f", step {self.step}"
        return text

    def models_text(self):
        if self.models == ALL:
            return "all" + (f" but {', '.join(self.exclude)}" if self.exclude else "")
        return ", ".join(self.models)

    def note_text(self):
        if self.parent:
            return f"{self.note}; if {self.parent[0]} in ({', '.join(self.parent[1])})"
        return self.note

    def parse(self, text):
        """Convert a command-line string to this row's value type (``"None"``: None)."""
        if isinstance(text, str) and text.strip().lower() in ("none", "null"):
            return None
        try:
            if self.kind == "int":
                return int(text)
            if self.kind == "float":
                return float(text)
        except ValueError:
            raise ValueError(f"{self.name} expects {'an integer' if self.kind == 'int' else 'a number'}, "
                             f"got {text!r}") from None
        for value in self.values:
            if str(value) == str(text):
                return value
        return _parse_scalar(text)


def _fmt(x):
    return f"{x:g}" if isinstance(x, float) else str(x)


_SGD = ALL
_FD = ("rnn_fd",)

PARAMS = (
    Param("cell", "choice", values=models.CHOICES["cell"], default="simple", opt_in=True,
          note="recurrent cell; searched only over the cells `tune --cell` names (default: simple, not searched)"),
    Param("units", "int", 100, 400, step=50, default=200, note="one tanh layer; FD reference used 400"),
    Param("optimizer", "fixed", values=("sgd",), default="sgd", exclude=_FD,
          note="SGD with Nesterov momentum (paper, section 6.1)"),
    Param("optimizer", "fixed", values=("rmsprop",), default="rmsprop", models=_FD,
          note="FD reference run used RMSprop"),
    Param("learning_rate", "float", 1e-4, 1e-1, sampling="log", default=1e-3, exclude=_FD, note="SGD step rate"),
    Param("learning_rate", "float", 1e-5, 1e-2, sampling="log", default=1e-3, models=_FD,
          note="RMSprop step (reference 1e-3)"),
    Param("momentum", "float", 0.5, 0.99, default=0.9, note="Nesterov / RMSprop momentum (reference 0.99)"),
    Param("clipnorm", "float", 0.5, 50.0, sampling="log", default=10.0,
          note="gradient clipping norm (Pascanu et al.)"),
    Param("input_init_stddev", "float", 1e-4, 1e-1, sampling="log", default=0.01,
          note="std of W_ih (notes: 0.001-0.01)"),
    Param("output_init_stddev", "float", 1e-4, 1e-1, sampling="log", default=0.01,
          note="std of W_ho (FD reference 1e-4)"),
    Param("sparsity_k", "int", 5, 50, step=5, default=15, note="nonzero incoming recurrent weights (k ~ 15)"),
    Param("spectral_radius", "float", 0.8, 1.3, default=1.1, note="of W_hh at init (close to 1: 0.9, 1.1, 1.2)"),
    Param("penalty", "choice", values=("l1", "l2", "l1_l2"), default="l2", models=("rnn_nbr",),
          note="which norm penalty (figure 8: L1 vs L2)"),
    Param("l1", "float", 1e-7, 1e-2, sampling="log", default=1e-4, models=("rnn_nbr",),
          parent=("penalty", ("l1", "l1_l2")), note="L1 lambda on W_ih, W_hh, W_ho"),
    Param("l2", "float", 1e-7, 1e-2, sampling="log", default=1e-4, models=("rnn_nbr",),
          parent=("penalty", ("l2", "l1_l2")), note="L2 lambda on W_ih, W_hh, W_ho"),
    Param("sigma", "float", 1e-3, 0.3, sampling="log", default=0.01, models=("rnn_n", "rnn_ns"),
          note="std of additive noise on W_hh (figure 9)"),
    Param("sigma", "float", 1e-2, 1.0, sampling="log", default=0.1, models=("rnn_mn", "rnn_mns"),
          note="std of multiplicative noise on W_hh (relative)"),
    Param("dropconnect_p", "float", 0.0, 0.9, default=0.2, models=("rnn_do", "rnn_dos"),
          note="DropConnect p on W_hh, searched over 0-1 (figure 10)"),
    Param("ff_sigma", "float", 1e-3, 0.3, sampling="log", default=0.01, models=("rnn_ff",),
          note="std of additive noise on W_ih and W_ho"),
    Param("input_dropout", "float", 0.0, 0.3, default=0.1, models=_FD,
          note="fast-dropout rate of the inputs (reference 0.1)"),
    Param("hidden_dropout", "float", 0.0, 0.5, default=0.2, models=_FD,
          note="fast-dropout rate of the hidden state (reference 0.2)"),
    Param("output_dropout", "float", 0.0, 0.7, default=0.5, models=_FD,
          note="fast-dropout rate of hidden-to-output (reference 0.5)"),
)


def space(model_name, ranges=None):
    """The :class:`Param` rows of ``model_name``, in table order.

    Args:
        model_name: a zoo name.
        ranges: ``{name: (low, high)}`` replacing the bounds of numeric rows
            (see :func:`parse_ranges`; a default outside the new bounds is
            moved to the nearest bound), or ``{name: (value, ...)}`` the
            values of a choice row to search (e.g. ``{"cell": ("lstm", "gru")}``).

    Raises:
        ValueError: unknown model (the message lists the valid names).
    """
    models.spec(model_name)  # ValueError listing the valid names
    rows = [p for p in PARAMS if p.applies_to(model_name)]
    ranges = ranges or {}
    choices = {p.name: p for p in rows if p.kind == "choice"}
    unknown = sorted(set(ranges) - set(_numeric_names(rows)) - set(choices))
    if unknown:
        raise ValueError(f"model {model_name!r} has no searched numeric hyperparameter "
                         f"{', '.join(repr(n) for n in unknown)}; "
                         f"valid: {', '.join(_numeric_names(rows))}")
    for name in set(ranges) & set(choices):
        bad = [v for v in ranges[name] if v not in choices[name].values] or ([] if ranges[name] else ["(none)"])
        if bad:
            raise ValueError(f"{name} takes {', '.join(map(str, choices[name].values))}; "
                             f"got {', '.join(map(str, bad))}")
    return [_with_range(p, ranges[p.name]) if p.name in ranges else p for p in rows]


NUMERIC_KINDS = ("int", "float")  # the rows --range can re-bound


def _numeric_names(rows):
    return sorted({p.name for p in rows if p.kind in NUMERIC_KINDS})


def _with_range(param, bounds):
    if param.kind == "choice":
        values = tuple(bounds)
        return dataclasses.replace(param, values=values, opt_in=False,
                                   default=param.default if param.default in values else values[0])
    low, high = bounds
    return dataclasses.replace(param, low=low, high=high, default=min(max(param.default, low), high))


def parse_ranges(model_name, items):
    """Parse ``["name=low:high", ...]`` (CLI ``--range``) into ``{name: (low, high)}``.

    Only numeric rows of ``model_name``'s space can be re-bounded; ``int``
    rows take integers, ``log`` rows positive bounds, and ``low < high``.

    Raises:
        ValueError: malformed item, a name without a numeric row (the message
            lists the valid names) or bounds the row cannot take.
    """
    rows = {p.name: p for p in space(model_name) if p.kind in NUMERIC_KINDS}
    ranges = {}
    for item in items or ():
        name, sep, text = (str(item).partition("="))
        low_text, colon, high_text = text.partition(":")
        name = name.strip()
        if not sep or not colon or not name:
            raise ValueError(f"--range expects name=low:high, got {item!r}")
        if name not in rows:
            raise ValueError(f"--range {item}: model {model_name!r} has no searched numeric hyperparameter "
                             f"{name!r}; valid: {', '.join(sorted(rows))}")
        p = rows[name]
        try:
            low, high = (int(t) if p.kind == "int" else float(t) for t in (low_text, high_text))
        except ValueError:
            kind = "integers" if p.kind == "int" else "numbers"
            raise ValueError(f"--range {item}: {name} takes {kind} low:high") from None
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(f"--range {item}: needs finite bounds with low < high")
        if p.sampling == "log" and low <= 0:
            raise ValueError(f"--range {item}: {name} is sampled in log space; low must be > 0")
        ranges[name] = (low, high)
    return ranges


def tunable_names(model_name):
    """Every hyperparameter name ``model_name`` accepts (searched, zoo or optimizer)."""
    names = {p.name for p in space(model_name)}
    names.update(k for k in models.default_hyperparameters(model_name) if k != "seed")
    names.update(OPTIMIZER_KEYS)
    return sorted(names)


def _parse_scalar(text):
    """Parse ``"None"``, booleans, ints and floats; anything else stays a string."""
    if not isinstance(text, str):
        return text
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_fixed(model_name, items):
    """Parse ``["name=value", ...]`` (CLI ``--fixed``) into a dict of typed values.

    Raises:
        ValueError: malformed item or a name ``model_name`` does not have
            (the message lists the valid names).
    """
    rows = {p.name: p for p in space(model_name)}
    valid = tunable_names(model_name)
    fixed = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--fixed expects name=value, got {item!r}")
        name, text = (s.strip() for s in item.split("=", 1))
        if name not in valid:
            raise ValueError(
                f"model {model_name!r} has no hyperparameter {name!r}; valid names: {', '.join(valid)}"
            )
        value = rows[name].parse(text) if name in rows else _parse_scalar(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--fixed {name}={text[:40]}: must be a finite number")
        fixed[name] = value
    return fixed


def _complete_fixed(model_name, fixed):
    """Infer ``penalty`` when only ``l1`` / ``l2`` of rnn_nbr are pinned."""
    fixed = dict(fixed or {})
    if models.spec(model_name).norm_penalty and "penalty" not in fixed and ({"l1", "l2"} & set(fixed)):
        has = [k for k in ("l1", "l2") if k in fixed]
        fixed["penalty"] = "l1_l2" if len(has) == 2 else has[0]
    return fixed


def declare(hp, model_name, fixed=None, ranges=None):
    """Declare the search space of ``model_name`` on ``hp`` and read its values.

    Args:
        hp: a ``keras_tuner.HyperParameters``.
        model_name: a zoo name.
        fixed: ``{name: value}`` pinned values (declared with ``hp.Fixed``;
            ``None`` values and zoo keys outside the table are passed through
            without being declared).
        ranges: ``{name: (low, high)}`` bounds replacing the table's (see
            :func:`space`).

    Returns:
        The trial's configuration: ``{name: value}`` for every searched,
        fixed or pinned hyperparameter (inactive conditionals are omitted).
    """
    fixed = _complete_fixed(model_name, fixed)
    config = {}
    for p in space(model_name, ranges):
        cond = {}
        if p.parent:
            cond = {"parent_name": p.parent[0], "parent_values": list(p.parent[1])}
        if p.name in fixed:
            value = fixed[p.name]
            if value is None:
                config[p.name] = None
                continue
            value = hp.Fixed(p.name, value, **cond)
        elif p.opt_in:
            continue
        elif p.kind == "int":
            value = hp.Int(p.name, int(p.low), int(p.high), step=p.step, sampling=p.sampling,
                           default=p.default, **cond)
        elif p.kind == "float":
            value = hp.Float(p.name, p.low, p.high, sampling=p.sampling, default=p.default, **cond)
        elif p.kind == "choice":
            value = hp.Choice(p.name, list(p.values), default=p.default, **cond)
        else:
            value = hp.Fixed(p.name, p.values[0], **cond)
        if value is not None:
            config[p.name] = value
    for name, value in fixed.items():
        config.setdefault(name, value)
    return config


def defaults(model_name):
    """The configuration of the table's defaults (what sweeps hold fixed)."""
    config = {}
    for p in space(model_name):
        if p.parent and config.get(p.parent[0]) not in p.parent[1]:
            continue
        config[p.name] = p.default
    return config


def split_config(model_name, config):
    """Split a configuration into ``(model_kwargs, compile_kwargs)``.

    ``model_kwargs`` go to :func:`keras_rnnreg.models.get`, ``compile_kwargs``
    to :func:`keras_rnnreg.optim.compile_model`. For rnn_nbr an inactive
    ``l1`` / ``l2`` (not in the configuration's ``penalty``) is 0; without a
    ``penalty`` an absent one keeps its zoo default (``l2`` 1e-4, ``l1`` 0).
    """
    zoo_keys = set(models.default_hyperparameters(model_name))
    model_kwargs, compile_kwargs = {}, {}
    for name, value in config.items():
        if name in OPTIMIZER_KEYS:
            compile_kwargs[name] = value
        elif name in zoo_keys:
            model_kwargs[name] = value
        elif name != "penalty":
            raise ValueError(f"model {model_name!r} has no hyperparameter {name!r}")
    if models.spec(model_name).norm_penalty:
        penalty = config.get("penalty")
        if penalty is not None:
            for key in ("l1", "l2"):
                if key not in penalty.split("_"):
                    model_kwargs[key] = 0.0
    if model_kwargs.get("sparsity_k") is not None and not isinstance(model_kwargs["sparsity_k"], int):
        model_kwargs["sparsity_k"] = int(model_kwargs["sparsity_k"])
    return model_kwargs, compile_kwargs


def render_table():
    """The markdown table of :data:`PARAMS` (the one in this module's docstring)."""
    lines = [
        "| hyperparameter | models | range | sampling | default | rationale |",
        "|---|---|---|---|---|---|",
    ]
    for p in PARAMS:
        sampling = p.kind if p.kind in ("choice", "fixed") else p.sampling
        lines.append(
            f"| `{p.name}` | {p.models_text()} | {p.range_text()} | {sampling} | "
            f"{_fmt(p.default)} | {p.note_text()} |"
        )
    return "\n".join(lines)


def render_markdown():
    """The whole ``tuning/SEARCH_SPACE.md`` (title, explanation and the table)."""
    return "\n".join([
        "# Search space of the hyperparameter search",
        "",
        "The paper (Ognawala & Bayer 2014, appendix B) draws 50 random configurations per model",
        "from the ranges of its Table 2, which is missing from the text. These ranges are designed",
        "from the paper's sections 6-9 and the reference notes; they contain the reference",
        "configurations (sparse init with k ~ 15, spectral radius ~ 1.1, input std 0.001-0.01,",
        "SGD with Nesterov momentum and clipping; fast dropout 0.1 / 0.2 / 0.5 with RMSprop).",
        "Source of truth: `tuning/search_space.py` (`PARAMS`); this file is generated by",
        "`python -c \"from keras_rnnreg.tuning import search_space as s; print(s.render_markdown())\"`.",
        "",
        "Every model tunes the rows marked `all`; the other rows apply to the listed models only.",
        "`l1` / `l2` of `rnn_nbr` are conditional on `penalty` (inactive means 0). Any",
        "hyperparameter can be pinned with `--fixed name=value`, and the bounds of a numeric row",
        "replaced with `--range name=low:high`.",
        "",
        render_table(),
        "",
        "Not searched (zoo defaults): `output_bias_init` = logit(0.04), the mean note density;",
        "`noise_implementation` = local reparameterization for per-step Gaussian noise.",
        "",
    ])


def check_value(param, value):
    """True when ``value`` lies in ``param``'s range (used by tests)."""
    if param.kind in ("choice", "fixed"):
        return value in param.values
    if not param.low - 1e-12 <= value <= param.high + 1e-12:
        return False
    if param.kind == "int" and param.step:
        return (value - param.low) % param.step == 0
    return not (isinstance(value, float) and math.isnan(value))
