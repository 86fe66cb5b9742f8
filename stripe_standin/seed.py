"""Varied, realistic customers for seeding the stand-in, and malformed ones for robustness tests.

``generate_customers`` yields ``(id, created, email, json_bytes)`` rows. It is a plain loop over
pre-encoded JSON fragments (no per-customer ``json.dumps``), fast enough for a million customers
in a few seconds, and deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from typing import Any

ALNUM = string.ascii_letters + string.digits

FIRST_NAMES = [
    "Zoë",
    "Ånne",
    "José",
    "Søren",
    "Łukasz",
    "Amélie",
    "Jürgen",
    "Chloé",
    "Mateo",
    "Olivia",
    "Liam",
    "Noah",
    "Emma",
    "Ava",
    "Sofía",
    "Björn",
    "Ingrid",
    "Dmitri",
    "Aiko",
    "Yuki",
    "Priya",
    "Arjun",
    "Fatima",
    "Omar",
    "Kwame",
    "Ama",
    "Siobhán",
    "Niamh",
    "Élodie",
    "Renée",
    "François",
    "Đorđe",
    "Ömer",
    "Çağla",
    "Þórunn",
    "Ana",
    "João",
    "Mia",
    "Lucas",
    "Hana",
    "Mohammed",
    "Leila",
    "Chen",
    "Wei",
    "Minh",
    "Thảo",
    "Nikolai",
    "Olga",
    "Sven",
    "Agnieszka",
]
LAST_NAMES = [
    "Ångström",
    "Müller",
    "Núñez",
    "Kierkegaard",
    "Wałęsa",
    "Dubois",
    "Schmidt",
    "Rossi",
    "García",
    "Smith",
    "Johnson",
    "Brown",
    "O'Connor",
    "Ó Súilleabháin",
    "Nakamura",
    "Tanaka",
    "Patel",
    "Sharma",
    "Haddad",
    "Mensah",
    "Okafor",
    "Nguyễn",
    "Petrov",
    "Ivanova",
    "Larsen",
    "Johansson",
    "Kowalski",
    "Fernández",
    "da Silva",
    "van der Berg",
    "De Luca",
    "Yılmaz",
    "Öztürk",
    "Lefèvre",
    "Björklund",
    "Sørensen",
    "MacDonald",
    "Wong",
    "Kim",
    "Park",
]
WHOLE_NAMES = [
    "李雷",
    "韩梅梅",
    "王芳",
    "张伟",
    "山田太郎",
    "佐藤花子",
    "김민준",
    "이서연",
    "Иван Петров",
    "Мария Смирнова",
    "محمد علي",
    "فاطمة الزهراء",
    "דוד כהן",
    "Γιώργος Παπαδόπουλος",
    "Acme Corp.",
    "Globex GmbH",
    "Initech LLC",
    "Umbrella S.A.",
    "Stark Industries",
    "Wayne Enterprises",
    "Société Générale des Fromages",
    "株式会社サンプル",
    "北京示例科技有限公司",
    "Zoë Ångström",
    "José Núñez 🚀",
    "  Padded  Name  ",
]
ASCII_MAP = str.maketrans(
    {
        "ë": "e",
        "Å": "A",
        "å": "a",
        "é": "e",
        "ø": "o",
        "Ł": "L",
        "ł": "l",
        "ü": "u",
        "Ü": "U",
        "í": "i",
        "ó": "o",
        "Ó": "O",
        "ú": "u",
        "á": "a",
        "ã": "a",
        "ñ": "n",
        "Ç": "C",
        "ç": "c",
        "ğ": "g",
        "ı": "i",
        "Ö": "O",
        "ö": "o",
        "Þ": "Th",
        "É": "E",
        "è": "e",
        "Đ": "D",
        "đ": "d",
        "ễ": "e",
        "ả": "a",
        "ę": "e",
        "ń": "n",
        "Ø": "O",
        "'": "",
        " ": "",
    }
)
DOMAINS = [
    "example.com",
    "example.org",
    "mail.example.net",
    "corp.example.co.uk",
    "example.de",
    "beispiel.example",
    "exemple.fr",
    "example.jp",
    "test.example.io",
]
PHONES = [
    "+1 415 555 %04d",
    "+1 (212) 555-%04d",
    "+44 20 7946 %04d",
    "+49 30 901%04d",
    "+33 1 44 55 %04d",
    "+81 3-5555-%04d",
    "+86 10 5555 %04d",
    "+55 11 95555-%04d",
    "+91 98765 %05d",
    "555-%04d",
]
DESCRIPTIONS = [
    "Imported from legacy CRM",
    "VIP — handle with care",
    "Kunde seit 2019",
    "Annual contract, invoiced manually",
    "Trial user",
    "Référence client: A-17",
    "大口顧客",
    "Do not contact before Q3",
    "Migrated from Braintree",
    "Reseller account",
    "Line one\nLine two",
    'Has "quotes" and \\backslashes\\',
]
ADDRESSES: list[dict[str, Any]] = [
    {
        "city": "San Francisco",
        "country": "US",
        "line1": "510 Townsend St",
        "line2": None,
        "postal_code": "94103",
        "state": "CA",
    },
    {
        "city": "New York",
        "country": "US",
        "line1": "350 Fifth Avenue",
        "line2": "Suite 5200",
        "postal_code": "10118",
        "state": "NY",
    },
    {
        "city": "Berlin",
        "country": "DE",
        "line1": "Friedrichstraße 123",
        "line2": None,
        "postal_code": "10117",
        "state": None,
    },
    {
        "city": "München",
        "country": "DE",
        "line1": "Marienplatz 8",
        "line2": "3. OG",
        "postal_code": "80331",
        "state": "BY",
    },
    {
        "city": "Paris",
        "country": "FR",
        "line1": "12 Rue de Rivoli",
        "line2": None,
        "postal_code": "75004",
        "state": None,
    },
    {
        "city": "London",
        "country": "GB",
        "line1": "221B Baker Street",
        "line2": None,
        "postal_code": "NW1 6XE",
        "state": None,
    },
    {
        "city": "東京都",
        "country": "JP",
        "line1": "千代田区丸の内1-1-1",
        "line2": None,
        "postal_code": "100-0005",
        "state": "Tokyo",
    },
    {
        "city": "北京",
        "country": "CN",
        "line1": "朝阳区建国路88号",
        "line2": None,
        "postal_code": "100022",
        "state": None,
    },
    {
        "city": "São Paulo",
        "country": "BR",
        "line1": "Av. Paulista, 1578",
        "line2": None,
        "postal_code": "01310-200",
        "state": "SP",
    },
    {
        "city": "Bengaluru",
        "country": "IN",
        "line1": "MG Road 42",
        "line2": None,
        "postal_code": "560001",
        "state": "KA",
    },
    {
        "city": "Toronto",
        "country": "CA",
        "line1": "100 King St W",
        "line2": None,
        "postal_code": "M5X 1A9",
        "state": "ON",
    },
    {
        "city": "Sydney",
        "country": "AU",
        "line1": "1 Macquarie St",
        "line2": None,
        "postal_code": "2000",
        "state": "NSW",
    },
    {
        "city": None,
        "country": "NL",
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    },
    {
        "city": "Zürich",
        "country": "CH",
        "line1": "Bahnhofstrasse 1",
        "line2": None,
        "postal_code": "8001",
        "state": "ZH",
    },
]
LOCALES = [
    ["en"],
    ["en-US"],
    ["de", "en"],
    ["fr-FR"],
    ["ja"],
    ["zh-Hans"],
    ["es-419", "en"],
    ["pt-BR"],
]
CURRENCIES = ["usd", "usd", "usd", "eur", "eur", "gbp", "jpy", "cad", "aud"]
PLANS = ["free", "free", "pro", "pro", "enterprise"]
REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "apac"]
SOURCES = ["web", "sales", "partner", "import"]


def _j(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


_J_ADDRESSES = [_j(a) for a in ADDRESSES]
_J_CURRENCIES = [_j(v) for v in CURRENCIES]

SECONDS_PER_DAY = 86400
N_VARIANTS = 4096

_ID_TABLE = bytes(ALNUM[b % 62].encode()[0] for b in range(256))
# (display name JSON, email local part) for every first x last combination, plus whole names
_NAME_POOL: list[tuple[str, str]] = [
    (_j(f"{f} {la}"), f"{f}.{la}".translate(ASCII_MAP).lower())
    for f in FIRST_NAMES
    for la in LAST_NAMES
]
_WHOLE_POOL: list[tuple[str, str]] = [(_j(v), "contact") for v in WHOLE_NAMES]


def _variant_template(rng: random.Random) -> str:
    """One customer body with every field drawn except the per-customer ones, which stay as
    ``%(name)s`` slots: id, created, email, invoice_prefix, external_id, name."""
    rand = rng.random

    def pick(seq):
        return seq[int(rand() * len(seq))]

    phone = None if rand() < 0.35 else pick(PHONES) % int(rand() * 10000)
    r = rand()
    balance = (
        0 if r < 0.7 else (-1 - int(rand() * 500000) if r < 0.85 else 1 + int(rand() * 250000))
    )
    addr_i = -1 if rand() < 0.3 else int(rand() * len(ADDRESSES))
    address_j = "null" if addr_i < 0 else _J_ADDRESSES[addr_i]
    r = rand()
    if r < 0.7:
        shipping_j = "null"
    else:
        sa = _J_ADDRESSES[addr_i if addr_i >= 0 and r < 0.9 else int(rand() * len(ADDRESSES))]
        # ships to the customer (name slot) or to someone else
        ship_name = "%(ship_name)s" if rand() < 0.8 else pick(_NAME_POOL)[0]
        shipping_j = f'{{"address":{sa},"name":{ship_name},"phone":{_j(phone)}}}'
    parts = []
    if rand() < 0.85:
        parts.append(f'"plan":"{pick(PLANS)}"')
    if rand() < 0.7:
        parts.append('"external_id":"ext_%(i)07d"')
    if rand() < 0.5:
        parts.append(f'"region":"{pick(REGIONS)}"')
    if rand() < 0.15:
        parts.append(f'"signup_source":"{pick(SOURCES)}"')
    if rand() < 0.03:
        parts.append('"notes":' + _j('ünïcödé ✓ and "quotes"'))
    r = rand()
    tax_exempt = "none" if r < 0.9 else ("exempt" if r < 0.97 else "reverse")
    body = (
        '{"id":"%(id)s","object":"customer","address":'
        + address_j.replace("%", "%%")
        + ',"balance":'
        + str(balance)
        + ',"created":%(created)d,"currency":'
        + ("null" if rand() < 0.3 else _j(pick(CURRENCIES)))
        + ',"default_source":null,"delinquent":'
        + ("true" if rand() < 0.05 else "false")
        + ',"description":'
        + ("null" if rand() < 0.6 else _j(pick(DESCRIPTIONS)).replace("%", "%%"))
        + ',"discount":null,"email":%(email)s,"invoice_prefix":"%(prefix)s",'
        '"invoice_settings":{"custom_fields":null,"default_payment_method":null,"footer":null,'
        '"rendering_options":null},"livemode":false,"metadata":{'
        + ",".join(parts)
        + '},"name":%(name)s,"next_invoice_sequence":'
        + str(1 + int(rand() * 60))
        + ',"phone":'
        + _j(phone)
        + ',"preferred_locales":'
        + ("[]" if rand() < 0.6 else _j(pick(LOCALES)))
        + ',"shipping":'
        + shipping_j.replace("%(ship_name)s", "\x00")
        .replace("%", "%%")
        .replace("\x00", "%(ship_name)s")
        + ',"tax_exempt":"'
        + tax_exempt
        + '","test_clock":null}'
    )
    return body


def variant_pool(seed: object = 0, n: int = N_VARIANTS) -> list[str]:
    """``n`` customer body variants for ``generate_customers(variants=...)``."""
    rng = random.Random(f"variants-{seed}")
    return [_variant_template(rng) for _ in range(n)]


def generate_customers(
    n: int,
    seed: int = 0,
    *,
    now: int,
    span_days: float = 730,
    id_prefix: str = "cus_",
    start_index: int = 0,
    variants: list[str] | None = None,
) -> Iterator[tuple[str, int, str | None, bytes]]:
    """Yield ``n`` customers created over the ``span_days`` before ``now``.

    The mix: ~6% without a name, ~12% CJK/Cyrillic/Arabic/Hebrew/Greek/company names, the rest
    accented Western names; ~8% without email, ~3% sharing an earlier customer's email, ~5% with
    upper- or mixed-case emails; ~35% without phone; ~30% without address (14 countries), ~30%
    with shipping; balances mostly 0, some negative (credit), some positive; ~30% without
    currency; ~5% delinquent; metadata with plan (free/pro/enterprise), external_id, region,
    signup_source in varying combinations (some empty); some preferred_locales; tax_exempt
    mostly "none".

    Everything but id, created, email, name, invoice_prefix and external_id comes from one of
    up to 4096 pre-drawn body variants, which keeps a million customers to a few seconds.
    ``variants`` (from ``variant_pool``) shares one set of them between many calls (many
    accounts seeded at once).
    """
    rng = random.Random(f"customers-{seed}-{start_index}")
    if variants is None:
        variants = [_variant_template(rng) for _ in range(max(1, min(N_VARIANTS, n)))]
    n_variants = len(variants)
    rand = rng.random
    bits = rng.getrandbits
    span = int(span_days * SECONDS_PER_DAY)
    start = now - span
    emails: list[str] = []
    names, wholes = _NAME_POOL, _WHOLE_POOL
    n_names, n_wholes, n_dom = len(names), len(wholes), len(DOMAINS)
    table = _ID_TABLE
    for i in range(start_index, start_index + n):
        cid = id_prefix + bits(112).to_bytes(14, "little").translate(table).decode()
        created = start + int(rand() * (span + 1))
        r = rand()
        if r < 0.06:
            name_j, local = "null", "user"
        elif r < 0.18:
            name_j, local = wholes[int((r - 0.06) / 0.12 * n_wholes)]
        else:
            name_j, local = names[int((r - 0.18) / 0.82 * n_names)]
        r = rand()
        if r < 0.08:
            email = None
        elif r < 0.11 and emails:
            email = emails[int((r - 0.08) / 0.03 * len(emails))]
        else:
            email = f"{local}{i}@{DOMAINS[int(r * 7919) % n_dom]}"
            if r > 0.95:
                email = email.upper() if r > 0.975 else email.capitalize()
            if len(emails) < 5000:
                emails.append(email)
        raw = variants[int(rand() * n_variants)] % {
            "id": cid,
            "created": created,
            "email": "null" if email is None else '"' + email + '"',
            "prefix": f"{bits(32):08X}",
            "i": i,
            "name": name_j,
            "ship_name": '"Receiving Department"' if name_j == "null" else name_j,
        }
        yield cid, created, email, raw.encode("utf-8")


MALFORMED_KINDS = ("missing_fields", "wrong_types", "extra_fields", "nulls")


def malformed_customer(cid: str, created: int, kind: str, rng: random.Random) -> dict[str, Any]:
    """A customer-like object that breaks the schema in a given way.

    - ``missing_fields``: only id/object/created/livemode (plus a few random others)
    - ``wrong_types``: fields carry unexpected JSON types (metadata as a list, email as a number,
      created as a string, ...)
    - ``extra_fields``: unknown top-level and nested fields, as a newer API version would send
    - ``nulls``: every field except id/object is null (metadata and created included)
    """
    base: dict[str, Any] = {"id": cid, "object": "customer"}
    if kind == "missing_fields":
        base.update({"created": created, "livemode": False})
        if rng.random() < 0.5:
            base["email"] = f"partial{rng.randrange(10**6)}@example.com"
        return base
    if kind == "wrong_types":
        base.update(
            {
                "address": "510 Townsend St, San Francisco",
                "balance": "12.50",
                "created": str(created),
                "currency": 840,
                "delinquent": "no",
                "description": ["not", "a", "string"],
                "email": 12345,
                "invoice_settings": None,
                "livemode": "false",
                "metadata": [["plan", "pro"]],
                "name": {"first": "Zoë", "last": "Ångström"},
                "phone": 4155550100,
                "preferred_locales": "en",
                "shipping": [],
                "tax_exempt": True,
            }
        )
        return base
    if kind == "extra_fields":
        base.update(
            {
                "address": {
                    "city": "Berlin",
                    "country": "DE",
                    "line1": "Unter den Linden 1",
                    "line2": None,
                    "postal_code": "10117",
                    "state": None,
                    "town": "Mitte",
                },
                "balance": 0,
                "created": created,
                "email": f"extra{rng.randrange(10**6)}@example.com",
                "livemode": False,
                "metadata": {"plan": "pro"},
                "name": "Extra Fields",
                "future_field": {"nested": [1, 2, 3]},
                "business_name": "Extra GmbH",
                "individual_name": None,
                "invoice_credit_balance": {"eur": 100},
            }
        )
        return base
    if kind == "nulls":
        for k in (
            "address",
            "balance",
            "created",
            "currency",
            "default_source",
            "delinquent",
            "description",
            "discount",
            "email",
            "invoice_prefix",
            "invoice_settings",
            "livemode",
            "metadata",
            "name",
            "next_invoice_sequence",
            "phone",
            "preferred_locales",
            "shipping",
            "tax_exempt",
            "test_clock",
        ):
            base[k] = None
        return base
    raise ValueError(f"unknown malformed kind {kind!r}; known: {', '.join(MALFORMED_KINDS)}")


def malform(obj: Any, rng: random.Random) -> Any:
    """Damage one customer dict in place of a response (for the malformed-object fault)."""
    if not isinstance(obj, dict):
        return obj
    kind = MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))]
    created = obj.get("created") if isinstance(obj.get("created"), int) else 0
    return malformed_customer(str(obj.get("id")), created, kind, rng)
