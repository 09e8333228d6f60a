#!/usr/bin/env python3
"""Serves one GGUF model over llama.cpp's own HTTP server, from the `xllamacpp` wheel.

Why a launcher and not a `llama-server` binary: PyPI ships no llama.cpp server
executable for Linux, but the `xllamacpp` wheel ships llama.cpp (a prebuilt AVX2 build)
with its HTTP server compiled in; `xllamacpp.Server(params)` starts that server, the same
code as `llama-server`, with the OpenAI-compatible `/v1/chat/completions` (JSON-schema
`response_format`, tools), `/v1/models` and `/health`. It serves from background threads
until this process exits, so this script only configures it and then waits for a signal.

Loopback only: the server has no authentication, and nothing else needs it.

Bounding the work of a request the client gave up on: llama.cpp cancels a task whose
HTTP connection closed, but only between two decode calls. A token being generated is one
call, so generation stops within a token of the client leaving; a prompt is read in calls
of `--batch` tokens, so a client that leaves while its prompt is read still holds the one
slot until the current batch is done (with llama.cpp's default 2048, a 2,000-token prompt
kept the slot 160 s after the client left on a loaded 2-core machine; BENCHMARKS.md).
`--batch` (default 256) bounds that. Generation is bounded by the request's own
`max_tokens` (the operator always sends one, sized to the answer it asks for);
`--n-predict` bounds the requests that send none (in this build a request's `max_tokens`
overrides it, measured: a request for 300 got 141 tokens under `--n-predict 64`, one
without `max_tokens` got 64).

Usage: serve.py --model FILE --port N [--alias NAME] [--ctx N] [--threads N]
                [--batch N] [--n-predict N]
"""
import argparse
import os
import signal
import sys
import threading


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the GGUF file")
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--alias", default="", help="the model name the API reports and accepts")
    ap.add_argument("--ctx", type=int, default=4096, help="context window, in tokens")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--batch", type=int, default=256,
                    help="prompt tokens per decode call: how late a cancel can take effect")
    ap.add_argument("--n-predict", type=int, default=1024,
                    help="most tokens a request without max_tokens may generate (-1: no cap)")
    return ap.parse_args()


def main():
    args = parse()
    import xllamacpp  # imported late: --help works without the wheel

    p = xllamacpp.CommonParams()
    p.model.path = args.model
    if args.alias:
        p.model_alias = {args.alias}
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_ctx = args.ctx
    p.n_parallel = 1  # one diagnosis at a time: the whole context for it
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    # A request's work is bounded server-side: a cancel lands between two batches, and a
    # request without max_tokens generates at most n_predict tokens.
    p.n_batch = args.batch
    p.n_ubatch = min(args.batch, p.n_ubatch)
    p.n_predict = args.n_predict
    # The GGUF's own chat template (ChatML with tools for Qwen2.5), applied by jinja:
    # system, user and tool turns reach the model in the format it was tuned on.
    p.use_jinja = True
    server = xllamacpp.Server(p)
    print(f"serve.py: {args.alias or args.model} at {server.listening_address}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("serve.py: stopping", flush=True)
    # The server's threads are not daemon-joinable from Python: leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
