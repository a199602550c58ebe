"""absl flags for the benchmark scripts (``python -m benchmarks.NAME [flags]``).

As in the project's command line (:mod:`keras_rnnreg.app.cli`), each script
defines its flags on its own :class:`absl.flags.FlagValues` (never the global
``FLAGS``) and parses its own argv; ``--help`` lists the flags; a bad flag or
value is one ``PROG: error: MESSAGE`` line on stderr and exit status 2. The
error is raised as ``SystemExit(2)``, as argparse did, so callers of a
script's ``parse_args`` see what they saw before.

The helpers of :mod:`keras_rnnreg.app.cli` are not imported: importing that module
imports the ``keras_rnnreg`` package and with it TensorFlow (seconds, and its
start-up chatter), which ``benchmarks.toy_loss_surface`` never needs.

Compatibility with the argparse versions of the scripts, so that the commands
recorded in ``results/`` keep their meaning:

- ``--no-NAME`` (argparse's ``BooleanOptionalAction``) is read as absl's
  ``--noNAME`` for every boolean flag;
- a flag listed in ``words`` (argparse's ``nargs=N``) may be given as
  ``--NAME A B``, read as ``--NAME=A,B``.
"""

import math
import sys
import types

from absl import flags

#: Exit status of a usage error (as ``keras_rnnreg.app.cli.EXIT_USAGE``).
EXIT_USAGE = 2
#: Longest error line printed (a message quoting a huge value is cut).
MESSAGE_LIMIT = 500
HELP_ARGS = ("-h", "-help", "--help", "--helpshort", "--helpfull")


def fail(prog, message):
    """Print ``PROG: error: MESSAGE`` (one line) on stderr and exit with status 2."""
    lines = str(message).splitlines()
    message = lines[0] if lines else "bad usage"
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3] + "..."
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class IntList(flags.ArgumentParser):
    """Comma-separated integers (``0,1,2``) to a list; empty items are skipped."""

    def parse(self, argument):
        if isinstance(argument, (list, tuple)):
            return [int(v) for v in argument]
        try:
            return [int(s) for s in str(argument).split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"expected comma-separated integers, got {argument!r}") from None

    def flag_type(self):
        return "comma-separated list of integers"


class FloatTuple(flags.ArgumentParser):
    """Exactly ``size`` comma-separated finite numbers (``-4,4``) to a tuple of floats."""

    def __init__(self, size):
        self.size = size

    def parse(self, argument):
        items = argument if isinstance(argument, (list, tuple)) else str(argument).split(",")
        try:
            values = tuple(float(v) for v in items)
        except ValueError:
            raise ValueError(f"expected {self.size} numbers, got {argument!r}") from None
        if len(values) != self.size or not all(map(math.isfinite, values)):
            raise ValueError(f"expected {self.size} finite numbers, got {argument!r}")
        return values

    def flag_type(self):
        return f"{self.size} numbers"


class NameValue(flags.ArgumentParser):
    """``NAME=VALUE`` to ``(NAME, VALUE)``; VALUE is read as JSON where it is JSON (``4``, ``0.5``, ``true``)."""

    def parse(self, argument):
        import json

        if isinstance(argument, tuple):
            return argument
        name, sep, value = str(argument).partition("=")
        if not sep or not name:
            raise ValueError(f"expected NAME=VALUE, got {argument!r}")
        try:
            return name, json.loads(value)
        except json.JSONDecodeError:
            return name, value

    def flag_type(self):
        return "NAME=VALUE"


def define_int_list(name, default, help_text, fv):
    """An ``IntList`` flag on ``fv``; its help shows the default as written (``0,1,2``)."""
    flags.DEFINE(IntList(), name, default, help_text, flag_values=fv, serializer=flags.CsvListSerializer(","))


def _translate(argv, fv, words):
    """argv with the argparse spellings the scripts accepted rewritten to absl's (see the module doc)."""
    out, i = [], 0
    booleans = {name for name in fv if isinstance(fv[name], flags.BooleanFlag)}
    while i < len(argv):
        arg = argv[i]
        if arg == "--":  # the rest is positional; absl stops here too
            return out + argv[i:]
        if arg.startswith("--no-") and arg[5:] in booleans:
            arg = "--no" + arg[5:]
        elif arg.startswith("--") and arg[2:] in words and len(argv) >= i + 1 + words[arg[2:]]:
            size = words[arg[2:]]
            arg = f"{arg}={','.join(argv[i + 1: i + 1 + size])}"
            i += size
        out.append(arg)
        i += 1
    return out


def parse(prog, description, define, argv, words=None):
    """Define the flags with ``define(fv)``, parse ``argv`` (no program name) and return their values.

    Args:
        prog: the command, for ``--help`` and error lines (``python -m benchmarks.NAME``).
        description: the first line of ``--help``.
        define: ``define(fv)`` defines the script's flags on ``fv``.
        argv: the arguments after the program name.
        words: ``{flag: N}`` for flags that also take their value as N words (argparse's ``nargs``).

    Returns:
        A namespace with one attribute per flag (dashes in a name become underscores, as argparse
        made them), read-write, so a script can replace a value by a derived one.

    Raises:
        SystemExit: 0 after ``--help``; 2 after one ``error:`` line for an unknown flag, a bad or
        non-finite value, or a positional argument (none of the scripts takes one).
    """
    fv = flags.FlagValues()
    define(fv)
    argv = list(argv)
    if any(a in HELP_ARGS for a in argv):
        # absl heads the list with the defining module (a file path under `python -m`): left out.
        listing = [line for line in fv.get_help(include_special_flags=False).splitlines() if line.startswith(" ")]
        print(f"usage: {prog} [flags]\n\n{description}\n\nflags:\n" + "\n".join(listing))
        raise SystemExit(0)
    try:
        rest = fv([prog, *_translate(argv, fv, words or {})])[1:]
    except flags.Error as e:
        fail(prog, e)
    if rest:
        fail(prog, f"unexpected argument {rest[0]!r}")
    for name in fv:
        value = fv[name].value
        if fv[name].present and isinstance(value, float) and not math.isfinite(value):
            fail(prog, f"flag --{name}={value}: must be a finite number")
    return types.SimpleNamespace(**{name.replace("-", "_"): fv[name].value for name in fv})
