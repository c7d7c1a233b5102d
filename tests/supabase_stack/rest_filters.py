"""PostgREST's row filters, parsed as PostgREST parses them, turned into SQL on `_t`.

Two forms (PostgREST src/library/PostgREST/ApiRequest/QueryParams.hs):
    ?col=[not.]op.value                 the whole rest of the value is the operand
    ?or=(f,f,...)  ?and=(...)  ?not.or=(...)  ?not.and=(...)
        each f is `col.[not.]op.value` or a nested `[not.]and(...)` / `[not.]or(...)`; inside
        these an operand ends at the next `,` or `)` unless double-quoted ("a,b", \\" escapes)
        or a `{...}` array; spaces and tabs around `(`, `,` and `)` are ignored.
Operators: eq neq gt gte lt lte like ilike is in (+ `not.`). Anything else is a BadRequest
naming it, so a client sending what the stand-in does not model fails loudly.
"""

from __future__ import annotations

import re

from psycopg import sql

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
        "like": "like", "ilike": "ilike"}
_IS = {"null": "null", "not_null": "not null", "true": "true", "false": "false",
       "unknown": "unknown"}
LOGIC_KEYS = frozenset({"or", "and", "not.or", "not.and"})
_T = sql.Identifier("_t")


class BadRequest(Exception):
    def __init__(self, message: str, code: str = "PGRST100", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def ident(name: str) -> sql.Identifier:
    name = name.strip().strip('"')
    if not _IDENT.match(name):
        raise BadRequest(f"unsupported column or table name {name!r} (the test stack only "
                         "knows plain identifiers)")
    return sql.Identifier(name)


def column(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(_T, ident(name))


def operation(name: str, negate: bool, op: str, value: str | list[str]) -> sql.Composable:
    """`_t.name <op> value` (value is a list only for `in`), negated with `not.`."""
    col = column(name)
    if op in _OPS:
        assert isinstance(value, str)
        if op in {"like", "ilike"}:
            value = value.replace("*", "%")
        clause: sql.Composable = sql.SQL("{} {} {}").format(col, sql.SQL(_OPS[op]),
                                                            sql.Literal(value))
    elif op == "is":
        assert isinstance(value, str)
        keyword = _IS.get(value.lower())
        if keyword is None:
            raise BadRequest(f"is.{value} is not null/not_null/true/false/unknown")
        clause = sql.SQL("{} is {}").format(col, sql.SQL(keyword))
    elif op == "in":
        assert isinstance(value, list)
        clause = (sql.SQL("{} in ({})").format(col, sql.SQL(", ").join(
            sql.Literal(v) for v in value)) if value else sql.SQL("false"))
    else:
        raise BadRequest(f"unsupported filter operator {op!r} on {name}")
    return sql.SQL("not ({})").format(clause) if negate else clause


def column_filter(name: str, raw: str) -> sql.Composable:
    """`?name=raw`: outside a logic tree the operand is the rest of the value, verbatim."""
    negate = raw.startswith("not.")
    op, _, value = raw.removeprefix("not.").partition(".")
    if op == "in":
        return operation(name, negate, op, _LogicParser(value).list_value(whole=True))
    return operation(name, negate, op, value)


def logic_filter(key: str, raw: str) -> sql.Composable:
    """`?or=(...)` and friends: PostgREST prepends the key to the value and parses a tree."""
    return _LogicParser(key + raw).tree(whole=True)


class _LogicParser:
    """A recursive-descent copy of PostgREST's pLogicTree, over one string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> BadRequest:
        return BadRequest(f"failed to parse logic tree ({self.text!r}) at {self.pos}: "
                          f"expected {expected}")

    def peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_ws()
        if not self.peek(char):
            raise self.fail(repr(char))
        self.pos += 1
        self.skip_ws()

    def end(self) -> None:
        if self.pos != len(self.text):
            raise self.fail("end of input")

    def tree(self, whole: bool = False) -> sql.Composable:
        start = self.pos
        try:
            result = self.statement()
        except BadRequest:
            self.pos = start  # not `col.op.value`: a nested and(...)/or(...)
            result = self.expression()
        if whole:
            self.end()
        return result

    def expression(self) -> sql.Composable:
        negate = False
        if self.peek("not."):
            negate, self.pos = True, self.pos + 4
        if self.peek("and"):
            joiner, self.pos = " and ", self.pos + 3
        elif self.peek("or"):
            joiner, self.pos = " or ", self.pos + 2
        else:
            raise self.fail("logic operator (and, or)")
        self.expect("(")
        parts = [self.tree()]
        self.skip_ws()
        while self.peek(","):
            self.expect(",")
            parts.append(self.tree())
            self.skip_ws()
        self.expect(")")
        joined = sql.SQL("({})").format(sql.SQL(joiner).join(parts))
        return sql.SQL("not {}").format(joined) if negate else joined

    def statement(self) -> sql.Composable:
        name = self.field_name()
        if not self.peek("."):
            raise self.fail("delimiter (.)")
        self.pos += 1
        negate = False
        if self.peek("not."):
            negate, self.pos = True, self.pos + 4
        match = re.compile(r"[a-z]+").match(self.text, self.pos)
        if match is None or match.group() not in {*_OPS, "is", "in"}:
            raise self.fail("operator (eq, gt, ...)")
        op = match.group()
        self.pos = match.end()
        if not self.peek("."):
            raise self.fail("delimiter (.)")
        self.pos += 1
        if op == "in":
            return operation(name, negate, op, self.list_value())
        return operation(name, negate, op, self.single_value())

    def field_name(self) -> str:
        if self.peek('"'):
            return self.quoted()
        match = re.compile(r"[A-Za-z0-9_$]+(?:-[A-Za-z0-9_$]+)*").match(self.text, self.pos)
        if match is None:
            raise self.fail("field name")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        self.pos += 1  # the opening quote
        out = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail("closing quote")
        self.pos += 1
        return "".join(out)

    def bare(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)":
            self.pos += 1
        return self.text[start:self.pos]

    def single_value(self) -> str:
        if self.peek('"'):
            start = self.pos
            value = self.quoted()
            if self.pos == len(self.text) or self.text[self.pos] in ",)":
                return value
            self.pos = start  # `"a"b` is not a quoted value: PostgREST reads it bare
        if self.peek("{"):
            close = self.text.find("}", self.pos)
            if close != -1:
                value, self.pos = self.text[self.pos:close + 1], close + 1
                return value
        return self.bare()

    def list_value(self, whole: bool = False) -> list[str]:
        self.expect("(")
        items = [self.list_element()]
        while self.peek(","):
            self.pos += 1
            items.append(self.list_element())
        self.expect(")")
        if whole:
            self.end()
        return items

    def list_element(self) -> str:
        if self.peek('"'):
            start = self.pos
            value = self.quoted()
            if self.pos == len(self.text) or self.text[self.pos] in ",)":
                return value
            self.pos = start
        return self.bare()
