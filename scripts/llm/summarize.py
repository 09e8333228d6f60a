#!/usr/bin/env python3
"""Cost, speed and every answer of the model calls in `operator eval` reports (eval.json).

Every diagnosis of the run is read: an accepted model answer carries its usage on the
diagnosis; a failed one is a fallback diagnosis whose `model_failure.usage` holds what
the failed call cost. Prints, in Markdown:
- one row per report: model calls, accepted, failures by kind, latency p50/p99 of the
  calls, mean tokens in (read + cached) and out, generated tokens/s;
- with --load, the load average (1 min) during each phase of `make eval-llm`;
- for each report of a model backend, every diagnosis: the scenario's truth, what the
  model answered (or how it failed), and the verdict (right, wrong category, wrong
  target, or the failure kind: the fallback's answer is scored as the model's miss).
Usage: summarize.py [--load load.log] rules/eval.json openai/eval.json
"""
import json
from collections import Counter
import math
import re
import sys


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def calls_of(r):
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
    return calls, failures


def row(path):
    r = json.load(open(path))
    backend = r.get("backend", "?")
    calls, failures = calls_of(r)
    wall = [c.get("wall_ms", 0) / 1000 for c in calls]
    tin = [c.get("input_tokens", 0) + c.get("cache_read", 0) for c in calls]
    cached = [c.get("cache_read", 0) for c in calls]
    tout = [c.get("output_tokens", 0) for c in calls]
    tps = [c["output_tokens_per_s"] for c in calls if c.get("output_tokens_per_s")]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    fmt = lambda x: "-" if x is None else f"{x:.2f}"
    accepted = len(calls) - sum(failures.values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(failures.items())) or "none"
    under60 = sum(1 for w in wall if w < 60)
    return (f"| {backend} ({r.get('model', '')}) | {len(calls)} | {accepted} | {kinds} | "
            f"{fmt(pct(wall, 50))} | {fmt(pct(wall, 99))} | {fmt(max(wall) if wall else None)} | "
            f"{under60}/{len(wall)} | {mean(tin):.0f} ({mean(cached):.0f} cached) | "
            f"{mean(tout):.0f} | {mean(tps):.1f} | {r.get('wall_secs', 0):.0f} |")


def load_phases(path):
    """(phase, seconds, min, median, max load) from the marks and samples of load.log."""
    out, cur, samples = [], None, []
    for line in open(path):
        m = re.match(r"(\S+) load (\S+) (\S+) (\S+)\s*(.*)", line.strip())
        if not m:
            continue
        one, mark = float(m.group(2)), m.group(5)
        if mark.startswith("start "):
            cur, samples = mark.split()[1], [one]
        elif mark.startswith("end ") and cur:
            samples.append(one)
            secs = mark.split()[2]
            s = sorted(samples)
            out.append((cur, secs, s[0], s[len(s) // 2], s[-1]))
            cur = None
        elif cur:
            samples.append(one)
    return out


def resolve(target, store_ids):
    """A diagnosis target as the scenario's entity ({"store": i}, "pd", "cluster")."""
    t = (target or "").strip()
    if t in ("pd", "pd-leader") or re.fullmatch(r"(.*-)?pd-\d+", t):
        return "pd"
    if t == "cluster":
        return "cluster"
    m = re.fullmatch(r"store[/ -](\d+)", t) or re.fullmatch(r"(\d+)", t)
    if m:
        sid = int(m.group(1))
        return {"store": store_ids.index(sid)} if sid in store_ids else t
    m = re.fullmatch(r"(?:.*-)?tikv-(\d+)", t)
    if m:
        return {"store": int(m.group(1))}
    return t


def show(entity):
    return f"tikv-{entity['store']}" if isinstance(entity, dict) else str(entity)


def answers(path):
    r = json.load(open(path))
    backend = r.get("backend", "?")
    if backend == "rules":
        return
    # Per category: how many answers named it, and how many of those were wrong. One
    # category given to most tickets and wrong on most of them is a sign the model did not
    # read the evidence (a small model's usual failure); given often and mostly right, it
    # is just a common cause.
    given, wrong = Counter(), Counter()
    misses = []
    print(f"\n### Every diagnosis of the {backend} run ({r.get('model', '')})\n")
    print("| scenario | truth | answer | verdict | tokens in (cached) / out | wall (s) | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    for run in r.get("runs", []):
        ids = (run.get("entities") or {}).get("store_ids", [])
        # The truth names members (`tikv-1`) as the scenario does; answers name stores
        # or members: both are read as the same entity before they are compared.
        truth = [(c["category"], resolve(c["target"], ids)) for c in run.get("truth", [])]
        for d in run.get("diagnoses", []):
            f = d.get("model_failure")
            u = (f or {}).get("usage") or d.get("usage", {})
            cause = d.get("cause", {})
            if f:
                answer = f"(rules fallback: {cause.get('category')} on {cause.get('target')})"
                detail = re.sub(r"\s+", " ", f.get("detail", ""))[:160].replace("|", "/")
                verdict = f"**{f['kind']}**: {detail}"
            else:
                got = (cause.get("category"), resolve(cause.get("target"), ids))
                answer = f"{cause.get('category')} on {cause.get('target')} ({d.get('confidence')})"
                if got in truth:
                    verdict = "right"
                elif not truth:
                    verdict = "false positive (control)"
                elif any(got[0] == c for c, _ in truth):
                    verdict = "wrong target"
                elif any(got[1] == t for _, t in truth):
                    verdict = "wrong category"
                else:
                    verdict = "wrong category and target"
            t = ", ".join(f"{c} on {show(e)}" for c, e in truth) or "none (control)"
            if not f:
                given[cause.get("category")] += 1
            if verdict != "right":
                wrong[cause.get("category")] += 0 if f else 1
                misses.append((run.get("scenario"), t, answer, verdict, d))
            print(f"| {run.get('scenario')} | {t} | {answer} | {verdict} | "
                  f"{u.get('input_tokens', 0) + u.get('cache_read', 0)} ({u.get('cache_read', 0)}) / "
                  f"{u.get('output_tokens', 0)} | {u.get('wall_ms', 0) / 1000:.1f} | "
                  f"{u.get('output_tokens_per_s', 0):.1f} |")
    if misses:
        print(f"\n#### Each miss of the {backend} run, with what the answer rested on\n")
        for scenario, t, answer, verdict, d in misses:
            print(f"- **{scenario}** (truth: {t}): {answer}, {verdict}. {explain(d, given, wrong)}")


def explain(d, given, wrong):
    """What a wrong answer rested on, read from the diagnosis itself: the model's own
    analysis, the facts it cited, whether it looked further with a tool, and whether it
    gave the same category to most tickets, wrongly on most of them."""
    if d.get("model_failure"):
        return "The model's answer was not used; the rules engine's stood in and is not scored as the model's."
    parts = []
    said = re.sub(r"\s+", " ", d.get("observation_summary") or "").strip()
    if said:
        parts.append(f'It wrote: "{said[:200]}".')
    cited = [e.get("claim", "") for e in d.get("evidence") or []]
    if cited:
        parts.append("It cited: " + "; ".join(f'"{c[:120]}"' for c in cited) + ".")
    inv = d.get("investigation") or {}
    calls = inv.get("calls") or []
    if inv.get("mode") == "single_shot":
        parts.append(f"Single shot ({inv.get('single_shot_reason', 'no tool use')}).")
    elif not calls:
        parts.append("It called no tool.")
    else:
        parts.append("It called " + ", ".join(c.get("tool", "?") for c in calls) + ".")
    category = d.get("cause", {}).get("category")
    total = sum(given.values())
    if total >= 4 and given[category] * 2 >= total and wrong[category] * 2 > given[category]:
        parts.append(f"It answered {category} for {given[category]} of {total} tickets, "
                     f"wrongly on {wrong[category]} of them.")
    return " ".join(parts).replace("|", "/")


args = sys.argv[1:]
load = None
if args[:1] == ["--load"]:
    load, args = args[1], args[2:]
print("| backend (model) | calls | accepted | failures by kind | latency p50 (s) | latency p99 (s) "
      "| max (s) | under 60 s | tokens in (cached) | tokens out | tokens/s | eval wall (s) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for p in args:
    print(row(p))
if load:
    print("\n| phase | wall (s) | load 1 min: min | median | max |")
    print("|---|---|---|---|---|")
    for name, secs, lo, mid, hi in load_phases(load):
        print(f"| {name} | {secs} | {lo:.2f} | {mid:.2f} | {hi:.2f} |")
for p in args:
    answers(p)
