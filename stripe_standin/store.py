"""Thread-safe state: customers (with deleted ones kept), events, and their sort indexes.

Each customer and event is held as its pre-serialized JSON (bytes). A list page is the join of
up to 100 of them, so serving a page costs no per-object encoding. Writes decode the one object
they touch, apply the change, and encode it again.

Sort order is Stripe's: newest first by ``created``, ties broken by insertion order. Both are
packed into one integer key ``created << 32 | seq`` kept in a sorted list, so cursors,
``created`` ranges and page slices are bisections.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .customers import apply_params, dumps, new_customer, previous_attributes
from .errors import StripeError, invalid, no_such
from .spec import API_VERSION
from .test_clocks import TestClockRegistry, no_such_clock
from .versions import is_current_shape, render_customer, render_previous

ALNUM = string.ascii_letters + string.digits
_SHIFT = 32
_SEQ_MASK = (1 << _SHIFT) - 1


def make_key(created: int, seq: int) -> int:
    return (max(int(created), 0) << _SHIFT) | (seq & _SEQ_MASK)


def key_created(key: int) -> int:
    return key >> _SHIFT


@dataclass
class RequestInfo:
    """What an event records about the API request that caused it."""

    id: str | None = None
    idempotency_key: str | None = None


class CustomerRecord:
    __slots__ = ("deleted", "deleted_at", "email", "id", "key", "raw", "test_clock")

    def __init__(
        self, cid: str, key: int, email: str | None, raw: bytes, test_clock: str | None = None
    ):
        self.id = cid
        self.key = key
        self.email = email
        self.deleted = False
        self.deleted_at: int | None = None
        self.raw = raw
        self.test_clock = test_clock  # customers on a test clock are listed only by clock


class EventRecord:
    __slots__ = ("created", "id", "key", "raw", "type", "visible_at")

    def __init__(self, eid: str, key: int, created: int, type_: str, raw: bytes, visible_at: float):
        self.id = eid
        self.key = key
        self.created = created
        self.type = type_
        self.raw = raw
        self.visible_at = visible_at  # when the events list starts returning it


_EVENT_TEMPLATE = (
    '{"id":"%s","object":"event","api_version":"%s","created":%d,"data":{"object":%s%s},'
    '"livemode":false,"pending_webhooks":0,"request":{"id":%s,"idempotency_key":%s},'
    '"type":"%s"}'
)


def created_range(created: Any) -> tuple[int | None, int | None]:
    """``created`` filter (int or {gt,gte,lt,lte}) -> [lo, hi) bounds in seconds."""
    if created is None:
        return None, None
    if isinstance(created, int):
        return created, created + 1
    lo = hi = None
    if "gte" in created:
        lo = created["gte"]
    if "gt" in created:
        lo = max(lo if lo is not None else created["gt"] + 1, created["gt"] + 1)
    if "lt" in created:
        hi = created["lt"]
    if "lte" in created:
        hi = min(hi if hi is not None else created["lte"] + 1, created["lte"] + 1)
    return lo, hi


def type_matcher(type_: str | None, types: list[str] | None):
    if types:
        wanted = set(types)
        return wanted.__contains__
    if type_:
        if "*" in type_:
            rx = re.compile("^" + ".*".join(re.escape(p) for p in type_.split("*")) + "$")
            return lambda t: rx.match(t) is not None
        return type_.__eq__
    return None


class Store:
    def __init__(self, clock: Clock, *, seed: int | None = None, retention_seconds: float):
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = random.Random(None if seed is None else f"store-{seed}")
        self.retention_seconds = retention_seconds
        # The account's default API version: events are rendered in it when they are created.
        self.api_version = API_VERSION
        self.livemode = False  # a live-mode data set: its objects and events say so
        self.event_account: str | None = None  # a connected account: its events name it
        self._seq = 0
        self.customers: dict[str, CustomerRecord] = {}
        self._cust_keys: list[int] = []
        self._cust_by_key: dict[int, CustomerRecord] = {}
        self._email_keys: dict[str, list[int]] = {}
        # Customers on a test clock: kept out of the list and email indexes, one key list a clock.
        self._clock_keys: dict[str, list[int]] = {}
        self.test_clocks = TestClockRegistry()
        self.events_by_id: dict[str, EventRecord] = {}
        self._event_keys: list[int] = []
        self._event_by_key: dict[int, EventRecord] = {}
        # Real Stripe's events list is eventually consistent and does not order events of
        # one second: each event becomes listable ``U(0, visibility_delay)`` seconds after
        # its ``created``, and with ``order_shuffle`` events of one second are listed in a
        # random (stable) order instead of creation order. Own generator: ids stay the same.
        self.visibility_delay = 0.0
        self.order_shuffle = False
        self._delayed = False  # some event was made with a delay: lists must check
        self.event_rng = random.Random(None if seed is None else f"events-{seed}")

    # ---------------------------------------------------------------- ids
    def rand(self, n: int) -> str:
        return "".join(self.rng.choices(ALNUM, k=n))

    def new_customer_id(self) -> str:
        while True:
            cid = "cus_" + self.rand(14)
            if cid not in self.customers:
                return cid

    def new_event_id(self) -> str:
        while True:
            eid = "evt_1" + self.rand(23)
            if eid not in self.events_by_id:
                return eid

    def invoice_prefix(self) -> str:
        return "".join(self.rng.choices("0123456789ABCDEF", k=8))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ---------------------------------------------------------------- index upkeep
    def _index_add(self, rec: CustomerRecord) -> None:
        if rec.test_clock is not None:
            insort(self._clock_keys.setdefault(rec.test_clock, []), rec.key)
            self._cust_by_key[rec.key] = rec
            return
        keys = self._cust_keys
        if not keys or rec.key > keys[-1]:
            keys.append(rec.key)
        else:
            insort(keys, rec.key)
        self._cust_by_key[rec.key] = rec
        if rec.email is not None:
            lst = self._email_keys.setdefault(rec.email, [])
            insort(lst, rec.key)

    def _index_remove(self, rec: CustomerRecord) -> None:
        keys = self._cust_keys if rec.test_clock is None else self._clock_keys.get(rec.test_clock, [])
        i = bisect_left(keys, rec.key)
        if i < len(keys) and keys[i] == rec.key:
            del keys[i]
        self._cust_by_key.pop(rec.key, None)
        self._email_remove(rec)

    def _email_remove(self, rec: CustomerRecord) -> None:
        if rec.email is None or rec.test_clock is not None:
            return
        lst = self._email_keys.get(rec.email)
        if lst:
            i = bisect_left(lst, rec.key)
            if i < len(lst) and lst[i] == rec.key:
                del lst[i]
            if not lst:
                del self._email_keys[rec.email]

    def _add_event_record(self, ev: EventRecord) -> None:
        keys = self._event_keys
        if not keys or ev.key > keys[-1]:
            keys.append(ev.key)
        else:
            insort(keys, ev.key)
        self._event_by_key[ev.key] = ev
        self.events_by_id[ev.id] = ev

    # ---------------------------------------------------------------- events
    def _make_event(
        self,
        type_: str,
        obj_raw: bytes,
        previous: dict[str, Any] | None,
        req: RequestInfo | None,
        created: int,
    ) -> EventRecord:
        eid = self.new_event_id()
        version = self.api_version
        if not is_current_shape(version):  # rendered once, in the account's version of now
            obj = json.loads(obj_raw)
            if isinstance(obj, dict):
                obj_raw = dumps(render_customer(obj, version))
            if previous is not None:
                previous = render_previous(previous, version)
        prev = b"" if previous is None else b',"previous_attributes":' + dumps(previous)
        req = req or RequestInfo()
        text = _EVENT_TEMPLATE % (
            eid,
            version,
            created,
            "\x00OBJ\x00",
            "\x00PREV\x00",
            json.dumps(req.id),
            json.dumps(req.idempotency_key),
            type_,
        )
        if self.livemode:
            text = text.replace('"livemode":false,"pending', '"livemode":true,"pending')
        if self.event_account is not None:
            text = text.replace('"object":"event",', f'"object":"event","account":"{self.event_account}",', 1)
        head, _, rest = text.encode("utf-8").partition(b"\x00OBJ\x00")
        mid, _, tail = rest.partition(b"\x00PREV\x00")
        raw = head + obj_raw + mid + prev + tail
        key = make_key(created, self._next_seq())
        if self.order_shuffle:  # a random place among the events of the same second
            while True:
                key = make_key(created, self.event_rng.getrandbits(_SHIFT))
                if key not in self._event_by_key:
                    break
        visible_at = float(created)
        if self.visibility_delay > 0:
            visible_at += self.event_rng.uniform(0.0, self.visibility_delay)
            self._delayed = True
        return EventRecord(eid, key, created, type_, raw, visible_at)

    def record_event(
        self,
        type_: str,
        obj_raw: bytes,
        previous: dict[str, Any] | None,
        req: RequestInfo | None,
        created: int | None = None,
    ) -> EventRecord:
        """Record an event whose ``data.object`` is ``obj_raw`` (the object's JSON bytes)."""
        with self.lock:
            created = self.clock.now_int() if created is None else int(created)
            ev = self._make_event(type_, obj_raw, previous, req, created)
            self._add_event_record(ev)
            return ev

    def retention_floor(self) -> float:
        return self.clock.now() - self.retention_seconds

    def _event_visible(self, ev: EventRecord) -> bool:
        return ev.created >= self.retention_floor()

    def get_event(self, eid: str) -> EventRecord | None:
        with self.lock:
            ev = self.events_by_id.get(eid)
            if ev is None or not self._event_visible(ev):
                return None
            return ev

    # ---------------------------------------------------------------- customers: writes
    def insert_customer_raw(
        self,
        cid: str,
        created: int,
        email: str | None,
        raw: bytes,
        *,
        event: bool = False,
        req: RequestInfo | None = None,
        event_created: int | None = None,
        test_clock: str | None = None,
    ) -> CustomerRecord:
        with self.lock:
            if cid in self.customers:
                raise ValueError(f"duplicate customer id {cid}")
            rec = CustomerRecord(cid, make_key(created, self._next_seq()), email, raw, test_clock)
            self.customers[cid] = rec
            self._index_add(rec)
            if event:
                self.record_event("customer.created", raw, None, req, event_created)
            return rec

    def bulk_insert(
        self,
        rows: Iterable[tuple[str, int, str | None, bytes]],
        *,
        events: bool = False,
    ) -> int:
        """Insert many (id, created, email, raw) rows; one sort at the end. Rows whose id is
        already taken are skipped. Returns the number inserted."""
        n = 0
        with self.lock:
            customers = self.customers
            by_key = self._cust_by_key
            keys = self._cust_keys
            email_keys = self._email_keys
            touched: set[str] = set()
            seq = self._seq
            for cid, created, email, raw in rows:
                if cid in customers:
                    continue
                seq += 1
                rec = CustomerRecord(cid, make_key(created, seq), email, raw)
                customers[cid] = rec
                by_key[rec.key] = rec
                keys.append(rec.key)
                if email is not None:
                    lst = email_keys.get(email)
                    if lst is None:
                        email_keys[email] = [rec.key]
                    else:
                        lst.append(rec.key)
                        touched.add(email)
                n += 1
                if events:
                    self._seq = seq
                    ev = self._make_event("customer.created", raw, None, None, created)
                    seq = self._seq
                    self._event_keys.append(ev.key)
                    self._event_by_key[ev.key] = ev
                    self.events_by_id[ev.id] = ev
            self._seq = seq
            keys.sort()
            for e in touched:
                email_keys[e].sort()
            if events:
                self._event_keys.sort()
        return n

    def create_customer(self, params: dict[str, Any], req: RequestInfo | None) -> dict[str, Any]:
        with self.lock:
            params = dict(params)
            clock_id = params.pop("test_clock", None)
            # A customer on a test clock is created at the clock's frozen time.
            created = self.test_clocks.get(clock_id).frozen_time if clock_id else self.clock.now_int()
            cid = self.new_customer_id()
            cust = apply_params(
                new_customer(cid, created, self.invoice_prefix()), params, creating=True
            )
            if clock_id:
                cust["test_clock"] = clock_id
            cust["livemode"] = self.livemode
            raw = dumps(cust)
            self.insert_customer_raw(
                cid, created, cust.get("email"), raw, event=True, req=req, test_clock=clock_id
            )
            return cust

    def test_clock_customers(self, clock_id: str) -> list[str]:
        """Ids of the live customers on a test clock."""
        with self.lock:
            return [self._cust_by_key[k].id for k in self._clock_keys.get(clock_id, [])]

    def delete_test_clock(self, clock_id: str, req: RequestInfo | None) -> dict[str, Any]:
        """Delete a test clock and, as Stripe does, every customer on it."""
        with self.lock:
            self.test_clocks.get(clock_id, "test_clock", 404)
            for cid in self.test_clock_customers(clock_id):
                self.delete_customer(cid, req)
            self._clock_keys.pop(clock_id, None)
            self.test_clocks.remove(clock_id)
            return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}

    def update_customer(
        self, cid: str, params: dict[str, Any], req: RequestInfo | None
    ) -> dict[str, Any]:
        with self.lock:
            rec = self.customers.get(cid)
            if rec is None or rec.deleted:
                raise no_such("customer", cid)
            old = json.loads(rec.raw)
            if not isinstance(old, dict):
                raise StripeError(500, "An unknown error occurred", type="api_error")
            new = apply_params(old, params, creating=False)
            if new != old:
                raw = dumps(new)
                email = new.get("email") if isinstance(new.get("email"), str) else None
                if email != rec.email:
                    self._email_remove(rec)
                    rec.email = email
                    if email is not None and rec.test_clock is None:
                        insort(self._email_keys.setdefault(email, []), rec.key)
                rec.raw = raw
                self.record_event("customer.updated", raw, previous_attributes(old, new), req)
            return new

    def delete_customer(self, cid: str, req: RequestInfo | None) -> dict[str, Any]:
        with self.lock:
            rec = self.customers.get(cid)
            if rec is None or rec.deleted:
                raise no_such("customer", cid)
            rec.deleted = True
            rec.deleted_at = self.clock.now_int()
            self._index_remove(rec)
            self.record_event("customer.deleted", rec.raw, None, req)
            return {"id": cid, "object": "customer", "deleted": True}

    # ---------------------------------------------------------------- customers: reads
    def get_customer(self, cid: str) -> CustomerRecord | None:
        return self.customers.get(cid)

    @staticmethod
    def _page(
        keys: list[int],
        lo_idx: int,
        hi_idx: int,
        limit: int,
        after_key: int | None,
        before_key: int | None,
    ) -> tuple[list[int], bool]:
        """Newest-first page of ``keys[lo_idx:hi_idx]`` (ascending list)."""
        if before_key is not None:  # ending_before: the page just newer than the cursor
            start = max(lo_idx, bisect_right(keys, before_key))
            end = min(hi_idx, start + limit)
            if end <= start:
                return [], False
            page = keys[start:end]
            page.reverse()
            return page, end < hi_idx
        end = hi_idx if after_key is None else min(hi_idx, bisect_left(keys, after_key))
        start = max(lo_idx, end - limit)
        if end <= start:
            return [], False
        page = keys[start:end]
        page.reverse()
        return page, start > lo_idx

    @staticmethod
    def _bounds(keys: list[int], lo: int | None, hi: int | None) -> tuple[int, int]:
        lo_idx = 0 if lo is None else bisect_left(keys, make_key(lo, 0))
        hi_idx = len(keys) if hi is None else bisect_left(keys, make_key(hi, 0))
        return lo_idx, max(lo_idx, hi_idx)

    def list_customers(
        self,
        *,
        limit: int,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Any = None,
        email: str | None = None,
        test_clock: str | None = None,
    ) -> tuple[list[bytes], bool]:
        """A page of customers. Customers on test clocks are left out unless ``test_clock``
        names their clock; then only that clock's customers are listed."""
        with self.lock:
            if test_clock is not None and test_clock not in self.test_clocks.clocks:
                raise no_such_clock(test_clock)
            after_key = before_key = None
            for param, cid in (
                ("starting_after", starting_after),
                ("ending_before", ending_before),
            ):
                if cid is None:
                    continue
                rec = self.customers.get(cid)
                if rec is None:
                    raise no_such("customer", cid, param)
                if param == "starting_after":
                    after_key = rec.key
                else:
                    before_key = rec.key
            if test_clock is not None:
                keys = self._clock_keys.get(test_clock, [])
                if email is not None:
                    keys = [k for k in keys if self._cust_by_key[k].email == email]
            else:
                keys = self._cust_keys if email is None else self._email_keys.get(email, [])
            lo, hi = created_range(created)
            lo_idx, hi_idx = self._bounds(keys, lo, hi)
            page, has_more = self._page(keys, lo_idx, hi_idx, limit, after_key, before_key)
            by_key = self._cust_by_key
            return [by_key[k].raw for k in page], has_more

    # ---------------------------------------------------------------- events: reads
    def list_events(
        self,
        *,
        limit: int,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Any = None,
        type_: str | None = None,
        types: list[str] | None = None,
        delivery_success: bool | None = None,
    ) -> tuple[list[bytes], bool]:
        with self.lock:
            after_key = before_key = None
            for param, eid in (
                ("starting_after", starting_after),
                ("ending_before", ending_before),
            ):
                if eid is None:
                    continue
                ev = self.events_by_id.get(eid)
                if ev is None or not self._event_visible(ev):
                    raise no_such("event", eid, param)
                if param == "starting_after":
                    after_key = ev.key
                else:
                    before_key = ev.key
            if delivery_success is False:  # nothing is pending: there are no webhook endpoints
                return [], False
            keys = self._event_keys
            lo, hi = created_range(created)
            floor = self.retention_floor()
            floor_int = int(floor) if floor == int(floor) else int(floor) + 1
            lo = floor_int if lo is None else max(lo, floor_int)
            lo_idx, hi_idx = self._bounds(keys, lo, hi)
            match = type_matcher(type_, types)
            by_key = self._event_by_key
            if match is None and not self._delayed:
                page, has_more = self._page(keys, lo_idx, hi_idx, limit, after_key, before_key)
                return [by_key[k].raw for k in page], has_more
            now = self.clock.now() if self._delayed else None

            def listed(ev: EventRecord) -> bool:
                return (match is None or match(ev.type)) and (now is None or ev.visible_at <= now)

            out: list[bytes] = []
            if before_key is not None:
                i = max(lo_idx, bisect_right(keys, before_key))
                while i < hi_idx and len(out) <= limit:
                    ev = by_key[keys[i]]
                    if listed(ev):
                        out.append(ev.raw)
                    i += 1
                has_more = len(out) > limit
                out = out[:limit]
                out.reverse()
                return out, has_more
            i = (hi_idx if after_key is None else min(hi_idx, bisect_left(keys, after_key))) - 1
            while i >= lo_idx and len(out) <= limit:
                ev = by_key[keys[i]]
                if listed(ev):
                    out.append(ev.raw)
                i -= 1
            has_more = len(out) > limit
            return out[:limit], has_more

    # ---------------------------------------------------------------- introspection
    def all_customers(self, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Customers as dicts, newest first (deleted ones, if included, carry ``deleted``)."""
        with self.lock:
            recs = sorted(self.customers.values(), key=lambda r: r.key, reverse=True)
        out = []
        for r in recs:
            if r.deleted and not include_deleted:
                continue
            try:
                obj = json.loads(r.raw)
            except ValueError:
                obj = {"id": r.id, "_raw": r.raw.decode("utf-8", "replace")}
            if include_deleted and isinstance(obj, dict):
                obj = dict(obj)
                obj["deleted"] = r.deleted
            out.append(obj)
        return out

    def all_events(self, include_expired: bool = False) -> list[dict[str, Any]]:
        """Events as dicts, newest first."""
        with self.lock:
            floor = self.retention_floor()
            evs = [
                self._event_by_key[k]
                for k in reversed(self._event_keys)
                if include_expired or self._event_by_key[k].created >= floor
            ]
        return [json.loads(e.raw) for e in evs]

    def counts(self) -> dict[str, int]:
        with self.lock:
            on_clocks = sum(len(keys) for keys in self._clock_keys.values())
            return {
                "customers": len(self._cust_keys) + on_clocks,
                "customers_deleted": len(self.customers) - len(self._cust_keys) - on_clocks,
                "test_clocks": len(self.test_clocks.clocks),
                "events": len(self._event_keys),
            }


def bad_limit(limit: int) -> StripeError | None:
    if limit < 1:
        return invalid("This value must be greater than or equal to 1.", "limit")
    if limit > 100:
        return invalid("This value must be less than or equal to 100.", "limit")
    return None
