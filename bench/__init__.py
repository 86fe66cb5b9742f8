"""The benchmark: how close the Stripe sync runs to Stripe's rate limit, against the ideal
and against the script a user would write without it.

    python -m bench            every scenario at full size (about 15 minutes)
    python -m bench --smoke    tiny sizes, a minute: proves every scenario still runs
    python -m bench --only scan,incremental --runs 5 --json results.json

The Stripe stand-in runs as a child process in its scale mode (generated customers, a fixed
latency per request, a rate limit answered with 429s), so the client measured here shares
neither its CPU nor its GIL. Scenarios, each printed with achieved, ideal, achieved/ideal
and the naive baseline measured in the same run:

1. full scan of N customers at R = 25 and 100 requests/s, on the account and on each
   endpoint (ideal N / (100 R) seconds)
2. incremental run after e customer events (ideal ceil(e / 100) calls) and after none
3. export of k changed rows out of N, and of creates plus updates (ideal k writes, k / R s)
4. warehouse bulk upsert of mirror rows into DuckDB and PostgreSQL (rows/s)
5. full scan of a large account in a process of its own: peak memory, CPU per 1,000
6. Stripe's default limits (100/s account, 25/s per endpoint): a scan runs at one
   endpoint's rate; an export's creates and updates, two endpoints, run side by side
7. a run as a user starts it, ``dg launch`` under ``/usr/bin/time``: the mirror with nothing
   to do and a full scan of N customers, next to a trivial one-asset Dagster job (the floor)
   and the naive script (``python -m bench --only launch``)
8. many accounts (``python -m bench --only accounts``): a Connect platform with 200 connected
   accounts x 500 customers, Stripe's limits per account; the backfill of every account
   through ``dagster-daemon`` (the sweep sensor's first tick) and the idle sweep after it,
   against the ideal from the rate limits and against one single-account deployment
   (``dg launch``) per account (bench/accounts.py)

plus the stand-in's own ceiling and a step-by-step profile of the client's CPU. Results and
the machine they came from are in BENCHMARKS.md.
"""
