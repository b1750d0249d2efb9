#!/usr/bin/env bash
# Set up .venv in the repository root: PyTorch, cnnzoo (editable) and its test tools.
# torch 2.14.1 + torchvision 0.29.1 are what the tests' oracles (torchvision, torchinfo, captum)
# are checked against; cnnzoo itself needs only torch, numpy, safetensors, pillow and matplotlib at
# run time. The test extra adds the oracles, hypothesis, the optional runtimes (ONNX Runtime,
# OpenVINO), playwright, ruff and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[test]'
echo "set up .venv: $(.venv/bin/python -c 'import torch, cnnzoo; print("torch", torch.__version__, "cnnzoo", cnnzoo.__version__)')"
