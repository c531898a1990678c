"""The peer's tables: an in-memory InnoDB stand-in whose every write is a binlog transaction.

A test (or sdl's snapshot) sends CREATE DATABASE / CREATE TABLE / INSERT / UPDATE / DELETE
through the protocol; each statement is one autocommit transaction, applied to the rows and
appended to the newest binlog file as MySQL writes it (rowlog.BinlogWriter: GTID, BEGIN,
TABLE_MAP with binlog_row_metadata=FULL, one rows event, XID; DDL as a QUERY event) inside the
same lock, so the order in which writes become visible is their binlog order — what a MySQL
source gives with binlog_order_commits=ON, and what sdl's watermark snapshot relies on.
SELECTs read the rows under that lock (or a session's consistent snapshot), with the types,
text and binary result encodings of MySQL 8.4. information_schema.TABLES / COLUMNS /
STATISTICS are derived from the definitions.

Limits (documented in the README): the rows live in memory only (a restarted peer has no
tables; its files stay), strings compare by code point (a binary collation, where MySQL's
utf8mb4_0900_ai_ci ignores case), no multi-statement transactions (BEGIN is refused: only
START TRANSACTION WITH CONSISTENT SNAPSHOT, for reads), no secondary indexes but the unique
ones a CREATE TABLE declares, no BIT, YEAR, BINARY(n) or spatial columns (coltypes.py).
"""
import datetime
import decimal
import struct
import threading
import time

from . import rowlog, wire
from .coltypes import ColumnValueError
from .sqltext import Parser, QueryError, Scope, columns_named, evaluate, truth, unsupported

ER_DB_CREATE_EXISTS = 1007
ER_DB_DROP_EXISTS = 1008
ER_TABLE_EXISTS = 1050
ER_BAD_TABLE = 1051
ER_BAD_DB = 1049
ER_NO_SUCH_TABLE = 1146
ER_BAD_FIELD = 1054
ER_DUP_ENTRY = 1062
ER_NO_DB = 1046
ER_DATA_TOO_LONG = 1406
ER_OUT_OF_RANGE = 1264
ER_TRUNCATED = 1292
ER_BAD_NULL = 1048
ER_NO_DEFAULT = 1364
ER_WRONG_VALUE_COUNT = 1136
ER_NOT_NULL_KEY = 1171

INT_RANGE = ("tinyint", "smallint", "mediumint", "int", "bigint")

# protocol field types (include/field_types.h)
T_TINY, T_SHORT, T_LONG, T_FLOAT, T_DOUBLE, T_TIMESTAMP, T_LONGLONG, T_INT24 = 1, 2, 3, 4, 5, 7, 8, 9
T_DATE, T_TIME, T_DATETIME, T_NEWDECIMAL, T_BLOB, T_VAR_STRING, T_STRING = 10, 11, 12, 246, 252, \
    253, 254
T_JSON = 245
PROTO_TYPE = {"tinyint": T_TINY, "smallint": T_SHORT, "mediumint": T_INT24, "int": T_LONG,
              "bigint": T_LONGLONG, "float": T_FLOAT, "double": T_DOUBLE, "decimal": T_NEWDECIMAL,
              "date": T_DATE, "datetime": T_DATETIME, "timestamp": T_TIMESTAMP, "time": T_TIME,
              "char": T_STRING, "binary": T_STRING, "varchar": T_VAR_STRING,
              "varbinary": T_VAR_STRING, "tinytext": T_BLOB, "text": T_BLOB,
              "mediumtext": T_BLOB, "longtext": T_BLOB, "tinyblob": T_BLOB, "blob": T_BLOB,
              "mediumblob": T_BLOB, "longblob": T_BLOB, "enum": T_STRING, "set": T_STRING,
              "json": T_JSON}
NOT_NULL_FLAG, PRI_KEY_FLAG, UNIQUE_KEY_FLAG, BLOB_FLAG, UNSIGNED_FLAG, BINARY_FLAG = \
    1, 2, 4, 16, 32, 128
ENUM_FLAG, SET_FLAG = 256, 2048


def is_text(col):
    return col.charset not in (None, "binary")


def coerce(col, v):
    """@v (what a statement's expression gave: an int, Decimal, float, str, bytes, or a
    date/time value of a prepared statement's parameter) as a value of @col, as MySQL 8.4
    stores it in strict mode (the column's own checks: coltypes.Column.convert/check); a
    QueryError with MySQL's error when it does not fit."""
    if v is None:
        return None
    if isinstance(v, bool):
        v = int(v)
    try:
        if isinstance(v, str) and col.charset == "binary":
            v = v.encode("utf-8", "surrogateescape")  # pymysql's bytes in a quoted string
        if isinstance(v, (str, bytes)):
            return col.convert(v, True)
        if isinstance(v, (int, float, decimal.Decimal)):
            return col.convert(repr(v) if isinstance(v, float) else str(v), False)
        if isinstance(v, datetime.datetime) and col.data_type == "date":
            v = v.date()
        elif isinstance(v, datetime.date) and not isinstance(v, datetime.datetime) and \
                col.data_type in ("datetime", "timestamp"):
            v = datetime.datetime(v.year, v.month, v.day)
        return col.check(v)
    except ColumnValueError as e:
        raise QueryError(e.errno, str(e), e.sqlstate) from None


def text_value(col, v):
    """@v as MySQL's text protocol prints it (None: NULL)."""
    if v is None:
        return None
    dt = col.data_type
    if dt == "decimal":
        return f"{v:.{col.scale}f}"
    if dt in ("double", "float"):
        return repr(v) if v != int(v) or abs(v) >= 1e15 else str(int(v))
    if dt == "date":
        return v.isoformat()
    if dt in ("datetime", "timestamp"):
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        return s + (f".{v.microsecond:06d}"[:col.fsp + 1] if col.fsp else "")
    if dt == "time":
        us = int(v / datetime.timedelta(microseconds=1))
        sign = "-" if us < 0 else ""
        us = abs(us)
        s = f"{sign}{us // 3600000000:02d}:{us // 60000000 % 60:02d}:{us // 1000000 % 60:02d}"
        return s + (f".{us % 1000000:06d}"[:col.fsp + 1] if col.fsp else "")
    return v if isinstance(v, (bytes, str)) else str(v)


def binary_value(col, v):
    """@v in the binary protocol (COM_STMT_EXECUTE results) for @col's field type."""
    dt = col.data_type
    if dt in INT_RANGE:
        size = {"tinyint": 1, "smallint": 2, "mediumint": 4, "int": 4, "bigint": 8}[dt]
        return v.to_bytes(size, "little", signed=not col.unsigned)
    if dt == "double":
        return struct.pack("<d", v)
    if dt == "float":
        return struct.pack("<f", v)
    if dt == "date":
        return bytes([4]) + struct.pack("<HBB", v.year, v.month, v.day)
    if dt in ("datetime", "timestamp"):
        if v.microsecond:
            return bytes([11]) + struct.pack("<HBBBBBI", v.year, v.month, v.day, v.hour,
                                             v.minute, v.second, v.microsecond)
        return bytes([7]) + struct.pack("<HBBBBB", v.year, v.month, v.day, v.hour, v.minute,
                                        v.second)
    if dt == "time":
        us = int(v / datetime.timedelta(microseconds=1))
        neg = us < 0
        us = abs(us)
        days, rest = divmod(us, 86400000000)
        h, rest = divmod(rest, 3600000000)
        m, rest = divmod(rest, 60000000)
        s, micro = divmod(rest, 1000000)
        if micro:
            return bytes([12]) + struct.pack("<BIBBBI", neg, days, h, m, s, micro)
        return bytes([8]) + struct.pack("<BIBBB", neg, days, h, m, s)
    return wire.lenenc_str(text_value(col, v))


def field_flags(table, i):
    col = table.columns[i]
    f = 0 if col.nullable else NOT_NULL_FLAG
    if i in table.key:
        f |= PRI_KEY_FLAG
    if col.unsigned:
        f |= UNSIGNED_FLAG
    if PROTO_TYPE[col.data_type] in (T_BLOB, T_JSON):
        f |= BLOB_FLAG
    if not is_text(col):
        f |= BINARY_FLAG
    f |= ENUM_FLAG if col.data_type == "enum" else SET_FLAG if col.data_type == "set" else 0
    return f


def column_def(table, i, alias=None):
    """The column definition packet of @table's column @i (Protocol::ColumnDefinition41)."""
    col = table.columns[i]
    dt = col.data_type
    charset = 255 if is_text(col) and dt != "json" else 63
    if dt in INT_RANGE:
        length = {"tinyint": 4, "smallint": 6, "mediumint": 9, "int": 11, "bigint": 20}[dt]
        length -= 1 if col.unsigned and dt != "bigint" else 0
    elif dt == "decimal":
        length = col.precision + (1 if col.scale else 0) + 1
    elif dt in ("datetime", "timestamp"):
        length = 19 + (col.fsp + 1 if col.fsp else 0)
    elif dt == "date":
        length = 10
    elif dt == "time":
        length = 10 + (col.fsp + 1 if col.fsp else 0)
    elif dt in ("double", "float"):
        length = 22 if dt == "double" else 12
    else:
        length = col.octet_length or 0xFFFFFFFF
    decimals = col.scale if dt == "decimal" else (col.fsp or 0) if dt in (
        "datetime", "timestamp", "time") else 31 if dt in ("double", "float") else 0
    return wire.column_def(alias or col.name, PROTO_TYPE[dt], charset, length,
                           field_flags(table, i), decimals, table.db, table.name, col.name)


# ---- the store --------------------------------------------------------------------------------
class Schema:
    """A table: its rowlog.Table (columns, key) and its unique keys by name."""

    def __init__(self, table, uniques, defaults, sql):
        self.created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())  # CREATE_TIME, UTC
        self.t = table
        self.uniques = uniques    # [(name, [column indexes])], PRIMARY first
        self.defaults = defaults  # column index -> default value
        self.sql = sql


class Store:
    def __init__(self, binlog_dir, server_uuid=None, server_id=1, log=None):
        self.log = log      # Peer.log: "write" records
        self.cond = threading.Condition(threading.RLock())
        self.dir = binlog_dir
        self.server_uuid = server_uuid
        self.server_id = server_id
        self.writer = None
        self.dbs = set()
        self.schemas = {}   # (db, name) -> Schema
        self.rows = {}      # (db, name) -> {key tuple: row tuple}
        self.lock_owner = None

    def _writer(self):
        if self.writer is None:
            self.writer = rowlog.BinlogWriter(self.dir, server_uuid=self.server_uuid,
                                              server_id=self.server_id)
        return self.writer

    # ---- locks: FLUSH TABLES WITH READ LOCK holds off every other session's writes ---------
    def wait_writable(self, session):
        while self.lock_owner is not None and self.lock_owner is not session:
            self.cond.wait(0.1)
            if session.closed:
                raise QueryError(1053, "Server shutdown in progress", "08S01")

    def read_lock(self, session):
        with self.cond:
            while self.lock_owner is not None and self.lock_owner is not session:
                self.cond.wait(0.1)
            self.lock_owner = session

    def unlock(self, session):
        with self.cond:
            if self.lock_owner is session:
                self.lock_owner = None
                self.cond.notify_all()

    def copy_rows(self):
        with self.cond:
            return {k: dict(v) for k, v in self.rows.items()}

    # ---- names ----------------------------------------------------------------------------------
    def schema(self, db, name):
        s = self.schemas.get((db, name))
        if s is None:
            raise QueryError(ER_NO_SUCH_TABLE, f"Table '{db}.{name}' doesn't exist", "42S02")
        return s

    @staticmethod
    def full(session, qn):
        db, name = qn
        db = db or session.db
        if not db:
            raise QueryError(ER_NO_DB, "No database selected", "3D000")
        return db, name

    # ---- statements -----------------------------------------------------------------------------
    def execute(self, session, sql):
        """A statement that is not a SELECT: returns the affected rows (for the OK packet), or
        None when the statement is not one of the tables' (the caller answers it)."""
        p = Parser(sql)
        if p.kw("create", "database") or p.kw("create", "schema"):
            return self.create_database(session, p, sql)
        if p.kw("create", "table"):
            return self.create_table(session, p, sql)
        if p.kw("drop", "database") or p.kw("drop", "schema"):
            return self.drop_database(session, p, sql)
        if p.kw("drop", "table"):
            return self.drop_table(session, p, sql)
        if p.kw("insert"):
            return self.insert(session, p)
        if p.kw("update"):
            return self.update(session, p)
        if p.kw("delete", "from"):
            return self.delete(session, p)
        return None

    def _ddl(self, session, db, sql, apply):
        with self.cond:
            self.wait_writable(session)
            apply()
            rec = self._writer().write_query(db, sql)
            if self.log:
                self.log(0, "write", gtid=rec["gtid"], file=rec.get("file"),
                         pos=rec.get("pos"), db=db, sql=sql)

    def create_database(self, session, p, sql):
        ine = p.kw("if", "not", "exists")
        db = p.ident()
        p.done()
        with self.cond:
            if db in self.dbs and not ine:
                raise QueryError(ER_DB_CREATE_EXISTS, f"Can't create database '{db}'; database "
                                 "exists")
            self._ddl(session, db, sql, lambda: self.dbs.add(db))
        return 1

    def drop_database(self, session, p, sql):
        ie = p.kw("if", "exists")
        db = p.ident()
        p.done()
        with self.cond:
            if db not in self.dbs:
                if ie:
                    return 0
                raise QueryError(ER_DB_DROP_EXISTS, f"Can't drop database '{db}'; database "
                                 "doesn't exist")

            def apply():
                self.dbs.discard(db)
                for k in [k for k in self.schemas if k[0] == db]:
                    del self.schemas[k]
                    del self.rows[k]
            self._ddl(session, db, sql, apply)
        return 0

    def drop_table(self, session, p, sql):
        ie = p.kw("if", "exists")
        db, name = self.full(session, p.qname())
        p.done()
        with self.cond:
            if (db, name) not in self.schemas:
                if ie:
                    return 0
                raise QueryError(ER_BAD_TABLE, f"Unknown table '{db}.{name}'", "42S02")

            def apply():
                del self.schemas[(db, name)]
                del self.rows[(db, name)]
            self._ddl(session, db, sql, apply)
        return 0

    def create_table(self, session, p, sql):
        ine = p.kw("if", "not", "exists")
        db, name = self.full(session, p.qname())
        p.expect_op("(")
        cols, pk, uniques = [], None, []
        while True:
            if p.kw("primary", "key"):
                pk = p.ident_list()
            elif p.kw("unique", "key") or p.kw("unique", "index") or p.kw("unique"):
                uname = None if p.at_op("(") else p.ident()
                ucols = p.ident_list()
                uniques.append((uname or ucols[0], ucols))
            elif p.kw("key") or p.kw("index"):
                if not p.at_op("("):
                    p.ident()
                p.ident_list()  # a secondary index: nothing to keep
            else:
                cname = p.ident()
                t = p.take()
                if t.kind != "id":
                    p.fail("a column type")
                ctype = t.text.lower()
                if p.op("("):
                    args = [p.take().text]
                    while p.op(","):
                        args.append(p.take().text)
                    p.expect_op(")")
                    ctype += "(" + ",".join(args) + ")"
                nullable, default = True, None
                while True:
                    if p.kw("unsigned"):
                        ctype += " unsigned"
                    elif p.kw("not", "null"):
                        nullable = False
                    elif p.kw("null"):
                        nullable = True
                    elif p.kw("primary", "key"):
                        pk = [cname]
                        nullable = False
                    elif p.kw("unique", "key") or p.kw("unique"):
                        uniques.append((cname, [cname]))
                    elif p.kw("default"):
                        default = ("expr", p.value())
                    elif p.kw("auto_increment"):
                        raise unsupported("AUTO_INCREMENT")
                    elif p.kw("character", "set") or p.kw("charset") or p.kw("collate"):
                        p.take()
                    else:
                        break
                cols.append((cname, ctype, nullable, default))
            if not p.op(","):
                break
        p.expect_op(")")
        while p.peek().kind != "end" and not p.at_op(";"):
            p.take()  # ENGINE=…, CHARSET=…: InnoDB and utf8mb4 whatever they say
        if pk is None:
            raise unsupported("a table without a PRIMARY KEY")
        with self.cond:
            if db not in self.dbs:
                raise QueryError(ER_BAD_DB, f"Unknown database '{db}'", "42000")
            if (db, name) in self.schemas:
                if ine:
                    return 0
                raise QueryError(ER_TABLE_EXISTS, f"Table '{name}' already exists", "42S01")
            try:
                columns = [rowlog.Column(c, t, nullable=(n and c not in pk))
                           for c, t, n, _ in cols]
            except ValueError as e:
                raise unsupported(str(e)) from None
            names = [c.name.lower() for c in columns]
            for k in pk + [c for _, u in uniques for c in u]:
                if k.lower() not in names:
                    raise QueryError(1072, f"Key column '{k}' doesn't exist in table", "42000")
            table = rowlog.Table(db, name, columns, pk)
            ukeys = [("PRIMARY", [names.index(k.lower()) for k in pk])]
            ukeys += [(u, [names.index(k.lower()) for k in ks]) for u, ks in uniques]
            defs = {}
            for i, (_, _, _, d) in enumerate(cols):
                if d is not None:
                    defs[i] = coerce(columns[i], evaluate(d[1], Scope({})))

            def apply():
                self.schemas[(db, name)] = Schema(table, ukeys, defs, sql)
                self.rows[(db, name)] = {}
            self._ddl(session, db, sql, apply)
        return 0

    # ---- rows -----------------------------------------------------------------------------------
    def _key(self, s, row):
        return tuple(row[i] for i in s.t.key)

    def _check_unique(self, s, rows, row, ignore_key=None):
        """The unique key @row would break (its name), if any, among @rows."""
        for uname, idx in s.uniques:
            if uname == "PRIMARY":
                k = tuple(row[i] for i in idx)
                if k in rows and k != ignore_key:
                    return uname, k
                continue
            vals = tuple(row[i] for i in idx)
            if any(v is None for v in vals):
                continue
            for other_key, other in rows.items():
                if other_key != ignore_key and tuple(other[i] for i in idx) == vals:
                    return uname, vals
        return None

    def _dup(self, s, hit):
        name, vals = hit
        text = "-".join(str(v) for v in vals)
        return QueryError(ER_DUP_ENTRY, f"Duplicate entry '{text}' for key "
                          f"'{s.t.name}.{name}'", "23000")

    def _write(self, s, kind, changes):
        if not changes:
            return
        rec = self._writer().write_rows(s.t, kind, changes)
        if self.log:
            # the peer's own record of every row it wrote, with its GTID (tests replay it)
            def text(row):
                return [v.hex() if isinstance(v, bytes) else v for v in
                        (text_value(c, x) for c, x in zip(s.t.columns, row))]
            rows = [[text(b), text(a)] for b, a in changes] if kind == "update" else \
                [text(r) for r in changes]
            self.log(0, "write", gtid=rec["gtid"], file=rec.get("file"), pos=rec.get("pos"),
                     db=s.t.db, table=s.t.name, kind=kind,
                     columns=[c.name for c in s.t.columns], rows=rows)

    def insert(self, session, p):
        ignore = p.kw("ignore")
        p.expect_kw("into")
        db, name = self.full(session, p.qname())
        s = self.schema(db, name)
        cols = s.t.columns
        names = [c.name.lower() for c in cols]
        target = list(range(len(cols)))
        if p.at_op("("):
            listed = p.ident_list()
            for c in listed:
                if c.lower() not in names:
                    raise QueryError(ER_BAD_FIELD, f"Unknown column '{c}' in 'field list'",
                                     "42S22")
            target = [names.index(c.lower()) for c in listed]
        if not (p.kw("values") or p.kw("value")):
            p.fail("VALUES")
        tuples = []
        while True:
            p.expect_op("(")
            vals = [p.value()]
            while p.op(","):
                vals.append(p.value())
            p.expect_op(")")
            if len(vals) != len(target):
                raise QueryError(ER_WRONG_VALUE_COUNT, "Column count doesn't match value count "
                                 f"at row {len(tuples) + 1}", "21S01")
            tuples.append(vals)
            if not p.op(","):
                break
        upd = None
        if p.kw("on", "duplicate", "key", "update"):
            upd = self._assignments(p, names)
        p.done()
        with self.cond:
            self.wait_writable(session)
            rows = self.rows[(db, name)]
            inserts, updates = [], []
            staged = dict(rows)
            for vals in tuples:
                row = [s.defaults.get(i) for i in range(len(cols))]
                for i, v in zip(target, vals):
                    row[i] = coerce(cols[i], evaluate(v, Scope({})))
                for i, c in enumerate(cols):
                    if row[i] is None and not c.nullable:
                        if i in target:
                            raise QueryError(ER_BAD_NULL, f"Column '{c.name}' cannot be null",
                                             "23000")
                        raise QueryError(ER_NO_DEFAULT, f"Field '{c.name}' doesn't have a "
                                         "default value")
                row = tuple(row)
                hit = self._check_unique(s, staged, row)
                if hit is None:
                    staged[self._key(s, row)] = row
                    inserts.append(row)
                    continue
                if upd is not None and hit[0] == "PRIMARY":
                    old = staged[hit[1]]
                    incoming = dict(zip(names, row))
                    new = self._assign(s, old, upd, incoming)
                    if new != old:
                        del staged[hit[1]]
                        hit2 = self._check_unique(s, staged, new)
                        if hit2 is not None:
                            raise self._dup(s, hit2)
                        staged[self._key(s, new)] = new
                        updates.append((old, new))
                    continue
                if ignore:
                    continue
                raise self._dup(s, hit)
            # one statement, one transaction: inserts and updates apart only when both occur
            if inserts and updates:
                raise unsupported("INSERT … ON DUPLICATE KEY UPDATE that both inserts and "
                                  "updates")
            self._write(s, "insert", inserts)
            self._write(s, "update", updates)
            self.rows[(db, name)] = staged
        return len(inserts) + 2 * len(updates)

    def _assignments(self, p, names):
        out = []
        while True:
            c = p.ident()
            if c.lower() not in names:
                raise QueryError(ER_BAD_FIELD, f"Unknown column '{c}' in 'field list'", "42S22")
            p.expect_op("=")
            out.append((names.index(c.lower()), p.value()))
            if not p.op(","):
                return out

    def _assign(self, s, row, assigns, incoming=None):
        names = [c.name.lower() for c in s.t.columns]
        scope = Scope(dict(zip(names, row)), incoming=incoming)
        new = list(row)
        for i, expr in assigns:  # MySQL: left to right, each seeing the ones before
            new[i] = coerce(s.t.columns[i], evaluate(expr, scope))
            if new[i] is None and not s.t.columns[i].nullable:
                raise QueryError(ER_BAD_NULL, f"Column '{s.t.columns[i].name}' cannot be null",
                                 "23000")
            scope.row[names[i]] = new[i]
        return tuple(new)

    def _where(self, s, p):
        if p.kw("where"):
            cond = p.condition()
            names = {c.name.lower() for c in s.t.columns}
            for c in columns_named(cond):
                if c not in names:
                    raise QueryError(ER_BAD_FIELD, f"Unknown column '{c}' in 'where clause'",
                                     "42S22")
            return cond
        return None

    def matcher(self, s, cond, params=()):
        names = [c.name.lower() for c in s.t.columns]
        bycol = {c.name.lower(): c for c in s.t.columns}

        def co(name, v):
            try:
                return coerce(bycol[name.lower()], v)
            except QueryError:
                return v  # compared as it is (a value the column cannot hold matches nothing)

        def match(row):
            if cond is None:
                return True
            return truth(evaluate(cond, Scope(dict(zip(names, row)), params, co))) is True
        return match

    def update(self, session, p):
        ignore = p.kw("ignore")
        db, name = self.full(session, p.qname())
        s = self.schema(db, name)
        p.expect_kw("set")
        assigns = self._assignments(p, [c.name.lower() for c in s.t.columns])
        cond = self._where(s, p)
        p.done()
        with self.cond:
            rows, hits = self._matching(session, s, cond)
            staged = dict(rows)
            pairs = []
            for k, old in hits:
                new = self._assign(s, old, assigns)
                if new == old:
                    continue
                del staged[k]
                hit = self._check_unique(s, staged, new)
                if hit is not None:
                    if ignore:
                        staged[k] = old
                        continue
                    raise self._dup(s, hit)
                staged[self._key(s, new)] = new
                pairs.append((old, new))
            self._write(s, "update", pairs)
            self.rows[(db, name)] = staged
        return len(pairs)

    def delete(self, session, p):
        db, name = self.full(session, p.qname())
        s = self.schema(db, name)
        cond = self._where(s, p)
        p.done()
        with self.cond:
            rows, hits = self._matching(session, s, cond)
            self._write(s, "delete", [r for _, r in hits])
            staged = dict(rows)
            for k, _ in hits:
                del staged[k]
            self.rows[(db, name)] = staged
        return len(hits)

    def _matching(self, session, s, cond):
        """Under self.cond, once this session may write: the table's rows, and the (key, row)
        pairs @cond matches in key order."""
        self.wait_writable(session)
        rows = self.rows[(s.t.db, s.t.name)]
        match = self.matcher(s, cond)
        return rows, [(k, rows[k]) for k in sorted(rows, key=sort_key) if match(rows[k])]

    # ---- SELECT ---------------------------------------------------------------------------------
    def prepare_select(self, session, sql):
        """SELECT items FROM [db.]t [WHERE cond] [ORDER BY cols] [LIMIT n|?]: a Select, or None
        when the statement reads no table (the caller answers it)."""
        if " from " not in " ".join(sql.split()).lower():
            return None  # SELECT @@var, SELECT VERSION(), …: not parsed here
        p = Parser(sql)
        if not p.kw("select"):
            return None
        items = []
        while True:
            if p.op("*"):
                items.append(("*",))
            else:
                v = p.value()
                alias = None
                if p.kw("as"):
                    alias = p.ident()
                items.append(("v", v, alias))
            if not p.op(","):
                break
        if not p.kw("from"):
            return None
        db, name = self.full(session, p.qname())
        if db.lower() in ("mysql", "performance_schema", "sys"):
            raise unsupported(f"the system tables of {db}")
        if db.lower() == "information_schema":
            return InfoSelect(self, p, name, items)
        s = self.schema(db, name)
        return Select(self, p, s, items)


def sort_key(k):
    return tuple((v is not None, v) for v in k)


class Select:
    """A parsed SELECT of a table; run() gives (column definitions, rows of values)."""

    def __init__(self, store, p, s, items):
        self.store, self.s = store, s
        names = [c.name.lower() for c in s.t.columns]
        self.out = []   # (column index or None, expression, alias)
        for it in items:
            if it[0] == "*":
                self.out += [(i, None, None) for i in range(len(names))]
            elif it[1][0] == "col":
                n = it[1][1].lower()
                if n not in names:
                    raise QueryError(ER_BAD_FIELD, f"Unknown column '{it[1][1]}' in 'field "
                                     "list'", "42S22")
                self.out.append((names.index(n), None, it[2]))
            elif it[1][0] == "lit":
                self.out.append((None, it[1], it[2]))
            else:
                raise unsupported("an expression in a SELECT of a table")
        self.cond = store._where(s, p)
        self.order = []
        if p.kw("order", "by"):
            while True:
                c = p.ident().lower()
                if c not in names:
                    raise QueryError(ER_BAD_FIELD, f"Unknown column '{c}' in 'order clause'",
                                     "42S22")
                desc = p.kw("desc")
                if not desc:
                    p.kw("asc")
                self.order.append((names.index(c), desc))
                if not p.op(","):
                    break
        self.limit = None
        if p.kw("limit"):
            t = p.take()
            if t.kind == "param":
                p.nparams += 1
                self.limit = ("param", p.nparams - 1)
            elif t.kind == "num":
                self.limit = ("lit", int(t.value))
            else:
                p.fail("a LIMIT")
        p.done()
        self.nparams = p.nparams

    def columns(self):
        out = []
        for i, lit, alias in self.out:
            if i is None:
                out.append(("lit", alias or str(lit[1])))
            else:
                out.append(("col", i, alias))
        return out

    def run(self, session, params=()):
        st, s = self.store, self.s
        limit = None
        if self.limit is not None:
            limit = int(evaluate(self.limit, Scope({}, params)))
        with st.cond:
            snap = session.snap
            rows = (snap if snap is not None else st.rows).get((s.t.db, s.t.name))
            if rows is None:
                raise QueryError(ER_NO_SUCH_TABLE, f"Table '{s.t.db}.{s.t.name}' doesn't exist",
                                 "42S02")
            match = st.matcher(s, self.cond, params)
            hits = [r for r in rows.values() if match(r)]
        if self.order:
            for i, desc in reversed(self.order):
                hits.sort(key=lambda r, i=i: (r[i] is not None, r[i]), reverse=desc)
        else:
            hits.sort(key=lambda r: sort_key(tuple(r[i] for i in s.t.key)))
        if limit is not None:
            hits = hits[:limit]
        return [[r[i] if i is not None else lit[1] for i, lit, _ in self.out] for r in hits]


class InfoSelect:
    """SELECT cols FROM information_schema.TABLES|COLUMNS|STATISTICS WHERE … [ORDER BY …]."""

    COLUMNS = {
        "tables": ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE", "ENGINE",
                   "TABLE_ROWS", "CREATE_TIME"],
        "columns": ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME",
                    "ORDINAL_POSITION", "IS_NULLABLE", "DATA_TYPE", "COLUMN_TYPE",
                    "CHARACTER_SET_NAME", "NUMERIC_PRECISION", "NUMERIC_SCALE",
                    "DATETIME_PRECISION", "COLUMN_KEY"],
        "statistics": ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "NON_UNIQUE",
                       "INDEX_NAME", "SEQ_IN_INDEX", "COLUMN_NAME", "SUB_PART"],
    }

    def __init__(self, store, p, name, items):
        self.store = store
        self.kind = name.lower()
        if self.kind not in self.COLUMNS:
            raise unsupported(f"information_schema.{name}")
        cols = self.COLUMNS[self.kind]
        self.out = []
        for it in items:
            if it[0] == "*":
                self.out += cols
            elif it[1][0] == "col" and it[1][1].upper() in cols:
                self.out.append(it[1][1].upper())
            else:
                raise unsupported(f"a column of information_schema.{name}")
        self.cond = p.condition() if p.kw("where") else None
        self.order = []
        if p.kw("order", "by"):
            while True:
                self.order.append(p.ident().upper())
                if not p.op(","):
                    break
        p.done()
        self.nparams = p.nparams

    def columns(self):
        return [("info", c) for c in self.out]

    def rows(self):
        st = self.store
        out = []
        with st.cond:
            for (db, name), s in sorted(st.schemas.items()):
                base = {"TABLE_CATALOG": "def", "TABLE_SCHEMA": db, "TABLE_NAME": name}
                if self.kind == "tables":
                    out.append(dict(base, TABLE_TYPE="BASE TABLE", ENGINE="InnoDB",
                                    TABLE_ROWS=len(st.rows[(db, name)]), CREATE_TIME=s.created))
                elif self.kind == "columns":
                    for i, c in enumerate(s.t.columns):
                        out.append(dict(
                            base, COLUMN_NAME=c.name, ORDINAL_POSITION=i + 1,
                            IS_NULLABLE="YES" if c.nullable else "NO", DATA_TYPE=c.data_type,
                            COLUMN_TYPE=c.sqltype, CHARACTER_SET_NAME=c.character_set_name,
                            NUMERIC_PRECISION=c.precision, NUMERIC_SCALE=c.scale,
                            DATETIME_PRECISION=c.fsp,
                            COLUMN_KEY="PRI" if i in s.t.key else ""))
                else:
                    for uname, idx in s.uniques:
                        for seq, i in enumerate(idx):
                            out.append(dict(base, NON_UNIQUE=0, INDEX_NAME=uname,
                                            SEQ_IN_INDEX=seq + 1,
                                            COLUMN_NAME=s.t.columns[i].name, SUB_PART=None))
        return out

    def run(self, session, params=()):
        rows = self.rows()

        def co(_name, v):
            return v
        hits = []
        for r in rows:
            scope = Scope({k.lower(): v for k, v in r.items()}, params, co)
            if self.cond is None or truth(evaluate(self.cond, scope)) is True:
                hits.append(r)
        for c in reversed(self.order):
            hits.sort(key=lambda r, c=c: (r[c] is not None, r[c]))
        return [[r[c] for c in self.out] for r in hits]
