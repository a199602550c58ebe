"""The absl command lines of the benchmark scripts (issue 15, item 4).

The scripts moved from argparse to absl flags. The commands recorded in
``results/`` and ``README.md`` must keep their meaning: each one found there is
parsed by the new parser and must give the settings the argparse parser gave
(the defaults below, pinned from it, with the flags the command sets).
"""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
from absl import flags

from benchmarks import (_flags, gated_protocol, profile_gated, profile_recurrence, profile_step, reproduce_table1,
                        table1_protocol, throughput, toy_loss_surface, verify_table1)

REPO = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = {"reproduce_table1": reproduce_table1, "table1_protocol": table1_protocol, "throughput": throughput,
           "toy_loss_surface": toy_loss_surface, "verify_table1": verify_table1, "gated_protocol": gated_protocol,
           "profile_step": profile_step, "profile_gated": profile_gated, "profile_recurrence": profile_recurrence}
ALL_MODELS = "rnn,rnn_fd,rnn_nbr,rnn_n,rnn_ns,rnn_mn,rnn_mns,rnn_do,rnn_dos,rnn_ff"

#: The argparse versions' settings for an empty command line.
DEFAULTS = {
    "gated_protocol": {"stage": "all", "cells": ["lstm", "gru"], "models": [], "seeds": [0, 1, 2],
                       "seeds_other": [0], "n_best": 2, "trials": 20, "search_epochs": 200, "search_patience": 20,
                       "search_seed": 1, "batch_size": 8, "max_epochs": 200, "patience": 20, "fixed": {},
                       "range": [], "runs_root": "runs/gated", "search_root": "results/gated_searches",
                       "out": "results/gated", "data_dir": None, "max_sequences": None},
    "reproduce_table1": {"models": ALL_MODELS, "datasets": "jsb_chorales", "epochs": 60, "patience": 10, "seed": 0,
                         "units": None, "runs_root": "runs/table1", "out": "results/table1.md", "data_dir": None},
    "table1_protocol": {"models": ALL_MODELS, "datasets": "jsb_chorales,nottingham,piano_midi,musedata",
                        "search_dataset": "jsb_chorales", "trials": 20, "search_epochs": 200, "search_patience": 10,
                        "search_seed": 1, "batch_size": 32, "seeds": [0, 1, 2], "seeds_large": [0], "patience": 20,
                        "max_epochs": 100_000, "runs_root": "runs/table1_protocol", "out": "results/table1",
                        "data_dir": None, "fixed": {}, "range": [], "max_sequences": None, "recipe": None,
                        "variants": ["authors", "consistent"], "only": "all"},
    "throughput": {"batch": 32, "units": 200, "length": 100, "steps": 40, "infer_rounds": 4, "repeats": 5, "seed": 0,
                   "models": ALL_MODELS.split(","), "jit_compile": "auto", "xla_reference": True,
                   "plain_compile": False, "memory": False, "memory_units": 400, "memory_batch": 32,
                   "memory_steps": 4, "cpu_allocator": "bfc", "output": str(REPO / "results" / "throughput.md"),
                   "memory_worker": None, "cell": "simple", "optimizer": "sgd", "torch": False,
                   "timed": ALL_MODELS.split(",") + ["simplernn_xla"]},
    # Written with absl flags from the start: its defaults as documented in its --help.
    "profile_step": {"models": ["rnn"], "steps": 20, "repeats": 3, "batch": 32, "length": 100, "units": 200,
                     "seed": 0, "jit_compile": "auto", "trace": None},
    "profile_gated": {"kinds": ["lstm", "gru"], "configs": ["plain", "seq_dc", "step_dc", "step_add"], "units": 200,
                      "batch": 32, "length": 100, "steps": 20, "repeats": 3, "jit_compile": "auto"},
    "profile_recurrence": {"recurrences": ["plain", "additive", "multiplicative", "dropconnect", "fast_dropout"],
                           "batch": 32, "length": 100, "units": 200, "passes": 20, "repeats": 3,
                           "intra_op_threads": 0},
    "verify_table1": {"ledger": "results/table1.json", "out": "results/table1_evaluated", "tolerance": 1e-3,
                      "data_dir": None},
    "toy_loss_surface": {"out": "results/fig2_3_toy_loss_surface.png", "form": "paper", "steps": 50, "target": 0.5,
                         "grid": 100, "w_range": (-4.0, 4.0), "b_range": (-2.0, 2.0), "l2": 0.1},
}

WIDE = ("--range clipnorm=0.05:50 --range input_init_stddev=0.001:1 --range output_init_stddev=0.001:1 "
        "--range sparsity_k=10:150 --range spectral_radius=0.5:1.3")
#: Commands recorded in results/ and README.md, and what each sets besides the defaults
#: (what the argparse parser gave for them).
RECORDED = {
    "python -m benchmarks.reproduce_table1 --datasets jsb_chorales --epochs 200 --patience 20 --seed 0 "
    "--out results/table1_jsb.md": {"epochs": 200, "patience": 20, "out": "results/table1_jsb.md"},
    **{f"python -m benchmarks.reproduce_table1 --models {ALL_MODELS} --datasets {d} --epochs {e} --patience {p} "
       f"--seed 0": {"datasets": d, "epochs": e, "patience": p}
       for d, e, p in (("jsb_chorales", 200, 20), ("nottingham", 30, 5), ("piano_midi", 30, 5), ("musedata", 30, 5))},
    "python -m benchmarks.table1_protocol": {},
    "python -m benchmarks.table1_protocol --trials 20 --seeds 0,1,2 --seeds_large 0": {},
    **{f"python -m benchmarks.table1_protocol --models {m} --trials 20 --seeds 0,1,2 --seeds_large 0": {"models": m}
       for m in ("rnn,rnn_nbr,rnn_n,rnn_ns,rnn_fd", "rnn_do,rnn_dos,rnn_mn,rnn_mns,rnn_ff",
                 "rnn_do,rnn_mn,rnn_mns,rnn_dos,rnn,rnn_fd,rnn_nbr,rnn_n,rnn_ns")},
    "python -m benchmarks.table1_protocol --recipe fd_notebook --datasets jsb_chorales --seeds 0,1,2":
        {"recipe": "fd_notebook", "datasets": "jsb_chorales"},
    "python -m benchmarks.table1_protocol --recipe rnn_notebook --datasets jsb_chorales --seeds 0,1,2":
        {"recipe": "rnn_notebook", "datasets": "jsb_chorales"},
    "python -m benchmarks.table1_protocol --recipe rnn_notebook --datasets jsb_chorales --seeds 2":
        {"recipe": "rnn_notebook", "datasets": "jsb_chorales", "seeds": [2]},
    **{f"python -m benchmarks.table1_protocol --recipe fd_notebook --variants authors --datasets piano_midi --seeds {s}":
       {"recipe": "fd_notebook", "variants": ["authors"], "datasets": "piano_midi", "seeds": [int(x) for x in s.split(",")]}
       for s in ("0", "1", "2", "1,2")},
    **{f"python -m benchmarks.table1_protocol --recipe fd_notebook --variants authors --datasets {d}":
       {"recipe": "fd_notebook", "variants": ["authors"], "datasets": d} for d in ("nottingham", "musedata")},
    # The fast-dropout ablation (results/README.md).
    **{f"python -m benchmarks.table1_protocol --recipe {r} --variants {v} --datasets jsb_chorales --seeds {s}":
       {"recipe": r, "variants": [v], "datasets": "jsb_chorales", "seeds": [int(x) for x in s.split(",")]}
       for r, v in (("fd_notebook_zoo_init", "authors"), ("fd_notebook_authors_init", "consistent"),
                    ("fd_notebook_hidden_0.8", "consistent"), ("fd_notebook_hidden_0.5", "consistent"),
                    ("fd_notebook", "authors_keep_mean"))
       for s in ("0", "1", "2", "0,1", "0,1,2")},
    **{f"python -m benchmarks.table1_protocol --recipe fd_notebook_hidden_0.8 --variants consistent --datasets piano_midi "
       f"--seeds {s}": {"recipe": "fd_notebook_hidden_0.8", "variants": ["consistent"], "datasets": "piano_midi",
                        "seeds": [int(x) for x in s.split(",")]} for s in ("0", "1,2")},
    **{f"python -m benchmarks.table1_protocol --recipe fd_notebook_hidden_0.8 --variants consistent --datasets {d}":
       {"recipe": "fd_notebook_hidden_0.8", "variants": ["consistent"], "datasets": d}
       for d in ("nottingham", "musedata")},
    **{f"python -m benchmarks.table1_protocol --recipe fd_notebook_hidden_0.8 --variants consistent --datasets "
       f"nottingham --seeds_large {s}": {"recipe": "fd_notebook_hidden_0.8", "variants": ["consistent"],
                                        "datasets": "nottingham", "seeds_large": [int(x) for x in s.split(",")]}
       for s in ("1", "2", "1,2")},
    # The plain RNN's second-stage searches in a widened space (results/README.md).
    **{f"python -m benchmarks.table1_protocol --models rnn --datasets {d} --trials 15 --search_seed {s} --seeds 0,1,2 "
       f"{WIDE} --out results/table1_rnn_wide_seed{s} --runs_root runs/table1_rnn_wide_seed{s}":
       {"models": "rnn", "datasets": d, "trials": 15, "search_seed": s, "range": WIDE.replace("--range ", "").split(),
        "out": f"results/table1_rnn_wide_seed{s}", "runs_root": f"runs/table1_rnn_wide_seed{s}"}
       for s in (2, 3) for d in ("jsb_chorales", "jsb_chorales,nottingham,piano_midi,musedata")},
    # The plain RNN searched with Adam instead of SGD (results/README.md).
    "python -m benchmarks.table1_protocol --models rnn --datasets jsb_chorales --trials 15 --search_seed 2 "
    "--seeds 0,1,2 --fixed optimizer=adam --range learning_rate=0.0001:0.01 --out results/table1_rnn_adam "
    "--runs_root runs/table1_rnn_adam": {"models": "rnn", "datasets": "jsb_chorales", "trials": 15, "search_seed": 2,
                                         "fixed": {"optimizer": "adam"}, "range": ["learning_rate=0.0001:0.01"],
                                         "out": "results/table1_rnn_adam", "runs_root": "runs/table1_rnn_adam"},
    "python -m benchmarks.throughput --repeats 3 --steps 40 --plain-compile": {
        "repeats": 3, "plain_compile": True,
        "timed": ALL_MODELS.split(",") + [m + "/model.compile" for m in ALL_MODELS.split(",")] + ["simplernn_xla"]},
    "python -m benchmarks.throughput --repeats 7 --steps 40 --memory": {"repeats": 7, "memory": True},
    "python -m benchmarks.throughput --repeats 5 --steps 160 --models rnn,rnn_nbr,rnn_ns,rnn_mns,rnn_dos "
    "--no-xla-reference --output results/throughput_long_passes.md": {
        "steps": 160, "models": ["rnn", "rnn_nbr", "rnn_ns", "rnn_mns", "rnn_dos"], "xla_reference": False,
        "output": "results/throughput_long_passes.md", "timed": ["rnn", "rnn_nbr", "rnn_ns", "rnn_mns", "rnn_dos"]},
    "python -m benchmarks.toy_loss_surface": {},
    "python -m benchmarks.profile_step --models rnn,rnn_n,rnn_mn,rnn_do,rnn_ff,rnn_fd --steps 10 --repeats 2": {
        "models": ["rnn", "rnn_n", "rnn_mn", "rnn_do", "rnn_ff", "rnn_fd"], "steps": 10, "repeats": 2},
    "python -m benchmarks.toy_loss_surface --out results/fig2_3_toy_loss_surface.png": {},
}


def recorded_commands():
    """Every ``python -m benchmarks.X ...`` command in results/table1.json ("command"), results/*.md, README.md, docs/."""
    found = {r["command"] for r in json.loads((REPO / "results" / "table1.json").read_text()) if "command" in r}
    texts = [p.read_text() for p in [*sorted((REPO / "results").glob("*.md")), REPO / "README.md",
                                     *sorted((REPO / "docs").glob("*.md"))]]
    for text in texts:
        found.update(m.strip() for m in re.findall(r"python -m benchmarks\.\w+[^`\"\n]*", text))
    # Placeholders ("...") and templates ("{args.models}") are not commands.
    return sorted(c for c in found if "..." not in c and "{" not in c)


def parse(command):
    """``(script name, settings)`` of a recorded command string."""
    words = shlex.split(command)
    name = words[2].split(".", 1)[1]
    return name, vars(SCRIPTS[name].parse_args(words[3:]))


def test_the_recorded_commands_are_found():
    commands = recorded_commands()
    # The ledger's commands and the README's: if this finds none, the test below checks nothing.
    assert {shlex.split(c)[2] for c in commands} >= {"benchmarks.reproduce_table1", "benchmarks.table1_protocol",
                                                     "benchmarks.throughput", "benchmarks.toy_loss_surface"}
    assert any("--seeds 0,1,2" in c for c in commands)


@pytest.mark.parametrize("command", recorded_commands())
def test_a_recorded_command_keeps_its_settings(command):
    name, settings = parse(command)
    if command in RECORDED:
        assert settings == {**DEFAULTS[name], **RECORDED[command]}
    # A command recorded later than this test: at least it must still parse (done above).


@pytest.mark.parametrize("command", sorted(RECORDED))
def test_the_known_commands_keep_their_settings(command):
    # Also when results/ no longer holds them (README.md and the docstrings show some).
    name, settings = parse(command)
    assert settings == {**DEFAULTS[name], **RECORDED[command]}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_defaults_are_the_argparse_ones_and_the_global_flags_untouched(name):
    assert vars(SCRIPTS[name].parse_args([])) == DEFAULTS[name]
    # Own FlagValues: nothing lands in absl's global FLAGS, and a second parse starts afresh.
    assert not any(key in flags.FLAGS for key in DEFAULTS[name] if key not in ("timed",))
    assert vars(SCRIPTS[name].parse_args([])) == DEFAULTS[name]


def test_table1_protocol_repeatable_fixed_int_lists_and_choices():
    args = table1_protocol.parse_args(["--fixed", "units=4", "--fixed=sigma=0.5", "--fixed", "sparsity_k=null",
                                       "--fixed", "fd_variant=authors", "--seeds", "3,,5", "--seeds_large=7",
                                       "--search_dataset", "nottingham", "--only", "search", "--variants", "authors",
                                       "--recipe", "fd_notebook_long"])
    # Values that are JSON are read as JSON, the rest kept as strings (as before).
    assert args.fixed == {"units": 4, "sigma": 0.5, "sparsity_k": None, "fd_variant": "authors"}
    assert args.seeds == [3, 5] and args.seeds_large == [7]
    assert (args.search_dataset, args.only, args.variants, args.recipe) == (
        "nottingham", "search", ["authors"], "fd_notebook_long")


def test_throughput_boolean_spellings():
    for argv, expected in ((["--no-xla-reference"], False), (["--noxla-reference"], False),
                           (["--xla-reference"], True), (["--xla-reference=false"], False)):
        assert throughput.parse_args(argv).xla_reference is expected, argv
    args = throughput.parse_args(["--jit-compile", "false", "--plain-compile", "--models=rnn", "--noxla-reference"])
    assert args.jit_compile is False and args.timed == ["rnn", "rnn/model.compile"]


def test_toy_ranges_as_two_words_or_one():
    # argparse's nargs=2 form, negative numbers included, and absl's comma form.
    assert toy_loss_surface.parse_args(["--w_range", "-3", "3", "--grid", "5"]).w_range == (-3.0, 3.0)
    assert toy_loss_surface.parse_args(["--b_range=-1.5,1"]).b_range == (-1.5, 1.0)


BAD = [
    (table1_protocol, ["--fixed", "units"], "expected NAME=VALUE, got 'units'"),
    (table1_protocol, ["--seeds", "0,x"], "flag --seeds=0,x: expected comma-separated integers"),
    (table1_protocol, ["--seeds="], "--seeds and --seeds_large need at least one seed each"),
    (table1_protocol, ["--recipe", "nope"], "flag --recipe=nope: value should be one of"),
    (table1_protocol, ["--search_dataset", "jsb"], "flag --search_dataset=jsb: value should be one of"),
    (table1_protocol, ["--variants", "mine"], "unknown variant(s) mine"),
    (table1_protocol, ["--triasl", "3"], "Unknown command line flag 'triasl'"),
    (reproduce_table1, ["--epochs", "ten"], "flag --epochs=ten: invalid literal for int()"),
    (reproduce_table1, ["jsb_chorales"], "unexpected argument 'jsb_chorales'"),
    (throughput, ["--models", "rnn,lstm"], "unknown model 'lstm'"),
    (throughput, ["--cpu-allocator", "tcmalloc"], "flag --cpu-allocator=tcmalloc: value should be one of"),
    (toy_loss_surface, ["--target", "nan"], "flag --target=nan: must be a finite number"),
    (toy_loss_surface, ["--w_range", "1", "inf"], "expected 2 finite numbers"),
    (verify_table1, ["--tolerance", "-1"], "flag --tolerance=-1: -1.0 is not a non-negative number"),
    (toy_loss_surface, ["--form", "lstm"], "flag --form=lstm: value should be one of <paper|pascanu>"),
    (profile_step, ["rnn", "rnn_n"], "unexpected argument 'rnn'"),
    (profile_step, ["--models", "rnn,lstm"], "unknown model 'lstm'"),
    (profile_gated, ["--kinds", "lstm,simple"], "--kinds: unknown 'simple'; valid: lstm, gru"),
    (profile_gated, ["--configs", "seq_dc,step"], "--configs: unknown 'step'"),
]


@pytest.mark.parametrize("module,argv,message", BAD, ids=[" ".join(argv) for _, argv, _ in BAD])
def test_a_bad_command_line_is_one_error_line_and_status_2(module, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{module.PROG}: error: "), err
    assert message in err


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_lists_every_flag_and_exits_0(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        SCRIPTS[name].parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m benchmarks.{name} [flags]")
    flag_lines = re.findall(r"^  --(?:\[no\])?([\w-]+):", out, flags=re.M)
    assert sorted(f.replace("-", "_") for f in flag_lines) == sorted(k for k in DEFAULTS[name] if k != "timed")
    assert "benchmarks/" not in out  # absl's module heading (a file path) is left out


def test_the_script_itself_reports_and_exits():
    # A real `python -m` run (toy_loss_surface: no TensorFlow, quick).
    run = [sys.executable, "-m", "benchmarks.toy_loss_surface"]
    bad = subprocess.run(run + ["--grid", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "python -m benchmarks.toy_loss_surface: error: --grid must be >= 2, got 1\n"
    ok = subprocess.run(run + ["--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "--w_range" in ok.stdout


def test_fail_cuts_a_long_message(capsys):
    with pytest.raises(SystemExit):
        _flags.fail("prog", "x" * 10_000 + "\nsecond line")
    err = capsys.readouterr().err
    assert err == "prog: error: " + "x" * (_flags.MESSAGE_LIMIT - 3) + "...\n"
