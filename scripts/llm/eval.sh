#!/usr/bin/env bash
# `make eval-llm`: the same eval subset through the rules engine and through the local
# model (`make llm`'s server), then the two side by side (`operator eval --compare`), the
# model calls' cost and speed and every diagnosis read one by one (summarize.py).
#
# The machine is shared: the load average is sampled every 15 s into load.log for the
# whole run, with a mark where each phase starts and ends, and summarize.py prints it next
# to the timings. Both evals run under `nice -n 10` (the model server, started by
# `make llm`, keeps its own priority).
#
# Environment (the Makefile passes its variables): EVAL_LLM_ONLY (scenario names),
# EVAL_LLM_RUNS, EVAL_LLM_CONTROLS (plain no-fault controls), EVAL_LLM_TIMEOUT (seconds
# per model call), EVAL_LLM_OUT, OPERATOR_BIN, EVAL_LLM_EXTRA (more `operator eval` flags
# for the model run, e.g. `--context-tokens 2048`).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${EVAL_LLM_OUT:-target/eval-llm}
BIN=${OPERATOR_BIN:-target/debug/operator}
RUN_DIR=${LLM_RUN_DIR:-target/llm}
mkdir -p "$OUT"

base_url=$(cat "$RUN_DIR/address")
model=$(cat "$RUN_DIR/model")

load() { echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) ${1:-}"; }
: >"$OUT/load.log"
( while :; do load >>"$OUT/load.log"; sleep 15; done ) &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT

args=(--runs "${EVAL_LLM_RUNS:-1}" --controls "${EVAL_LLM_CONTROLS:-1}")
for s in ${EVAL_LLM_ONLY:-}; do args+=(--only "$s"); done

phase() {
  local name=$1; shift
  load "start $name" | tee -a "$OUT/load.log"
  local t0=$SECONDS
  RUST_LOG=${RUST_LOG:-warn} nice -n 10 "$@"
  load "end $name $((SECONDS - t0)) s" | tee -a "$OUT/load.log"
}

phase rules "$BIN" eval "${args[@]}" --out "$OUT/rules"
# shellcheck disable=SC2086
phase openai "$BIN" eval "${args[@]}" --out "$OUT/openai" \
  --backend openai --base-url "$base_url" --model "$model" \
  --model-timeout-secs "${EVAL_LLM_TIMEOUT:-300}" ${EVAL_LLM_EXTRA:-}

"$BIN" eval --out "$OUT" --compare "$OUT/rules/eval.json" "$OUT/openai/eval.json" \
  | tee "$OUT/compare.md"
scripts/llm/summarize.py --load "$OUT/load.log" "$OUT/rules/eval.json" "$OUT/openai/eval.json" \
  | tee "$OUT/speed.md"
