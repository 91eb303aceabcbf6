"""Resolve string annotations without ``eval``.

``from __future__ import annotations`` (or quoting) leaves annotations as
strings.  ``inspect.signature(..., eval_str=True)`` evaluates them with
``eval``, which an interpreter that forbids ``compile`` refuses, exactly
where the reflect backend must still work.  This module evaluates the small
language annotations are written in, without compiling anything: names,
dotted attributes, subscripts (``tuple[i32, i64]``, ``Callable[[i32], i32]``),
``None``, ``...``, ``X | Y`` unions, quoted forward references, and calls of
wasmjit's own markers with keyword arguments (``Guest(alloc="malloc")``):
no other callable is ever called.
"""

from __future__ import annotations

import builtins
import operator
import re
from typing import Any, List, Mapping, Tuple

__all__ = ["resolve"]

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<string>'[^']*'|\"[^\"]*\")|(?P<ellipsis>\.\.\.)|(?P<punct>[.\[\](),|=]))"
)


def _tokens(text: str) -> List[Tuple[str, str]]:
    tokens = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SyntaxError(f"cannot read the annotation {text!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, namespace: Mapping[str, Any]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.namespace = namespace

    def peek(self) -> str:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else ""

    def take(self, expected: str = "") -> Tuple[str, str]:
        if self.index >= len(self.tokens):
            raise SyntaxError(f"the annotation {self.text!r} ends early")
        token = self.tokens[self.index]
        if expected and token[1] != expected:
            raise SyntaxError(f"expected {expected!r} in the annotation {self.text!r}, found {token[1]!r}")
        self.index += 1
        return token

    def parse(self) -> Any:
        value = self.union()
        if self.index != len(self.tokens):
            raise SyntaxError(f"unexpected {self.peek()!r} in the annotation {self.text!r}")
        return value

    def union(self) -> Any:
        value = self.primary()
        while self.peek() == "|":
            self.take("|")
            value = operator.or_(value, self.primary())
        return value

    def primary(self) -> Any:
        value = self.atom()
        while self.peek() in (".", "[", "("):
            if self.peek() == "(":
                value = self.call(value)
            elif self.take()[1] == ".":
                kind, attribute = self.take()
                if kind != "name":
                    raise SyntaxError(f"expected a name after '.' in the annotation {self.text!r}")
                value = getattr(value, attribute)
            else:
                items, single = self.sequence("]")
                value = value[items[0] if single else tuple(items)]
        return value

    def call(self, marker: Any) -> Any:
        """``Marker(name=value, ...)`` for a wasmjit marker class; values are literals or dotted names."""
        from .kinds import Guest

        if marker is not Guest:
            raise SyntaxError(f"the annotation {self.text!r} calls {marker!r}; only wasmjit.Guest(...) may be called")
        self.take("(")
        keywords = {}
        while self.peek() != ")":
            kind, name = self.take()
            if kind != "name":
                raise SyntaxError(f"expected a keyword argument in the annotation {self.text!r}")
            self.take("=")
            keywords[name] = self.literal()
            if self.peek() == ",":
                self.take(",")
            elif self.peek() != ")":
                raise SyntaxError(f"expected ',' or ')' in the annotation {self.text!r}")
        self.take(")")
        return marker(**keywords)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1]
        if kind == "name":
            value = None if text == "None" else self.namespace.get(text, getattr(builtins, text, None))
            while self.peek() == ".":
                self.take(".")
                value = getattr(value, self.take()[1])
            return value
        raise SyntaxError(f"unexpected {text!r} in the annotation {self.text!r}")

    def sequence(self, closing: str) -> Tuple[List[Any], bool]:
        """Items up to ``closing``; ``single`` when there was one item and no comma."""
        items: List[Any] = []
        comma = False
        while self.peek() != closing:
            items.append(self.union())
            if self.peek() == ",":
                self.take(",")
                comma = True
            elif self.peek() != closing:
                raise SyntaxError(f"expected ',' or {closing!r} in the annotation {self.text!r}")
        self.take(closing)
        return items, len(items) == 1 and not comma

    def atom(self) -> Any:
        kind, text = self.take()
        if kind == "name":
            if text == "None":
                return None
            if text in self.namespace:
                return self.namespace[text]
            if hasattr(builtins, text):
                return getattr(builtins, text)
            raise NameError(f"name {text!r} is not defined")
        if kind == "string":
            return resolve(text[1:-1], self.namespace)
        if kind == "ellipsis":
            return ...
        if text == "(":
            items, single = self.sequence(")")
            return items[0] if single else tuple(items)
        if text == "[":
            items, _ = self.sequence("]")
            return items
        raise SyntaxError(f"unexpected {text!r} in the annotation {self.text!r}")


def resolve(text: str, namespace: Mapping[str, Any]) -> Any:
    """The value of the annotation ``text`` in ``namespace`` (then builtins)."""
    return _Parser(text, namespace).parse()
