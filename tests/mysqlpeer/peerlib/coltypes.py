"""MySQL column types as the peer's table store needs them: the information_schema view of a
type (COLUMN_TYPE, DATA_TYPE, NUMERIC_PRECISION, …), SQL literals parsed and checked as MySQL
8.4's strict mode does (ColumnValueError with MySQL's errno and message), and each value's
bytes in a binlog row image (Field_*::pack, decimal2bin, my_datetime_packed_to_binary,
my_time_packed_to_binary, my_timestamp_to_binary, and json_binary.cc's binary JSON).

Types: tinyint, smallint, mediumint, int, bigint (each optionally unsigned), decimal(P,S),
float, double, date, datetime(F), timestamp(F), time(F), char(N), varchar(N),
tinytext/text/mediumtext/longtext (utf8mb4, collation 255 utf8mb4_0900_ai_ci), varbinary(N),
tinyblob/blob/mediumblob/longblob, enum(…), set(…) (utf8mb4), json. Python values: int,
Decimal, float, datetime.date, datetime.datetime (naive, UTC), datetime.timedelta, str, bytes,
str for enum (the member) and set (members joined by commas, in definition order), str of JSON
text for json, None for NULL. Not supported: bit, year, binary(N), geometry, other character
sets. rowlog.py writes the rows; it re-exports Column and ColumnValueError.
"""
import datetime
import decimal
import json
import re
import struct

# binlog column types (include/field_types.h)
T_TINY, T_SHORT, T_LONG, T_FLOAT, T_DOUBLE = 1, 2, 3, 4, 5
T_LONGLONG, T_INT24, T_DATE, T_VARCHAR = 8, 9, 10, 15
T_TIMESTAMP2, T_DATETIME2, T_TIME2 = 17, 18, 19
T_JSON, T_NEWDECIMAL, T_BLOB, T_STRING = 245, 246, 252, 254
T_ENUM, T_SET = 247, 248  # real types; the binlog type of both is MYSQL_TYPE_STRING

UTF8MB4 = 255  # utf8mb4_0900_ai_ci
BINARY = 63


class ColumnValueError(ValueError):
    """A value that does not fit its column; errno/sqlstate are MySQL's for the case."""

    def __init__(self, msg, errno=1366, sqlstate="HY000"):
        super().__init__(msg)
        self.errno = errno
        self.sqlstate = sqlstate


# ---- column types ---------------------------------------------------------------------------
_INTS = {  # name: (binlog type, bytes, precision signed, precision unsigned)
    "tinyint": (T_TINY, 1, 3, 3), "smallint": (T_SHORT, 2, 5, 5),
    "mediumint": (T_INT24, 3, 7, 8), "int": (T_LONG, 4, 10, 10),
    "bigint": (T_LONGLONG, 8, 19, 20)}
_BLOBS = {  # name: (pack length, charset)
    "tinyblob": (1, BINARY), "blob": (2, BINARY), "mediumblob": (3, BINARY),
    "longblob": (4, BINARY), "tinytext": (1, UTF8MB4), "text": (2, UTF8MB4),
    "mediumtext": (3, UTF8MB4), "longtext": (4, UTF8MB4)}
_ALIASES = {"integer": "int", "dec": "decimal", "numeric": "decimal", "fixed": "decimal",
            "real": "double", "double precision": "double", "bool": "tinyint(1)",
            "boolean": "tinyint(1)", "character varying": "varchar", "character": "char"}
_TYPE_RE = re.compile(r"^([a-z]+(?: precision| varying)?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?"
                      r"((?:\s+(?:unsigned|signed))*)$")
# the columns TABLE_MAP's SIGNEDNESS covers (log_event.cc, is_numeric_type) and those its
# DEFAULT_CHARSET / COLUMN_CHARSET cover (is_character_type of the real type: not enum/set)
NUMERIC_TYPES = {T_TINY, T_SHORT, T_INT24, T_LONG, T_LONGLONG, T_NEWDECIMAL, T_FLOAT,
                 T_DOUBLE}
CHARACTER_TYPES = {T_STRING, T_VARCHAR, T_BLOB}


class Column:
    """One column: its MySQL type as information_schema.COLUMNS shows it, and its binlog
    encoding. Attributes: name, sqltype (COLUMN_TYPE), data_type (DATA_TYPE), nullable,
    unsigned, charset ('utf8mb4', 'binary', None for other types), character_set_name (as
    CHARACTER_SET_NAME: None for binary strings too), collation (255, 63 or None),
    max_length / octet_length (CHARACTER_MAXIMUM_LENGTH / _OCTET_LENGTH or None), precision,
    scale (NUMERIC_PRECISION / NUMERIC_SCALE), fsp (DATETIME_PRECISION), mysql_type (the
    binlog MYSQL_TYPE_* code)."""

    def __init__(self, name, sqltype, nullable=True, visible=True):
        self.name = name
        self.nullable = bool(nullable)
        self.visible = bool(visible)  # False: an INVISIBLE column (COLUMN_VISIBILITY)
        self.unsigned = False
        self.charset = self.character_set_name = self.collation = None
        self.max_length = self.octet_length = None
        self.precision = self.scale = self.fsp = None
        self.real_type = self.members = None  # enum/set: T_ENUM/T_SET and the member names
        m = re.match(r"^\s*(enum|set)\s*\((.*)\)\s*$", str(sqltype), re.I | re.S)
        if m:
            self._enum_set(m.group(1).lower(), m.group(2), sqltype)
        else:
            self._parse_type(sqltype)

    def _enum_set(self, kind, body, text):
        members, rest = [], body
        while True:
            m = re.match(r"\s*('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\")\s*(,|$)", rest,
                         re.S)
            if not m:
                raise ValueError(f"column {self.name!r}: bad {kind} definition {text!r}")
            members.append(literal_value(m.group(1)).rstrip(" "))
            rest = rest[m.end():]
            if m.group(2) != ",":
                break
        folded = [x.lower() for x in members]
        if len(set(folded)) != len(folded):
            raise ValueError(f"column {self.name!r}: duplicate value in {text!r}")
        if kind == "set" and (len(members) > 64 or any("," in x for x in members)):
            raise ValueError(f"column {self.name!r}: a set has at most 64 values, without "
                             f"commas: {text!r}")
        if kind == "enum" and len(members) > 65535:
            raise ValueError(f"column {self.name!r}: too many enum values")
        self.data_type = kind
        self.mysql_type = T_STRING
        self.real_type = T_ENUM if kind == "enum" else T_SET
        self.members = members
        if kind == "enum":
            self.size = 1 if len(members) < 256 else 2
            self.max_length = max(len(x) for x in members)
        else:
            n = (len(members) + 7) // 8
            self.size = 8 if n > 4 else n
            self.max_length = sum(len(x) for x in members) + len(members) - 1
        self.octet_length = self.max_length * 4
        self._set_charset(UTF8MB4)
        quoted = ",".join("'" + x.replace("\\", "\\\\").replace("'", "''") + "'"
                          for x in members)
        self.sqltype = f"{kind}({quoted})"

    def __repr__(self):
        return f"Column({self.name!r}, {self.sqltype!r}, nullable={self.nullable})"

    def _parse_type(self, text):
        t = " ".join(str(text).lower().split())
        for a, b in _ALIASES.items():
            if t == a or t.startswith(a + "(") or t.startswith(a + " "):
                t = b + t[len(a):]
                break
        m = _TYPE_RE.match(t)
        if not m:
            raise ValueError(f"column {self.name!r}: unsupported type {text!r}")
        base, a1, a2, sign = m.group(1), m.group(2), m.group(3), m.group(4).split()
        a1 = int(a1) if a1 is not None else None
        a2 = int(a2) if a2 is not None else None
        if "unsigned" in sign:
            if base not in _INTS:
                raise ValueError(f"column {self.name!r}: 'unsigned' is supported only for "
                                 f"integer types, not {text!r}")
            self.unsigned = True
        self.data_type = base

        def no_args():
            if a1 is not None:
                raise ValueError(f"column {self.name!r}: {base} takes no length: {text!r}")

        if base in _INTS:
            if a2 is not None:
                raise ValueError(f"column {self.name!r}: bad type {text!r}")
            self.mysql_type, self.size, ps, pu = _INTS[base]
            self.precision, self.scale = (pu if self.unsigned else ps), 0
            # 8.0.19+ prints no display width, except tinyint(1)
            width = "(1)" if base == "tinyint" and a1 == 1 else ""
            self.sqltype = base + width + (" unsigned" if self.unsigned else "")
        elif base == "decimal":
            p = 10 if a1 is None else a1
            s = 0 if a2 is None else a2
            if not 1 <= p <= 65 or not 0 <= s <= 30 or s > p:
                raise ValueError(f"column {self.name!r}: bad decimal precision/scale {text!r}")
            self.mysql_type, self.precision, self.scale = T_NEWDECIMAL, p, s
            self.sqltype = f"decimal({p},{s})"
        elif base in ("float", "double"):
            no_args()
            self.mysql_type = T_FLOAT if base == "float" else T_DOUBLE
            self.precision = 12 if base == "float" else 22
            self.sqltype = base
        elif base == "date":
            no_args()
            self.mysql_type, self.sqltype = T_DATE, "date"
        elif base in ("datetime", "timestamp", "time"):
            f = 0 if a1 is None else a1
            if not 0 <= f <= 6 or a2 is not None:
                raise ValueError(f"column {self.name!r}: fractional seconds precision must be "
                                 f"0..6: {text!r}")
            self.mysql_type = {"datetime": T_DATETIME2, "timestamp": T_TIMESTAMP2,
                               "time": T_TIME2}[base]
            self.fsp = f
            self.sqltype = base + (f"({f})" if f else "")
        elif base in ("char", "varchar", "varbinary"):
            if base == "varchar" and a1 is None or base == "varbinary" and a1 is None:
                raise ValueError(f"column {self.name!r}: {base} needs a length: {text!r}")
            n = 1 if a1 is None else a1
            binary = base == "varbinary"
            mb = 1 if binary else 4
            if a2 is not None or base == "char" and n > 255 or n * mb > 65535:
                raise ValueError(f"column {self.name!r}: bad length in {text!r}")
            self.mysql_type = T_STRING if base == "char" else T_VARCHAR
            self.max_length, self.octet_length = n, n * mb
            self._set_charset(BINARY if binary else UTF8MB4)
            self.sqltype = f"{base}({n})"
        elif base == "json":
            no_args()
            self.mysql_type, self.size, self.sqltype = T_JSON, 4, "json"
        elif base in _BLOBS:
            no_args()
            self.size, cs = _BLOBS[base]
            self.mysql_type = T_BLOB
            self.octet_length = (1 << (8 * self.size)) - 1
            self.max_length = self.octet_length if cs == BINARY else self.octet_length // 4
            self._set_charset(cs)
            self.sqltype = base
        else:
            raise ValueError(f"column {self.name!r}: type {text!r} is not supported by rowlog "
                             "(no bit, year, binary, geometry)")

    def _set_charset(self, collation):
        self.collation = collation
        self.charset = "binary" if collation == BINARY else "utf8mb4"
        self.character_set_name = None if collation == BINARY else "utf8mb4"

    # ---- binlog metadata ---------------------------------------------------------------------
    def metadata(self):
        """The column's bytes in TABLE_MAP's metadata block (Field::do_save_field_metadata)."""
        t = self.mysql_type
        if t == T_NEWDECIMAL:
            return bytes([self.precision, self.scale])
        if t == T_FLOAT:
            return b"\x04"
        if t == T_DOUBLE:
            return b"\x08"
        if t in (T_DATETIME2, T_TIMESTAMP2, T_TIME2):
            return bytes([self.fsp])
        if t == T_VARCHAR:
            return struct.pack("<H", self.octet_length)
        if self.real_type:
            return bytes([self.real_type, self.size])
        if t == T_STRING:
            n = self.octet_length
            return bytes([T_STRING ^ ((n & 0x300) >> 4), n & 0xFF])
        if t in (T_BLOB, T_JSON):
            return bytes([self.size])
        return b""

    def _enum_set_value(self, raw, quoted):
        """enum: a member (any case) or its 1-based index; set: members joined by commas or
        a bit mask -> the canonical text (definition order)."""
        folded = [x.lower() for x in self.members]
        trunc = ColumnValueError(f"Data truncated for column '{self.name}' at row 1", 1265,
                                 "01000")
        if isinstance(raw, int) or not quoted and isinstance(raw, str) and raw.isdigit():
            n = int(raw)
            if self.real_type == T_ENUM:
                if not 1 <= n <= len(self.members):
                    raise trunc
                return self.members[n - 1]
            if not 0 <= n < 1 << len(self.members):
                raise trunc
            return ",".join(x for i, x in enumerate(self.members) if n >> i & 1)
        if not isinstance(raw, str):
            raise self._err("string", raw)
        if self.real_type == T_ENUM:
            v = raw.rstrip(" ").lower()
            if v not in folded:
                raise trunc
            return self.members[folded.index(v)]
        mask = 0
        for part in raw.split(",") if raw else []:
            p = part.rstrip(" ").lower()
            if p not in folded:
                raise trunc
            mask |= 1 << folded.index(p)
        return ",".join(x for i, x in enumerate(self.members) if mask >> i & 1)

    # ---- values --------------------------------------------------------------------------------
    def _err(self, what, value, errno=1366):
        return ColumnValueError(f"Incorrect {what} value: '{value}' for column '{self.name}' "
                                "at row 1", errno)

    def _range(self):
        return ColumnValueError(f"Out of range value for column '{self.name}' at row 1", 1264,
                                "22003")

    def _too_long(self):
        return ColumnValueError(f"Data too long for column '{self.name}' at row 1", 1406,
                                "22001")

    def parse(self, text):
        """A SQL literal (as written in the statement: NULL, a number, 'quoted' or "quoted"
        text with MySQL's escapes, X'hex', 0xhex, TRUE/FALSE) -> the Python value the column
        stores, checked as MySQL 8.4's strict mode checks it (ColumnValueError, a ValueError,
        with MySQL's message and errno). Also accepts a Python value of the right kind."""
        if text is None or isinstance(text, str) and text.strip().upper() == "NULL":
            if not self.nullable:
                raise ColumnValueError(f"Column '{self.name}' cannot be null", 1048, "23000")
            return None
        if not isinstance(text, str):
            return self.check(text)
        return self.convert(literal_value(text), text.strip()[:1] in "'\"_")

    def convert(self, raw, quoted):
        """A literal's value (literal_value(): str, bytes, or the text of a number or date;
        @quoted: it was a quoted string) -> the Python value the column stores, checked as
        parse() checks it. (peerlib/tables.py, whose tokenizer has unquoted it already.)"""
        t = self.mysql_type
        if self.real_type:
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8", "replace")
            return self._enum_set_value(raw, quoted)
        if t in NUMERIC_TYPES:
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8", "replace")
            s = raw.strip()
            if t in (T_FLOAT, T_DOUBLE):
                try:
                    v = float(s)
                except ValueError:
                    raise self._err("double" if t == T_DOUBLE else "float", raw) from None
                return self.check(v)
            try:
                d = decimal.Decimal(s)
                if not d.is_finite():
                    raise decimal.InvalidOperation
            except decimal.InvalidOperation:
                raise self._err("decimal" if t == T_NEWDECIMAL else "integer", raw) from None
            if t == T_NEWDECIMAL:
                return self.check(d)
            return self.check(int(d.to_integral_value(decimal.ROUND_HALF_UP)))
        if t in (T_DATE, T_DATETIME2, T_TIMESTAMP2):
            s = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            return self.check(self._parse_datetime(s.strip()))
        if t == T_TIME2:
            s = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            return self.check(self._parse_time(s.strip()))
        if t == T_JSON:
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8", "replace")
            return self.check(raw)
        if self.collation == BINARY:
            return self.check(raw.encode() if isinstance(raw, str) else raw)
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self._err("string", raw.hex()) from None
        return self.check(raw)

    def _parse_datetime(self, s):
        m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})"
                     r"(?:\.(\d*))?)?$", s)
        what = {T_DATE: "date", T_DATETIME2: "datetime", T_TIMESTAMP2: "datetime"}[
            self.mysql_type]
        if not m or self.mysql_type == T_DATE and m.group(4) is not None:
            raise self._err(what, s, 1292)
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        try:
            if self.mysql_type == T_DATE:
                return datetime.date(y, mo, d)
            v = datetime.datetime(y, mo, d, int(m.group(4) or 0), int(m.group(5) or 0),
                                  int(m.group(6) or 0))
        except ValueError:
            raise self._err(what, s, 1292) from None
        return v + _round_frac(m.group(7) or "", self.fsp)

    def _parse_time(self, s):
        m = re.match(r"^(-)?(?:(\d+) )?(\d+):(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?)?$", s)
        if not m or int(m.group(4)) > 59 or int(m.group(5) or 0) > 59:
            raise self._err("time", s, 1292)
        secs = (int(m.group(2) or 0) * 24 + int(m.group(3))) * 3600 + int(m.group(4)) * 60 \
            + int(m.group(5) or 0)
        v = datetime.timedelta(seconds=secs) + _round_frac(m.group(6) or "", self.fsp)
        return -v if m.group(1) else v

    def check(self, v):
        """@v (a Python value) as the column stores it, or ColumnValueError."""
        if v is None:
            if not self.nullable:
                raise ColumnValueError(f"Column '{self.name}' cannot be null", 1048, "23000")
            return None
        t = self.mysql_type
        if t in _INTS_T:
            if isinstance(v, bool) or not isinstance(v, int):
                raise self._err("integer", v)
            bits = 8 * self.size
            lo, hi = (0, (1 << bits) - 1) if self.unsigned else (-(1 << bits - 1),
                                                               (1 << bits - 1) - 1)
            if not lo <= v <= hi:
                raise self._range()
            return v
        if t == T_NEWDECIMAL:
            if not isinstance(v, (decimal.Decimal, int)):
                raise self._err("decimal", v)
            d = decimal.Decimal(v)
            if not d.is_finite():
                raise self._err("decimal", v)
            with decimal.localcontext() as ctx:
                ctx.prec = 100
                d = d.quantize(decimal.Decimal(1).scaleb(-self.scale), decimal.ROUND_HALF_UP)
                if abs(d) >= decimal.Decimal(10) ** (self.precision - self.scale):
                    raise self._range()
            return d
        if t in (T_FLOAT, T_DOUBLE):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self._err("double", v)
            v = float(v)
            if v != v or v in (float("inf"), float("-inf")):
                raise self._range()
            if t == T_FLOAT:
                try:
                    v = struct.unpack("<f", struct.pack("<f", v))[0]
                except OverflowError:
                    raise self._range() from None
            return v
        if t == T_DATE:
            if type(v) is not datetime.date:
                raise self._err("date", v, 1292)
            return v
        if t in (T_DATETIME2, T_TIMESTAMP2):
            if not isinstance(v, datetime.datetime) or v.tzinfo is not None:
                raise self._err("datetime", v, 1292)
            v = v.replace(microsecond=0) + _round_frac(f"{v.microsecond:06d}", self.fsp)
            if t == T_TIMESTAMP2 and not (datetime.datetime(1970, 1, 1, 0, 0, 1) <= v
                                          < datetime.datetime(2038, 1, 19, 3, 14, 8)):
                raise self._err("datetime", v, 1292)
            return v
        if t == T_TIME2:
            if not isinstance(v, datetime.timedelta):
                raise self._err("time", v, 1292)
            us = abs(v) // datetime.timedelta(microseconds=1)
            us = int(_round_frac(f"{us % 1000000:06d}", self.fsp)
                     // datetime.timedelta(microseconds=1)) + us // 1000000 * 1000000
            if us > 838 * 3600 * 1000000 + 59 * 60 * 1000000 + 59 * 1000000:
                raise self._err("time", v, 1292)
            return datetime.timedelta(microseconds=-us if v < datetime.timedelta(0) else us)
        if self.real_type:
            return self._enum_set_value(v, True)
        if t == T_JSON:
            if not isinstance(v, str):
                raise ColumnValueError(f"Invalid JSON value for column '{self.name}'", 3140,
                                       "22032")
            try:
                doc = json_loads(v)
            except ValueError as e:
                raise ColumnValueError(f"Invalid JSON text: \"{e}\" at row 1 for column "
                                       f"'{self.name}'", 3140, "22032") from None
            return json_text(doc)
        # strings
        if self.collation == BINARY:
            if not isinstance(v, (bytes, bytearray)):
                raise self._err("string", v)
            v = bytes(v)
            if len(v) > self.octet_length:
                raise self._too_long()
            return v
        if not isinstance(v, str):
            raise self._err("string", v)
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError:
            raise self._err("string", v.encode("utf-8", "backslashreplace").decode()) from None
        if t == T_BLOB:
            if len(b) > self.octet_length:
                raise self._too_long()
        elif len(v) > self.max_length:
            raise self._too_long()
        if t == T_STRING:
            v = v.rstrip(" ")  # CHAR: MySQL drops trailing spaces when it reads the value
        return v

    def encode(self, v):
        """The binlog row image bytes of non-NULL value @v (already check()ed)."""
        t = self.mysql_type
        if t in _INTS_T:
            return (v & ((1 << 8 * self.size) - 1)).to_bytes(self.size, "little")
        if t == T_NEWDECIMAL:
            return decimal_bin(v, self.precision, self.scale)
        if t == T_FLOAT:
            return struct.pack("<f", v)
        if t == T_DOUBLE:
            return struct.pack("<d", v)
        if t == T_DATE:
            return (v.day | v.month << 5 | v.year << 9).to_bytes(3, "little")
        if t == T_DATETIME2:
            ymd = ((v.year * 13 + v.month) << 5) | v.day
            hms = (v.hour << 12) | (v.minute << 6) | v.second
            intpart = ((ymd << 17) | hms) + 0x8000000000
            return intpart.to_bytes(5, "big") + _frac_bytes(v.microsecond, self.fsp)
        if t == T_TIMESTAMP2:
            secs = (v - datetime.datetime(1970, 1, 1)) // datetime.timedelta(seconds=1)
            return struct.pack(">I", secs) + _frac_bytes(v.microsecond, self.fsp)
        if t == T_TIME2:
            return time_bin(v, self.fsp)
        if self.real_type == T_ENUM:
            return (self.members.index(v) + 1).to_bytes(self.size, "little")
        if self.real_type == T_SET:
            mask = 0
            for part in v.split(",") if v else []:
                mask |= 1 << self.members.index(part)
            return mask.to_bytes(self.size, "little")
        if t == T_JSON:
            b = json_binary(json_loads(v))
            return struct.pack("<I", len(b)) + b
        b = v if isinstance(v, bytes) else v.encode("utf-8")
        if t == T_BLOB:
            return len(b).to_bytes(self.size, "little") + b
        lb = 1 if self.octet_length < 256 else 2
        return len(b).to_bytes(lb, "little") + b


_INTS_T = {T_TINY, T_SHORT, T_INT24, T_LONG, T_LONGLONG}


def _round_frac(digits, fsp):
    """timedelta of the fraction '.@digits' rounded half up to @fsp digits (may be 1 s)."""
    if not digits:
        return datetime.timedelta(0)
    d = decimal.Decimal("0." + digits).quantize(decimal.Decimal(1).scaleb(-fsp),
                                                 decimal.ROUND_HALF_UP)
    return datetime.timedelta(microseconds=int(d * 1000000))


def _frac_bytes(usec, fsp):
    """The fractional part of DATETIME2/TIMESTAMP2 (big-endian, (fsp+1)//2 bytes)."""
    if fsp == 0:
        return b""
    if fsp <= 2:
        return bytes([usec // 10000])
    if fsp <= 4:
        return struct.pack(">H", usec // 100)
    return usec.to_bytes(3, "big")


def time_bin(v, fsp):
    """TIME2 (my_time_packed_to_binary): the packed value ±((h<<12|m<<6|s)<<24 + usec)."""
    us = v // datetime.timedelta(microseconds=1)
    neg, a = us < 0, abs(us)
    secs, usec = divmod(a, 1000000)
    h, rem = divmod(secs, 3600)
    hms = (h << 12) | ((rem // 60) << 6) | (rem % 60)
    nr = (hms << 24) + usec
    if neg:
        nr = -nr
    if fsp >= 5:
        return (nr + 0x800000000000).to_bytes(6, "big")
    intpart = nr >> 24  # arithmetic shift, as MY_PACKED_TIME_GET_INT_PART
    frac = -(-nr % (1 << 24)) if nr < 0 else nr % (1 << 24)  # C's %, truncating
    out = (intpart + 0x800000).to_bytes(3, "big")
    if fsp == 0:
        return out
    if fsp <= 2:
        return out + bytes([int(frac / 10000) & 0xFF])
    return out + (int(frac / 100) & 0xFFFF).to_bytes(2, "big")


_DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]


def decimal_bin(d, precision, scale):
    """decimal2bin: the integer and fraction digits in groups of 9 (4 bytes, big-endian),
    a leading/trailing partial group in dig2bytes bytes; negative values inverted; the sign
    bit of the first byte flipped."""
    sign, digits, exp = d.as_tuple()
    ds = "".join(map(str, digits))
    if exp < 0:
        ds = ds.rjust(-exp, "0")
        ip, fp = ds[:len(ds) + exp], ds[len(ds) + exp:]
    else:
        ip, fp = ds + "0" * exp, ""
    intg = precision - scale
    ip = ip.lstrip("0").rjust(intg, "0")
    fp = fp.ljust(scale, "0")[:scale]
    out = bytearray()
    lead = intg % 9
    if lead:
        out += int(ip[:lead]).to_bytes(_DIG2BYTES[lead], "big")
    for i in range(lead, intg, 9):
        out += int(ip[i:i + 9]).to_bytes(4, "big")
    full = scale // 9 * 9
    for i in range(0, full, 9):
        out += int(fp[i:i + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(fp[full:]).to_bytes(_DIG2BYTES[scale % 9], "big")
    if sign:
        out = bytearray(b ^ 0xFF for b in out)
    out[0] ^= 0x80
    return bytes(out)


# ---- JSON (sql-common/json_binary.cc) ---------------------------------------------------------
J_SMALL_OBJ, J_LARGE_OBJ, J_SMALL_ARR, J_LARGE_ARR, J_LITERAL = 0, 1, 2, 3, 4
J_INT16, J_UINT16, J_INT32, J_UINT32, J_INT64, J_UINT64, J_DOUBLE, J_STRING = range(5, 13)


def json_loads(text):
    """JSON text -> Python (dict/list/str/int/float/bool/None) as MySQL's parser reads it:
    no NaN/Infinity, the last of duplicate keys wins, integers beyond 64 bits are doubles."""
    def bad_constant(c):
        raise ValueError(f"Invalid value {c}")

    def big_int(t):
        n = int(t)
        return n if -(1 << 63) <= n < 1 << 64 else float(t)

    return json.loads(text, parse_constant=bad_constant, parse_int=big_int)


def _key_order(k):
    b = k.encode()
    return (len(b), b)


def json_text(doc):
    """The normalized text MySQL prints for a JSON value (keys by length then bytes, ', '
    and ': ' separators). Doubles are printed by Python's repr, which can differ from
    MySQL's for some values (1e+300 vs 1e300)."""
    if isinstance(doc, dict):
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + json_text(doc[k])
                               for k in sorted(doc, key=_key_order)) + "}"
    if isinstance(doc, list):
        return "[" + ", ".join(json_text(v) for v in doc) + "]"
    return json.dumps(doc, ensure_ascii=False)


def _json_scalar(v):
    """(type, bytes) of a scalar; Json_int for what fits int64 below 2^32 or is negative,
    Json_uint for 2^32.. (rapidjson's Uint64), each in its smallest binary type."""
    if v is None or isinstance(v, bool):
        return J_LITERAL, bytes([0 if v is None else 1 if v else 2])
    if isinstance(v, int):
        if v >= 1 << 32:
            return J_UINT64, struct.pack("<Q", v)
        if -(1 << 15) <= v < 1 << 15:
            return J_INT16, struct.pack("<h", v)
        if -(1 << 31) <= v < 1 << 31:
            return J_INT32, struct.pack("<i", v)
        return J_INT64, struct.pack("<q", v)
    if isinstance(v, float):
        return J_DOUBLE, struct.pack("<d", v)
    b = v.encode()
    n, ln = len(b), bytearray()
    while True:
        ln.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            break
    return J_STRING, bytes(ln) + b


class _TooBig(Exception):
    pass


def _json_value(v):
    """(type, bytes) of any value: containers in the small format when everything fits in
    16-bit offsets, else the large one (serialize_json_value's retry)."""
    if isinstance(v, (dict, list)):
        try:
            return _json_container(v, False)
        except _TooBig:
            return _json_container(v, True)
    return _json_scalar(v)


def _json_container(v, large):
    is_obj = isinstance(v, dict)
    w = 4 if large else 2
    keys = sorted(v, key=_key_order) if is_obj else []
    vals = [v[k] for k in keys] if is_obj else v
    kb = [k.encode() for k in keys]
    header = 2 * w + (len(keys) * (w + 2)) + len(vals) * (1 + w)
    out_keys, off = bytearray(), header
    key_entries = bytearray()
    for k in kb:
        if len(k) > 0xFFFF:
            raise ValueError("JSON key longer than 65535 bytes")
        key_entries += off.to_bytes(w, "little") + struct.pack("<H", len(k))
        out_keys += k
        off += len(k)
    value_entries, out_vals = bytearray(), bytearray()
    for x in vals:
        t, b = _json_value(x)
        if t == J_LITERAL or t in (J_INT16, J_UINT16) or large and t in (J_INT32, J_UINT32):
            value_entries += bytes([t]) + b.ljust(w, b"\0")
        else:
            if off > (0xFFFFFFFF if large else 0xFFFF):
                raise _TooBig
            value_entries += bytes([t]) + off.to_bytes(w, "little")
            out_vals += b
            off += len(b)
    if off > (0xFFFFFFFF if large else 0xFFFF) or len(vals) > (0xFFFFFFFF if large else
                                                                0xFFFF):
        raise _TooBig
    t = (J_LARGE_OBJ if large else J_SMALL_OBJ) if is_obj else \
        (J_LARGE_ARR if large else J_SMALL_ARR)
    body = len(vals).to_bytes(w, "little") + off.to_bytes(w, "little") + key_entries + \
        value_entries + out_keys + out_vals
    return t, body


def json_binary(doc):
    """MySQL's binary JSON of a parsed document: the type byte, then the value."""
    t, b = _json_value(doc)
    return bytes([t]) + b


_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t",
            "Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"}


def literal_value(text):
    """A SQL literal's value: str for quoted text (MySQL's backslash escapes, doubled
    quotes, an optional _charset introducer), bytes for X'..'/0x.. literals, '1'/'0' for
    TRUE/FALSE, and the stripped text itself for anything else (numbers, dates)."""
    s = text.strip()
    m = re.match(r"^_(?:utf8mb4|utf8mb3|utf8|binary|latin1)\s*(?=['\"])", s, re.I)
    if m:
        s = s[m.end():]
    if s.upper() in ("TRUE", "FALSE"):
        return "1" if s.upper() == "TRUE" else "0"
    m = re.match(r"^[xX]'([0-9a-fA-F]*)'$", s) or re.match(r"^0x([0-9a-fA-F]+)$", s)
    if m:
        h = m.group(1)
        if len(h) % 2:
            if s[0] in "xX":
                raise ValueError(f"bad hexadecimal literal {text!r}")
            h = "0" + h
        return bytes.fromhex(h)
    if len(s) >= 2 and s[0] in "'\"" and s[-1] == s[0]:
        q, body, out, i = s[0], s[1:-1], [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
                i += 2
            elif c == q:
                if i + 1 < len(body) and body[i + 1] == q:
                    out.append(q)
                    i += 2
                else:
                    raise ValueError(f"bad quoted literal {text!r}")
            else:
                out.append(c)
                i += 1
        return "".join(out)
    if s[:1] in "'\"":
        raise ValueError(f"unterminated quoted literal {text!r}")
    return s
