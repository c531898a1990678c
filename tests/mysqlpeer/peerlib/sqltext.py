"""The SQL the peer's tables understand: a tokenizer and a small recursive-descent parser of
conditions and value expressions (sdl's snapshot queries, the information_schema queries it
sends, and the plain DML/DDL a test sends through pymysql or the `mariadb` client).

Anything outside it is a QueryError (ERR 1235 "mysqlpeer does not answer this query"), so a
new statement from sdl shows up in the tests instead of being answered wrongly.
"""
import decimal
import re

ER_PARSE_ERROR = 1064
ER_NOT_SUPPORTED_YET = 1235


class QueryError(Exception):
    def __init__(self, code, message, state="HY000"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.state = state


def unsupported(what):
    return QueryError(ER_NOT_SUPPORTED_YET, f"mysqlpeer does not answer this query ({what})",
                      "42000")


class Tok:
    __slots__ = ("kind", "text", "value", "pos")

    def __init__(self, kind, text, value, pos):
        self.kind = kind    # id, qid (backquoted), str, bin, num, op, param, end
        self.text = text
        self.value = value
        self.pos = pos

    def __repr__(self):
        return f"{self.kind}:{self.text}"


_ESC = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}
_OPS = (">=", "<=", "<>", "!=", ":=", "=", ">", "<", "(", ")", ",", ".", "*", "+", "-", ";",
        "?", "/")
_NUM = re.compile(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_ID = re.compile(r"[A-Za-z_$@][A-Za-z0-9_$@]*")


def _quoted(sql, i, quote):
    """The string literal starting at sql[i] == quote: (text, index after it)."""
    out = []
    j = i + 1
    while True:
        if j >= len(sql):
            raise QueryError(ER_PARSE_ERROR, "You have an error in your SQL syntax: "
                             "unterminated string", "42000")
        c = sql[j]
        if c == "\\" and j + 1 < len(sql):
            out.append(_ESC.get(sql[j + 1], sql[j + 1]))
            j += 2
        elif c == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:
                out.append(quote)
                j += 2
            else:
                return "".join(out), j + 1
        else:
            out.append(c)
            j += 1


def tokenize(sql):
    toks = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("_binary", i) and i + 7 < n and sql[i + 7] in "'\"":
            s, j = _quoted(sql, i + 7, sql[i + 7])
            toks.append(Tok("bin", sql[i:j], s.encode("utf-8", "surrogateescape"), i))
            i = j
        elif c in "xX" and i + 1 < n and sql[i + 1] == "'":
            end = sql.index("'", i + 2)
            toks.append(Tok("bin", sql[i:end + 1], bytes.fromhex(sql[i + 2:end]), i))
            i = end + 1
        elif c in "'\"":
            s, j = _quoted(sql, i, c)
            toks.append(Tok("str", sql[i:j], s, i))
            i = j
        elif c == "`":
            end = sql.find("`", i + 1)
            while end >= 0 and end + 1 < n and sql[end + 1] == "`":
                end = sql.find("`", end + 2)
            if end < 0:
                raise QueryError(ER_PARSE_ERROR, "unterminated identifier", "42000")
            name = sql[i + 1:end].replace("``", "`")
            toks.append(Tok("qid", sql[i:end + 1], name, i))
            i = end + 1
        elif c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            m = _NUM.match(sql, i)
            text = m.group(0)
            if m.group(2):
                val = float(text)
            elif "." in text:
                val = decimal.Decimal(text)
            else:
                val = int(text)
            toks.append(Tok("num", text, val, i))
            i = m.end()
        elif _ID.match(sql, i):
            m = _ID.match(sql, i)
            toks.append(Tok("id", m.group(0), m.group(0), i))
            i = m.end()
        else:
            for op in _OPS:
                if sql.startswith(op, i):
                    toks.append(Tok("param" if op == "?" else "op", op, None, i))
                    i += len(op)
                    break
            else:
                raise QueryError(ER_PARSE_ERROR, f"You have an error in your SQL syntax near "
                                 f"'{sql[i:i + 30]}'", "42000")
    toks.append(Tok("end", "", None, n))
    return toks


class Parser:
    """Tokens with one-token look-ahead; the parameters ('?') are numbered as they appear."""

    def __init__(self, sql):
        self.sql = sql
        self.toks = tokenize(sql)
        self.i = 0
        self.nparams = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self):
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def at_kw(self, *words):
        for k, w in enumerate(words):
            t = self.peek(k)
            if t.kind != "id" or t.text.lower() != w:
                return False
        return True

    def kw(self, *words):
        if self.at_kw(*words):
            self.i += len(words)
            return True
        return False

    def expect_kw(self, *words):
        if not self.kw(*words):
            self.fail(" ".join(words).upper())

    def at_op(self, op):
        t = self.peek()
        return t.kind == "op" and t.text == op

    def op(self, op):
        if self.at_op(op):
            self.i += 1
            return True
        return False

    def expect_op(self, op):
        if not self.op(op):
            self.fail(f"'{op}'")

    def fail(self, wanted):
        t = self.peek()
        raise QueryError(ER_PARSE_ERROR, f"You have an error in your SQL syntax; expected "
                         f"{wanted} near '{self.sql[t.pos:t.pos + 40]}'", "42000")

    def ident(self):
        t = self.take()
        if t.kind not in ("id", "qid"):
            self.i -= 1 if t.kind != "end" else 0
            self.fail("an identifier")
        return t.value

    def qname(self):
        """[db.]name -> (db or None, name)"""
        a = self.ident()
        if self.op("."):
            return a, self.ident()
        return None, a

    def ident_list(self):
        self.expect_op("(")
        out = [self.ident()]
        while self.op(","):
            out.append(self.ident())
        self.expect_op(")")
        return out

    def done(self):
        self.op(";")
        if self.peek().kind != "end":
            self.fail("the end of the statement")

    # ---- expressions: trees of tuples, evaluated by evaluate() ------------------------------
    def condition(self):
        left = self._and()
        while self.kw("or"):
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._not()
        while self.kw("and"):
            left = ("and", left, self._not())
        return left

    def _not(self):
        if self.kw("not"):
            return ("not", self._not())
        return self._cmp()

    def _cmp(self):
        if self.at_op("("):
            # a parenthesized condition (sdl's key predicates are made of them)
            self.take()
            inner = self.condition()
            self.expect_op(")")
            return inner
        left = self.value()
        t = self.peek()
        if t.kind == "op" and t.text in ("=", ">=", "<=", ">", "<", "<>", "!="):
            self.take()
            return ("cmp", "!=" if t.text == "<>" else t.text, left, self.value())
        if self.kw("between"):
            lo = self.value()
            self.expect_kw("and")
            return ("between", left, lo, self.value())
        neg = self.kw("not")
        if self.kw("in"):
            self.expect_op("(")
            items = [self.value()]
            while self.op(","):
                items.append(self.value())
            self.expect_op(")")
            return ("not", ("in", left, items)) if neg else ("in", left, items)
        if neg:
            self.fail("IN")
        if self.kw("is"):
            neg = self.kw("not")
            self.expect_kw("null")
            return ("not", ("isnull", left)) if neg else ("isnull", left)
        self.fail("a comparison")

    def value(self):
        left = self._term()
        while self.at_op("+") or self.at_op("-"):
            op = self.take().text
            left = ("arith", op, left, self._term())
        return left

    def _term(self):
        t = self.take()
        if t.kind == "param":
            self.nparams += 1
            return ("param", self.nparams - 1)
        if t.kind in ("str", "bin", "num"):
            return ("lit", t.value)
        if t.kind == "op" and t.text == "-":
            inner = self._term()
            if inner[0] == "lit" and isinstance(inner[1], (int, float, decimal.Decimal)):
                return ("lit", -inner[1])
            return ("arith", "-", ("lit", 0), inner)
        if t.kind == "op" and t.text == "(":
            v = self.value()
            self.expect_op(")")
            return v
        if t.kind == "id" and t.text.lower() == "null":
            return ("lit", None)
        if t.kind == "id" and t.text.lower() in ("true", "false"):
            return ("lit", 1 if t.text.lower() == "true" else 0)
        if t.kind == "id" and t.text.lower() == "values" and self.at_op("("):
            self.take()
            name = self.ident()
            self.expect_op(")")
            return ("values", name)
        if t.kind in ("id", "qid"):
            name = t.value
            # db.table.column or table.column: the column's name is what counts here
            while self.op("."):
                name = self.ident()
            return ("col", name)
        self.i -= 1
        self.fail("a value")


def _num(v):
    if isinstance(v, (int, float, decimal.Decimal)):
        return v
    if isinstance(v, str):
        try:
            return decimal.Decimal(v.strip() or "0")
        except decimal.InvalidOperation:
            return 0
    return v


def compare(a, b):
    """-1/0/1 of two values of one column (the caller coerced them), None when a NULL is in."""
    if a is None or b is None:
        return None
    if isinstance(a, (int, float, decimal.Decimal)) != isinstance(b, (int, float,
                                                                       decimal.Decimal)):
        a, b = _num(a), _num(b)
    if isinstance(a, str) and isinstance(b, bytes):
        a = a.encode()
    if isinstance(b, str) and isinstance(a, bytes):
        b = b.encode()
    return (a > b) - (a < b)


class Scope:
    """What evaluate() looks names and parameters up in: a row, and how to coerce a literal
    compared with a column to that column's type."""

    def __init__(self, row, params=(), coerce=None, incoming=None):
        self.row = row            # dict column name (lower case) -> value
        self.params = params
        self.coerce = coerce      # (column name, value) -> value, or None
        self.incoming = incoming  # VALUES(col) of INSERT … ON DUPLICATE KEY UPDATE

    def col(self, name):
        k = name.lower()
        if k not in self.row:
            raise QueryError(1054, f"Unknown column '{name}' in 'where clause'", "42S22")
        return self.row[k]


def evaluate(node, scope):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "param":
        if node[1] >= len(scope.params):
            raise QueryError(1210, "Incorrect arguments to mysqld_stmt_execute")
        return scope.params[node[1]]
    if kind == "col":
        return scope.col(node[1])
    if kind == "values":
        if scope.incoming is None:
            raise unsupported("VALUES() outside INSERT … ON DUPLICATE KEY UPDATE")
        return scope.incoming[node[1].lower()]
    if kind == "arith":
        a, b = evaluate(node[2], scope), evaluate(node[3], scope)
        if a is None or b is None:
            return None
        a, b = _num(a), _num(b)
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
        elif isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
            a, b = decimal.Decimal(a), decimal.Decimal(b)
        return a + b if node[1] == "+" else a - b
    if kind in ("and", "or"):
        a = truth(evaluate(node[1], scope))
        if kind == "and" and a is False:
            return False
        if kind == "or" and a is True:
            return True
        b = truth(evaluate(node[2], scope))
        if kind == "and":
            return None if (a is None or b is None) and b is not False else (a and b)
        return None if (a is None or b is None) and b is not True else (a or b)
    if kind == "not":
        a = truth(evaluate(node[1], scope))
        return None if a is None else not a
    if kind == "isnull":
        return evaluate(node[1], scope) is None
    if kind == "cmp":
        a, b = _pair(node[2], node[3], scope)
        c = compare(a, b)
        if c is None:
            return None
        return {"=": c == 0, "!=": c != 0, ">": c > 0, ">=": c >= 0, "<": c < 0,
                "<=": c <= 0}[node[1]]
    if kind == "between":
        a, lo = _pair(node[1], node[2], scope)
        a, hi = _pair(node[1], node[3], scope)
        c1, c2 = compare(a, lo), compare(a, hi)
        return None if c1 is None or c2 is None else (c1 >= 0 and c2 <= 0)
    if kind == "in":
        hit = False
        for item in node[2]:
            a, b = _pair(node[1], item, scope)
            if compare(a, b) == 0:
                hit = True
        return hit
    raise unsupported(f"expression {kind}")


def truth(v):
    if v is None or isinstance(v, bool):
        return v
    return bool(_num(v))


def _pair(x, y, scope):
    """Both sides of a comparison, a literal or parameter coerced to the column's type when the
    other side is a column (as MySQL compares a column with a constant)."""
    a, b = evaluate(x, scope), evaluate(y, scope)
    if scope.coerce:
        if x[0] == "col" and y[0] != "col" and b is not None:
            b = scope.coerce(x[1], b)
        elif y[0] == "col" and x[0] != "col" and a is not None:
            a = scope.coerce(y[1], a)
    return a, b


def columns_named(node, out=None):
    """The column names an expression reads."""
    out = set() if out is None else out
    if isinstance(node, tuple):
        if node[0] == "col":
            out.add(node[1].lower())
        for part in node[1:]:
            if isinstance(part, tuple):
                columns_named(part, out)
            elif isinstance(part, list):
                for p in part:
                    columns_named(p, out)
    return out
