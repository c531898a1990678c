"""An oracle for `row_changes` that is not sdl: the expected documents of a binlog range,
derived from `mariadb-binlog -vv --base64-output=decode-rows` and information_schema.

DESIGN.md §8: "Oracles are not sdl". Nothing here imports, runs or copies sdl: the binlog is
decoded by MariaDB's own client tool, the column names, types and keys come from the server's
information_schema, and the document rules (README "Using sdl tail", DESIGN.md §3,
include/sdl/mapping/doc-mapper.h, docs/CONFIG.md "tables") are re-implemented here from the
documentation.

API
---
    o = Oracle(mariadb, pipeline="test", include=(), exclude=(), schema=None, mode="remote")
    o.transactions(start, end)   -> [Transaction]   GTID transactions in (start, end]
    o.expected(start, end)       -> [ExpectedDoc]   expected row_changes documents, in order
    o.documents(transaction)     -> [ExpectedDoc]   the documents of one transaction
    check_against_oracle(target, expected, max_rows=None, max_bytes=None,
                         allow_extra_split=False, strict=False, max_report=20,
                         int_types=True) -> summary dict (also printed): documents, expected,
        rows, ddl, transactions, split, split_transactions, values_compared {family: n},
        not_compared {reason: n}, uncertain {what: n}; AssertionError listing each difference
        as "<_id>: <field>: oracle <value> != row_changes <value>".
    ddl_target(sql, default_db) -> (kind, db, table);  redact(sql) -> sql

mariadb-binlog runs with --verbose twice (-vv): the second -v adds a type comment to every
value, which the oracle uses to check the schema and to size rows (see below).

@mariadb is a tests/integration/mariadb.MariaDB (port, repl user, root socket). @start and
@end are MariaDB GTID positions (`0-1-5[,1-1-7]`, "" = from the first binlog); the range is
(start, end], as `sdl tail --from start --until end`.

Reading the binlog (@mode)
--------------------------
"remote" (default): `mariadb-binlog --read-from-remote-server --to-last-log` as the `repl`
user against the test's own mariadbd, `--start-position=<start> --stop-position=<end>` (GTID
lists), TZ=UTC; the file names come from the Rotate events the server sends. In this mode the
`# at N` lines count bytes of the *received stream*, not file offsets (with a GTID start the
server begins mid-file), so an event's start offset is the `end_log_pos` of the event before
it in the same file (events of a file are contiguous and a transaction is never cut, so for
the rows and Query events used here that event is always printed), cross-checked against the
stream: `# at` lines are paired with event headers in order (mariadb-binlog prints one per
event, though not always next to it), and end_log_pos - start of a rows or Query event must
equal the distance to the next event's `# at`.
"files": the same tool on the server's own binlog files (MariaDB.binlog + ".NNNNNN", the list
from SHOW BINARY LOGS); there each rows/Query event's `# at N` is its file offset and must
equal that start offset. Both modes give the same documents (test_oracle.py).

Transaction (gtid, domain, server, seqno, events) .events holds Event objects: kind "query"
(statement text, the default database mariadb-binlog last printed with `use`), "row" (op, db,
table, before/after images as {ordinal: (raw bytes, logged type, meta)}), or "marker"
(BEGIN/COMMIT/SAVEPOINT/XA: not counted), each with its binlog file, start offset (pos) and
header time (ts). ExpectedDoc is a dict in sdl's key order; values are what pymongo returns
(int for int32, bson Int64, decimal.Decimal for Decimal128, float, str, bytes, naive UTC
datetime, list, dict, None) or a marker: Float32Text, JsonValue, NotCompared.

The schema is information_schema as it is when expected() runs (plus schema= for tables
dropped or changed since, see _schema_override): column names by ordinal, COLUMN_TYPE
(signedness, ENUM/SET members, BINARY length, DECIMAL precision), CHARACTER_SET_NAME, the
PRIMARY index of STATISTICS and the JSON check constraints. Rows logged before an
`ALTER TABLE … ADD COLUMN` at the end have fewer columns and map to the first ones; a row
with more columns than the schema, or a column whose logged type does not fit the schema's,
raises SchemaMismatch. (MariaDB treats a table's first UNIQUE NOT NULL key as its primary key
when it has none; the oracle only knows PRIMARY.)

Formats of `mariadb-binlog -vv` (MariaDB 10.11) this module relies on, learned by experiment
------------------------------------------------------------------------------------------
* `###   @N=<value> /* TYPE meta=M nullable=B is_null=B */`, by column ordinal; a partial row
  image prints only the columns it has. The type comment is used to check that the schema's
  column N has the logged type (a mismatch raises SchemaMismatch: pass schema=).
* integers print signed, with the unsigned reading in parentheses when they differ:
  `-1 (255)`; the column's signedness (information_schema COLUMN_TYPE) picks one.
* DECIMAL exactly (`-0.50`); FLOAT `%-20g` (6 significant digits: compared approximately,
  as '%g' of the float32 value); DOUBLE `%.20g` (exact: round-trips).
* BIT as b'0101…' (n bits), SET as b'…' (a bit mask, bit 0 = first member), ENUM as its
  1-based index (0 = the '' error value).
* DATETIME 'YYYY-MM-DD hh:mm:ss[.f…]', DATE 'YYYY:MM:DD' (colons!), TIMESTAMP as the Unix
  time `1893456001.500` (0 = the zero timestamp), TIME '[-]h:mm:ss[.f…]', YEAR as the year
  (YEAR 0 prints as 1900).
* strings and blobs: the raw stored bytes in the column charset between single quotes, bytes
  < 0x20 as `\\xNN`, nothing else escaped (so the value runs to the last quote on its line; a
  value that itself contains the text `\\x0a`, backslash included, cannot be told from a
  newline byte). CHAR values are logged without their trailing pad, BINARY(n) without
  trailing NULs (the oracle pads BINARY back to n bytes, as the column stores them).
* GEOMETRY: the stored bytes (4-byte SRID + WKB), decoded here into GeoJSON.
* MariaDB JSON columns are LONGTEXT; they are recognised by their json_valid(`col`) check
  constraint (information_schema.CHECK_CONSTRAINTS) and compared as parsed JSON, numbers as
  json-text.h maps them (int32, int64, else double; fractions and exponents double).
* Query events: an optional `use `db`/*!*/;` line (printed only when the default database
  changes to a non-empty one), `SET …/*!*/;` lines, then the statement's bytes and a line
  `/*!*/;`. mariadb-binlog prints nothing when the default database becomes empty, so the
  `db` of a statement that names no database or table is uncertain (tracked or none) when the
  event printed no `use` line; such documents accept either and are counted in the summary.
* Annotate_rows `# at` lines are printed out of order (both `# at` lines first, then both
  headers); the headers themselves are in file order.
* A statement whose rows fill several rows events (8 KiB each by default) is printed as all of
  its `# at` lines, then all of its event headers, then all of its rows and one "# Number of
  rows" total. The rows are given back to their events by size: each row's size in MariaDB's
  row format follows from the -vv type, meta and the printed value (fixed widths, DECIMAL's
  packed size, length prefixes + the value bytes, the null bitmap), and an event holds the
  rows that fill its end_log_pos - start exactly (19-byte header, 8-byte post-header, column
  count and bitmaps, 4-byte CRC32). If the sizes do not add up, those rows' binlog.pos is a
  NotCompared value (counted in the summary, never passed silently). Runs of events of one
  table and operation are matched to the printed `### INSERT/UPDATE/DELETE` rows by table.

Document rules (from sdl's documentation)
-----------------------------------------
seq counts every row change and every DDL statement of a GTID transaction, 1-based, filtered
or not; _id = "<pipeline>:<gtid>:<seq>". Row documents: op, db, table, pk (key columns in key
order, from the before image for update/delete, after image for insert; absent without a
primary key), before/after (columns of the image; absent columns omitted), changed (updates:
columns whose value differs, in column order; a column in after but not in before counts),
gtid, seq, ts (rows event header time, whole seconds), binlog {file, pos = start offset of the
rows event}, split (only on split transactions). DDL documents: op "ddl", db (the database the
statement changes, else the default database; omitted when empty), table (omitted when the
statement is not on a table), statement (credentials redacted), gtid, seq, ts, binlog (the
Query event). Filters: fnmatch globs on "db.table"; a row passes when its table does; a DDL on
a table when the table does; a database statement when no include pattern is set or some
include pattern's database part matches; any other statement only when no include is set.

Value families compared by check_against_oracle: integers (int32 / Int64 by column type as
doc-mapper.h lists), DECIMAL (Decimal128, exact with scale; precision > 34 as the digits
string), FLOAT (approximate, see above), DOUBLE (exact), strings, binary, DATE/DATETIME/
TIMESTAMP (Date to the millisecond, rounded toward the past; zero or partial dates as the
MySQL text), TIME (text), YEAR, BIT, ENUM, SET, JSON (parsed), GEOMETRY (GeoJSON), NULL.
A value the oracle cannot interpret (an unknown type or charset, a Z/M geometry, …) is a
NotCompared value: it is never passed silently but counted under "not_compared" in the
summary (and check_against_oracle(..., strict=True) fails on it).
"""
import datetime
import decimal
import fnmatch
import json
import os
import re
import struct
import subprocess
from collections import Counter, OrderedDict

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64

MARIADB_BINLOG = "/usr/bin/mariadb-binlog"

__all__ = ["Oracle", "check_against_oracle", "ddl_target", "redact", "parse_gtid_pos",
           "ExpectedDoc", "Float32Text", "JsonValue", "NotCompared", "SchemaMismatch",
           "OracleError"]


class OracleError(Exception):
    pass


class SchemaMismatch(OracleError):
    """A logged row does not fit the schema the oracle has for its table."""


# ---- value markers -------------------------------------------------------------------------
class Float32Text:
    """A FLOAT column value as mariadb-binlog prints it (%g, 6 significant digits)."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Float32Text) and other.text == self.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self):
        return f"Float32Text({self.text!r})"


class JsonValue:
    """A JSON column value: the parsed JSON text."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, JsonValue) and other.value == self.value

    def __repr__(self):
        return f"JsonValue({self.value!r})"


class NotCompared:
    """A value the oracle cannot interpret: reported, never compared."""
    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason

    def __eq__(self, other):
        return isinstance(other, NotCompared) and other.reason == self.reason

    def __repr__(self):
        return f"NotCompared({self.reason!r})"


class ExpectedDoc(dict):
    """An expected document (a dict in sdl's key order) with what the oracle is unsure of:
    changed_maybe (columns that may or may not be in `changed`: FLOAT values whose %g text is
    equal, JSON texts that differ only in formatting, times that differ below the ms) and
    db_choices (for a statement on no table: the databases `db` may hold, None = absent)."""
    __slots__ = ("changed_maybe", "db_choices")

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.changed_maybe = ()
        self.db_choices = None


# ---- GTID positions ------------------------------------------------------------------------
def parse_gtid_pos(pos):
    """'0-1-5,1-1-7' -> {domain: (server, seq)}."""
    out = {}
    for p in (pos or "").split(","):
        p = p.strip()
        if not p:
            continue
        d, s, n = p.split("-")
        out[int(d)] = (int(s), int(n))
    return out


# ---- schema --------------------------------------------------------------------------------
class Column:
    __slots__ = ("name", "data_type", "column_type", "charset", "unsigned", "precision",
                 "members", "is_json", "length")

    def __init__(self, name, column_type, charset=None, is_json=False):
        self.name = name
        ct = column_type.strip()
        self.column_type = ct
        low = ct.lower()
        m = re.match(r"[a-z0-9_]+", low)
        self.data_type = m.group(0) if m else low
        if self.data_type == "json":
            self.data_type, is_json = "longtext", True
        self.unsigned = " unsigned" in low
        self.is_json = is_json
        self.charset = charset
        self.precision = None
        self.length = None
        self.members = None
        m = re.match(r"[a-z]+\((\d+)(?:,(\d+))?\)", low)
        if m:
            self.length = int(m.group(1))
            if self.data_type == "decimal":
                self.precision = int(m.group(1))
        elif self.data_type == "decimal":
            self.precision = 10
        if self.data_type in ("enum", "set"):
            self.members = _parse_members(ct[ct.index("(") + 1:ct.rindex(")")])
        if self.charset is None and self.data_type in TEXT_TYPES:
            self.charset = "utf8mb4"

    def __repr__(self):
        return f"Column({self.name!r}, {self.column_type!r}, {self.charset!r})"


def _parse_members(text):
    """The member list of enum('a','it''s',...)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "'":
            j, buf = i + 1, []
            while True:
                if text[j] == "'" and j + 1 < len(text) and text[j + 1] == "'":
                    buf.append("'")
                    j += 2
                elif text[j] == "'":
                    break
                elif text[j] == "\\" and j + 1 < len(text):
                    buf.append(text[j + 1])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            i += 1
    return out


class Table:
    __slots__ = ("db", "name", "columns", "pk")

    def __init__(self, db, name, columns, pk):
        self.db, self.name, self.columns, self.pk = db, name, list(columns), list(pk)


INT_TYPES = {"tinyint": "TINYINT", "smallint": "SHORTINT", "mediumint": "MEDIUMINT",
             "int": "INT", "bigint": "LONGINT"}
TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
BLOB_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
GEOMETRY_TYPES = {"geometry", "point", "linestring", "polygon", "multipoint",
                  "multilinestring", "multipolygon", "geometrycollection"}
# data_type -> the type names mariadb-binlog -vv prints for it
LOGGED = {
    "decimal": ("DECIMAL",), "float": ("FLOAT",), "double": ("DOUBLE",), "bit": ("BIT",),
    "datetime": ("DATETIME",), "date": ("DATE",), "timestamp": ("TIMESTAMP",),
    "time": ("TIME",), "year": ("YEAR",), "char": ("STRING",), "binary": ("STRING",),
    "varchar": ("VARSTRING",), "varbinary": ("VARSTRING",),
    "tinytext": ("TINYBLOB/TINYTEXT",), "tinyblob": ("TINYBLOB/TINYTEXT",),
    "text": ("BLOB/TEXT",), "blob": ("BLOB/TEXT",),
    "mediumtext": ("MEDIUMBLOB/MEDIUMTEXT",), "mediumblob": ("MEDIUMBLOB/MEDIUMTEXT",),
    "longtext": ("LONGBLOB/LONGTEXT",), "longblob": ("LONGBLOB/LONGTEXT",),
    "enum": ("ENUM",), "set": ("SET",),
}
for _t, _l in INT_TYPES.items():
    LOGGED[_t] = (_l,)
for _t in GEOMETRY_TYPES:
    LOGGED[_t] = ("GEOMETRY",)
# ...and what a logged name is, for the comparison (strip "(…)")
_LOGGED_NAME = re.compile(r"^([A-Z/]+)")


def _schema_override(spec):
    """schema= override: {"db.table": {"columns": [(name, column_type[, charset]) or
    "name column_type", ...], "pk": [names], "json": [names]}} -> {(db, table): Table}.
    column_type is information_schema's COLUMN_TYPE ("int(10) unsigned", "enum('a','b')",
    "binary(4)", "json"); text columns without a charset are utf8mb4."""
    out = {}
    for key, t in (spec or {}).items():
        db, _, name = key.partition(".")
        cols = []
        for c in t["columns"]:
            if isinstance(c, str):
                parts = c.split(None, 1)
                c = (parts[0], parts[1])
            name_, ctype = c[0], c[1]
            cs = c[2] if len(c) > 2 else None
            cols.append(Column(name_, ctype, cs, is_json=name_ in t.get("json", ())))
        out[(db, name)] = Table(db, name, cols, t.get("pk", ()))
    return out


# ---- DDL target and redaction ---------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]+")


def _tokens(sql):
    """Identifiers/keywords (`quoted` ones marked), '.', and other single characters; comments
    and whitespace skipped."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("/*", i) and not sql.startswith("/*!", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif sql.startswith("/*!", i):  # executable comment: its content counts
            i += 3
            while i < n and sql[i].isdigit():
                i += 1
        elif sql.startswith("*/", i):
            i += 2
        elif sql.startswith("-- ", i) or c == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "`":
            j, buf = i + 1, []
            while j < n:
                if sql[j] == "`":
                    if j + 1 < n and sql[j + 1] == "`":
                        buf.append("`")
                        j += 2
                        continue
                    break
                buf.append(sql[j])
                j += 1
            yield ("q", "".join(buf))
            i = j + 1
        else:
            m = _WORD.match(sql, i)
            if m:
                yield ("w", m.group(0))
                i = m.end()
            else:
                yield ("p", c)
                i += 1


def ddl_target(sql, default_db=None):
    """(kind, db, table) of the first object a DDL statement changes: kind "table" or
    "database", or (None, None, None) when the statement names no table or database this
    parser knows (views, routines, accounts, ...). Unqualified table names take @default_db."""
    toks = list(_tokens(sql))
    pos = [0]

    def peek(k=0):
        j = pos[0] + k
        return toks[j] if j < len(toks) else (None, None)

    def kw(*words):
        t = peek()
        if t[0] == "w" and t[1].upper() in words:
            pos[0] += 1
            return t[1].upper()
        return None

    def name():
        t = peek()
        if t[0] not in ("w", "q"):
            return None
        pos[0] += 1
        if peek()[0] == "p" and peek()[1] == "." and peek(1)[0] in ("w", "q"):
            pos[0] += 1
            t2 = peek()
            pos[0] += 1
            return (t[1], t2[1])
        return (None, t[1])

    def if_exists():
        if kw("IF"):
            kw("NOT")
            kw("EXISTS")

    def table_result(n):
        if n is None:
            return (None, None, None)
        db = n[0] if n[0] is not None else (default_db or None)
        return ("table", db, n[1])

    def database_result():
        if_exists()
        t = peek()
        if t[0] == "q" or (t[0] == "w" and t[1].upper() not in (
                "DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "UPGRADE")):
            pos[0] += 1
            return ("database", t[1], None)
        return ("database", default_db or None, None)  # ALTER DATABASE CHARACTER SET ...

    if kw("SET"):
        # SET STATEMENT var=value[, ...] FOR <statement>: the statement after FOR
        if not kw("STATEMENT"):
            return (None, None, None)
        depth = 0
        while peek()[0] is not None and not (depth == 0 and peek()[0] == "w"
                                             and peek()[1].upper() == "FOR"):
            if peek()[0] == "p":
                depth += {"(": 1, ")": -1}.get(peek()[1], 0)
            pos[0] += 1
        if not kw("FOR"):
            return (None, None, None)
        rest = toks[pos[0]:]
        toks[:] = rest
        pos[0] = 0
    first = kw("CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME")
    if first is None:
        return (None, None, None)
    if first == "TRUNCATE":
        kw("TABLE")
        return table_result(name())
    if first == "RENAME":
        if kw("TABLE", "TABLES"):
            return table_result(name())
        return (None, None, None)
    if first == "CREATE":
        if kw("OR"):
            kw("REPLACE")
        # CREATE DEFINER=... VIEW/TRIGGER/...: not a table
    if first == "ALTER":
        kw("ONLINE", "OFFLINE")
        kw("IGNORE")
    if kw("DATABASE", "SCHEMA"):
        return database_result()
    if first in ("CREATE", "DROP"):
        kw("TEMPORARY")
    if kw("TABLE"):
        if_exists()
        return table_result(name())
    if first in ("CREATE", "DROP"):
        kw("UNIQUE", "FULLTEXT", "SPATIAL")
        if kw("INDEX", "KEY"):
            # ... INDEX [IF [NOT] EXISTS] name [USING type] ON table
            while peek()[0] is not None:
                if peek()[0] == "w" and peek()[1].upper() == "ON":
                    pos[0] += 1
                    return table_result(name())
                pos[0] += 1
    return (None, None, None)


def ddl_tables(sql, default_db=None):
    """Every (db, table) a DROP TABLE list or a RENAME TABLE a TO b[, c TO d] names (both
    sides), else the one ddl_target finds: a DDL on several tables passes the filters when one
    of them does (docs/CONFIG.md, tables); its document names the first."""
    kind, db, table = ddl_target(sql, default_db)
    if kind != "table":
        return []
    toks = list(_tokens(sql))
    words = [t[1].upper() if t[0] == "w" else None for t in toks]
    start = None
    for i, w in enumerate(words):
        if w in ("DROP", "RENAME") and i + 1 < len(words) and words[i + 1] in ("TABLE", "TABLES"):
            start = i + 2
            break
    if start is None:
        return [(db, table)]
    out, i = [], start
    if i < len(words) and words[i] == "IF":
        i += 2 if i + 1 < len(words) and words[i + 1] == "EXISTS" else 3
    while i < len(toks):
        t = toks[i]
        if t[0] not in ("w", "q") or (t[0] == "w" and words[i] in ("TO", "WAIT", "NOWAIT",
                                                                    "RESTRICT", "CASCADE")):
            if t[0] == "w" and words[i] == "WAIT":
                i += 2
                continue
            i += 1
            continue
        if i + 2 < len(toks) and toks[i + 1] == ("p", ".") and toks[i + 2][0] in ("w", "q"):
            out.append((t[1], toks[i + 2][1]))
            i += 3
        else:
            out.append((default_db or None, t[1]))
            i += 1
    return out or [(db, table)]


_STRLIT = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_REDACT = [re.compile(p + r"(\s*)" + _STRLIT, re.I | re.S) for p in (
    r"(\bIDENTIFIED\s+BY(?:\s+PASSWORD)?)",
    r"(\bIDENTIFIED\s+(?:WITH|VIA)\s+[`'\"]?\w+[`'\"]?\s+(?:AS|USING))",
    r"(\bPASSWORD\s*\()",
    r"(\b(?:MASTER_)?PASSWORD\s*=)",
)]


def redact(statement):
    """Credentials in account statements: the quoted literal after IDENTIFIED BY [PASSWORD],
    IDENTIFIED WITH|VIA plugin AS|USING, PASSWORD( and [MASTER_]PASSWORD= replaced by
    '<redacted>', everything else kept (sql-text.h: secrets are never stored)."""
    for rx in _REDACT:
        statement = rx.sub(lambda m: m.group(1) + m.group(2) + "'<redacted>'", statement)
    return statement


_MARKER = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\s+SAVEPOINT|XA\s)\b", re.I)
# A statement that changes rows, logged as text by a session with binlog_format=STATEMENT or
# MIXED: what it changed is not in the binlog, so no document can be derived (sdl stops there).
_ROW_STATEMENT = re.compile(r"^\s*(?:/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|REPLACE|LOAD|CALL|DO|"
                            r"HANDLER|SELECT|WITH)\b", re.I | re.S)


class StatementBasedChange(Exception):
    """The range holds a statement-based row change: the oracle has no documents for it."""


# ---- value conversion ------------------------------------------------------------------------
def _mysql_latin1_table():
    t = {}
    for b in range(0x80, 0xA0):
        try:
            t[b] = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            t[b] = chr(b)  # 0x81 0x8d 0x8f 0x90 0x9d: C1 controls, as MySQL's latin1
    return t


_LATIN1 = _mysql_latin1_table()
_PY_CODECS = {"utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii",
              "ucs2": "utf-16-be", "utf16": "utf-16-be", "utf16le": "utf-16-le",
              "utf32": "utf-32-be", "latin2": "iso8859-2", "latin5": "iso8859-9",
              "latin7": "iso8859-13", "greek": "iso8859-7", "hebrew": "iso8859-8",
              "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257",
              "cp850": "cp850", "cp852": "cp852", "cp866": "cp866", "koi8r": "koi8-r",
              "koi8u": "koi8-u", "sjis": "shift_jis", "cp932": "cp932", "ujis": "euc-jp",
              "eucjpms": "euc-jp", "euckr": "euc-kr", "gbk": "gbk", "gb2312": "gb2312",
              "big5": "big5", "tis620": "tis-620", "macroman": "mac-roman"}


def _decode_text(raw, charset):
    if charset == "latin1":
        return raw.decode("latin-1").translate(_LATIN1)
    codec = _PY_CODECS.get(charset)
    if codec is None:
        return NotCompared(f"charset {charset}")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return NotCompared(f"bytes invalid in charset {charset}")


_UNESCAPE = re.compile(rb"\\x([01][0-9a-f])")


def _unquote(v):
    """The bytes of a quoted mariadb-binlog value: the text between the first and the last
    quote, \\xNN (NN < 0x20) turned back into bytes."""
    if len(v) < 2 or v[:1] != b"'" or v[-1:] != b"'":
        raise OracleError(f"not a quoted value: {v[:80]!r}")
    body = v[1:-1]
    if b"\\x" in body:
        body = _UNESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), body)
    return body


_EPOCH = datetime.datetime(1970, 1, 1)


def _datetime_value(text, with_time):
    """'YYYY-MM-DD hh:mm:ss[.f]' (or DATE 'YYYY:MM:DD') -> datetime (ms, toward the past), or
    the MySQL text for zero/partial dates."""
    if with_time:
        date, _, tm = text.partition(" ")
        y, mo, d = (int(x) for x in date.split("-"))
    else:
        y, mo, d = (int(x) for x in text.split(":"))
        date = f"{y:04d}-{mo:02d}-{d:02d}"
        tm = None
    if y == 0 or mo == 0 or d == 0:
        return date + (" " + tm if tm is not None else "")
    if tm is None:
        return datetime.datetime(y, mo, d)
    hms, _, frac = tm.partition(".")
    h, mi, s = (int(x) for x in hms.split(":"))
    us = int((frac + "000000")[:6]) if frac else 0
    return datetime.datetime(y, mo, d, h, mi, s, us // 1000 * 1000)


def _timestamp_value(text, fsp):
    secs, _, frac = text.partition(".")
    if int(secs) == 0 and not frac.strip("0"):
        return "0000-00-00 00:00:00" + ("." + "0" * fsp if fsp else "")
    us = int((frac + "000000")[:6]) if frac else 0
    return _EPOCH + datetime.timedelta(seconds=int(secs), microseconds=us // 1000 * 1000)


def _int64(v):
    return Int64(v)


def _json_int(text):
    """A JSON integer as json-text.h maps it: int32, int64, else double."""
    v = int(text)
    if -2 ** 31 <= v < 2 ** 31:
        return v
    if -2 ** 63 <= v < 2 ** 63:
        return Int64(v)
    return float(text)


def _json_constant(name):
    raise ValueError(f"{name} is not JSON")


def _wkb_geojson(data):
    """SRID + WKB -> GeoJSON dict (geojson.h shapes), or NotCompared."""
    if len(data) < 9:
        return NotCompared("GEOMETRY shorter than SRID + WKB header")
    srid = struct.unpack_from("<I", data, 0)[0]
    off = [4]

    def u32(bo):
        v = struct.unpack_from(bo + "I", data, off[0])[0]
        off[0] += 4
        return v

    def point(bo):
        x, y = struct.unpack_from(bo + "dd", data, off[0])
        off[0] += 16
        return [x, y]

    def geom(depth):
        bo = "<" if data[off[0]] == 1 else ">"
        off[0] += 1
        t = u32(bo)
        if t > 7:
            raise ValueError(f"WKB type {t} (Z/M or unknown)")
        if t == 1:
            return {"type": "Point", "coordinates": point(bo)}
        if t == 2:
            return {"type": "LineString", "coordinates": [point(bo) for _ in range(u32(bo))]}
        if t == 3:
            return {"type": "Polygon", "coordinates": [[point(bo) for _ in range(u32(bo))]
                                                       for _ in range(u32(bo))]}
        n = u32(bo)
        members = [geom(depth + 1) for _ in range(n)]
        if t == 7:
            return {"type": "GeometryCollection", "geometries": members}
        want = {4: "Point", 5: "LineString", 6: "Polygon"}[t]
        if any(m["type"] != want for m in members):
            raise ValueError("Multi* member of another type")
        return {"type": "Multi" + want, "coordinates": [m["coordinates"] for m in members]}

    try:
        g = geom(0)
    except (ValueError, struct.error, IndexError) as e:
        return NotCompared(f"GEOMETRY: {e}")
    if off[0] != len(data):
        return NotCompared("GEOMETRY with trailing bytes")
    g["srid"] = srid if srid < 2 ** 31 else _int64(srid)
    return g


def _bits(v):
    if not (v.startswith(b"b'") and v.endswith(b"'")):
        raise OracleError(f"not a bit string: {v!r}")
    return int(v[2:-1] or b"0", 2)


def convert(col, raw, logged):
    """The expected document value of column @col from mariadb-binlog's text @raw (bytes,
    without the type comment) logged as @logged."""
    if raw == b"NULL":
        return None
    t = col.data_type
    if t in INT_TYPES:
        s = raw.decode()
        if col.unsigned and "(" in s:
            v = int(s[s.index("(") + 1:s.index(")")])
        else:
            v = int(s.split(" ", 1)[0])
        if t == "bigint" and v > 2 ** 63 - 1:
            return decimal.Decimal(v)
        if t == "bigint" or (t == "int" and col.unsigned):
            return _int64(v)
        return v
    if t == "decimal":
        s = raw.decode().strip()
        return decimal.Decimal(s) if (col.precision or 0) <= 34 else s
    if t == "float":
        return Float32Text(raw.decode().strip())
    if t == "double":
        return float(raw.decode())
    if t == "bit":
        v = _bits(raw)
        return _int64(v - 2 ** 64 if v >= 2 ** 63 else v)
    if t == "year":
        v = int(raw)
        return 0 if v == 1900 else v
    if t == "datetime":
        return _datetime_value(_unquote(raw).decode(), True)
    if t == "date":
        return _datetime_value(_unquote(raw).decode(), False)
    if t == "timestamp":
        m = re.search(r"\((\d)\)", logged)
        return _timestamp_value(raw.decode(), int(m.group(1)) if m else 0)
    if t == "time":
        return _unquote(raw).decode()
    if t == "enum":
        i = int(raw)
        if i == 0:
            return ""
        if i > len(col.members):
            return NotCompared(f"ENUM index {i} beyond the schema's members")
        return col.members[i - 1]
    if t == "set":
        mask = _bits(raw)
        if mask >> len(col.members):
            return NotCompared("SET bits beyond the schema's members")
        return [m for i, m in enumerate(col.members) if mask >> i & 1]
    if t in GEOMETRY_TYPES:
        return _wkb_geojson(_unquote(raw))
    if t in BLOB_TYPES or (t in TEXT_TYPES and col.charset == "binary"):
        b = _unquote(raw)
        if t == "binary" or t == "char":
            n = col.length or 1
            b = b + b"\0" * (n - len(b))
        return b
    if t in TEXT_TYPES:
        s = _decode_text(_unquote(raw), col.charset)
        if col.is_json and isinstance(s, str):
            try:
                return JsonValue(json.loads(s, parse_int=_json_int, parse_constant=_json_constant))
            except ValueError:
                return NotCompared("JSON column holding invalid JSON")
        return s
    return NotCompared(f"type {col.column_type}")


# ---- parsing mariadb-binlog output ---------------------------------------------------------
class Event:
    __slots__ = ("kind", "file", "pos", "ts", "statement", "default_db", "db_certain", "op",
                 "db", "table", "before", "after", "ncols")

    def __init__(self, kind, file, pos, ts):
        self.kind, self.file, self.pos, self.ts = kind, file, pos, ts
        self.statement = self.default_db = self.op = self.db = self.table = None
        self.before = self.after = self.ncols = None
        self.db_certain = True

    def __repr__(self):
        if self.kind == "row":
            return (f"Event(row {self.op} {self.db}.{self.table} @{self.file}:{self.pos} "
                    f"before={self.before} after={self.after})")
        return f"Event({self.kind} {self.statement!r} db={self.default_db!r} @{self.file}:{self.pos})"


class Transaction:
    __slots__ = ("gtid", "domain", "server", "seqno", "standalone", "events", "closed")

    def __init__(self, gtid, standalone):
        self.gtid = gtid
        d, s, n = gtid.split("-")
        self.domain, self.server, self.seqno = int(d), int(s), int(n)
        self.standalone = standalone
        self.events = []
        self.closed = False

    def __repr__(self):
        return f"Transaction({self.gtid}, {len(self.events)} events)"


class _RowsEvent:
    """One rows event header: where it is and what it holds."""
    __slots__ = ("file", "start", "end", "ts", "op", "table", "stmt_end", "crc")

    def __init__(self, file, start, end, ts, op, table, stmt_end, crc):
        self.file, self.start, self.end, self.ts = file, start, end, ts
        self.op, self.table, self.stmt_end, self.crc = op, table, stmt_end, crc


_HEADER = re.compile(rb"^#(\d\d)(\d\d)(\d\d) +(\d+):(\d\d):(\d\d) server id \d+ +end_log_pos (\d+)"
                     rb"( CRC32 0x[0-9a-f]+)?\s*\t(.*)$")
_ROWS_LINE = re.compile(rb"^### (INSERT INTO|UPDATE|DELETE FROM) `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`$")
_VALUE = re.compile(rb"^###   @(\d+)=(.*)$")
_TYPE_COMMENT = re.compile(rb" /\* ([^*]*?) meta=(\d+) nullable=\d is_null=\d \*/$")
_USE = re.compile(rb"^use `((?:[^`]|``)*)`/\*!\*/;$")
_TABLE_MAP = re.compile(rb"^Table_map: `((?:[^`]|``)*)`\.`((?:[^`]|``)*)` mapped to number (\d+)")
_ROWS_HEADER = re.compile(rb"^(Write|Update|Delete)_rows(_v1|_compressed|_compressed_v1)?: "
                          rb"table id (\d+)( flags: STMT_END_F)?")
_OPS = {b"INSERT INTO": "insert", b"UPDATE": "update", b"DELETE FROM": "delete"}
_EVENT_OPS = {b"Write": "insert", b"Update": "update", b"Delete": "delete"}


def _unbq(b):
    return b.replace(b"``", b"`").decode("utf-8", "replace")


# Sizes of values in a rows event (MariaDB's row format), from the -vv type and meta: used to
# tell which rows belong to which event when mariadb-binlog prints the rows of a multi-event
# statement together after all its event headers.
_FIXED_SIZE = {"TINYINT": 1, "SHORTINT": 2, "MEDIUMINT": 3, "INT": 4, "LONGINT": 8,
               "FLOAT": 4, "DOUBLE": 8, "YEAR": 1, "DATE": 3}
_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_LOGGED_ARGS = re.compile(r"\((\d+)(?:,(\d+))?")


def _value_size(raw, logged, meta):
    if raw == b"NULL":
        return 0
    name = _LOGGED_NAME.match(logged).group(1)
    n = _FIXED_SIZE.get(name)
    if n is not None:
        return n
    a = _LOGGED_ARGS.search(logged)
    if name == "DATETIME":
        return 5 + (meta + 1) // 2
    if name == "TIMESTAMP":
        return 4 + (meta + 1) // 2
    if name == "TIME":
        return 3 + (meta + 1) // 2
    if name == "DECIMAL":
        p, s = int(a.group(1)), int(a.group(2))
        i = p - s
        return i // 9 * 4 + _DIG2BYTES[i % 9] + s // 9 * 4 + _DIG2BYTES[s % 9]
    if name == "BIT":
        return (meta >> 8) + (1 if meta & 0xFF else 0)
    if name in ("ENUM", "SET"):
        return int(a.group(1))
    if name in ("STRING", "VARSTRING"):
        return (1 if int(a.group(1)) < 256 else 2) + len(_unquote(raw))
    if name.endswith("BLOB/TINYTEXT") or "BLOB/" in name or name == "GEOMETRY":
        return meta + len(_unquote(raw))
    raise ValueError(f"no size for {logged}")


def _image_size(image):
    return (len(image) + 7) // 8 + sum(_value_size(r, t, m) for r, t, m in image.values())


def _row_size(ev):
    n = 0
    if ev.before is not None:
        n += _image_size(ev.before)
    if ev.after is not None:
        n += _image_size(ev.after)
    return n


def _packed_len(n):
    return 1 if n < 251 else 3 if n < 1 << 16 else 4 if n < 1 << 24 else 9


class _Parser:
    """A line-by-line state machine over mariadb-binlog -vv output."""

    def __init__(self, mode, files=None):
        self.mode = mode
        self.files = files  # files mode: the basenames, in the order given
        self.file_index = 0
        self.txns = []
        self.txn = None
        self.file = None
        self.prev_end = None
        self.ats = []  # '# at' values not yet paired with a header (FIFO)
        self.at_index = 0
        self.pending_check = None  # (description, at, length): checked at the next header
        self.tracked_db = ""
        self.table_ids = {}
        self.last_map = None  # (db, table) of the last Table_map
        self.map_ncols = {}  # (db, table) -> columns of its last Table_map ("# Columns(")
        self.cols_counting = None
        self.group = []  # rows events of the statement being read
        self.group_rows = []  # its rows, as printed (after all of its headers)
        self.rows_counted = 0
        self.row = None
        self.image = None
        self.in_query = None  # Event being read
        self.query_lines = None
        self.query_used = False
        self.unattributed = Counter()

    def fail(self, msg):
        raise OracleError(f"mariadb-binlog output: {msg}")

    def feed(self, line):
        if self.in_query is not None:
            return self._query_line(line)
        if line.startswith(b"###"):
            return self._rows_line(line)
        if line.startswith(b"# at "):
            self.ats.append(int(line[5:]))
            return
        if line.startswith(b"# Columns(") or (self.cols_counting is not None
                                               and line.startswith(b"#         ")):
            self.cols_counting = (self.cols_counting or 0) + 1
            if not line.endswith(b","):
                if self.last_map is not None:
                    self.map_ncols[self.last_map] = self.cols_counting
                self.cols_counting = None
            return
        if line.startswith(b"#") and line[1:2].isdigit():
            m = _HEADER.match(line)
            if m:
                return self._header(m)
        if line.startswith(b"# Number of rows: "):
            self._finish_row()
            n = int(line[18:])
            printed = len(self.group_rows) - self.rows_counted
            if n != printed:
                self.fail(f"statement announced {n} rows, {printed} were printed")
            self.rows_counted = len(self.group_rows)
            return
        if line == b"START TRANSACTION" and self.txn is not None:
            self.txn.standalone = False

    def _next_at(self):
        # mariadb-binlog prints one '# at' line per event, in event order, but not always
        # right before the event's header (Annotate_rows, buffered rows events): pair them
        # in order.
        if self.at_index >= len(self.ats):
            self.fail("an event header without its '# at' line")
        at = self.ats[self.at_index]
        self.at_index += 1
        if self.at_index > 1024:
            del self.ats[:self.at_index]
            self.at_index = 0
        return at

    def _header(self, m):
        yy, mo, dd, hh, mi, ss, end, crc, desc = m.groups()
        ts = datetime.datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss))
        end = int(end)
        at = self._next_at()
        if self.pending_check is not None:
            what, at0, length = self.pending_check
            self.pending_check = None
            if at - at0 != length:
                self.fail(f"{what}: end_log_pos - start = {length} but the stream advanced "
                          f"{at - at0}: positions cannot be trusted")
        start = self.prev_end
        rm = _ROWS_HEADER.match(desc)
        if rm is None or (self.group and self.group[-1].stmt_end):
            self._flush_group()
        if desc.startswith(b"Rotate to "):
            if self.files is None:
                self.file = desc[10:].split(b"  pos:")[0].strip().decode()
            self.prev_end = None
            return
        if desc.startswith(b"Start: binlog"):
            if self.files is not None and at == 4:
                # local files: no Rotate names the first one; each begins with this event
                if self.file_index >= len(self.files):
                    self.fail("more binlog files in the output than were given")
                self.file = self.files[self.file_index]
                self.file_index += 1
            self.prev_end = end
            return
        self.prev_end = end if end else None
        if desc.startswith(b"GTID "):
            self.txn = Transaction(desc.split()[1].decode(), standalone=True)
            self.txns.append(self.txn)
            self.table_ids = {}
            return
        if rm is not None:
            if self.txn is None or self.txn.closed:
                self.fail(f"rows event outside a transaction at {self.file}:{start}")
            if start is None:
                self.fail(f"rows event of unknown start offset in {self.file}")
            self._check_at(f"rows event at {self.file}:{start}", at, start, end)
            table = self.table_ids.get(int(rm.group(3)))
            if table is None:
                self.fail(f"rows event for table id {rm.group(3)} without its Table_map")
            self.group.append(_RowsEvent(self.file, start, end, ts, _EVENT_OPS[rm.group(1)],
                                         table, rm.group(4) is not None,
                                         rm.group(2) is None and crc is not None))
            return
        if desc.startswith(b"Query\t"):
            if self.txn is None or self.txn.closed:
                self.fail(f"query event outside a GTID transaction at {self.file}:{start}")
            self._check_at(f"query event at {self.file}:{start}", at, start, end)
            self.in_query = Event("query", self.file, start, ts)
            self.query_lines = []
            self.query_used = False
            return
        if desc.startswith(b"Xid = "):
            if self.txn is not None:
                self.txn.closed = True
            return
        tm = _TABLE_MAP.match(desc)
        if tm is not None:
            self.table_ids[int(tm.group(3))] = (_unbq(tm.group(1)), _unbq(tm.group(2)))
            self.last_map = self.table_ids[int(tm.group(3))]
            self.map_ncols.pop(self.last_map, None)
            return
        if desc.startswith((b"Annotate_rows:", b"Gtid list", b"Binlog checkpoint", b"Intvar",
                            b"Rand", b"User_var", b"User var", b"Stop", b"Heartbeat")):
            return
        self.fail(f"event the oracle does not know: {desc[:80]!r} at {self.file}:{start}")

    def _check_at(self, what, at, start, end):
        if self.mode == "files":
            if at != start:
                self.fail(f"{what}: '# at {at}' is not the start offset")
        else:
            self.pending_check = (what, at, end - start)

    # Query events: [use `db`/*!*/;] [SET ...;] statement lines, then a line "/*!*/;"
    def _query_line(self, line):
        if not self.query_lines:
            if line.endswith(b"/*!*/;") and line != b"/*!*/;":
                m = _USE.match(line)
                if m:
                    self.tracked_db = _unbq(m.group(1))
                    self.query_used = True
                elif not line.startswith((b"SET ", b"/*!")):
                    self.query_lines.append(line)  # a one-line statement ending like that
                return
        if line == b"/*!*/;":
            ev = self.in_query
            self.in_query = None
            stmt = b"\n".join(self.query_lines).decode("utf-8", "replace")
            self.query_lines = None
            self._query(ev, stmt)
            return
        self.query_lines.append(line)

    def _query(self, ev, stmt):
        txn = self.txn
        if _MARKER.match(stmt):
            ev.kind = "marker"
            ev.statement = stmt
            if re.match(r"^\s*(COMMIT|ROLLBACK)\s*$", stmt, re.I):
                txn.closed = True
            txn.events.append(ev)
            return
        ev.statement = stmt
        if _ROW_STATEMENT.match(stmt):
            ev.kind = "statement"
        ev.default_db = self.tracked_db or None
        # mariadb-binlog prints no line when the default database becomes empty
        ev.db_certain = self.query_used or not self.tracked_db
        txn.events.append(ev)
        kind, _, _ = ddl_target(stmt, self.tracked_db)
        if kind == "database":
            # CREATE/ALTER/DROP DATABASE are logged without `use`; mariadb-binlog forgets its
            # database after them (and prints `use` again for the next statement that has one)
            self.tracked_db = ""
        if txn.standalone:
            txn.closed = True

    def _rows_line(self, line):
        if not self.group:
            self.fail(f"row line outside a rows event: {line[:80]!r}")
        m = _VALUE.match(line)
        if m:
            if self.image is None:
                self.fail(f"value before WHERE/SET: {line[:80]!r}")
            val = m.group(2)
            t = _TYPE_COMMENT.search(val)
            if t is None:
                self.fail(f"value without a type comment (-vv): {line[:120]!r}")
            self.image[int(m.group(1))] = (val[:t.start()], t.group(1).decode(),
                                           int(t.group(2)))
            return
        if line == b"### WHERE":
            self.row.before = self.image = {}
            return
        if line == b"### SET":
            self.row.after = self.image = {}
            return
        m = _ROWS_LINE.match(line)
        if m:
            self._finish_row()
            ev = Event("row", None, None, None)
            ev.op = _OPS[m.group(1)]
            ev.db, ev.table = _unbq(m.group(2)), _unbq(m.group(3))
            ev.ncols = self.map_ncols.get((ev.db, ev.table))
            self.row = ev
            self.image = None
            return
        self.fail(f"unknown row line: {line[:120]!r}")

    def _finish_row(self):
        if self.row is not None:
            r = self.row
            want = {"insert": (False, True), "update": (True, True), "delete": (True, False)}[r.op]
            if (r.before is not None, r.after is not None) != want:
                self.fail(f"{r.op} of {r.db}.{r.table} with images before={r.before is not None} "
                          f"after={r.after is not None}")
            self.group_rows.append(r)
            self.row = None
            self.image = None

    def _flush_group(self):
        """Gives each row of the statement just read its rows event (file, start, header
        time), then appends the rows to the transaction."""
        self._finish_row()
        events, rows = self.group, self.group_rows
        if not events:
            if rows:
                self.fail("rows without a rows event")
            return
        self.group, self.group_rows, self.rows_counted = [], [], 0
        # runs of consecutive events of one table and operation; their rows are printed in
        # the same order, so the runs of rows must match them one for one
        runs = []
        for e in events:
            key = (e.table, e.op)
            if runs and runs[-1][0] == key:
                runs[-1][1].append(e)
            else:
                runs.append((key, [e]))
        i = 0
        for key, evs in runs:
            j = i
            while j < len(rows) and ((rows[j].db, rows[j].table), rows[j].op) == key:
                j += 1
            if j == i:
                self.fail(f"rows event(s) of {key} at {evs[0].file}:{evs[0].start} "
                          f"without printed rows")
            self._attribute(evs, rows[i:j])
            i = j
        if i != len(rows):
            self.fail(f"{len(rows) - i} printed rows belong to no rows event "
                      f"(near {events[0].file}:{events[0].start})")
        self.txn.events.extend(rows)

    def _attribute(self, evs, rows):
        if len(evs) == 1:
            e = evs[0]
            for r in rows:
                r.file, r.pos, r.ts = e.file, e.start, e.ts
            return
        # several events of one table: cut the rows by the events' sizes
        try:
            sizes = [_row_size(r) for r in rows]
        except (ValueError, AttributeError) as err:
            sizes = None
            why = str(err)
        if sizes is not None:
            width = max(max(r.before or r.after or {0: 0}) for r in rows)
            bitmap = (width + 7) // 8 * (2 if evs[0].op == "update" else 1)
            for extra in (0, 2):  # v1 rows events, v2 (extra row info length)
                fixed = 19 + 8 + extra + _packed_len(width) + bitmap
                k, cut = 0, []
                for e in evs:
                    want = e.end - e.start - fixed - (4 if e.crc else 0)
                    acc = 0
                    while acc < want and k < len(rows):
                        acc += sizes[k]
                        cut.append(e)
                        k += 1
                    if acc != want:
                        break
                else:
                    if k == len(rows):
                        for r, e in zip(rows, cut):
                            r.file, r.pos, r.ts = e.file, e.start, e.ts
                        return
            why = "the row sizes do not add up to the events' sizes"
        # cannot tell: the rows keep the statement's file; position (and time, unless all
        # events share it) are not compared, and the summary says so
        self.unattributed[why] += len(rows)
        tss = {e.ts for e in evs}
        for r in rows:
            r.file = evs[0].file
            r.pos = NotCompared(f"binlog.pos of a row in a multi-event statement ({why})")
            r.ts = evs[0].ts if len(tss) == 1 else NotCompared("ts of a multi-event statement")

    def finish(self):
        if self.in_query is not None:
            self.fail("output ended inside a query event")
        self._flush_group()


# ---- the oracle --------------------------------------------------------------------------------
class Oracle:
    def __init__(self, mariadb, pipeline="test", include=(), exclude=(), schema=None,
                 mode="remote"):
        if mode not in ("remote", "files"):
            raise ValueError(mode)
        self.mariadb = mariadb
        self.pipeline = pipeline
        self.include = list(include)
        self.exclude = list(exclude)
        self.override = _schema_override(schema)
        self.mode = mode
        self._schema = None
        self.last_command = None

    # -- schema from information_schema
    def schema(self, reload=False):
        if self._schema is None or reload:
            rows = self.mariadb.sql(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, "
                "CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA NOT IN "
                "('mysql', 'information_schema', 'performance_schema', 'sys') "
                "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION")
            pks = self.mariadb.sql(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
                "WHERE INDEX_NAME = 'PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX")
            checks = self.mariadb.sql(
                "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE "
                "FROM information_schema.CHECK_CONSTRAINTS")
            json_cols = set()
            for db, t, clause in checks:
                for c in re.findall(r"json_valid\(`((?:[^`]|``)*)`\)", clause or ""):
                    json_cols.add((db, t, c.replace("``", "`")))
            tables = {}
            for db, t, c, _, ctype, cs in rows:
                tables.setdefault((db, t), Table(db, t, [], []))
                tables[(db, t)].columns.append(Column(c, ctype, cs, (db, t, c) in json_cols))
            for db, t, c in pks:
                if (db, t) in tables:
                    tables[(db, t)].pk.append(c)
            self._schema = tables
        return self._schema

    def table(self, db, name):
        t = self.override.get((db, name))
        if t is None:
            t = self.schema().get((db, name))
            if t is None:
                t = self.schema(reload=True).get((db, name))
        return t

    # -- reading the binlog
    def _command(self, start, end):
        # --print-table-metadata: "# Columns(...)" after each Table_map, one line per column,
        # so a row image can be told partial (MINIMAL) from one of an older, narrower schema
        args = [MARIADB_BINLOG, "-vv", "--base64-output=decode-rows", "--print-table-metadata"]
        if start:
            args.append(f"--start-position={start}")
        args.append(f"--stop-position={end}")
        logs = [r[0] for r in self.mariadb.sql("SHOW BINARY LOGS")]
        if self.mode == "remote":
            args += ["--read-from-remote-server", "--to-last-log", "--host=127.0.0.1",
                     f"--port={self.mariadb.port}", f"--user={self.mariadb.user}",
                     f"--password={self.mariadb.password}", logs[0]]
        else:
            d = os.path.dirname(self.mariadb.binlog)
            args += [os.path.join(d, f) for f in logs]
        return args

    def transactions(self, start, end):
        """The GTID transactions in (start, end], parsed."""
        s, e = parse_gtid_pos(start), parse_gtid_pos(end)
        if not e:
            return []
        if all(s.get(d, (0, 0))[1] >= n for d, (_, n) in e.items()):
            return []
        args = self._command(start, end)
        self.last_command = args
        env = dict(os.environ, TZ="UTC", LC_ALL="C")
        parser = _Parser(self.mode, None if self.mode == "remote" else
                         [os.path.basename(a) for a in args if a.startswith("/")
                          and not a == MARIADB_BINLOG])
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            for line in proc.stdout:
                parser.feed(line[:-1] if line.endswith(b"\n") else line)
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode("utf-8", "replace")
            rc = proc.wait()
        if rc != 0 or "Did not reach stop position" in err or "ERROR" in err:
            raise OracleError(f"mariadb-binlog exited {rc}: {err.strip()}\n"
                              f"{' '.join(a for a in args if not a.startswith('--password'))}")
        parser.finish()
        out = []
        for t in parser.txns:
            lo = s.get(t.domain, (0, 0))[1]
            if t.domain not in e or not (lo < t.seqno <= e[t.domain][1]):
                continue
            if not t.closed:
                raise OracleError(f"transaction {t.gtid} has no end in the binlog range")
            out.append(t)
        got = {}
        for t in out:
            got[t.domain] = t.seqno
        for d, (_, n) in e.items():
            if n > s.get(d, (0, 0))[1] and got.get(d) != n:
                raise OracleError(f"the binlog range ended at {got.get(d)} in domain {d}, "
                                  f"not at {n}")
        return out

    # -- filters (docs/CONFIG.md "tables")
    def _table_passes(self, db, table):
        name = f"{db}.{table}"
        if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)

    def _ddl_passes(self, kind, db, table):
        if kind == "table":
            return self._table_passes(db or "", table)
        if kind == "database":
            return not self.include or any(
                fnmatch.fnmatchcase(db or "", p.partition(".")[0]) for p in self.include)
        return not self.include

    # -- expected documents
    def expected(self, start, end):
        docs = []
        for txn in self.transactions(start, end):
            docs.extend(self.documents(txn))
        return docs

    def documents(self, txn):
        seq = 0
        out = []
        for ev in txn.events:
            if ev.kind == "marker":
                continue
            if ev.kind == "statement":
                raise StatementBasedChange(f"transaction {txn.gtid}: {ev.statement[:60]!r}")
            seq += 1
            if ev.kind == "query":
                d = self._ddl_doc(txn, ev, seq)
            else:
                d = self._row_doc(txn, ev, seq) if self._table_passes(ev.db, ev.table) else None
            if d is not None:
                out.append(d)
        return out

    def _base(self, txn, seq):
        d = ExpectedDoc()
        d["_id"] = f"{self.pipeline}:{txn.gtid}:{seq}"
        return d

    def _tail(self, d, txn, ev, seq):
        d["gtid"] = txn.gtid
        d["seq"] = _int64(seq)
        d["ts"] = ev.ts
        d["binlog"] = {"file": ev.file,
                       "pos": ev.pos if isinstance(ev.pos, NotCompared) else _int64(ev.pos)}

    def _ddl_doc(self, txn, ev, seq):
        kind, db, table = ddl_target(ev.statement, ev.default_db)
        if kind == "table":
            passes = any(self._ddl_passes("table", d, t)
                         for d, t in ddl_tables(ev.statement, ev.default_db))
        else:
            passes = self._ddl_passes(kind, db, table)
        if not passes:
            return None
        d = self._base(txn, seq)
        d["op"] = "ddl"
        if kind is None:
            db = ev.default_db
            if not ev.db_certain:
                d.db_choices = (db, None)
        if db:
            d["db"] = db
        if table:
            d["table"] = table
        d["statement"] = redact(ev.statement)
        self._tail(d, txn, ev, seq)
        return d

    def _image(self, tab, image, where):
        cols = tab.columns
        out = OrderedDict()
        for n in sorted(image):
            if n > len(cols):
                raise SchemaMismatch(
                    f"{tab.db}.{tab.name}: {where} image has column @{n}, the schema only "
                    f"{len(cols)} columns (dropped or changed since? pass schema=)")
            col = cols[n - 1]
            raw, logged, _ = image[n]
            lname = _LOGGED_NAME.match(logged)
            accepted = LOGGED.get(col.data_type)
            if accepted is not None and (lname is None or lname.group(1) not in accepted):
                raise SchemaMismatch(
                    f"{tab.db}.{tab.name}: column @{n} '{col.name}' is {col.column_type} in the "
                    f"schema but logged as {logged} (changed since? pass schema=)")
            out[col.name] = convert(col, raw, logged)
        return out

    def _row_doc(self, txn, ev, seq):
        tab = self.table(ev.db, ev.table)
        if tab is None:
            raise SchemaMismatch(f"no schema for {ev.db}.{ev.table} (dropped? pass schema=)")
        d = self._base(txn, seq)
        d["op"] = ev.op
        d["db"] = ev.db
        d["table"] = ev.table
        before = self._image(tab, ev.before, "before") if ev.before is not None else None
        after = self._image(tab, ev.after, "after") if ev.after is not None else None
        if tab.pk:
            src = before if ev.op != "insert" else after
            missing = [k for k in tab.pk if k not in src]
            if missing:
                raise SchemaMismatch(f"{ev.db}.{ev.table}: key column(s) {missing} missing "
                                     f"from the row image")
            d["pk"] = {k: src[k] for k in tab.pk}
        if before is not None:
            d["before"] = dict(before)
        if after is not None:
            d["after"] = dict(after)
        if ev.op == "update":
            changed, maybe = [], []
            for i, col in enumerate(tab.columns, 1):
                if i not in ev.after:
                    continue
                if i not in ev.before:
                    changed.append(col.name)
                    continue
                rb, ra = ev.before[i][0], ev.after[i][0]
                vb, va = before[col.name], after[col.name]
                if rb != ra:
                    if _same_value(vb, va):
                        maybe.append(col.name)  # JSON formatting, digits below the ms
                    else:
                        changed.append(col.name)
                elif isinstance(va, Float32Text):
                    maybe.append(col.name)  # equal %g text, maybe different floats
            d["changed"] = changed
            d.changed_maybe = tuple(maybe)
        self._tail(d, txn, ev, seq)
        ncols = ev.ncols if ev.ncols is not None else len(tab.columns)
        if ev.after is not None and len(ev.after) < ncols:
            d["partial_after"] = True  # the after image lacks columns (MINIMAL, NOBLOB)
        return d


def _same_value(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, NotCompared):
        return False
    if isinstance(a, decimal.Decimal):
        return a == b and a.as_tuple().exponent == b.as_tuple().exponent
    return a == b


# ---- comparison ------------------------------------------------------------------------------
def _family(exp):
    if exp is None:
        return "null"
    if isinstance(exp, bool):
        return "bool"
    if isinstance(exp, int):
        return "integer"
    if isinstance(exp, decimal.Decimal):
        return "decimal"
    if isinstance(exp, Float32Text):
        return "float"
    if isinstance(exp, float):
        return "double"
    if isinstance(exp, str):
        return "string"
    if isinstance(exp, bytes):
        return "binary"
    if isinstance(exp, datetime.datetime):
        return "date"
    if isinstance(exp, list):
        return "set"
    if isinstance(exp, JsonValue):
        return "json"
    if isinstance(exp, dict):
        return "geometry"
    return type(exp).__name__


def _json_equal(exp, got):
    if isinstance(exp, dict):
        return isinstance(got, dict) and set(exp) == set(got) and all(
            _json_equal(exp[k], got[k]) for k in exp)
    if isinstance(exp, list):
        return isinstance(got, list) and len(exp) == len(got) and all(
            _json_equal(a, b) for a, b in zip(exp, got))
    if isinstance(exp, bool) or exp is None or isinstance(exp, str):
        return type(got) is type(exp) and got == exp
    if isinstance(exp, float):
        return isinstance(got, float) and (got == exp or (got != got and exp != exp))
    if isinstance(got, bool) or not isinstance(got, int) or got != exp:
        return False
    return isinstance(got, _RelaxedInt) or isinstance(got, Int64) == isinstance(exp, Int64)


def value_matches(exp, got):
    """(ok, family): does the stored value @got match the oracle's @exp?"""
    fam = _family(exp)
    if fam == "null":
        return got is None, fam
    if fam == "integer":
        ok = (isinstance(got, int) and not isinstance(got, bool) and got == exp
              and (isinstance(got, Int64) == isinstance(exp, Int64)
                   or isinstance(got, _RelaxedInt)))
        return ok, fam
    if fam == "decimal":
        if not isinstance(got, Decimal128):
            return False, fam
        g = got.to_decimal()
        return g == exp and g.as_tuple().exponent == exp.as_tuple().exponent, fam
    if fam == "float":
        if not isinstance(got, float):
            return False, fam
        try:
            f32 = struct.unpack("f", struct.pack("f", got))[0]
        except OverflowError:
            return False, fam
        return "%g" % f32 == exp.text, fam
    if fam == "double":
        return isinstance(got, float) and got == exp, fam
    if fam == "string":
        return isinstance(got, str) and got == exp, fam
    if fam == "binary":
        return isinstance(got, bytes) and got == exp, fam
    if fam == "date":
        return isinstance(got, datetime.datetime) and got == exp, fam
    if fam == "set":
        return isinstance(got, list) and got == exp, fam
    if fam == "json":
        return _json_equal(exp.value, got), fam
    if fam == "geometry":
        return _geo_equal(exp, got), fam
    raise OracleError(f"no comparison for {exp!r}")


def _geo_equal(exp, got):
    if isinstance(exp, dict):
        return (isinstance(got, dict) and list(exp) == list(got)
                and all(_geo_equal(exp[k], got[k]) for k in exp))
    if isinstance(exp, list):
        return isinstance(got, list) and len(exp) == len(got) and all(
            _geo_equal(a, b) for a, b in zip(exp, got))
    if isinstance(exp, float):
        return isinstance(got, float) and got == exp
    if isinstance(exp, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == exp
    return type(got) is type(exp) and got == exp


def _relaxed(v):
    """A document parsed from relaxed Extended JSON made comparable: naive UTC dates, and
    integers as the oracle expects them is not knowable, so both widths pass (RelaxedInt)."""
    if isinstance(v, dict):
        return type(v)((k, _relaxed(x)) for k, x in v.items())
    if isinstance(v, list):
        return [_relaxed(x) for x in v]
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if isinstance(v, int) and not isinstance(v, bool):
        return _RelaxedInt(v)
    return v


class _RelaxedInt(int):
    """An integer of unknown BSON width (from relaxed Extended JSON)."""


def _short(v, n=300):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "…"


def _documents(target):
    if hasattr(target, "db") and hasattr(target.db, "row_changes"):
        return list(target.db.row_changes.find({}))
    if hasattr(target, "find"):
        return list(target.find({}))
    return list(target)


def check_against_oracle(target, expected, max_rows=None, max_bytes=None,
                         allow_extra_split=False, strict=False, max_report=20,
                         int_types=True):
    """Asserts that row_changes (@target: a runlib.Target, a pymongo collection or a list of
    documents) holds exactly @expected (Oracle.expected()): no duplicate _id, nothing missing,
    nothing extra, every document equal field by field (values by family, see the module
    docstring), and split marked as the batch limits require: within a transaction all rows
    or none carry split: true (never its DDL); a transaction of more than @max_rows documents,
    or whose documents exceed @max_bytes (BSON size), must be split; one within both must not
    be, unless @allow_extra_split (batches lowered after MongoDB refused one as too large). @strict fails on values the oracle
    could not compare. @int_types=False skips the int32/int64 distinction and accepts
    timezone-aware dates, for documents parsed from relaxed Extended JSON (`sdl tail`), which
    cannot tell the integer widths apart. Returns (and prints) a summary."""
    got = _documents(target)
    if not int_types:
        got = [_relaxed(d) for d in got]
    by_id = {}
    dups = []
    for d in got:
        if d["_id"] in by_id:
            dups.append(d["_id"])
        by_id[d["_id"]] = d
    assert not dups, f"{len(dups)} duplicate _id in row_changes, e.g. {dups[:5]}"
    exp_ids = [e["_id"] for e in expected]
    assert len(set(exp_ids)) == len(exp_ids), "the oracle produced a duplicate _id"
    missing = [i for i in exp_ids if i not in by_id]
    exp_set = set(exp_ids)
    extra = [i for i in by_id if i not in exp_set]
    assert not missing, f"{len(missing)} documents missing from row_changes, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} unexpected documents in row_changes, e.g. {extra[:5]}"

    problems = []
    families = Counter()
    not_compared = Counter()
    uncertain = Counter()

    def problem(doc_id, field, want, have):
        problems.append(f"{doc_id}: {field}: oracle {_short(want)} != row_changes {_short(have)}")

    for e in expected:
        g = by_id[e["_id"]]
        eid = e["_id"]
        gkeys = set(g) - {"split"}
        ekeys = set(e)
        if e.db_choices is not None and "db" not in g:
            ekeys.discard("db")
        if gkeys != ekeys:
            problem(eid, "keys", sorted(ekeys), sorted(gkeys))
            continue
        for k in e:
            if k in ("before", "after", "pk"):
                ev, gv = e[k], g[k]
                if not isinstance(gv, dict) or list(ev) != list(gv):
                    problem(eid, f"{k} columns", list(ev), list(gv) if isinstance(gv, dict) else gv)
                    continue
                for c, want in ev.items():
                    if isinstance(want, NotCompared):
                        not_compared[want.reason] += 1
                        continue
                    ok, fam = value_matches(want, gv[c])
                    families[fam] += 1
                    if not ok:
                        problem(eid, f"{k}.{c}", want, gv[c])
            elif k == "changed":
                gv = g[k]
                if e.changed_maybe:
                    uncertain["changed"] += 1
                    gv = [c for c in gv if c not in e.changed_maybe] if isinstance(gv, list) else gv
                if gv != e[k]:
                    problem(eid, "changed", e[k] if not e.changed_maybe else
                            f"{e[k]} (+ maybe {list(e.changed_maybe)})", g[k])
            elif k == "db" and e.db_choices is not None:
                uncertain["ddl db"] += 1
                if g[k] not in e.db_choices:
                    problem(eid, "db", e.db_choices, g[k])
            elif k == "seq":  # int64, as binlog.pos
                if not value_matches(e[k], g[k])[0]:
                    problem(eid, "seq", e[k], g[k])
            elif k == "binlog":
                gv, want = g[k], e[k]
                if isinstance(want["pos"], NotCompared):
                    not_compared[want["pos"].reason] += 1
                    ok = isinstance(gv, dict) and list(gv) == ["file", "pos"] and \
                        gv["file"] == want["file"]
                else:
                    ok = isinstance(gv, dict) and list(gv) == ["file", "pos"] and \
                        gv["file"] == want["file"] and value_matches(want["pos"], gv["pos"])[0]
                if not ok:
                    problem(eid, "binlog", want, gv)
            elif k == "ts":
                if isinstance(e[k], NotCompared):
                    not_compared[e[k].reason] += 1
                elif g[k] != e[k]:
                    problem(eid, "ts", e[k], g[k])
            elif g[k] != e[k] or type(g[k]) is not type(e[k]):
                problem(eid, k, e[k], g[k])
        if len(problems) > 5 * max_report:
            break

    # split, per source transaction
    txns = OrderedDict()
    for e in expected:
        txns.setdefault(e["gtid"], []).append(e)
    split_docs = split_txns = 0
    for gtid, docs in txns.items():
        stored = [by_id[e["_id"]] for e in docs]
        for e, g in zip(docs, stored):
            if "split" in g and (g["split"] is not True or e["op"] == "ddl"):
                problem(e["_id"], "split", "absent (ddl)" if e["op"] == "ddl" else True,
                        g["split"])
        rows = [g for g in stored if g["op"] != "ddl"]
        marks = {g.get("split", False) for g in rows}
        if len(marks) > 1:
            problem(gtid, "split", "all rows or none",
                    f"{sum(1 for g in rows if g.get('split'))} of {len(rows)} rows marked")
            continue
        is_split = marks == {True}
        # BSON bytes as the batcher counts them (without split: true), and with the flag
        size = sum(len(bson.encode({k: v for k, v in g.items() if k != "split"}))
                   for g in stored) if max_bytes else 0
        flagged = size + 8 * len(stored)
        must = (max_rows is not None and len(docs) > max_rows) or (
            max_bytes is not None and size > max_bytes)
        small = (max_rows is None or len(docs) <= max_rows) and (
            max_bytes is None or flagged <= max_bytes)
        if rows and must and not is_split:
            problem(gtid, "split", f"split ({len(docs)} documents, {size} bytes)", "not split")
        if is_split and small and not must and not allow_extra_split:
            problem(gtid, "split", f"not split ({len(docs)} documents, {size} bytes)", "split")
        if is_split:
            split_txns += 1
            split_docs += len(rows)

    summary = {
        "documents": len(got), "expected": len(expected),
        "rows": sum(1 for e in expected if e["op"] != "ddl"),
        "ddl": sum(1 for e in expected if e["op"] == "ddl"),
        "transactions": len(txns), "split": split_docs, "split_transactions": split_txns,
        "values_compared": dict(families), "not_compared": dict(not_compared),
        "uncertain": dict(uncertain),
    }
    print(f"oracle check: {summary}")
    assert not problems, (f"{len(problems)} differences between row_changes and the oracle "
                          f"(mariadb-binlog):\n  " + "\n  ".join(problems[:max_report]))
    if strict:
        assert not not_compared, f"values the oracle could not compare: {dict(not_compared)}"
    return summary
