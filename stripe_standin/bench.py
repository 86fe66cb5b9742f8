"""Measure the stand-in's own ceiling: ``python -m stripe_standin.bench``.

Starts a stand-in subprocess (or uses ``--url``), then runs client threads (spread over client
processes, so the client's GIL is not what is measured) that page through
``GET /v1/customers?limit=100`` on keep-alive connections for a few seconds, and prints
requests/s and latency percentiles as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from .app import STANDIN_API_KEY


def _client_proc(url: str, key: str, threads: int, seconds: float, limit: int, q) -> None:
    parts = urlsplit(url)
    stop_at = time.perf_counter() + seconds
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        hdrs = {"Authorization": f"Bearer {key}"}
        after = None
        mine = []
        bad = 0
        while time.perf_counter() < stop_at:
            path = f"/v1/customers?limit={limit}"
            if after:
                path += f"&starting_after={after}"
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers=hdrs)
                r = conn.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - t)
            if r.status != 200:
                bad += 1
                after = None
                continue
            # cheap cursor extraction: last "id":"cus_..." in the page
            i = body.rfind(b'{"id":"cus_')
            has_more = body.endswith(b'"has_more":true,"url":"/v1/customers"}')
            after = body[i + 7 : i + 25].decode() if (i >= 0 and has_more) else None
        conn.close()
        with lock:
            lat.extend(mine)
            errors[0] += bad

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put((lat, errors[0]))


def run(url: str, key: str, threads: int, procs: int, seconds: float, limit: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per = [threads // procs + (1 if i < threads % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_client_proc, args=(url, key, n, seconds, limit, q)) for n in per if n]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    lat: list[float] = []
    errors = 0
    for _ in ps:
        part, bad = q.get()
        lat.extend(part)
        errors += bad
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - t0
    lat.sort()

    def pct(x: float) -> float:
        return round(lat[min(len(lat) - 1, int(x * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "requests": len(lat),
        "errors": errors,
        "seconds": round(seconds, 2),
        "req_per_s": round(len(lat) / seconds, 1),
        "wall_seconds": round(elapsed, 2),
        "threads": threads,
        "client_processes": len(ps),
        "page_size": limit,
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="use a running stand-in instead of starting one")
    ap.add_argument("--api-key", default=STANDIN_API_KEY)
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--latency-read", type=float, default=0.0)
    args = ap.parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stripe_standin",
                "--port",
                "0",
                "--quiet",
                "--scale",
                str(args.customers),
                "--api-key",
                args.api_key,
                "--latency-read",
                str(args.latency_read),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
    try:
        result = run(url, args.api_key, args.threads, args.procs, args.seconds, args.limit)
        result["customers"] = args.customers
        result["latency_read"] = args.latency_read
        print(json.dumps(result, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
