#!/usr/bin/env bash
# Every GPU check in one run (AMP bf16/fp16, channels_last, torch.compile for training and
# inference, the Fashion-MNIST accuracy runs of the recipe goals), one table, within 10 minutes.
#
# The GPU machine has nothing installable: run it from the repo root with what it needs carried
# along: a virtual environment with CUDA torch (.venv, or any python3 that imports torch) and the
# Fashion-MNIST IDX files (found in $FASHION_MNIST, /usr/share/datasets/fashion-mnist or
# shared/fashion-mnist). cnnzoo itself runs from src/ (PYTHONPATH), no install.
#
#   bash benchmarks/gpu.sh             # on the GPU machine
#   bash benchmarks/gpu.sh --dry-run   # anywhere: plan + one tiny step of each kind on the CPU
#   bash benchmarks/gpu.sh --cpu       # the whole plan on the CPU at toy sizes
#   bash benchmarks/gpu.sh --claims [ARGS]  # instead: `cnnzoo claims --full --device cuda` into
#                                      # $CLAIMS_OUT (claims-gpu), limit $CLAIMS_TIMEOUT s (3000)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
data=""
for d in "${FASHION_MNIST:-}" /usr/share/datasets/fashion-mnist shared/fashion-mnist; do
    if [ -n "$d" ] && [ -f "$d/t10k-labels-idx1-ubyte.gz" ]; then data="$d"; break; fi
done
if [ "${1:-}" = "--claims" ]; then  # issue 21 item 8: the claims' full mode, models on the GPU
    exec timeout "${CLAIMS_TIMEOUT:-3000}" "$PY" -m cnnzoo claims --full --device cuda \
        --out "${CLAIMS_OUT:-claims-gpu}" "${@:2}"
fi
args=("$@")
if [ -n "$data" ]; then args+=(--data-dir "$data"); fi
if [ -z "$data" ] && [[ " $* " != *" --dry-run "* && " $* " != *" --cpu "* ]]; then
    echo "gpu.sh: no Fashion-MNIST found: the accuracy runs are skipped (set FASHION_MNIST=DIR)" >&2
    args+=(--no-accuracy)
fi
exec timeout 600 "$PY" benchmarks/gpu_checks.py "${args[@]}"
