#!/usr/bin/env bash
# Creates ./.venv (if missing) and installs verl-metaagent with its test extras, CPU torch first.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "[setup] installing the CPU torch wheel (torch==2.13.0)"
  .venv/bin/pip install -q "torch==2.13.0"
fi
if ! .venv/bin/python -c "import verl_metaagent, reward_fns, verl, transfer_queue" 2>/dev/null \
   || [ setup.py -nt .venv/.metaagent-installed ]; then
  echo "[setup] installing verl-metaagent[test,cpu] (verl 0.9.1 and its runtime gaps)"
  .venv/bin/pip install -q -e ".[test,cpu]" 2> >(grep -v "^WARNING: Location" >&2)
  touch .venv/.metaagent-installed
fi
echo "[setup] ok: $(.venv/bin/python -c 'import verl, torch, transformers; print(f"verl {verl.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")')"
