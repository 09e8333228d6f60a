#!/usr/bin/env bash
# `make demo`: a simulated 3 PD + 3 TiKV cluster converging from examples/sim-cluster.yaml,
# a scale-out, then a killed store ticketed and diagnosed by the running controller.
# Everything runs on locally built images (make images); nothing is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
OP=${OP:-target/debug/operator}
SPEC=examples/sim-cluster.yaml
STATE=$(mktemp -d)
PORT=${DEMO_PORT:-9464}
export OPERATOR_LOG=${OPERATOR_LOG:-warn}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [[ -n ${RUN_PID:-} ]] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null || true
  if [[ ${KEEP:-0} != 1 ]]; then step "cleaning up (KEEP=1 keeps the cluster)"; $OP down -f "$SPEC" --volumes --yes; fi
  rm -rf "$STATE"
}
trap cleanup EXIT

step "validate $SPEC"
$OP validate -f "$SPEC"
step "plan (operator diff)"
$OP diff -f "$SPEC"
step "converge (operator apply)"
$OP apply -f "$SPEC"
$OP status -f "$SPEC"

step "run the controller (operator run), then scale out to 4 stores by editing the spec"
WORK=$(mktemp -d); cp "$SPEC" "$WORK/cluster.yaml"
$OP run -f "$WORK/cluster.yaml" --listen "127.0.0.1:$PORT" --state-dir "$STATE" >"$STATE/run.log" 2>&1 &
RUN_PID=$!
sleep 3
python3 - "$WORK/cluster.yaml" <<'PY'
import sys; p=sys.argv[1]; s=open(p).read()
i=s.index("  tikv:\n    replicas: 3"); s=s[:i]+"  tikv:\n    replicas: 4"+s[i+len("  tikv:\n    replicas: 3"):]
open(p,"w").write(s)
PY
for _ in $(seq 1 30); do docker ps --format '{{.Names}}' | grep -q '^demo-tikv-3$' && break; sleep 1; done
sleep 3
$OP status -f "$WORK/cluster.yaml"

step "kill store tikv-1 (docker kill): the controller tickets it and diagnoses it (observe-only)"
t0=$(date +%s.%N)
docker kill demo-tikv-1 >/dev/null
for _ in $(seq 1 50); do
  if $OP tickets list --api "http://127.0.0.1:$PORT" --state-dir "$STATE" --status diagnosed 2>/dev/null | grep -q store-down; then break; fi
  sleep 0.2
done
t1=$(date +%s.%N)
python3 -c "import sys; print(f'ticketed and diagnosed {float(sys.argv[2]) - float(sys.argv[1]):.1f}s after the kill')" "$t0" "$t1"
$OP tickets list --api "http://127.0.0.1:$PORT" --state-dir "$STATE"
ID=$($OP tickets list --api "http://127.0.0.1:$PORT" --state-dir "$STATE" -o json | python3 -c 'import json,sys; print(next(t["id"] for t in json.load(sys.stdin) if t["invariant"]=="store-down"))')
$OP tickets show "$ID" --api "http://127.0.0.1:$PORT" --state-dir "$STATE" | sed -n '/^## Diagnosis/,$p'
rm -rf "$WORK"
