#!/usr/bin/env python3
"""Cost and speed of the model calls in an `operator eval` report (eval.json).

Every diagnosis of the run is read: an accepted model answer carries its usage on the
diagnosis; a failed one is a fallback diagnosis whose `model_failure.usage` holds what
the failed call cost. Prints one Markdown table row per report: model calls, accepted,
failures by kind, latency p50/p99 of the model calls, mean tokens in/out, tokens/s.
Usage: summarize.py target/eval-llm/rules/eval.json target/eval-llm/openai/eval.json
"""
import json
import math
import sys


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def row(path):
    r = json.load(open(path))
    backend = r.get("backend", "?")
    calls, failures = [], {}
    for run in r.get("runs", []):
        for d in run.get("diagnoses", []):
            f = d.get("model_failure")
            if f:
                failures[f["kind"]] = failures.get(f["kind"], 0) + 1
                calls.append(f.get("usage", {}))
            elif d.get("backend") == backend:
                calls.append(d.get("usage", {}))
    wall = [c.get("wall_ms", 0) / 1000 for c in calls]
    tin = [c.get("input_tokens", 0) + c.get("cache_read", 0) for c in calls]
    tout = [c.get("output_tokens", 0) for c in calls]
    tps = [c["output_tokens_per_s"] for c in calls if c.get("output_tokens_per_s")]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    fmt = lambda x: "-" if x is None else f"{x:.2f}"
    accepted = len(calls) - sum(failures.values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(failures.items())) or "none"
    return (f"| {backend} ({r.get('model', '')}) | {len(calls)} | {accepted} | {kinds} | "
            f"{fmt(pct(wall, 50))} | {fmt(pct(wall, 99))} | {mean(tin):.0f} | {mean(tout):.0f} | "
            f"{mean(tps):.1f} |")


print("| backend (model) | calls | accepted | failures by kind | latency p50 (s) | latency p99 (s) "
      "| tokens in | tokens out | tokens/s |")
print("|---|---|---|---|---|---|---|---|---|")
for p in sys.argv[1:]:
    print(row(p))
