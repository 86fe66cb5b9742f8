import http.client
import subprocess
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest

from stripe_standin import StandinAdmin, StripeStandin

from .conftest import Api


def test_seeded_customers_are_varied_and_realistic(standin):
    standin.seed_customers(3000, seed=42)
    cs = standin.customers()
    assert len(cs) == 3000 and len({c["id"] for c in cs}) == 3000
    names = [c["name"] for c in cs]
    assert None in names
    assert any(n and not n.isascii() for n in names)
    assert any(n and any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)
    emails = [c["email"] for c in cs]
    assert None in emails
    counts = Counter(e for e in emails if e)
    assert any(v > 1 for v in counts.values())
    assert any(e and e != e.lower() for e in emails)
    assert None in {c["currency"] for c in cs}
    assert any(c["balance"] < 0 for c in cs) and any(c["balance"] > 0 for c in cs)
    assert any(c["delinquent"] for c in cs)
    assert {c["metadata"].get("plan") for c in cs} == {None, "free", "pro", "enterprise"}
    assert any("external_id" in c["metadata"] for c in cs)
    assert any("region" in c["metadata"] for c in cs)
    assert any(c["metadata"] == {} for c in cs)
    assert None in [c["address"] for c in cs]
    assert len({c["address"]["country"] for c in cs if c["address"]}) >= 10
    assert any(c["shipping"] for c in cs) and any(c["preferred_locales"] for c in cs)
    assert {c["tax_exempt"] for c in cs} == {"none", "exempt", "reverse"}
    created = [c["created"] for c in cs]
    assert (max(created) - min(created)) > 600 * 86400
    assert max(created) <= standin.now()


def test_seeding_is_deterministic_and_repeatable_calls_add_more():
    def ids(seed):
        s = StripeStandin(seed=1)
        s.seed_customers(50, seed=seed)
        return [c["id"] for c in s.customers()]

    assert ids(3) == ids(3) != ids(4)
    s = StripeStandin()
    s.seed_customers(10, seed=1)
    s.seed_customers(10, seed=1)
    assert len(s.customers()) == 20


def test_scale_seeding_serves_pages_by_joining_stored_bytes(standin, api):
    t = time.perf_counter()
    standin.seed_customers(20000, seed=1)
    assert time.perf_counter() - t < 5
    status, _, page = api.get("/v1/customers", {"limit": 100})
    assert status == 200 and len(page["data"]) == 100 and page["has_more"]
    oldest = page["data"][-1]["created"]
    status, _, older = api.get("/v1/customers", {"limit": 100, "created[lt]": oldest})
    assert all(c["created"] < oldest for c in older["data"])


def test_many_keep_alive_connections_with_latency_run_concurrently(standin):
    standin.seed_customers(500, seed=1)
    standin.configure(latency_read=0.05)
    parts = urlsplit(standin.base_url)
    statuses = []
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        got = []
        for _ in range(5):
            conn.request(
                "GET",
                "/v1/customers?limit=100",
                headers={"Authorization": f"Bearer {standin.api_key}"},
            )
            r = conn.getresponse()
            r.read()
            got.append(r.status)
        conn.close()
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(40)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    assert statuses == [200] * 200
    # 200 requests x 50 ms on 40 connections: ~0.25 s if served concurrently, 10 s if not
    assert elapsed < 2.0
    assert standin.stats()["in_flight_max"] >= 20


def test_reset_drops_data_but_keeps_keys(standin, client):
    client.v1.customers.create()
    standin.reset()
    assert standin.customers() == [] and standin.events() == []
    assert standin.stats()["requests_total"] == 0
    client.v1.customers.create()
    assert len(standin.customers()) == 1


def test_admin_http_api_drives_a_standin(standin):
    admin = StandinAdmin(standin.base_url)
    assert admin.health()["ok"] is True
    assert admin.seed_customers(5, seed=2) == 5
    c = admin.create_customer(name="Admin", metadata={"plan": "pro"})
    admin.update_customer(c["id"], name="Admin 2")
    assert len(admin.customers()) == 6
    admin.delete_customer(c["id"])
    assert len(admin.customers()) == 5 and len(admin.customers(include_deleted=True)) == 6
    assert [e["type"] for e in admin.events()] == [
        "customer.deleted",
        "customer.updated",
        "customer.created",
    ]
    before = admin.now()
    assert admin.advance_clock(days=31) >= before + 31 * 86400 - 1
    assert admin.events() == [] and len(admin.events(include_expired=True)) == 3
    admin.configure(latency_read=0.0, rate_limit=1000)
    assert admin.config()["rate_limit"] == 1000
    admin.inject_fault("503", 1)
    api = Api(standin.base_url)
    assert api.get("/v1/balance")[0] == 503
    admin.set_fault_rate("500", 1.0)
    assert api.get("/v1/balance")[0] == 500
    admin.clear_faults()
    assert api.get("/v1/balance")[0] == 200
    admin.add_api_key("rk_test_admin0000000", {"customers": "read"})
    assert Api(standin.base_url, key="rk_test_admin0000000").get("/v1/balance")[0] == 403
    ids = admin.inject_malformed_customers(1, kind="nulls")
    assert admin.customers()[0]["id"] == ids[0]
    st = admin.stats()
    assert st["requests"]["GET /v1/balance"] == 4 and st["faults"] == {"503": 1, "500": 1}
    assert len(admin.requests()) == 4
    admin.reset()
    assert admin.customers() == []


def test_cli_runs_a_subprocess_and_prints_the_base_url():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_standin",
            "--port",
            "0",
            "--seed-customers",
            "7",
            "--api-key",
            "sk_test_cli",
            "--quiet",
            "--restricted-key",
            "rk_test_cli_ro=customers:read",
            "--latency-list",
            "0.01",
            "--fault",
            "503=0.0",
            "--event-visibility-delay",
            "20",
            "--event-order-shuffle",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        api = Api(url, key="sk_test_cli")
        status, _, page = api.get("/v1/customers", {"limit": 100})
        assert status == 200 and len(page["data"]) == 7
        assert api.get("/v1/customers", key="sk_test_standin")[0] == 401
        assert Api(url, key="rk_test_cli_ro").post("/v1/customers", {})[0] == 403
        assert StandinAdmin(url).config()["latency_read"] == 0.01
        config = StandinAdmin(url).config()
        assert config["event_visibility_delay"] == 20 and config["event_order_shuffle"] is True
        StandinAdmin(url).configure(event_visibility_delay=0, event_order_shuffle=False)
        assert StandinAdmin(url).config()["event_visibility_delay"] == 0
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_cli_rejects_unknown_fault_kinds():
    proc = subprocess.run(
        [sys.executable, "-m", "stripe_standin", "--fault", "explode=0.1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2 and "KIND=RATE" in proc.stderr


@pytest.mark.parametrize("bad", [{"customers": "admin"}, {"charges": "read"}])
def test_restricted_key_permissions_are_validated(bad):
    with pytest.raises(ValueError):
        StripeStandin(restricted_keys={"rk_test_x": bad})
