"""Seed data covering every Firestore value type, and a database-independent snapshot of it.

Used by the Firestore tests and reusable by the demo: :func:`seed` writes a
small catalogue (users with order subcollections and order-item
sub-subcollections, products, sessions) whose documents together hold every
value type Firestore stores: null, booleans, 64-bit integers, doubles
(including infinities), strings (non-ASCII too), bytes, timestamps with
microseconds, GeoPoints (also inside arrays and maps), document references
(also inside arrays and maps), vectors, nested maps and arrays, empty ones.

:func:`snapshot` reads a whole database back as stored, in the plain values
of :mod:`shared.firestore.canonical`: a reference keeps its full name
(project and database), so a restored copy equals its source only if its
references still point where the source's did.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.vector import Vector

from shared.firestore import canonical, documents

USERS = 6
ORDERS_PER_USER = 2
ITEMS_PER_ORDER = 2
PRODUCTS = 5
SESSIONS = 3

EXPECTED_COUNTS: Mapping[str, int] = {
    "users": USERS,
    "orders": USERS * ORDERS_PER_USER,
    "items": USERS * ORDERS_PER_USER * ITEMS_PER_ORDER,
    "products": PRODUCTS,
    "sessions": SESSIONS,
}


def _moment(day: int, micros: int) -> datetime:
    return datetime(2025, 3, day, 14, 5, 6, micros, tzinfo=UTC)


def seed(client: firestore.Client) -> Mapping[str, int]:
    """Write the catalogue into ``client``'s database; returns documents per collection group."""
    batch = client.batch()
    products = [client.collection("products").document(f"p{n}") for n in range(PRODUCTS)]
    for n, product in enumerate(products):
        batch.set(product, {
            "name": f"Frame {n} Aurélie 眼鏡",
            "price": 99.5 + n,
            "stock": 2**40 + n,
            "discontinued": n % 2 == 0,
            "image": bytes(range(n, n + 32)),
            "warehouses": [firestore.GeoPoint(48.8566 + n, 2.3522),
                           firestore.GeoPoint(-33.8, 151.2)],
            "dims": {"width_mm": 140 + n, "lens": {"height_mm": 42.25, "coating": None}},
            "embedding": Vector([0.125 * n, -1.5, 3.0]),
            "limits": [math.inf, -math.inf],
            "tags": [],
            "extra": {},
        })  # fmt: skip
    for u in range(USERS):
        user = client.collection("users").document(f"user-{u:03d}")
        batch.set(user, {
            "email": f"user{u}@example.com",
            "created": _moment(1 + u, 123456 + u),
            "last_seen": None,
            "home": firestore.GeoPoint(40.0 + u / 10, -73.5),
            "favourite": products[u % PRODUCTS],
            "history": [products[0], {"viewed": products[1], "at": _moment(2, 1)}],
            "profile": {"face": {"shape": "oval", "pd_mm": 63.5},
                        "scans": [{"points": [1, 2]}, {"n": [3]}]},
        })  # fmt: skip
        for o in range(ORDERS_PER_USER):
            order = user.collection("orders").document(f"o{o}")
            batch.set(order, {
                "placed": _moment(10 + o, 999999),
                "total": 199.99 * (o + 1),
                "ship_to": {"where": firestore.GeoPoint(51.5, -0.12), "by": user},
            })  # fmt: skip
            for i in range(ITEMS_PER_ORDER):
                batch.set(order.collection("items").document(str(i)), {
                    "product": products[(u + i) % PRODUCTS],
                    "qty": i + 1,
                })  # fmt: skip
    for s in range(SESSIONS):
        batch.set(client.collection("sessions").document(), {
            "token": bytes([s]) * 16,
            "expires": _moment(28, s),
            "ok": True,
        })  # fmt: skip
    batch.commit()
    return EXPECTED_COUNTS


def _paths(parent: Any) -> Iterator[str]:
    for collection in parent.collections():
        for document in collection.list_documents():
            yield document.path
            yield from _paths(document)


def snapshot(client: firestore.Client) -> dict[str, Any]:
    """Every document of ``client``'s database by path, as plain values (see module doc)."""
    paths = sorted(_paths(client))
    return {
        path: canonical.fields_from_api(document.fields)
        for path, document in documents.read(client, paths)
        if document is not None
    }


def counts(client: firestore.Client) -> dict[str, int]:
    """Documents per collection group, from a full walk of the database."""
    tally: Counter[str] = Counter()
    for path in snapshot(client):
        tally[path.split("/")[-2]] += 1
    return dict(tally)
