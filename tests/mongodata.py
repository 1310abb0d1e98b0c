"""A MongoDB database that exercises everything a dump must carry, for tests and the demo.

:func:`seed` fills a database with documents of every BSON type a current
server stores (dates before 1970, every binary subtype, Decimal128 specials,
int32 and int64 edges, nested arrays and documents, regexes, timestamps,
min/max keys, code with scope), collections with options (capped, a
validator, a default collation), indexes of every kind the guide's data uses
(unique, TTL, partial, sparse, compound, collation), a view, and collection
names mongodump has to escape (a slash, a space, non-ASCII, one too long for a
file name). :func:`snapshot` captures a database exactly (raw document bytes
by ``_id``, index specs, options) so two databases can be compared.

Not included, because SecantusDB rewrites them on insert (real servers keep
them): the deprecated types undefined, symbol and DBPointer.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

from bson import Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.raw_bson import RawBSONDocument

ODD_NAMES = ("a/b with space", "ünïcödé.dots", "é" * 100)
EXACT: CodecOptions[dict[str, Any]] = CodecOptions(
    datetime_conversion=DatetimeConversion.DATETIME_MS
)


def every_type() -> list[dict[str, Any]]:
    """One document per kind of value, plus a document holding all of them nested."""
    values: dict[str, Any] = {
        "object_id": ObjectId("65f1a2b3c4d5e6f708192a3b"),
        "decimal": Decimal128("1234567890.123456789012345678901234"),
        "decimal_nan": Decimal128("NaN"),
        "decimal_neg_zero": Decimal128("-0"),
        "decimal_inf": Decimal128("-Infinity"),
        "decimal_tiny": Decimal128("1E-6176"),
        "date": DatetimeMS(1_711_324_800_123),
        "date_1969": DatetimeMS(-1),
        "date_1900": DatetimeMS(-2_208_988_800_000),
        "date_year_1": DatetimeMS(-62_135_596_800_000),
        "date_9999": DatetimeMS(253_402_300_799_999),
        "bin_generic": Binary(b"\x00\x01\xfe\xff", 0),
        "bin_function": Binary(b"fn", 1),
        "bin_old": Binary(b"\x04\x00\x00\x00old!", 2),
        "bin_uuid_old": Binary(uuid.UUID(int=7).bytes, 3),
        "bin_uuid": Binary.from_uuid(
            uuid.UUID("12345678-1234-5678-1234-567812345678"), UuidRepresentation.STANDARD
        ),
        "bin_md5": Binary(bytes(range(16)), 5),
        "bin_encrypted": Binary(b"\x01ciphertext", 6),
        "bin_column": Binary(b"\x00column", 7),
        "bin_sensitive": Binary(b"secret-ish", 8),
        "bin_user": Binary(b"user defined", 0x80),
        "bin_empty": Binary(b"", 0),
        "int32": 2_147_483_647,
        "int32_min": -2_147_483_648,
        "int64": Int64(9_223_372_036_854_775_807),
        "int64_small": Int64(1),
        "int64_min": Int64(-9_223_372_036_854_775_808),
        "double": 3.141592653589793,
        "double_neg_zero": -0.0,
        "double_inf": float("inf"),
        "double_nan": float("nan"),
        "double_tiny": 5e-324,
        "string": "héllo wörld ✓ 👓",
        "string_nul": "nul\x00inside",
        "string_empty": "",
        "true": True,
        "false": False,
        "null": None,
        "regex": Regex("^ey[e]+wear$", "imsx"),
        "regex_plain": Regex("a.b", ""),
        "timestamp": Timestamp(1_711_324_800, 7),
        "timestamp_zero": Timestamp(0, 0),
        "min_key": MinKey(),
        "max_key": MaxKey(),
        "code": Code("function () { return 1; }"),
        "code_scope": Code("function () { return x; }", {"x": 42}),
        "dbref": DBRef("frames", ObjectId("65f1a2b3c4d5e6f708192a3c"), "eyewear"),
        "empty_doc": {},
        "empty_array": [],
        "nested": {
            "a": [1, [2, [3, {"b": [Int64(4), {"c": Decimal128("5.5")}]}]]],
            "d": {"e": {"f": None}},
        },
        "array_mixed": [1, "two", 3.0, Int64(4), None, {"six": 6}, [7], DatetimeMS(-86_400_000)],
        "dotted.key": "a field name with a dot",
        "$dollar": "a field name with a dollar",
    }
    documents = [{"_id": f"type-{name}", "value": value} for name, value in values.items()]
    documents.append({"_id": {"compound": ObjectId("65f1a2b3c4d5e6f708192a3d"), "n": 1}, **values})
    documents.append({"_id": Int64(42), "value": "int64 _id"})
    documents.append({"_id": Decimal128("3.0"), "value": "decimal _id"})
    documents.append(
        {
            "_id": Binary.from_uuid(uuid.UUID(int=1), UuidRepresentation.STANDARD),
            "value": "uuid _id",
        }
    )
    return documents


def people(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    base = dt.datetime(2025, 3, 25, tzinfo=dt.UTC)
    for index in range(count):
        person: dict[str, Any] = {
            "_id": ObjectId(f"{index:024x}"),
            "email": f"user{index}@example.com",
            "name": rng.choice(["Ana", "Ben", "Chloé", "Dmitri", "Eve"]),
            "age": rng.randint(1, 90),
            "created": base - dt.timedelta(minutes=index),
            "tags": rng.sample(
                ["round", "cat-eye", "aviator", "square", "oval"], k=rng.randint(0, 3)
            ),
        }
        if index % 3:
            person["nickname"] = f"nick{index}"
        if index % 5 == 0:
            person["vip"] = True
        yield person


def seed(db: Any, people_count: int = 300) -> None:
    """Fill ``db`` (a pymongo Database) with everything :mod:`tests.mongodata` covers."""
    db.types.insert_many(every_type())
    db.create_collection("people", collation={"locale": "fr", "strength": 2})
    db.people.insert_many(list(people(people_count)))
    db.people.create_index("email", unique=True)
    db.people.create_index("created", expireAfterSeconds=3600 * 24 * 365 * 100)
    db.people.create_index(
        "age", partialFilterExpression={"age": {"$gte": 18}}, name="adults_by_age"
    )
    db.people.create_index("nickname", sparse=True)
    db.people.create_index([("name", 1), ("age", -1)], name="name_age")
    db.people.create_index("name", collation={"locale": "de", "strength": 1}, name="name_de")
    db.create_collection("capped_log", capped=True, size=64 * 1024, max=500)
    db.capped_log.insert_many([{"n": n, "line": f"event {n}"} for n in range(200)])
    db.create_collection(
        "validated",
        validator={"$jsonSchema": {"bsonType": "object", "required": ["sku"]}},
        validationLevel="moderate",
        validationAction="error",
    )
    db.validated.insert_many(
        [{"sku": f"EW-{n:04d}", "price": Decimal128(f"{n}.99")} for n in range(50)]
    )
    db.create_collection("empty")
    for name in ODD_NAMES:
        db[name].insert_many([{"name": name, "n": n} for n in range(3)])
    db.command("create", "adults", viewOn="people", pipeline=[{"$match": {"age": {"$gte": 18}}}])
    db.command("create", "adult_emails", viewOn="adults", pipeline=[{"$project": {"email": 1}}])


def snapshot(db: Any) -> dict[str, Any]:
    """Everything that must survive a round trip, comparable with ``==``."""
    exact = db.with_options(codec_options=EXACT)
    result: dict[str, Any] = {}
    for info in exact.list_collections():
        name = info["name"]
        entry: dict[str, Any] = {"type": info.get("type"), "options": info.get("options", {})}
        if info.get("type") != "view":
            raw = RawBSONDocument
            documents = [
                bytes(doc.raw)
                for doc in db.get_collection(
                    name, codec_options=CodecOptions(document_class=raw)
                ).find()
            ]
            entry["documents"] = sorted(documents)
            entry["indexes"] = sorted(
                (dict(spec) for spec in db[name].list_indexes()), key=lambda spec: spec["name"]
            )
        result[name] = entry
    return result


def mongo_settings(uri: str, bucket: str, db_name: str | None, key_file: str, **keys: str) -> Any:
    """``MongoSettings`` as the job loads them, from explicit keys only (no environment)."""
    from shared import config

    values = {
        "MONGODB_URI": uri,
        "MONGODB_GCS_BUCKET": bucket,
        "MONGODB_DB_NAME": db_name or "",
        "ENCRYPTION_KEY_FILE": key_file,
        **keys,
    }
    return config.mongodb_settings(config.sources(overrides=values, environ={}))
