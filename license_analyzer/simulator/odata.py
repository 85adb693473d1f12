"""A small OData $filter parser: the forms Graph, Dataverse and F&O clients actually send."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
  (?P<str>'(?:[^']|'')*')
 |(?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w-])
 |(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
 |(?P<num>-?\d+(?:\.\d+)?)
 |(?P<punc>[(),:])
 |(?P<name>[A-Za-z_@$][\w.@$'#]*(?:/[A-Za-z_$][\w.$]*)*)
)""",
    re.X,
)
COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})


class ODataError(ValueError):
    pass


@dataclass(frozen=True)
class Lit:
    kind: str  # str | num | bool | null | guid | dt
    value: Any


Node = tuple[Any, ...]


def parse_datetime(text: str) -> datetime:
    value = text.replace("Z", "+00:00")
    if "T" not in value:
        value += "T00:00:00+00:00"
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ODataError(f"Unexpected end of filter '{self.text}'.")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value:
            raise ODataError(f"Expected '{value}' but found '{text}' in '{self.text}'.")

    def word(self) -> str | None:
        tok = self.peek()
        return tok[1].lower() if tok and tok[0] == "name" else None

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise ODataError(
                f"Syntax error: unexpected '{self.peek()[1]}' in "  # type: ignore[index]
                f"'{self.text}'."
            )
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.word() == "or":
            self.take()
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.word() == "and":
            self.take()
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.word() == "not":
            self.take()
            return ("not", self.not_expr())
        return self.primary()

    def literal(self) -> Lit:
        kind, text = self.take()
        if kind == "str":
            return Lit("str", text[1:-1].replace("''", "'"))
        if kind == "dt":
            return Lit("dt", parse_datetime(text))
        if kind == "guid":
            return Lit("guid", text.lower())
        if kind == "num":
            return Lit("num", float(text) if "." in text else int(text))
        if kind == "name" and text.lower() in ("true", "false"):
            return Lit("bool", text.lower() == "true")
        if kind == "name" and text.lower() == "null":
            return Lit("null", None)
        if kind == "name" and "'" in text:
            # Enum literals such as Microsoft.Dynamics.DataEntities.NoYes'Yes'
            return Lit("str", text.split("'")[1])
        raise ODataError(f"Expected a literal but found '{text}' in '{self.text}'.")

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ODataError(f"Unexpected end of filter '{self.text}'.")
        if tok[1] == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        kind, name = self.take()
        if kind != "name":
            raise ODataError(f"Syntax error at '{name}' in '{self.text}'.")
        nxt = self.peek()
        if nxt and nxt[1] == "(":
            if name.lower().endswith("/any") or name.lower().endswith("/all"):
                return self.lambda_(name)
            return self.function(name)
        op = self.word()
        if op in COMPARISONS:
            self.take()
            return ("cmp", op, name, self.literal())
        if op == "in":
            self.take()
            self.expect("(")
            values = [self.literal()]
            while self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                values.append(self.literal())
            self.expect(")")
            return ("in", name, values)
        raise ODataError(f"Syntax error: operator expected after '{name}' in '{self.text}'.")

    def function(self, name: str) -> Node:
        self.expect("(")
        args: list[Any] = []
        while True:
            tok = self.peek()
            if tok and tok[0] == "name" and tok[1].lower() not in ("true", "false", "null"):
                args.append(("path", self.take()[1]))
            else:
                args.append(self.literal())
            if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                continue
            break
        self.expect(")")
        return ("func", name.lower(), args)

    def lambda_(self, name: str) -> Node:
        collection, quant = name.rsplit("/", 1)
        self.expect("(")
        if self.peek() and self.peek()[1] == ")":  # type: ignore[index]
            self.take()
            return (quant.lower(), collection, "", None)
        var = self.take()[1]
        self.expect(":")
        body = self.or_expr()
        self.expect(")")
        return (quant.lower(), collection, var, body)


def parse_filter(text: str) -> Node:
    return _Parser(text).parse()


def walk(node: Node) -> list[Node]:
    out = [node]
    if node[0] in ("and", "or"):
        out += walk(node[1]) + walk(node[2])
    elif node[0] == "not":
        out += walk(node[1])
    elif node[0] in ("any", "all") and node[3] is not None:
        out += walk(node[3])
    return out


def paths(node: Node) -> set[str]:
    out: set[str] = set()
    for n in walk(node):
        if n[0] in ("cmp", "in"):
            out.add(n[2] if n[0] == "cmp" else n[1])
        elif n[0] in ("any", "all"):
            out.add(n[1])
        elif n[0] == "func":
            out.update(a[1] for a in n[2] if isinstance(a, tuple))
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value


def _coerce(value: Any, lit: Lit) -> tuple[Any, Any]:
    if lit.kind == "dt":
        if isinstance(value, str) and value:
            try:
                return parse_datetime(value), lit.value
            except ValueError:
                return None, lit.value
        return value, lit.value
    return _norm(value), _norm(lit.value)


def _compare(op: str, left: Any, lit: Lit) -> bool:
    a, b = _coerce(left, lit)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        return bool({"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op])
    except TypeError:
        return False


def evaluate(node: Node, get: Callable[[str], Any]) -> bool:
    """Evaluates against one record; `get(path)` returns the property at that path."""
    op = node[0]
    if op == "and":
        return evaluate(node[1], get) and evaluate(node[2], get)
    if op == "or":
        return evaluate(node[1], get) or evaluate(node[2], get)
    if op == "not":
        return not evaluate(node[1], get)
    if op == "cmp":
        return _compare(node[1], get(node[2]), node[3])
    if op == "in":
        value = _norm(get(node[1]))
        return any(value == _norm(v.value) for v in node[2])
    if op in ("any", "all"):
        items = get(node[1]) or []
        if node[3] is None:
            return bool(items)
        var = node[2]

        def inner(item: Any) -> bool:
            def sub(path: str) -> Any:
                if path == var:
                    return item
                if path.startswith(var + "/"):
                    cur = item
                    for part in path[len(var) + 1 :].split("/"):
                        cur = cur.get(part) if isinstance(cur, dict) else None
                    return cur
                return get(path)

            return evaluate(node[3], sub)

        results = [inner(i) for i in items]
        return any(results) if op == "any" else all(results)
    if op == "func":
        name, args = node[1], node[2]
        vals = [get(a[1]) if isinstance(a, tuple) else a.value for a in args]
        if len(vals) != 2 or not isinstance(vals[0], str) or not isinstance(vals[1], str):
            return False
        hay, needle = vals[0].lower(), vals[1].lower()
        if name == "startswith":
            return hay.startswith(needle)
        if name == "endswith":
            return hay.endswith(needle)
        if name == "contains":
            return needle in hay
        raise ODataError(f"Unsupported function '{name}'.")
    raise ODataError(f"Unsupported filter node '{op}'.")


def dict_getter(row: dict[str, Any]) -> Callable[[str], Any]:
    return row.get


def time_bounds(node: Node, field: str) -> tuple[float, float]:
    """Widest [lo, hi] of `field` (epoch seconds) any matching record can have."""
    inf = float("inf")
    op = node[0]
    if op == "and":
        a, b = time_bounds(node[1], field), time_bounds(node[2], field)
        return max(a[0], b[0]), min(a[1], b[1])
    if op == "or":
        a, b = time_bounds(node[1], field), time_bounds(node[2], field)
        return min(a[0], b[0]), max(a[1], b[1])
    if op == "cmp" and node[2].lower() == field and node[3].kind == "dt":
        ts = node[3].value.timestamp()
        return {
            "ge": (ts, inf),
            "gt": (ts, inf),
            "le": (-inf, ts),
            "lt": (-inf, ts),
            "eq": (ts, ts),
        }.get(node[1], (-inf, inf))
    return -inf, inf


def vector_evaluate(node: Node, leaf: Callable[[str, str, Lit], Any]) -> Any:
    """Evaluates over numpy columns; `leaf(op, path, literal)` returns a boolean array."""
    op = node[0]
    if op == "and":
        return vector_evaluate(node[1], leaf) & vector_evaluate(node[2], leaf)
    if op == "or":
        return vector_evaluate(node[1], leaf) | vector_evaluate(node[2], leaf)
    if op == "not":
        return ~vector_evaluate(node[1], leaf)
    if op == "cmp":
        return leaf(node[1], node[2], node[3])
    if op == "in":
        masks = [leaf("eq", node[1], v) for v in node[2]]
        out = masks[0]
        for m in masks[1:]:
            out = out | m
        return out
    if op == "any" and node[3] is not None:
        # a collection holding one value per record (a sign-in's signInEventTypes): the
        # lambda's variable stands for the collection itself
        collection, var = node[1], node[2]
        return vector_evaluate(
            node[3], lambda o, path, lit: leaf(o, collection if path == var else path, lit)
        )
    raise ODataError(
        f"The query specified in the URI is not valid: '{op}' is not supported on this collection."
    )
