#!/usr/bin/env python3
"""Serves one GGUF model over llama.cpp's own HTTP server, from the `xllamacpp` wheel.

Why a launcher and not a `llama-server` binary: PyPI ships no llama.cpp server
executable for Linux, but the `xllamacpp` wheel ships llama.cpp (a prebuilt AVX2 build)
with its HTTP server compiled in; `xllamacpp.Server(params)` starts that server, the same
code as `llama-server`, with the OpenAI-compatible `/v1/chat/completions` (JSON-schema
`response_format`, tools), `/v1/models` and `/health`. It serves from background threads
until this process exits, so this script only configures it and then waits for a signal.

Loopback only: the server has no authentication, and nothing else needs it.
Usage: serve.py --model FILE --port N [--alias NAME] [--ctx N] [--threads N]
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
