#!/usr/bin/env bash
# `make demo-etcd`: a real 3-member etcd (Debian's etcd-server, operator-etcd:<version>)
# converging from examples/etcd-cluster.yaml under `operator run`, then the leader
# SIGKILLed: the controller tickets the dead member, the survivors elect a new leader,
# and the ticket is diagnosed. Everything is removed at the end (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
OP=${OP:-target/debug/operator}
STATE=$(mktemp -d)
WORK=$(mktemp -d)
PORT=${DEMO_PORT:-9465}
export OPERATOR_LOG=${OPERATOR_LOG:-warn}
SPEC=$WORK/etcd-cluster.yaml
cp examples/etcd-cluster.yaml "$SPEC"
API=(--api "http://127.0.0.1:$PORT" --state-dir "$STATE")

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [[ -n ${RUN_PID:-} ]] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null || true
  if [[ ${KEEP:-0} != 1 ]]; then step "cleaning up (KEEP=1 keeps the cluster)"; $OP down -f "$SPEC" --volumes --yes; fi
  rm -rf "$STATE" "$WORK"
}
trap cleanup EXIT

step "validate and plan"
$OP validate -f "$SPEC"
$OP diff -f "$SPEC"

step "run the controller (operator run): 3 members from nothing"
$OP run -f "$SPEC" --listen "127.0.0.1:$PORT" --state-dir "$STATE" >"$STATE/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 60); do
  $OP status -f "$SPEC" -o json 2>/dev/null | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["leader"] and s["listed"]==3 and not s["pending"] and not s["waits"] else 1)' && break
  sleep 1
done
$OP status -f "$SPEC"

step "kill the leader (operator chaos kill leader)"
t0=$(date +%s.%N)
$OP chaos -f "$SPEC" --state-dir "$STATE/chaos" kill leader --detach
for _ in $(seq 1 100); do
  if $OP tickets list "${API[@]}" --status diagnosed 2>/dev/null | grep -q member-down; then break; fi
  sleep 0.2
done
t1=$(date +%s.%N)
python3 -c "import sys; print(f'ticketed and diagnosed {float(sys.argv[2]) - float(sys.argv[1]):.1f}s after the kill')" "$t0" "$t1"
sleep 2
$OP status -f "$SPEC"
$OP tickets list "${API[@]}"
ID=$($OP tickets list "${API[@]}" -o json | python3 -c 'import json,sys; print(next(t["id"] for t in json.load(sys.stdin) if t["invariant"]=="member-down"))')
$OP tickets show "$ID" "${API[@]}" | sed -n '/^## Diagnosis/,$p'
