"""Per-user contexts: what each person brings that nobody else has, deterministic per user.

The per-user context follows the shared context in the system message. It is what makes a
prefix cache's job realistic: every user shares the document, then diverges. Each user index
always gets the same context for the same seed, so two engines benchmarked with the same seed
see the same prompts.

- `account_record`: a shop customer's account (name, contact, loyalty, orders with items, dates
  and amounts, support tickets), as a support agent's tool would paste it.
- `source_file`: the developer's own file: a standard-library module, a different one per user
  (cycling through the modules, in a seeded order, when there are more users than modules).

A generator returns at least `chars` characters; the scenario cuts the result to its token size.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path

from harness.scenario.texts import STDLIB_SHARED_FILES, source_listing, stdlib_dir

MIN_SOURCE_FILE_BYTES = 4000  # smaller modules are mostly a docstring; not much of a "file"
RECORD_TODAY = dt.date(2025, 6, 2)  # fixed so records do not change with the day of the run

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tom", "Fatima", "Lukas", "Emma",
    "Kenji", "Sofia", "Daniel", "Amara", "Noah", "Chloe", "Mateo", "Hannah", "Ravi", "Ingrid",
    "Samuel", "Yara", "Oliver", "Mei", "Jonas", "Grace", "Tariq", "Elena", "Ben",
)  # fmt: skip
LAST_NAMES = (
    "Lopez", "Smith", "Khan", "Zhang", "Petrova", "Silva", "Patel", "Murphy", "Haddad", "Weber",
    "Johansson", "Tanaka", "Rossi", "Kim", "Okafor", "Brown", "Dubois", "Garcia", "Novak", "Iyer",
    "Larsen", "Cohen", "Mensah", "Walsh", "Chen", "Becker", "Adams", "Nasser", "Moreau", "Clarke",
)  # fmt: skip
CITIES = (
    ("Portland", "OR", "97201"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"),
    ("Madison", "WI", "53703"), ("Raleigh", "NC", "27601"), ("Boise", "ID", "83702"),
    ("Burlington", "VT", "05401"), ("Tucson", "AZ", "85701"), ("Ann Arbor", "MI", "48104"),
    ("Savannah", "GA", "31401"), ("Spokane", "WA", "99201"), ("Santa Fe", "NM", "87501"),
)  # fmt: skip
STREETS = ("Elm Street", "Cedar Avenue", "Harbor Road", "Maple Lane", "Ridge Drive", "Mill Street", "Lake View Court")
PRODUCTS = (
    ("Ridgeline Hiking Boots", 129.00), ("Merino Crew Socks (2-pack)", 24.50), ("Summit 28L Daypack", 89.00),
    ("Stormshell Rain Jacket", 159.00), ("Trail Running Shoes", 115.00), ("Insulated Water Bottle 750 ml", 32.00),
    ("Down Sleeping Bag -5C", 249.00), ("Two-Person Backpacking Tent", 329.00), ("Camp Stove Kit", 74.00),
    ("Fleece Quarter-Zip", 69.00), ("Wool Beanie", 22.00), ("Headlamp 400 lm", 39.00),
    ("Trekking Poles (pair)", 95.00), ("Linen Duvet Cover, Queen", 139.00), ("Cast Iron Skillet 10in", 45.00),
    ("Ceramic Pour-Over Set", 38.00), ("Organic Cotton Towel Set", 59.00), ("Packable Down Vest", 119.00),
    ("Kids' Waterproof Boots", 64.00), ("Gift Card", 50.00),
)  # fmt: skip
ORDER_STATUSES = ("delivered", "delivered", "delivered", "shipped", "processing", "returned", "partially refunded")
TICKET_SUBJECTS = (
    "Item arrived damaged, asking for a replacement",
    "Wants to exchange boots for a larger size",
    "Refund not yet visible on card statement",
    "Tracking number shows no movement for 5 days",
    "Asked to change delivery address after dispatch",
    "Promo code rejected at checkout",
    "Zipper on jacket failed after two months (warranty claim)",
    "Charged twice for one order",
    "Wants to close account and delete data",
    "Loyalty points missing from last purchase",
    "Gift card balance question",
    "Requested invoice with company VAT number",
)
TICKET_STATUSES = ("open", "waiting on customer", "resolved", "resolved", "escalated")
TIERS = (("Basecamp", 0), ("Trailhead", 500), ("Summit", 2000))
PAYMENTS = ("Visa ending {d}", "Mastercard ending {d}", "American Express ending {d}", "PayPal", "a gift card")


def account_record(seed: int, user_index: int, chars: int) -> str:
    """A customer's account record, at least `chars` long (more orders are added as needed)."""
    rng = random.Random(f"account_record:{seed}:{user_index}")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, zip_code = rng.choice(CITIES)
    since = RECORD_TODAY - dt.timedelta(days=rng.randint(60, 2400))
    points = rng.randint(0, 3500)
    tier = [name for name, floor in TIERS if points >= floor][-1]
    card = rng.choice(PAYMENTS[:3]).format(d=rng.randint(1000, 9999))
    lines = [
        "CUSTOMER ACCOUNT RECORD (from the order system; visible to the support agent only)",
        f"Customer ID: HP-{user_index:07d}",
        f"Name: {first} {last}",
        f"Email: {first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com",
        f"Phone: +1 555-01{rng.randint(0, 99):02d}",
        f"Member since: {since.isoformat()}",
        f"Loyalty tier: {tier} ({points:,} points)",
        f"Default shipping address: {rng.randint(1, 999)} {rng.choice(STREETS)}, {city}, {state} {zip_code}, USA",
        f"Saved payment methods: {card}; PayPal",
        f"Marketing emails: {'opted in' if rng.random() < 0.4 else 'opted out'}",
        "",
        "SUPPORT TICKETS",
    ]
    for _ in range(rng.randint(1, 3)):
        opened = RECORD_TODAY - dt.timedelta(days=rng.randint(1, 120))
        lines.append(
            f"- T-{rng.randint(10000, 99999)} opened {opened.isoformat()}, {rng.choice(TICKET_STATUSES)}: "
            f'"{rng.choice(TICKET_SUBJECTS)}"'
        )
    lines += ["", "ORDERS (most recent first)"]
    placed = RECORD_TODAY - dt.timedelta(days=rng.randint(2, 20))
    while sum(len(line) + 1 for line in lines) < chars:
        items = [(rng.choice(PRODUCTS), rng.randint(1, 2)) for _ in range(rng.randint(1, 4))]
        total = sum(price * qty for (_, price), qty in items)
        status = rng.choice(ORDER_STATUSES)
        lines.append(
            f"- Order HP-{rng.randint(100000, 999999)} placed {placed.isoformat()}, {status}, "
            f"total ${total:,.2f}, paid with {rng.choice((card, 'PayPal', card))}"
        )
        lines += [f"  - {qty} x {name} @ ${price:,.2f}" for (name, price), qty in items]
        placed -= dt.timedelta(days=rng.randint(5, 90))
    return "\n".join(lines)


@cache
def _candidate_files(seed: int) -> tuple[Path, ...]:
    """Standard-library modules a developer might have open, in a seeded order."""
    shared = {stdlib_dir() / f for f in STDLIB_SHARED_FILES}
    files = [
        p
        for p in sorted(stdlib_dir().glob("*.py"))
        if not p.name.startswith("_") and p not in shared and p.stat().st_size >= MIN_SOURCE_FILE_BYTES
    ]
    if not files:
        raise OSError(f"no standard-library modules found in {stdlib_dir()} for the 'source_file' context")
    random.Random(f"source_file:{seed}").shuffle(files)
    return tuple(files)


def source_file(seed: int, user_index: int, chars: int) -> str:
    """The developer's own file: the user's standard-library module (and the next, if short)."""
    files = _candidate_files(seed)
    parts: list[str] = []
    i = user_index
    while not parts or sum(map(len, parts)) < chars:
        path = files[i % len(files)]
        text = path.read_text(encoding="utf-8", errors="replace")
        # The project folder names the user, so users past the number of modules still differ.
        parts.append(source_listing(f"project_{user_index}/{path.name}", text))
        i += 1
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[int, int, int], str]] = {
    "account_record": account_record,
    "source_file": source_file,
}
