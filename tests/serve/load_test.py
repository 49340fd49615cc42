#!/usr/bin/env python3
"""Bounded load test of a running `lmul serve`: N concurrent clients on loopback, each sending
M /v1/completions requests (greedy, fixed prompts), every answer checked complete and equal to
the answer the same prompt gets alone. Prints requests/s, latency p50/p90/p99, tokens/s (JSON
with --json).

    python tests/serve/load_test.py --url http://127.0.0.1:8080 --clients 8 --requests 4
"""

import argparse
import concurrent.futures
import json
import sys
import time
import urllib.request

PROMPTS = [
    "The capital of France is",
    "Water boils at a temperature of",
    "The largest planet in the solar system is",
    "A haiku about the sea:",
    "def fibonacci(n):",
    "The three primary colours are",
]


def post(url: str, body: dict, timeout: float) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def body(prompt: str, max_tokens: int) -> dict:
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[i]


def run(url: str, clients: int, requests: int, max_tokens: int, timeout: float) -> dict:
    expected = {}
    for p in PROMPTS:  # reference answers, one request at a time
        status, r = post(url, body(p, max_tokens), timeout)
        if status != 200:
            raise SystemExit(f"reference request failed: {status} {r}")
        expected[p] = r["choices"][0]["text"]

    def client(c: int) -> list[tuple[float, int, str]]:
        out = []
        for i in range(requests):
            p = PROMPTS[(c + i) % len(PROMPTS)]
            t0 = time.perf_counter()
            status, r = post(url, body(p, max_tokens), timeout)
            dt = time.perf_counter() - t0
            if status != 200:
                out.append((dt, 0, f"HTTP {status}: {r}"))
                continue
            ch = r["choices"][0]
            err = ""
            if ch["text"] != expected[p]:
                err = f"text differs for {p!r}: {ch['text']!r} != {expected[p]!r}"
            elif ch["finish_reason"] not in ("length", "stop"):
                err = f"finish_reason {ch['finish_reason']}"
            out.append((dt, r["usage"]["completion_tokens"], err))
        return out

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        results = [x for xs in ex.map(client, range(clients)) for x in xs]
    wall = time.perf_counter() - t0
    lat = [r[0] for r in results]
    errors = [r[2] for r in results if r[2]]
    tokens = sum(r[1] for r in results)
    return {
        "clients": clients, "requests": len(results), "max_tokens": max_tokens,
        "wall_s": wall, "requests_per_s": len(results) / wall, "tokens_per_s": tokens / wall,
        "completion_tokens": tokens,
        "latency_s": {"p50": percentile(lat, 50), "p90": percentile(lat, 90),
                      "p99": percentile(lat, 99), "max": max(lat)},
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=4, help="per client")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    r = run(a.url, a.clients, a.requests, a.max_tokens, a.timeout)
    lat = r["latency_s"]
    print(f"{r['requests']} requests from {r['clients']} clients in {r['wall_s']:.1f} s: "
          f"{r['requests_per_s']:.2f} req/s, {r['tokens_per_s']:.1f} tokens/s; latency "
          f"p50 {lat['p50']:.2f} s, p90 {lat['p90']:.2f} s, p99 {lat['p99']:.2f} s; "
          f"errors {len(r['errors'])}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    if r["errors"]:
        print("\n".join(r["errors"][:10]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
