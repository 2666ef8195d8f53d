#!/usr/bin/env bash
# Evaluate a model served behind an OpenAI-compatible endpoint on the six test benchmarks:
# single agent, CoT self-consistency at MetaAgent-X's LLM-call budget, every fixed reference design
# and MetaAgent-X design-then-execute, in one table (accuracy + LLM calls + tokens). Resumable:
# rerun the same command after an interruption. Details: docs/evaluation.md.
#
#   vllm serve /ckpt/hf_merged --served-model-name metaagent-8b --port 8000 &
#   MODEL=metaagent-8b recipes/run_eval_endpoint.sh
#   MODEL=Mercury7353/MetaAgent-X RELEASE=1 recipes/run_eval_endpoint.sh        # the public checkpoint
#   MODEL=metaagent-8b recipes/run_eval_endpoint.sh --limit 20 --systems single_agent,metaagent   # extra flags pass through
#
# Env knobs: MODEL (required), BASE_URL (http://127.0.0.1:8000/v1), DATA_DIR (${METAAGENT_DATA_DIR:-data}/test),
# OUT (outputs/eval/<model>), SYSTEMS (single_agent,cot_sc,refs,metaagent), SAMPLES (1), TEMPERATURE (0),
# CONCURRENCY (16 attempts in flight), RELEASE=1 (short designer prompt, Qwen3 thinking off), PYTHON (python).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
if [[ -z "${MODEL:-}" ]]; then
  echo "run_eval_endpoint.sh: set MODEL to the served model name (GET \$BASE_URL/models lists them)" >&2
  exit 2
fi
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
BASE_URL="${BASE_URL:-http://127.0.0.1:8000/v1}"
DATA_DIR="${DATA_DIR:-${METAAGENT_DATA_DIR:-data}/test}"
OUT="${OUT:-outputs/eval/$(printf '%s' "$MODEL" | tr -c 'A-Za-z0-9._-' '_')}"
ARGS=(eval --out "$OUT" --data-dir "$DATA_DIR" --base-url "$BASE_URL" --model "$MODEL"
      --systems "${SYSTEMS:-single_agent,cot_sc,refs,metaagent}" --samples "${SAMPLES:-1}"
      --temperature "${TEMPERATURE:-0}" --concurrency "${CONCURRENCY:-16}")
if [[ "${RELEASE:-0}" == "1" ]]; then ARGS+=(--release); fi
"$PYTHON" -m verl_metaagent.cli "${ARGS[@]}" "$@"
if [[ -s "$OUT/traces.jsonl" ]]; then "$PYTHON" -m verl_metaagent.cli view --out "$OUT"; fi
