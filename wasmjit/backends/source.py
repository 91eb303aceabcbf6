"""The ``source`` backend: the plan's program rendered as Python and compiled.

Each plan is rendered once, as a factory whose parameters are the constants
the trampoline uses (so they are closure variables of the trampoline, not
globals), compiled under a unique filename registered in ``linecache`` —
tracebacks, ``inspect.getsource`` and debuggers show the generated lines,
the way ``dataclasses`` and ``attrs`` do it.  Binding a new callable calls
the factory; nothing is compiled again.
"""

from __future__ import annotations

import itertools
import linecache
import types
from typing import Any, Callable, Dict, List, Tuple

from .. import interrupts
from ..plan import (
    AnyOf,
    Assign,
    Attr,
    Call,
    Compare,
    Do,
    Expr,
    If,
    Literal,
    MakeList,
    MakeTuple,
    Name,
    NewList,
    Plan,
    Program,
    Raise,
    Return,
    Stmt,
    Try,
)

__all__ = ["render", "SourceTemplate"]

_counter = itertools.count(1)


def _expr(expr: Expr) -> str:
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Literal):
        return repr(expr.value)
    if isinstance(expr, Attr):
        return f"{_expr(expr.value)}.{expr.attr}"
    if isinstance(expr, Call):
        return f"{expr.func}({', '.join(_expr(a) for a in expr.args)})"
    if isinstance(expr, MakeTuple):
        inner = ", ".join(_expr(i) for i in expr.items)
        return f"({inner},)" if len(expr.items) == 1 else f"({inner})"
    if isinstance(expr, MakeList):
        return f"[{', '.join(_expr(i) for i in expr.items)}]"
    if isinstance(expr, NewList):
        return "[]"
    raise TypeError(f"unknown expression {expr!r}")


def _targets(stmt: Assign) -> str:
    if stmt.unpack and len(stmt.targets) == 1:
        return f"{stmt.targets[0]},"
    return ", ".join(stmt.targets)


class _Writer:
    def __init__(self) -> None:
        self.lines: List[str] = []
        #: Line number of every statement, in visiting order (the bytecode
        #: backend visits in the same order and reuses them).
        self.statement_lines: List[int] = []

    def emit(self, depth: int, text: str) -> int:
        self.lines.append("    " * depth + text)
        return len(self.lines)

    def statements(self, stmts: "Tuple[Stmt, ...]", depth: int) -> None:
        for stmt in stmts:
            self.statement(stmt, depth)

    def statement(self, stmt: Stmt, depth: int) -> None:
        if isinstance(stmt, Assign):
            self.statement_lines.append(self.emit(depth, f"{_targets(stmt)} = {_expr(stmt.value)}"))
        elif isinstance(stmt, Do):
            self.statement_lines.append(self.emit(depth, _expr(stmt.value)))
        elif isinstance(stmt, If):
            if isinstance(stmt.test, Compare):
                test = f"{_expr(stmt.test.left)} {stmt.test.op} {_expr(stmt.test.right)}"
            elif isinstance(stmt.test, AnyOf):
                test = " or ".join(stmt.test.names)
            else:
                raise TypeError(f"unknown test {stmt.test!r}")
            self.statement_lines.append(self.emit(depth, f"if {test}:"))
            self.statements(stmt.body, depth + 1)
        elif isinstance(stmt, Raise):
            self.statement_lines.append(self.emit(depth, f"raise {stmt.exception}"))
        elif isinstance(stmt, Return):
            text = "return" if stmt.value is None else f"return {_expr(stmt.value)}"
            self.statement_lines.append(self.emit(depth, text))
        elif isinstance(stmt, Try):
            self.statement_lines.append(self.emit(depth, "try:"))
            self.statements(stmt.body, depth + 1)
            clause = "except BaseException" + (f" as {stmt.name}:" if stmt.name else ":")
            self.statement_lines.append(self.emit(depth, clause))
            self.statements(stmt.handler, depth + 1)
        else:
            raise TypeError(f"unknown statement {stmt!r}")


def constants_of(program: Program, plan: Plan) -> "List[str]":
    """Names the program uses that are not locals, in first-use order."""
    local = set(program.locals())
    found: Dict[str, None] = {}

    def expr(e: Expr) -> None:
        if isinstance(e, Name):
            if e.id not in local:
                found[e.id] = None
        elif isinstance(e, Attr):
            expr(e.value)
        elif isinstance(e, Call):
            if e.func not in local:
                found[e.func] = None
            for a in e.args:
                expr(a)
        elif isinstance(e, (MakeTuple, MakeList)):
            for i in e.items:
                expr(i)

    def stmts(ss: "Tuple[Stmt, ...]") -> None:
        for s in ss:
            if isinstance(s, (Assign, Do)):
                expr(s.value)
            elif isinstance(s, If):
                if isinstance(s.test, Compare):
                    expr(s.test.left)
                    expr(s.test.right)
                stmts(s.body)
            elif isinstance(s, Raise):
                found[s.exception] = None
            elif isinstance(s, Return) and s.value is not None:
                expr(s.value)
            elif isinstance(s, Try):
                stmts(s.body)
                found["BaseException"] = None
                stmts(s.handler)

    stmts(program.body)
    return list(found)


def render(plan: Plan, program: "Program | None" = None) -> "Tuple[str, List[int], List[str]]":
    """The trampoline of ``plan`` as Python source.

    Returns the source (the trampoline function alone, starting at line 1),
    the line of each statement in visiting order, and the constant names.
    """
    if program is None:
        program = plan.program()
    writer = _Writer()
    arguments = ", ".join(program.arguments) + (", /" if program.arguments else "")
    writer.emit(0, f"def {program.name}({arguments}):")
    writer.emit(1, f'"""{program.docstring}"""')
    writer.statements(program.body, 1)
    return "\n".join(writer.lines) + "\n", writer.statement_lines, constants_of(program, plan)


class SourceTemplate:
    """A compiled factory for the trampolines of one plan."""

    backend = "source"

    def __init__(self, plan: Plan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        source, _, constants = render(plan)
        self.constants = constants
        self.filename = f"<wasmjit-source {plan.name} #{next(_counter)}>"
        # The factory wraps the trampoline; its line offset is 1, so the
        # trampoline's own lines are shifted by one in the module text.
        factory = f"def make({', '.join(constants)}):\n"
        body = "".join("    " + line + "\n" if line else "\n" for line in source.splitlines())
        self.module_source = factory + body + f"    return {plan.program().name}\n"
        self.source = source
        linecache.cache[self.filename] = (
            len(self.module_source),
            None,
            self.module_source.splitlines(True),
            self.filename,
        )
        namespace: Dict[str, Any] = {}
        code = compile(self.module_source, self.filename, "exec")
        exec(code, {"__name__": "wasmjit.generated", "__builtins__": {}}, namespace)
        self._make: Callable[..., Callable[..., Any]] = namespace["make"]
        if plan.direction == "callback":
            for const in self._make.__code__.co_consts:
                if isinstance(const, types.CodeType):
                    interrupts.register_entry(const)
        self._statics = {name: statics[name] for name in constants if name in statics}

    def bind(self, values: Dict[str, Any]) -> Callable[..., Any]:
        if self.plan.direction == "callback":
            interrupts.ensure_deferring_handler()
        return self._make(**self._statics, **{name: values[name] for name in self.plan.bound if name in self.constants})

    def listing(self) -> str:
        return self.source
