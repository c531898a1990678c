"""An oracle for mirror collections that is not sdl: every mirror collection must equal
`SELECT *` of its table, read with pymysql from the source, each value converted by the
documented type mapping (README "Types", docs/DOCUMENTS.md "Mirror collections": the columns
are mapped exactly like `row_changes.after`) and compared with oracle.value_matches (the same
per-family comparison the audit oracle uses: integer widths int32/int64, Decimal128 with its
scale, FLOAT by its 6 significant digits, binary subtype, Date to the millisecond, …).

API
---
    check_mirrors(target, mariadb, tables, database=None, collection="{db}.{table}",
                  absent_ok=None) -> {"tables": n, "rows": n, "values": {family: n}}
        @tables: [(db, table)]; @absent_ok: {(db, table): {column: value}}: a document may
        lack that column when the row holds exactly that value (a column ALTER TABLE added
        with a DEFAULT: it appears when the row is next written, docs/DOCUMENTS.md).
    expected_row(table, row) -> {column: expected value}   (table: an oracle.Table)

The mapping, column by column (information_schema's COLUMN_TYPE, via oracle.Column):
TINYINT…INT signed, TINYINT…MEDIUMINT unsigned -> int32; INT UNSIGNED, BIGINT -> int64;
BIGINT UNSIGNED above 2^63-1 -> Decimal128; DECIMAL(p ≤ 34) -> Decimal128 with its scale,
else the digits as a string; FLOAT -> double (compared by %g, 6 digits, as MariaDB prints
it); DOUBLE -> double; BIT -> int64; DATE/DATETIME/TIMESTAMP -> Date (UTC, the session reads
with time_zone +00:00; sub-millisecond digits dropped); TIME -> the server's text
`[-]HH:MM:SS[.f]`; YEAR -> int32; text -> string; binary and blobs -> binary (BINARY(n) as
stored, padded); ENUM -> string; SET -> array of members in definition order; JSON (a
json_valid check) -> the parsed value; NULL -> null.
"""
import collections
import datetime
import decimal
import json

import pymysql
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from pymysql.constants import FIELD_TYPE

from oracle import (BLOB_TYPES, INT_TYPES, TEXT_TYPES, Float32Text, JsonValue, NotCompared,
                    Oracle, _json_constant, _json_int, value_matches)


def _conv():
    """pymysql's conversions, but TIME as the server's text (it maps to that text)."""
    conv = dict(pymysql.converters.conversions)
    conv[FIELD_TYPE.TIME] = str
    return conv


def expected_value(col, v):
    if v is None:
        return None
    t = col.data_type
    if t in INT_TYPES:
        v = int(v)
        if t == "bigint" and v > 2 ** 63 - 1:
            return decimal.Decimal(v)
        if t == "bigint" or (t == "int" and col.unsigned):
            return Int64(v)
        return v
    if t == "decimal":
        return v if (col.precision or 0) <= 34 else str(v)
    if t == "float":
        return Float32Text("%g" % v)
    if t == "double":
        return float(v)
    if t == "bit":
        n = int.from_bytes(v, "big") if isinstance(v, bytes) else int(v)
        return Int64(n - 2 ** 64 if n >= 2 ** 63 else n)
    if t == "year":
        return int(v)
    if t in ("datetime", "timestamp"):
        return v.replace(microsecond=v.microsecond // 1000 * 1000)
    if t == "date":
        return datetime.datetime(v.year, v.month, v.day)
    if t == "time":
        return v
    if t == "enum":
        return v
    if t == "set":
        have = set(v.split(",")) if isinstance(v, str) else set(v)
        have.discard("")
        return [m for m in col.members if m in have]
    if t in BLOB_TYPES or (t in TEXT_TYPES and col.charset == "binary"):
        return bytes(v)
    if t in TEXT_TYPES:
        if col.is_json:
            return JsonValue(json.loads(v, parse_int=_json_int, parse_constant=_json_constant))
        return v
    return NotCompared(f"type {col.column_type}")


def expected_row(table, row):
    return {c.name: expected_value(c, v) for c, v in zip(table.columns, row)}


def select_all(mariadb, db, name):
    c = pymysql.connect(unix_socket=mariadb.sock, user="root", password="", autocommit=True,
                        charset="utf8mb4", conv=_conv())
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM `{db}`.`{name}`")
            names = [d[0] for d in cur.description]
            return names, cur.fetchall()
    finally:
        c.close()


def _got_key(v):
    if isinstance(v, bytes):
        return ("bytes", v)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", int(v))
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, Decimal128):
        return ("Decimal128", str(v))
    return (type(v).__name__, v)


def check_mirrors(target, mariadb, tables, database=None, collection="{db}.{table}",
                  absent_ok=None, max_report=20):
    oracle = Oracle(mariadb)
    mdb = target.client[database or target.database]
    absent_ok = absent_ok or {}
    problems = []
    values = collections.Counter()
    nrows = 0

    def problem(text):
        problems.append(text)

    for db, name in tables:
        tab = oracle.table(db, name)
        assert tab is not None, f"{db}.{name}: not in information_schema"
        names, rows = select_all(mariadb, db, name)
        assert names == [c.name for c in tab.columns], f"{db}.{name}: columns {names}"
        assert tab.pk, f"{db}.{name}: the torture tables all have a primary key"
        cname = collection.replace("{db}", db).replace("{table}", name)
        docs = list(mdb[cname].find({}))
        by_key = {}
        for d in docs:
            i = d["_id"]
            k = (tuple((f, _got_key(x)) for f, x in i.items()) if isinstance(i, dict)
                 else _got_key(i))
            if k in by_key:
                problem(f"{cname}: two documents with _id {i!r}")
            by_key[k] = d
        if len(docs) != len(rows):
            problem(f"{cname}: {len(docs)} documents, {len(rows)} rows")
        allowed = absent_ok.get((db, name), {})
        for r in rows:
            nrows += 1
            exp = expected_row(tab, r)
            if len(tab.pk) == 1:
                k = _key_of(exp[tab.pk[0]])
            else:
                k = tuple((c, _key_of(exp[c])) for c in tab.pk)
            d = by_key.pop(k, None)
            if d is None:
                problem(f"{cname}: row with key {[exp[c] for c in tab.pk]!r} has no document")
                continue
            d = dict(d)
            _id = d.pop("_id")
            if len(tab.pk) > 1 and list(_id) != tab.pk:
                problem(f"{cname}: composite _id {_id!r} not in key order {tab.pk}")
            want_id = exp[tab.pk[0]] if len(tab.pk) == 1 else None
            if want_id is not None:
                ok, _ = value_matches(want_id, _id)
                if not ok:
                    problem(f"{cname}: _id {_id!r} != {want_id!r}")
            else:
                for c in tab.pk:
                    ok, _ = value_matches(exp[c], _id.get(c))
                    if not ok:
                        problem(f"{cname}: _id.{c} {_id.get(c)!r} != {exp[c]!r}")
            order = [f for f in d if f in exp]
            if order != [c for c in exp if c in d]:
                problem(f"{cname}: fields {list(d)} not in column order")
            for c, want in exp.items():
                if c not in d:
                    if c in allowed and r[names.index(c)] == allowed[c]:
                        values["absent (added by ALTER, default)"] += 1
                        continue
                    problem(f"{cname} {_id!r}: column {c} absent (row: {want!r})")
                    continue
                if isinstance(want, NotCompared):
                    problem(f"{cname} {_id!r}: {c}: the oracle cannot map {want.reason}")
                    continue
                ok, fam = value_matches(want, d[c])
                values[fam] += 1
                if not ok:
                    problem(f"{cname} {_id!r}: {c}: table {want!r} != mirror {d[c]!r}")
            extra = [f for f in d if f not in exp]
            if extra:
                problem(f"{cname} {_id!r}: fields not in the table: {extra}")
        for k, d in by_key.items():
            problem(f"{cname}: document {d['_id']!r} has no row")
    summary = {"tables": len(tables), "rows": nrows, "values": dict(values)}
    print(f"mirror oracle: {summary}")
    assert not problems, (f"{len(problems)} differences between the mirror and SELECT *:\n"
                          + "\n".join(problems[:max_report]))
    return summary


def _key_of(v):
    """The lookup key of an expected _id value, as _got_key makes it from a stored one."""
    if isinstance(v, Float32Text):
        return ("float32", v.text)
    if isinstance(v, decimal.Decimal):
        return ("Decimal128", str(Decimal128(v)))
    if isinstance(v, datetime.datetime):
        return ("datetime", v)
    return _got_key(v)
