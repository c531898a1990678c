"""BSON helpers: codec, MongoDB's canonical type ordering, canonical (hashable) keys,
numeric arithmetic with MongoDB's type promotion rules."""

import datetime
import decimal
import math
import struct

import bson
from bson.binary import Binary, UuidRepresentation
from bson.code import Code
from bson.codec_options import CodecOptions
from bson.dbref import DBRef
from bson.decimal128 import Decimal128, create_decimal128_context
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

# Decode subtype 3/4 binaries as Binary (not uuid.UUID) so they round-trip byte-exactly.
CODEC = CodecOptions(document_class=dict, tz_aware=False,
                     uuid_representation=UuidRepresentation.UNSPECIFIED)

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_DEC_CTX = create_decimal128_context()
_EPOCH = datetime.datetime(1970, 1, 1)
_U64X2 = struct.Struct("<QQ")


# The C codec builds every decoded Decimal128 with Decimal128.from_bid() and encodes one by
# reading its .bid, both Python code in python3-bson; sdl's documents carry one per DECIMAL
# value, so these two were a tenth of fakemongod's time. The same values, without __init__'s
# type dispatch: the 16 bytes are (low, high) little-endian 64-bit words, as in from_bid/bid.
def _decimal128_from_bid(cls, value):
    if not isinstance(value, bytes):
        raise TypeError("value must be an instance of bytes")
    if len(value) != 16:
        raise ValueError("value must be exactly 16 bytes")
    obj = object.__new__(cls)
    obj._Decimal128__low, obj._Decimal128__high = _U64X2.unpack(value)
    return obj


def _decimal128_bid(self):
    return _U64X2.pack(self._Decimal128__low, self._Decimal128__high)


Decimal128.from_bid = classmethod(_decimal128_from_bid)
Decimal128.bid = property(_decimal128_bid)


def encode(doc):
    return bson.encode(doc, codec_options=CODEC)


def decode(data):
    return bson.decode(data, codec_options=CODEC)


def decode_all(data):
    return bson.decode_all(data, CODEC)


# Canonical type brackets (mongod's canonicalizeBSONType order).
MINKEY, NULL, NUM, STR, OBJ, ARR, BIN, OID, BOOL, DATE, TS, RE, DBPTR, CODE, CODEWS, MAXKEY = (
    0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 47, 50, 55, 60, 65, 100)


class _Missing:
    """Marker for a path that does not exist (sorts like null)."""
    __slots__ = ()

    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


def is_number(v):
    return (isinstance(v, (int, float, Decimal128)) and not isinstance(v, bool))


def bracket(v):
    b = _BRACKET_OF_TYPE.get(type(v))
    if b is not None:
        return b
    return _bracket(v)


def _bracket(v):
    if v is None or v is MISSING:
        return NULL
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, (int, float, Decimal128)):
        return NUM
    if isinstance(v, str):
        return STR
    if isinstance(v, (dict, DBRef)):
        return OBJ
    if isinstance(v, list):
        return ARR
    if isinstance(v, (bytes, Binary)):
        return BIN
    if isinstance(v, ObjectId):
        return OID
    if isinstance(v, datetime.datetime):
        return DATE
    if isinstance(v, Timestamp):
        return TS
    if isinstance(v, Regex):
        return RE
    if isinstance(v, Code):
        return CODEWS if v.scope is not None else CODE
    if isinstance(v, MinKey):
        return MINKEY
    if isinstance(v, MaxKey):
        return MAXKEY
    if hasattr(v, "pattern") and hasattr(v, "flags"):  # compiled python regex
        return RE
    raise TypeError("unsupported BSON value %r" % type(v))


# bracket() of the exact types whose bracket does not depend on the value (Code's does, on
# its scope); any other type (subclasses included) goes through _bracket()'s isinstance chain
_BRACKET_OF_TYPE = {type(None): NULL, _Missing: NULL, bool: BOOL, int: NUM, Int64: NUM,
                    float: NUM, Decimal128: NUM, str: STR, dict: OBJ, DBRef: OBJ, list: ARR,
                    bytes: BIN, Binary: BIN, ObjectId: OID, datetime.datetime: DATE,
                    Timestamp: TS, Regex: RE, MinKey: MINKEY, MaxKey: MAXKEY}


def to_decimal(v):
    if isinstance(v, Decimal128):
        return v.to_decimal()
    if isinstance(v, float):
        return decimal.Decimal(repr(v)) if math.isfinite(v) else decimal.Decimal(str(v))
    return decimal.Decimal(int(v))


def num_norm(v):
    """Normalise a number so numerically equal values compare/hash equal.
    Returns None for NaN (NaN sorts below every other number in MongoDB)."""
    if isinstance(v, float):
        if v != v:
            return None
        if math.isfinite(v) and v.is_integer():
            return int(v)
        return v
    if isinstance(v, Decimal128):
        d = v.to_decimal()
        if d.is_nan():
            return None
        if d.is_infinite():
            return float("inf") if d > 0 else float("-inf")
        if d == d.to_integral_value():
            if abs(d.adjusted()) > 400:  # huge, avoid giant ints
                return float(d) if abs(float(d)) != float("inf") else d
            return int(d)
        f = float(d)
        if decimal.Decimal(f) == d:
            return f
        return d
    return int(v)


def ms_of(dt):
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def skey(v):
    """Total-order, hashable key following MongoDB's BSON comparison rules.
    Equal keys <=> values MongoDB considers equal."""
    if type(v) is str:
        return (STR, v)
    b = bracket(v)
    if b == NUM:
        n = num_norm(v)
        return (NUM, 0) if n is None else (NUM, 1, n)
    if b == STR:
        return (STR, v)
    if b == OBJ:
        if isinstance(v, DBRef):
            v = v.as_doc()
        return (OBJ, tuple((bracket(x), k, skey(x)) for k, x in v.items()))
    if b == ARR:
        return (ARR, tuple(skey(x) for x in v))
    if b == NULL:
        return (NULL,)
    if b == BOOL:
        return (BOOL, bool(v))
    if b == BIN:
        if isinstance(v, Binary):
            return (BIN, len(v), v.subtype, bytes(v))
        return (BIN, len(v), 0, bytes(v))
    if b == OID:
        return (OID, v.binary)
    if b == DATE:
        return (DATE, ms_of(v))
    if b == TS:
        return (TS, v.time, v.inc)
    if b == RE:
        return (RE, v.pattern if isinstance(v.pattern, str) else str(v.pattern), str(v.flags))
    if b in (CODE, CODEWS):
        return (b, str(v), skey(v.scope) if v.scope is not None else ())
    return (b,)


def cmp_values(a, b):
    ka, kb = skey(a), skey(b)
    return (ka > kb) - (ka < kb)


def values_equal(a, b):
    return skey(a) == skey(b)


# ---------------------------------------------------------------- numbers

def num_kind(v):
    """0 int32, 1 int64, 2 double, 3 decimal"""
    if isinstance(v, Decimal128):
        return 3
    if isinstance(v, float):
        return 2
    if isinstance(v, Int64):
        return 1
    if INT32_MIN <= v <= INT32_MAX:
        return 0
    return 1


def make_num(kind, value):
    if kind == 3:
        if not isinstance(value, decimal.Decimal):
            value = to_decimal(value)
        with decimal.localcontext(_DEC_CTX) as ctx:
            return Decimal128(ctx.create_decimal(value))
    if kind == 2:
        return float(value)
    if kind == 1:
        return Int64(value)
    return int(value)


def _int_result(kind, r):
    if kind == 0:
        if INT32_MIN <= r <= INT32_MAX:
            return int(r)
        kind = 1
    if INT64_MIN <= r <= INT64_MAX:
        return Int64(r)
    return float(r)  # mongod converts overflowing long arithmetic in $add to double


def num_add(a, b):
    k = max(num_kind(a), num_kind(b))
    if k == 3:
        return make_num(3, to_decimal(a) + to_decimal(b))
    if k == 2:
        return float(a) + float(b)
    return _int_result(k, int(a) + int(b))


def num_mul(a, b):
    k = max(num_kind(a), num_kind(b))
    if k == 3:
        return make_num(3, to_decimal(a) * to_decimal(b))
    if k == 2:
        return float(a) * float(b)
    return _int_result(k, int(a) * int(b))


def num_sub(a, b):
    k = max(num_kind(a), num_kind(b))
    if k == 3:
        return make_num(3, to_decimal(a) - to_decimal(b))
    if k == 2:
        return float(a) - float(b)
    return _int_result(k, int(a) - int(b))


def num_float(v):
    if isinstance(v, Decimal128):
        return float(v.to_decimal())
    return float(v)


# ---------------------------------------------------------------- $type names

TYPE_ALIASES = {
    "double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "undefined": 6,
    "objectId": 7, "bool": 8, "date": 9, "null": 10, "regex": 11, "dbPointer": 12,
    "javascript": 13, "symbol": 14, "javascriptWithScope": 15, "int": 16,
    "timestamp": 17, "long": 18, "decimal": 19, "minKey": -1, "maxKey": 127,
}
TYPE_NAMES = {v: k for k, v in TYPE_ALIASES.items()}


def type_code(v):
    if v is None:
        return 10
    if isinstance(v, bool):
        return 8
    if isinstance(v, Int64):
        return 18
    if isinstance(v, int):
        return 16 if INT32_MIN <= v <= INT32_MAX else 18
    if isinstance(v, float):
        return 1
    if isinstance(v, Decimal128):
        return 19
    if isinstance(v, str):
        return 2
    if isinstance(v, (dict, DBRef)):
        return 3
    if isinstance(v, list):
        return 4
    if isinstance(v, (bytes, Binary)):
        return 5
    if isinstance(v, ObjectId):
        return 7
    if isinstance(v, datetime.datetime):
        return 9
    if isinstance(v, Timestamp):
        return 17
    if isinstance(v, Regex):
        return 11
    if isinstance(v, Code):
        return 15 if v.scope is not None else 13
    if isinstance(v, MinKey):
        return -1
    if isinstance(v, MaxKey):
        return 127
    return 0


def truthy(v):
    """Aggregation truthiness: false, null, missing, 0 are false."""
    if v is None or v is MISSING or v is False:
        return False
    if is_number(v):
        n = num_norm(v)
        return n is None or n != 0  # NaN is truthy in mongod
    return True


def idkey_text(canon):
    """Deterministic text form of a canonical key, used as the sqlite row key."""
    return repr(canon)
