"""Query language: filter matching, projection, sort, update operators, aggregation."""

import copy
import datetime
import decimal
import re

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex

from .bsonutil import (MISSING, NULL, NUM, ARR, STR, TYPE_ALIASES, bracket, skey, is_number,
                       num_add, num_mul, num_sub, num_kind, num_norm, num_float, make_num,
                       type_code, truthy, to_decimal, INT32_MIN, INT32_MAX, encode)
from .errors import CommandError


def bad(msg, code=2):
    raise CommandError(code, msg)


# ================================================================ paths

def split_path(path):
    if not isinstance(path, str) or path == "":
        bad("FieldPath cannot be constructed with empty string", 40352)
    return path.split(".")


def path_values(doc, parts, i=0):
    """All values reachable through `parts` with MongoDB's implicit array traversal."""
    if i == len(parts):
        return [doc]
    if isinstance(doc, dict):
        if parts[i] in doc:
            return path_values(doc[parts[i]], parts, i + 1)
        return []
    if isinstance(doc, list):
        out = []
        p = parts[i]
        if p.isdigit():
            idx = int(p)
            if idx < len(doc):
                out.extend(path_values(doc[idx], parts, i + 1))
        for e in doc:
            if isinstance(e, dict):
                out.extend(path_values(e, parts, i))
        return out
    return []


def get_path(doc, path):
    """Single value at a dotted path without array traversal (MISSING if absent)."""
    cur = doc
    for p in path.split("."):
        if isinstance(cur, dict):
            if p not in cur:
                return MISSING
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit():
            i = int(p)
            if i >= len(cur):
                return MISSING
            cur = cur[i]
        else:
            return MISSING
    return cur


# ================================================================ matching

def _regex_of(v, options=""):
    if isinstance(v, Regex):
        pat, flags = v.pattern, v.flags
        if isinstance(flags, int):
            f = flags
        else:
            f = _re_flags(flags)
        return re.compile(pat, f)
    if isinstance(v, re.Pattern):
        return v
    return re.compile(v, _re_flags(options))


def _re_flags(opts):
    f = 0
    for c in opts or "":
        if c == "i":
            f |= re.IGNORECASE
        elif c == "m":
            f |= re.MULTILINE
        elif c == "s":
            f |= re.DOTALL
        elif c == "x":
            f |= re.VERBOSE
        elif c == "u":
            pass
        else:
            bad("invalid flag in regex options: %s" % c, 51108)
    return f


def _is_regex(v):
    return isinstance(v, (Regex, re.Pattern))


def _eq_leaf(v, operand):
    """$eq semantics for one candidate value (array elements handled by caller)."""
    if _is_regex(operand):
        return isinstance(v, str) and _regex_of(operand).search(v) is not None
    return skey(v) == skey(operand)


def _cmp_ok(v, operand, op):
    bo = bracket(operand)
    bv = bracket(v)
    if bo in (0, 100):  # MinKey / MaxKey operands compare against everything
        pass
    elif bv != bo:
        return False
    kv, ko = skey(v), skey(operand)
    if op == "$gt":
        return kv > ko
    if op == "$gte":
        return kv >= ko
    if op == "$lt":
        return kv < ko
    return kv <= ko


def _any_value(values, pred, expand_arrays=True):
    for v in values:
        if pred(v):
            return True
        if expand_arrays and isinstance(v, list):
            for e in v:
                if pred(e):
                    return True
    return False


def compile_filter(flt):
    if flt is None:
        return lambda d: True
    if not isinstance(flt, dict):
        bad("filter must be an object", 14)
    preds = []
    for k, v in flt.items():
        if k.startswith("$"):
            preds.append(_compile_top_op(k, v))
        else:
            preds.append(_compile_field(k, v))
    if not preds:
        return lambda d: True
    if len(preds) == 1:
        return preds[0]
    return lambda d: all(p(d) for p in preds)


def _compile_top_op(op, v):
    if op in ("$and", "$or", "$nor"):
        if not isinstance(v, list) or not v:
            bad("%s must be a nonempty array" % op)
        subs = [compile_filter(x) for x in v]
        if op == "$and":
            return lambda d: all(s(d) for s in subs)
        if op == "$or":
            return lambda d: any(s(d) for s in subs)
        return lambda d: not any(s(d) for s in subs)
    if op == "$comment":
        return lambda d: True
    if op == "$expr":
        return lambda d: truthy(evaluate(v, d))
    if op == "$alwaysTrue":
        return lambda d: True
    if op == "$alwaysFalse":
        return lambda d: False
    if op == "$where":
        bad("$where is not allowed in this context", 2)
    bad("unknown top level operator: %s" % op)


def is_op_doc(v):
    """An operator document ({$op: ...}) rather than a literal value to compare with."""
    return isinstance(v, dict) and bool(v) and next(iter(v)).startswith("$")


_is_op_doc = is_op_doc


def _compile_field(path, cond):
    parts = split_path(path)
    if _is_op_doc(cond):
        leaf = _compile_ops(cond, path)
    else:
        leaf = _compile_ops({"$eq": cond}, path)
    return lambda d: leaf(path_values(d, parts))


def _compile_ops(ops, path):
    preds = []
    regex_opts = ops.get("$options", "") if isinstance(ops, dict) else ""
    for op, operand in ops.items():
        if op == "$options":
            if "$regex" not in ops:
                bad("$options needs a $regex")
            continue
        preds.append(_compile_op(op, operand, regex_opts, path))
    return lambda values: all(p(values) for p in preds)


def _compile_op(op, operand, regex_opts, path):
    if op == "$eq":
        if operand is None:
            return lambda vals: (not vals) or _any_value(vals, lambda v: v is None)
        if isinstance(operand, list):
            k = skey(operand)
            return lambda vals: _any_value(vals, lambda v: skey(v) == k)
        if _is_regex(operand):
            return lambda vals: _any_value(vals, lambda v: _eq_leaf(v, operand))
        if isinstance(operand, str):  # skey(v) == (STR, operand), without building it
            return lambda vals: _any_value(vals, lambda v: isinstance(v, str) and v == operand)
        k = skey(operand)  # _eq_leaf's comparison, the operand's key computed once
        return lambda vals: _any_value(vals, lambda v: skey(v) == k)
    if op == "$ne":
        p = _compile_op("$eq", operand, regex_opts, path)
        return lambda vals: not p(vals)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if operand is None:
            if op in ("$gte", "$lte"):
                return _compile_op("$eq", None, regex_opts, path)
            return lambda vals: False
        if _is_regex(operand):
            bad("Can't have RegEx as arg to predicate over field '%s'." % path)
        return lambda vals: _any_value(vals, lambda v: _cmp_ok(v, operand, op))
    if op == "$in":
        if not isinstance(operand, list):
            bad("$in needs an array")
        subs = [_compile_op("$eq", x, "", path) for x in operand]
        return lambda vals: any(s(vals) for s in subs)
    if op == "$nin":
        if not isinstance(operand, list):
            bad("$nin needs an array")
        p = _compile_op("$in", operand, regex_opts, path)
        return lambda vals: not p(vals)
    if op == "$exists":
        want = truthy(operand)
        return lambda vals: bool(vals) == want
    if op == "$type":
        codes = set()
        for t in (operand if isinstance(operand, list) else [operand]):
            if isinstance(t, str):
                if t == "number":
                    codes.update((1, 16, 18, 19))
                elif t in TYPE_ALIASES:
                    codes.add(TYPE_ALIASES[t])
                else:
                    bad("Unknown type name alias: %s" % t)
            elif is_number(t):
                codes.add(int(num_float(t)))
            else:
                bad("type must be represented as a number or a string", 14)

        def tp(vals):
            for v in vals:
                if type_code(v) in codes:
                    return True
                if isinstance(v, list) and any(type_code(e) in codes for e in v):
                    return True
            return False
        return tp
    if op == "$regex":
        if not isinstance(operand, (str, Regex)):
            bad("$regex has to be a string")
        rx = _regex_of(operand, regex_opts)
        return lambda vals: _any_value(vals, lambda v: isinstance(v, str) and rx.search(v) is not None)
    if op == "$not":
        if _is_regex(operand):
            p = _compile_op("$regex", operand if isinstance(operand, Regex) else operand, "", path)
        elif isinstance(operand, dict) and operand:
            p = _compile_ops(operand, path)
        else:
            bad("$not needs a regex or a document")
        return lambda vals: not p(vals)
    if op == "$size":
        if not is_number(operand):
            bad("$size needs a number")
        n = num_norm(operand)
        return lambda vals: any(isinstance(v, list) and len(v) == n for v in vals)
    if op == "$all":
        if not isinstance(operand, list):
            bad("$all needs an array")
        if not operand:
            return lambda vals: False
        subs = []
        for x in operand:
            if isinstance(x, dict) and "$elemMatch" in x:
                subs.append(_compile_op("$elemMatch", x["$elemMatch"], "", path))
            else:
                subs.append(_compile_op("$eq", x, "", path))
        return lambda vals: all(s(vals) for s in subs)
    if op == "$elemMatch":
        if not isinstance(operand, dict):
            bad("$elemMatch needs an Object")
        if _is_op_doc(operand) and not any(k in ("$and", "$or", "$nor", "$expr") for k in operand):
            inner = _compile_ops(operand, path)
            return lambda vals: any(isinstance(v, list) and any(inner([e]) for e in v) for v in vals)
        m = compile_filter(operand)
        return lambda vals: any(isinstance(v, list) and any(isinstance(e, dict) and m(e) for e in v)
                                for v in vals)
    if op == "$mod":
        if not isinstance(operand, list) or len(operand) != 2:
            bad("malformed mod, needs to be an array")
        div, rem = int(num_float(operand[0])), int(num_float(operand[1]))
        if div == 0:
            bad("divisor cannot be 0")

        def modp(v):
            if not is_number(v) or num_norm(v) is None:
                return False
            x = int(num_float(v))
            r = abs(x) % abs(div)
            return (r if x >= 0 else -r) == rem
        return lambda vals: _any_value(vals, modp)
    if op == "$comment":
        return lambda vals: True
    bad("unknown operator: %s" % op)


# ================================================================ sort

def compile_sort(spec):
    if not spec:
        return None
    if not isinstance(spec, dict):
        bad("Expected field sort to be of type object", 14)
    fields = []
    for k, v in spec.items():
        if isinstance(v, dict) and "$meta" in v:
            continue  # textScore etc.: no-op
        if not is_number(v) or num_norm(v) not in (1, -1):
            bad("$sort key ordering must be 1 (for ascending) or -1 (for descending)", 15975)
        fields.append((split_path(k), num_norm(v)))
    return fields


def _sort_key_value(doc, parts, direction):
    vals = path_values(doc, parts)
    if not vals:
        return skey(None)
    keys = []
    for v in vals:
        if isinstance(v, list):
            if not v:
                keys.append(skey(v))  # empty array sorts before null? mongod: [] < null ascending
            else:
                keys.extend(skey(e) for e in v)
        else:
            keys.append(skey(v))
    return min(keys) if direction == 1 else max(keys)


def apply_sort(docs, fields):
    if not fields:
        return docs
    docs = list(docs)
    for parts, direction in reversed(fields):
        docs.sort(key=lambda d: _sort_key_value(d, parts, direction), reverse=(direction == -1))
    return docs


# ================================================================ projection

def compile_projection(proj, allow_expressions=True):
    """Return a function doc -> projected doc (or None for identity)."""
    if not proj:
        return None
    if not isinstance(proj, dict):
        bad("projection must be an object", 14)
    include_id = True
    incl, excl, computed = [], [], []
    for k, v in proj.items():
        if k == "_id" and (is_number(v) or isinstance(v, bool)):
            include_id = truthy(v)
            if include_id:
                incl.append(k)
            continue
        if isinstance(v, bool) or is_number(v):
            (incl if truthy(v) else excl).append(k)
        elif isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("$slice", "$elemMatch"):
            computed.append((k, v))
        elif allow_expressions:
            computed.append((k, v))
        else:
            bad("Unsupported projection option: %s" % k)
    real_incl = [k for k in incl if k != "_id"]
    if excl and (real_incl or [c for c in computed if next(iter(c[1]), "") != "$slice"
                              or not isinstance(c[1], dict)]):
        if real_incl:
            bad("Cannot do exclusion on field %s in inclusion projection" % excl[0], 31254)
        if any(not (isinstance(c[1], dict) and next(iter(c[1])) in ("$slice",)) for c in computed):
            bad("Cannot do exclusion on field %s in inclusion projection" % excl[0], 31254)
    inclusion = bool(real_incl) or any(not (isinstance(v, dict) and next(iter(v)) == "$slice")
                                       for _, v in computed)
    if not inclusion and not excl and not computed:
        # only _id given
        inclusion = include_id
        if include_id:
            return lambda d: {"_id": d["_id"]} if "_id" in d else {}
        excl = ["_id"]
    if inclusion:
        paths = [split_path(k) for k in real_incl]

        def proj_incl(doc):
            out = {}
            if include_id and "_id" in doc:
                out["_id"] = doc["_id"]
            for p in paths:
                _include_path(doc, out, p)
            for k, spec in computed:
                _apply_computed(doc, out, k, spec)
            return out
        return proj_incl
    excl_paths = [split_path(k) for k in excl]
    if not include_id and ["_id"] not in excl_paths:
        excl_paths.append(["_id"])

    def proj_excl(doc):
        out = copy.deepcopy(doc)
        for p in excl_paths:
            _exclude_path(out, p)
        for k, spec in computed:
            _apply_computed(doc, out, k, spec)
        return out
    return proj_excl


def _include_path(src, dst, parts):
    k = parts[0]
    if not isinstance(src, dict) or k not in src:
        return
    v = src[k]
    if len(parts) == 1:
        dst[k] = copy.deepcopy(v)
        return
    if isinstance(v, dict):
        sub = dst.get(k)
        if not isinstance(sub, dict):
            sub = dst[k] = {}
        _include_path(v, sub, parts[1:])
    elif isinstance(v, list):
        existing = dst.get(k)
        res = []
        for i, e in enumerate(v):
            if isinstance(e, dict):
                base = existing[i] if isinstance(existing, list) and i < len(existing) and isinstance(existing[i], dict) else {}
                _include_path(e, base, parts[1:])
                res.append(base)
            elif isinstance(e, list):
                continue
        dst[k] = res


def _exclude_path(doc, parts):
    if isinstance(doc, dict):
        if parts[0] not in doc:
            return
        if len(parts) == 1:
            del doc[parts[0]]
        else:
            _exclude_path(doc[parts[0]], parts[1:])
    elif isinstance(doc, list):
        for e in doc:
            _exclude_path(e, parts)


def _apply_computed(doc, out, key, spec):
    if isinstance(spec, dict) and len(spec) == 1 and "$slice" in spec:
        v = get_path(doc, key)
        arg = spec["$slice"]
        if isinstance(v, list):
            if isinstance(arg, list):
                skip, n = int(arg[0]), int(arg[1])
                if skip < 0:
                    skip = max(0, len(v) + skip)
                v = v[skip:skip + n]
            else:
                n = int(arg)
                v = v[:n] if n >= 0 else v[n:]
        if v is not MISSING:
            set_path(out, split_path(key), copy.deepcopy(v))
        return
    if isinstance(spec, dict) and len(spec) == 1 and "$elemMatch" in spec:
        arr = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(arr, list):
            m = compile_filter(spec["$elemMatch"])
            for e in arr:
                if isinstance(e, dict) and m(e):
                    out[key] = copy.deepcopy([e])
                    break
        return
    v = evaluate(spec, doc)
    if v is not MISSING:
        set_path(out, split_path(key), v)


def set_path(doc, parts, value):
    cur = doc
    for p in parts[:-1]:
        nxt = cur.get(p) if isinstance(cur, dict) else None
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


# ================================================================ aggregation expressions

def _field_values(doc, parts):
    cur = doc
    for i, p in enumerate(parts):
        if isinstance(cur, dict):
            cur = cur.get(p, MISSING)
            if cur is MISSING:
                return MISSING
        elif isinstance(cur, list):
            out = []
            for e in cur:
                if isinstance(e, (dict, list)):
                    r = _field_values(e, parts[i:])
                    if r is not MISSING:
                        out.append(r)
            return out
        else:
            return MISSING
    return cur


def evaluate(expr, doc, variables=None):
    if isinstance(expr, str):
        if expr.startswith("$$"):
            name, _, rest = expr[2:].partition(".")
            if name in ("ROOT", "CURRENT"):
                base = doc
            elif name == "NOW":
                base = datetime.datetime.utcnow().replace(microsecond=(datetime.datetime.utcnow().microsecond // 1000) * 1000)
            elif name == "REMOVE":
                return MISSING
            elif variables and name in variables:
                base = variables[name]
            else:
                bad("Use of undefined variable: %s" % name, 17276)
            return _field_values(base, rest.split(".")) if rest else base
        if expr.startswith("$"):
            return _field_values(doc, expr[1:].split("."))
        return expr
    if isinstance(expr, list):
        return [_nm(evaluate(e, doc, variables)) for e in expr]
    if isinstance(expr, dict):
        if len(expr) == 1:
            k = next(iter(expr))
            if k.startswith("$"):
                return _eval_op(k, expr[k], doc, variables)
        out = {}
        for k, v in expr.items():
            if k.startswith("$"):
                bad("Unrecognized expression '%s'" % k, 168)
            r = evaluate(v, doc, variables)
            if r is not MISSING:
                out[k] = r
        return out
    return expr


def _nm(v):
    return None if v is MISSING else v


def _args(arg, doc, variables):
    if isinstance(arg, list):
        return [evaluate(a, doc, variables) for a in arg]
    return [evaluate(arg, doc, variables)]


def _nullish(v):
    return v is None or v is MISSING


def _eval_op(op, arg, doc, variables):
    if op == "$literal":
        return arg
    if op in ("$add", "$multiply"):
        vals = _args(arg, doc, variables)
        if any(_nullish(v) for v in vals):
            return None
        acc = 0 if op == "$add" else 1
        date = None
        for v in vals:
            if isinstance(v, datetime.datetime) and op == "$add":
                date = v
                continue
            if not is_number(v):
                bad("%s only supports numeric or date types, not %s" % (op, type(v).__name__), 16554)
            acc = num_add(acc, v) if op == "$add" else num_mul(acc, v)
        if date is not None:
            return date + datetime.timedelta(milliseconds=num_float(acc))
        return acc
    if op == "$subtract":
        a, b = _args(arg, doc, variables)
        if _nullish(a) or _nullish(b):
            return None
        if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
            return Int64(int((a - b).total_seconds() * 1000))
        if isinstance(a, datetime.datetime):
            return a - datetime.timedelta(milliseconds=num_float(b))
        return num_sub(a, b)
    if op == "$divide":
        a, b = _args(arg, doc, variables)
        if _nullish(a) or _nullish(b):
            return None
        if num_norm(b) == 0:
            bad("can't $divide by zero", 16608)
        if num_kind(a) == 3 or num_kind(b) == 3:
            return make_num(3, to_decimal(a) / to_decimal(b))
        return num_float(a) / num_float(b)
    if op == "$mod":
        a, b = _args(arg, doc, variables)
        if _nullish(a) or _nullish(b):
            return None
        k = max(num_kind(a), num_kind(b))
        if k >= 2:
            import math
            return math.fmod(num_float(a), num_float(b))
        r = abs(int(a)) % abs(int(b))
        return make_num(k, r if int(a) >= 0 else -r)
    if op == "$abs":
        v = _args(arg, doc, variables)[0]
        if _nullish(v):
            return None
        return make_num(num_kind(v), abs(to_decimal(v)) if num_kind(v) == 3 else abs(v))
    if op == "$concat":
        vals = _args(arg, doc, variables)
        if any(_nullish(v) for v in vals):
            return None
        for v in vals:
            if not isinstance(v, str):
                bad("$concat only supports strings, not %s" % type(v).__name__, 16702)
        return "".join(vals)
    if op in ("$toUpper", "$toLower"):
        v = _args(arg, doc, variables)[0]
        if _nullish(v):
            return ""
        s = v if isinstance(v, str) else str(v)
        return s.upper() if op == "$toUpper" else s.lower()
    if op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"):
        a, b = _args(arg, doc, variables)
        ka, kb = skey(_nm(a)), skey(_nm(b))
        c = (ka > kb) - (ka < kb)
        return {"$eq": c == 0, "$ne": c != 0, "$gt": c > 0, "$gte": c >= 0, "$lt": c < 0,
                "$lte": c <= 0, "$cmp": c}[op]
    if op == "$and":
        return all(truthy(v) for v in _args(arg, doc, variables))
    if op == "$or":
        return any(truthy(v) for v in _args(arg, doc, variables))
    if op == "$not":
        return not truthy(_args(arg, doc, variables)[0])
    if op == "$cond":
        if isinstance(arg, dict):
            c, t, e = arg.get("if"), arg.get("then"), arg.get("else")
        else:
            c, t, e = arg
        return evaluate(t if truthy(evaluate(c, doc, variables)) else e, doc, variables)
    if op == "$ifNull":
        vals = arg if isinstance(arg, list) else [arg]
        for a in vals[:-1]:
            v = evaluate(a, doc, variables)
            if not _nullish(v):
                return v
        return evaluate(vals[-1], doc, variables)
    if op == "$size":
        v = _args(arg, doc, variables)[0]
        if not isinstance(v, list):
            bad("The argument to $size must be an array", 17124)
        return len(v)
    if op == "$arrayElemAt":
        a, i = _args(arg, doc, variables)
        if _nullish(a) or _nullish(i):
            return None
        i = int(num_float(i))
        try:
            return a[i]
        except IndexError:
            return MISSING
    if op in ("$first", "$last") and not isinstance(arg, dict):
        v = _args(arg, doc, variables)[0]
        if _nullish(v):
            return None
        if not isinstance(v, list):
            bad("%s's argument must be an array" % op, 28689)
        if not v:
            return MISSING
        return v[0] if op == "$first" else v[-1]
    if op == "$in":
        x, a = _args(arg, doc, variables)
        if not isinstance(a, list):
            bad("$in requires an array as a second argument", 40081)
        k = skey(_nm(x))
        return any(skey(e) == k for e in a)
    if op in ("$sum", "$avg", "$max", "$min"):
        vals = _args(arg, doc, variables)
        if len(vals) == 1 and isinstance(vals[0], list):
            vals = vals[0]
        acc = Accumulator(op, None)
        for v in vals:
            acc.add_value(v)
        return acc.result()
    if op == "$type":
        v = _args(arg, doc, variables)[0]
        if v is MISSING:
            return "missing"
        from .bsonutil import TYPE_NAMES
        return TYPE_NAMES.get(type_code(v), "unknown")
    if op in ("$toString", "$toInt", "$toLong", "$toDouble", "$toDecimal", "$toBool", "$toObjectId",
              "$toDate"):
        v = _args(arg, doc, variables)[0]
        return _convert(op, v)
    if op == "$concatArrays":
        vals = _args(arg, doc, variables)
        if any(_nullish(v) for v in vals):
            return None
        out = []
        for v in vals:
            out.extend(v)
        return out
    if op == "$substr" or op == "$substrBytes" or op == "$substrCP":
        s, start, n = _args(arg, doc, variables)
        s = "" if _nullish(s) else str(s)
        start, n = int(num_float(start)), int(num_float(n))
        return s[start:] if n < 0 else s[start:start + n]
    if op == "$split":
        s, d = _args(arg, doc, variables)
        if _nullish(s):
            return None
        return s.split(d)
    if op == "$strLenCP":
        return len(_args(arg, doc, variables)[0])
    if op == "$objectToArray":
        v = _args(arg, doc, variables)[0]
        if _nullish(v):
            return None
        return [{"k": k, "v": x} for k, x in v.items()]
    if op == "$arrayToObject":
        v = _args(arg, doc, variables)[0]
        if _nullish(v):
            return None
        out = {}
        for e in v:
            if isinstance(e, dict):
                out[e["k"]] = e["v"]
            else:
                out[e[0]] = e[1]
        return out
    if op == "$mergeObjects":
        out = {}
        for v in _args(arg, doc, variables):
            if isinstance(v, dict):
                out.update(v)
        return out
    if op in ("$year", "$month", "$dayOfMonth", "$hour", "$minute", "$second"):
        v = _args(arg if not isinstance(arg, dict) or "date" not in arg else arg["date"], doc, variables)[0]
        if _nullish(v):
            return None
        return {"$year": v.year, "$month": v.month, "$dayOfMonth": v.day, "$hour": v.hour,
                "$minute": v.minute, "$second": v.second}[op]
    if op == "$dateToString":
        v = evaluate(arg.get("date"), doc, variables)
        if _nullish(v):
            return None
        fmt = arg.get("format", "%Y-%m-%dT%H:%M:%S.%LZ")
        return v.strftime(fmt.replace("%L", "%03d" % (v.microsecond // 1000)))
    bad("Unrecognized expression '%s'" % op, 168)


def _convert(op, v):
    if _nullish(v):
        return None
    try:
        if op == "$toString":
            if isinstance(v, str):
                return v
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, Decimal128):
                return str(v)
            if isinstance(v, datetime.datetime):
                return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
            return str(v)
        if op == "$toInt":
            return int(num_float(v) if not isinstance(v, str) else int(v))
        if op == "$toLong":
            return Int64(int(num_float(v)) if not isinstance(v, str) else int(v))
        if op == "$toDouble":
            return float(num_float(v) if not isinstance(v, str) else float(v))
        if op == "$toDecimal":
            return make_num(3, decimal.Decimal(v) if isinstance(v, str) else to_decimal(v))
        if op == "$toBool":
            return truthy(v)
        if op == "$toObjectId":
            return ObjectId(v)
        if op == "$toDate":
            if isinstance(v, datetime.datetime):
                return v
            return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=num_float(v))
    except (ValueError, TypeError, decimal.InvalidOperation) as e:
        bad("Failed to parse value in %s: %s" % (op, e), 241)


# ================================================================ accumulators

class Accumulator:
    def __init__(self, op, expr):
        self.op = op
        self.expr = expr
        self.total = 0
        self.count = 0
        self.value = MISSING
        self.items = []
        self.keys = set()
        self.nonint = False

    def add(self, doc):
        if self.op == "$count":
            self.total = num_add(self.total, 1)
            return
        self.add_value(evaluate(self.expr, doc))

    def add_value(self, v):
        op = self.op
        if op == "$sum" or op == "$avg":
            if is_number(v):
                self.total = num_add(self.total, v)
                self.count += 1
        elif op == "$max" or op == "$min":
            if _nullish(v):
                return
            if self.value is MISSING:
                self.value = v
            else:
                c = skey(v) > skey(self.value) if op == "$max" else skey(v) < skey(self.value)
                if c:
                    self.value = v
        elif op == "$first":
            if self.count == 0:
                self.value = _nm(v)
            self.count += 1
        elif op == "$last":
            self.value = _nm(v)
        elif op == "$push":
            if v is not MISSING:
                self.items.append(v)
        elif op == "$addToSet":
            if v is not MISSING:
                k = skey(v)
                if k not in self.keys:
                    self.keys.add(k)
                    self.items.append(v)
        else:
            bad("unknown group operator '%s'" % op, 15952)

    def result(self):
        op = self.op
        if op in ("$sum", "$count"):
            return self.total
        if op == "$avg":
            if self.count == 0:
                return None
            if num_kind(self.total) == 3:
                return make_num(3, to_decimal(self.total) / self.count)
            return num_float(self.total) / self.count
        if op in ("$max", "$min", "$first", "$last"):
            return None if self.value is MISSING else self.value
        return self.items


ACCUMULATORS = ("$sum", "$avg", "$max", "$min", "$first", "$last", "$push", "$addToSet", "$count")


# ================================================================ pipeline

def run_pipeline(docs, pipeline):
    if not isinstance(pipeline, list):
        bad("'pipeline' option must be specified as an array", 14)
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            bad("A pipeline stage specification object must contain exactly one field.", 40323)
        name, spec = next(iter(stage.items()))
        docs = _run_stage(name, spec, docs)
    return list(docs)


def _run_stage(name, spec, docs):
    if name == "$match":
        m = compile_filter(spec)
        return [d for d in docs if m(d)]
    if name == "$sort":
        return apply_sort(docs, compile_sort(spec))
    if name == "$limit":
        if not is_number(spec) or num_norm(spec) is None or num_norm(spec) <= 0:
            bad("the limit must be positive", 15958)
        return list(docs)[:int(num_norm(spec))]
    if name == "$skip":
        if not is_number(spec) or num_norm(spec) < 0:
            bad("invalid argument to $skip stage", 15956)
        return list(docs)[int(num_norm(spec)):]
    if name == "$project":
        p = compile_projection(spec)
        return [p(d) for d in docs] if p else list(docs)
    if name in ("$addFields", "$set"):
        out = []
        for d in docs:
            nd = copy.deepcopy(d)
            for k, e in spec.items():
                v = evaluate(e, d)
                if v is MISSING:
                    continue
                set_path(nd, split_path(k), v)
            out.append(nd)
        return out
    if name == "$unset":
        fields = spec if isinstance(spec, list) else [spec]
        p = compile_projection({f: 0 for f in fields})
        return [p(d) for d in docs]
    if name == "$count":
        if not isinstance(spec, str) or not spec or spec.startswith("$") or "." in spec:
            bad("the count field must be a non-empty string", 40156)
        n = len(list(docs))
        return [{spec: n}] if n else []
    if name == "$group":
        return _group(spec, docs)
    if name == "$unwind":
        return _unwind(spec, docs)
    if name in ("$replaceRoot", "$replaceWith"):
        e = spec.get("newRoot") if name == "$replaceRoot" else spec
        out = []
        for d in docs:
            v = evaluate(e, d)
            if not isinstance(v, dict):
                bad("'newRoot' expression must evaluate to an object", 40228)
            out.append(v)
        return out
    if name == "$sortByCount":
        return apply_sort(_group({"_id": spec, "count": {"$sum": 1}}, docs),
                          [(["count"], -1)])
    bad("Unrecognized pipeline stage name: '%s'" % name, 40324)


def _group(spec, docs):
    if not isinstance(spec, dict) or "_id" not in spec:
        bad("a group specification must include an _id", 15955)
    accs = []
    for k, v in spec.items():
        if k == "_id":
            continue
        if not isinstance(v, dict) or len(v) != 1:
            bad("The field '%s' must be an accumulator object" % k, 40234)
        op, e = next(iter(v.items()))
        if op not in ACCUMULATORS:
            bad("unknown group operator '%s'" % op, 15952)
        accs.append((k, op, e))
    groups = {}
    for d in docs:
        gid = _nm(evaluate(spec["_id"], d))
        k = skey(gid)
        g = groups.get(k)
        if g is None:
            g = groups[k] = (gid, [Accumulator(op, e) for _, op, e in accs])
        for a in g[1]:
            a.add(d)
    out = []
    for gid, al in groups.values():
        doc = {"_id": gid}
        for (k, _, _), a in zip(accs, al):
            doc[k] = a.result()
        out.append(doc)
    return out


def _unwind(spec, docs):
    if isinstance(spec, str):
        spec = {"path": spec}
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith("$"):
        bad("$unwind path must be prefixed by a '$'", 28818)
    parts = path[1:].split(".")
    keep = spec.get("preserveNullAndEmptyArrays", False)
    idx_field = spec.get("includeArrayIndex")
    out = []
    for d in docs:
        v = get_path(d, path[1:])
        if isinstance(v, list) and v:
            for i, e in enumerate(v):
                nd = copy.deepcopy(d)
                set_path(nd, parts, e)
                if idx_field:
                    set_path(nd, split_path(idx_field), Int64(i))
                out.append(nd)
        elif isinstance(v, list) or _nullish(v):
            if keep:
                nd = copy.deepcopy(d)
                if isinstance(v, list):
                    _exclude_path(nd, parts)
                if idx_field:
                    set_path(nd, split_path(idx_field), None)
                out.append(nd)
        else:
            nd = copy.deepcopy(d)
            if idx_field:
                set_path(nd, split_path(idx_field), None)
            out.append(nd)
    return out


# ================================================================ updates

UPDATE_OPS = ("$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert",
              "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$currentDate")


def is_operator_update(u):
    return isinstance(u, dict) and u and next(iter(u)).startswith("$")


def validate_update(u):
    if isinstance(u, list):
        bad("pipeline-style updates are not supported by fakemongod", 2)
    if not isinstance(u, dict):
        bad("Update argument must be either an object or an array", 14)
    if is_operator_update(u):
        seen = []
        for op, args in u.items():
            if op not in UPDATE_OPS:
                if not op.startswith("$"):
                    bad("Unknown modifier: %s. Expected a valid update modifier or pipeline-style "
                        "update specified as an array" % op, 9)
                bad("Unknown modifier: %s. Expected a valid update modifier or pipeline-style update "
                    "specified as an array" % op, 9)
            if not isinstance(args, dict):
                bad("Modifiers operate on fields but we found type %s instead." % type(args).__name__, 9)
            for path in args:
                if path == "":
                    bad("An empty update path is not valid.", 56)
                for p in seen:
                    if p == path or p.startswith(path + ".") or path.startswith(p + "."):
                        bad("Updating the path '%s' would create a conflict at '%s'" % (path, p), 40)
                seen.append(path)
                if op == "$rename":
                    seen.append(args[path])
    else:
        for k in u:
            if k.startswith("$"):
                bad("The dollar ($) prefixed field '%s' in '%s' is not valid for storage." % (k, k), 52)


def _traverse_create(doc, parts, create):
    """Return (parent container, last key) for parts, creating intermediate docs if create."""
    cur = doc
    for i, p in enumerate(parts[:-1]):
        if isinstance(cur, dict):
            nxt = cur.get(p, MISSING)
            if nxt is MISSING or nxt is None and False:
                if not create:
                    return None, None
                nxt = {}
                cur[p] = nxt
            elif not isinstance(nxt, (dict, list)):
                if not create:
                    return None, None
                bad("Cannot create field '%s' in element {%s: %r}" % (parts[i + 1], p, nxt), 28)
            cur = nxt
        elif isinstance(cur, list):
            if not p.isdigit():
                bad("Cannot create field '%s' in element {%s: [...]}" % (p, parts[i - 1] if i else ""), 28)
            idx = int(p)
            while len(cur) <= idx:
                if not create:
                    return None, None
                cur.append(None)
            if cur[idx] is None and create:
                cur[idx] = {}
            cur = cur[idx]
            if not isinstance(cur, (dict, list)):
                if not create:
                    return None, None
                bad("Cannot create field in element", 28)
    return cur, parts[-1]


def _get_in(parent, key):
    if isinstance(parent, dict):
        return parent.get(key, MISSING)
    if isinstance(parent, list) and key.isdigit():
        i = int(key)
        return parent[i] if i < len(parent) else MISSING
    return MISSING


def _set_in(parent, key, value):
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        if not key.isdigit():
            bad("Cannot create field '%s' in element of array" % key, 28)
        i = int(key)
        while len(parent) <= i:
            parent.append(None)
        parent[i] = value


def apply_update(doc, u, is_insert=False):
    """Apply operator update `u` to a deep copy of doc and return it."""
    new = copy.deepcopy(doc)
    now = None
    for op, args in u.items():
        for path, arg in args.items():
            parts = split_path(path)
            if op == "$setOnInsert":
                if not is_insert:
                    continue
                op_eff = "$set"
            else:
                op_eff = op
            if op_eff == "$set":
                parent, key = _traverse_create(new, parts, True)
                _set_in(parent, key, copy.deepcopy(arg))
            elif op_eff == "$unset":
                parent, key = _traverse_create(new, parts, False)
                if parent is not None:
                    if isinstance(parent, dict):
                        parent.pop(key, None)
                    elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
                        parent[int(key)] = None
            elif op_eff in ("$inc", "$mul"):
                if not is_number(arg):
                    bad("Cannot %s with non-numeric argument: {%s: %r}" % (op_eff[1:], path, arg), 14)
                parent, key = _traverse_create(new, parts, True)
                cur = _get_in(parent, key)
                if cur is MISSING:
                    val = copy.deepcopy(arg) if op_eff == "$inc" else make_num(num_kind(arg), 0)
                elif not is_number(cur):
                    bad("Cannot apply %s to a value of non-numeric type. {_id: %r} has the field '%s' "
                        "of non-numeric type %s" % (op_eff, doc.get("_id"), key, type(cur).__name__), 14)
                else:
                    val = num_add(cur, arg) if op_eff == "$inc" else num_mul(cur, arg)
                    if isinstance(val, float) and num_kind(cur) < 2 and num_kind(arg) < 2:
                        bad("Failed to apply %s operations to current value (%r) for document {_id: %r}"
                            % (op_eff, cur, doc.get("_id")), 2)
                _set_in(parent, key, val)
            elif op_eff in ("$min", "$max"):
                parent, key = _traverse_create(new, parts, True)
                cur = _get_in(parent, key)
                if cur is MISSING:
                    _set_in(parent, key, copy.deepcopy(arg))
                else:
                    c = skey(arg) < skey(cur) if op_eff == "$min" else skey(arg) > skey(cur)
                    if c:
                        _set_in(parent, key, copy.deepcopy(arg))
            elif op_eff == "$rename":
                if not isinstance(arg, str):
                    bad("The 'to' field for $rename must be a string: %s: %r" % (path, arg), 2)
                parent, key = _traverse_create(new, parts, False)
                cur = _get_in(parent, key) if parent is not None else MISSING
                if cur is not MISSING:
                    del parent[key]
                    p2, k2 = _traverse_create(new, split_path(arg), True)
                    _set_in(p2, k2, cur)
            elif op_eff == "$currentDate":
                if now is None:
                    import time
                    ms = int(time.time() * 1000)
                    now = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
                parent, key = _traverse_create(new, parts, True)
                if isinstance(arg, dict) and arg.get("$type") == "timestamp":
                    from bson.timestamp import Timestamp
                    _set_in(parent, key, Timestamp(int(now.timestamp()), 1))
                else:
                    _set_in(parent, key, now)
            elif op_eff in ("$push", "$addToSet"):
                parent, key = _traverse_create(new, parts, True)
                cur = _get_in(parent, key)
                if cur is MISSING:
                    cur = []
                    _set_in(parent, key, cur)
                elif not isinstance(cur, list):
                    bad("The field '%s' must be an array but is of type %s in document {_id: %r}"
                        % (path, type(cur).__name__, doc.get("_id")), 2)
                if isinstance(arg, dict) and "$each" in arg:
                    items = arg["$each"]
                    if not isinstance(items, list):
                        bad("The argument to $each in %s must be an array" % op_eff, 2)
                else:
                    items = [arg]
                    arg = {}
                for it in items:
                    if op_eff == "$addToSet" and any(skey(x) == skey(it) for x in cur):
                        continue
                    cur.append(copy.deepcopy(it))
                if op_eff == "$push":
                    if "$sort" in arg:
                        s = arg["$sort"]
                        if isinstance(s, dict):
                            cur[:] = apply_sort(cur, compile_sort(s))
                        else:
                            cur.sort(key=skey, reverse=num_norm(s) == -1)
                    if "$slice" in arg:
                        n = int(num_float(arg["$slice"]))
                        cur[:] = cur[:n] if n >= 0 else cur[n:]
            elif op_eff == "$pop":
                parent, key = _traverse_create(new, parts, False)
                cur = _get_in(parent, key) if parent is not None else MISSING
                if isinstance(cur, list) and cur:
                    if num_norm(arg) == -1:
                        cur.pop(0)
                    else:
                        cur.pop()
            elif op_eff in ("$pull", "$pullAll"):
                parent, key = _traverse_create(new, parts, False)
                cur = _get_in(parent, key) if parent is not None else MISSING
                if isinstance(cur, list):
                    if op_eff == "$pullAll":
                        ks = {skey(x) for x in arg}
                        cur[:] = [x for x in cur if skey(x) not in ks]
                    elif isinstance(arg, dict) and _is_op_doc(arg):
                        p = _compile_ops(arg, path)
                        cur[:] = [x for x in cur if not p([x])]
                    elif isinstance(arg, dict):
                        m = compile_filter(arg)
                        cur[:] = [x for x in cur if not (isinstance(x, dict) and m(x))]
                    else:
                        k = skey(arg)
                        cur[:] = [x for x in cur if skey(x) != k]
    return new


def equality_fields(flt):
    """Fields fixed by equality in a query (used to seed upserted documents)."""
    out = {}
    if not isinstance(flt, dict):
        return out
    for k, v in flt.items():
        if k == "$and" and isinstance(v, list):
            for sub in v:
                out.update(equality_fields(sub))
        elif k.startswith("$"):
            continue
        elif isinstance(v, dict) and v and next(iter(v)).startswith("$"):
            if "$eq" in v:
                out[k] = v["$eq"]
            elif "$in" in v and isinstance(v["$in"], list) and len(v["$in"]) == 1:
                out[k] = v["$in"][0]
        elif not isinstance(v, (Regex, re.Pattern)):
            out[k] = v
    return out


def build_upsert_seed(flt):
    seed = {}
    for k, v in equality_fields(flt).items():
        parts = split_path(k)
        parent, key = _traverse_create(seed, parts, True)
        _set_in(parent, key, copy.deepcopy(v))
    return seed


def doc_bytes_equal(a, b):
    return encode(a) == encode(b)
