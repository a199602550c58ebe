#!/usr/bin/env bash
# The paper's figures 8-10 on JSB Chorales: test NLL against one hyperparameter, the
# others at the zoo defaults, trained with Adam (lr 1e-3, the training default), one seed.
# Resumable: rows already in a CSV are skipped. Usage: bash benchmarks/sweeps.sh [OUTDIR]
set -euo pipefail
out="${1:-results}"
common=(--dataset jsb_chorales --seeds 0 --epochs 100 --patience 10 --fixed optimizer=adam --fixed learning_rate=0.001 --verbose 1)
python -m keras_rnnreg tune sweep --model rnn_nbr --param l2 --values 0,1e-5,1e-4,1e-3,1e-2 "${common[@]}" --out "$out/fig8_norm_penalty.csv"
python -m keras_rnnreg tune sweep --model rnn_nbr --param l1 --values 0,1e-5,1e-4,1e-3,1e-2 "${common[@]}" --out "$out/fig8_norm_penalty.csv" --plot "$out/fig8_norm_penalty.png"
python -m keras_rnnreg tune sweep --model rnn_n --param sigma --values 0,0.01,0.03,0.1,0.3 "${common[@]}" --out "$out/fig9_additive_sigma.csv" --plot "$out/fig9_additive_sigma.png"
python -m keras_rnnreg tune sweep --model rnn_dos --param dropconnect_p --values 0,0.2,0.4,0.6,0.8 "${common[@]}" --out "$out/fig10_dropconnect_p.csv" --plot "$out/fig10_dropconnect_p.png"
