"""The IR: a tiny statement language for trampolines, walked in one place.

A :class:`~wasmjit.model.plan.Plan` lowers itself to a :class:`Program`;
the ``bytecode`` and ``source`` backends render programs, the ``reflect``
backend does what they describe without generating code, and the tests run
programs through a reference interpreter to hold all three to the same
answers.  Everything a renderer needs to know about a program (its locals,
the constants it reads, the Python text of each statement and its line
number) is computed here, once, by :func:`walk` and the analyses below it.

Names are either locals (the program's arguments and anything assigned) or
constants bound when the trampoline is built: statics (the same for every
trampoline of a plan) and bound values (the callable, the buffer, ...).

The builders at the end (``call``, ``if_``, ``assign`` ...) make the code
that builds programs read like the program it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "Name",
    "Literal",
    "Attr",
    "Call",
    "MakeTuple",
    "MakeList",
    "NewList",
    "Item",
    "Span",
    "Expr",
    "Compare",
    "COMPARE_OPS",
    "AnyOf",
    "Test",
    "Assign",
    "SetAttr",
    "SetItem",
    "Do",
    "If",
    "Raise",
    "Return",
    "Try",
    "Stmt",
    "Program",
    "Path",
    "walk",
    "blocks_of",
    "expressions_of",
    "subexpressions",
    "locals_of",
    "constants_of",
    "Rendering",
    "render_python",
    "signature_text",
]

# Expressions -------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Literal:
    value: Union[bool, int, None]


@dataclass(frozen=True)
class Attr:
    value: "Expr"
    attr: str


@dataclass(frozen=True)
class Call:
    func: str
    args: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class MakeTuple:
    items: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class MakeList:
    items: "Tuple[Expr, ...]"


@dataclass(frozen=True)
class NewList:
    pass


@dataclass(frozen=True)
class Item:
    """``value[index]``: a read through a ``memoryview`` (one byte of the address space: no Python call)."""

    value: "Expr"
    index: "Expr"


@dataclass(frozen=True)
class Span:
    """``value[start:start + length]``: ``length`` bytes at address ``start`` (a local)."""

    value: "Expr"
    start: str
    length: int


Expr = Union[Name, Literal, Attr, Call, MakeTuple, MakeList, NewList, Item, Span]


# Tests -----------------------------------------------------------------------------


#: The comparisons a test can make: identity, equality (for tuples of small ints), and ``<``
#: (for ints).
COMPARE_OPS = ("is", "is not", "==", "!=", "<")


@dataclass(frozen=True)
class Compare:
    left: Expr
    op: str  # one of COMPARE_OPS
    right: Expr


@dataclass(frozen=True)
class AnyOf:
    """True when any of the locals is truthy."""

    names: "Tuple[str, ...]"


Test = Union[Compare, AnyOf]


# Statements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    """``targets[0] = value``, or ``t0, t1, ... = value`` when ``unpack``."""

    targets: "Tuple[str, ...]"
    value: Expr
    unpack: bool = False


@dataclass(frozen=True)
class SetAttr:
    """``target.attr = value``."""

    target: Expr
    attr: str
    value: Expr


@dataclass(frozen=True)
class SetItem:
    """``target[index] = value`` (a store through a ``memoryview``: no Python call)."""

    target: Expr
    index: Expr
    value: Expr


@dataclass(frozen=True)
class Do:
    """Evaluate ``value`` and discard it."""

    value: Expr


@dataclass(frozen=True)
class If:
    test: Test
    body: "Tuple[Stmt, ...]"


@dataclass(frozen=True)
class Raise:
    exception: str  # a constant (an exception class) or a local holding an exception


@dataclass(frozen=True)
class Return:
    value: Optional[Expr]


@dataclass(frozen=True)
class Try:
    """``try: body`` / ``except BaseException [as name]: handler``.

    Stands at statement level only.  The handler either ends in ``Return``
    or falls through to what follows.
    """

    body: "Tuple[Stmt, ...]"
    handler: "Tuple[Stmt, ...]"
    name: Optional[str] = None


Stmt = Union[Assign, SetAttr, SetItem, Do, If, Raise, Return, Try]


@dataclass(frozen=True)
class Program:
    """What a generated trampoline does, statement by statement."""

    name: str
    arguments: "Tuple[str, ...]"
    """The trampoline's parameters; all positional-only."""
    body: "Tuple[Stmt, ...]"
    docstring: str
    extra: Optional[str] = None
    """If set, the name of a ``*extra`` parameter collecting surplus arguments."""
    entry_checks_signals: bool = True
    """``False``: the function's entry must not run the interpreter's signal
    check, so that an interrupt is handled inside the ``try`` (a backend that
    cannot render that relies on the deferring SIGINT handler alone)."""
    defaults: "Tuple[Tuple[str, Expr], ...]" = ()
    """Positional-only parameters after :attr:`arguments`, each with its
    default (a constant's name, or a literal): locals bound before the frame
    runs its first instruction.  Nobody passes them."""
    try_covers_entry: bool = False
    """The body is ``Try`` statements, and the first one's range must also
    cover the function's entry: an exception raised as the frame starts (a
    tracer's or profiler's 'call' event, a signal handled there) lands in its
    handler, which reads only arguments and :attr:`defaults`.  Where the
    interpreter runs the 'return' event through the exception table (CPython
    3.12+), the ``return`` ending each ``Try``'s body is covered too.
    Backends that can do neither (an audit hook refusing new code objects)
    keep the compiler's ranges; see ``docs/errors.md``."""


# The one traversal -------------------------------------------------------------------

#: Where a statement stands: ``(i,)`` is ``body[i]``; each nested block adds
#: ``(block, j)``: block 0 is an ``If``'s or a ``Try``'s body, block 1 a ``Try``'s handler.
Path = Tuple[int, ...]


def blocks_of(stmt: Stmt) -> "Tuple[Tuple[Stmt, ...], ...]":
    """The statement blocks nested in ``stmt``, in order."""
    match stmt:
        case If(body=body):
            return (body,)
        case Try(body=body, handler=handler):
            return (body, handler)
        case _:
            return ()


def expressions_of(stmt: Stmt) -> "Tuple[Expr, ...]":
    """The expressions ``stmt`` itself evaluates (not those of nested statements)."""
    match stmt:
        case Assign(value=value) | Do(value=value):
            return (value,)
        case SetAttr(target=target, value=value):
            return (value, target)
        case SetItem(target=target, index=index, value=value):
            return (value, target, index)
        case If(test=Compare(left=left, right=right)):
            return (left, right)
        case Return(value=value) if value is not None:
            return (value,)
        case _:
            return ()


def subexpressions(expr: Expr) -> "Tuple[Expr, ...]":
    match expr:
        case Attr(value=value):
            return (value,)
        case Call(args=args):
            return args
        case MakeTuple(items=items) | MakeList(items=items):
            return items
        case Item(value=value, index=index):
            return (value, index)
        case Span(value=value, start=start):
            return (value, Name(start))
        case _:
            return ()


def walk(stmts: "Tuple[Stmt, ...]", path: Path = ()) -> "Iterator[Tuple[Path, Stmt]]":
    """Every statement with its path, depth first, in program order."""
    for index, stmt in enumerate(stmts):
        here = (*path, index)
        yield here, stmt
        for block_index, block in enumerate(blocks_of(stmt)):
            yield from walk(block, (*here, block_index))


def _walk_expr(expr: Expr) -> "Iterator[Expr]":
    yield expr
    for sub in subexpressions(expr):
        yield from _walk_expr(sub)


# Analyses --------------------------------------------------------------------------------


def locals_of(program: Program) -> "List[str]":
    """The program's local variables, in first-use order (arguments first)."""
    seen: Dict[str, None] = dict.fromkeys(program.arguments)
    seen.update(dict.fromkeys(name for name, _ in program.defaults))
    if program.extra:
        seen[program.extra] = None
    for _, stmt in walk(program.body):
        if isinstance(stmt, Assign):
            seen.update(dict.fromkeys(stmt.targets))
        elif isinstance(stmt, Try) and stmt.name:
            seen[stmt.name] = None
    return list(seen)


def constants_of(program: Program) -> "List[str]":
    """Names the program reads that are not locals, in first-use order."""
    local = set(locals_of(program))
    found: Dict[str, None] = {}
    for _, value in program.defaults:
        if isinstance(value, Name):
            found[value.id] = None
    for _, stmt in walk(program.body):
        if isinstance(stmt, Raise) and stmt.exception not in local:
            found[stmt.exception] = None
        elif isinstance(stmt, Try):
            found["BaseException"] = None
        for top in expressions_of(stmt):
            for expr in _walk_expr(top):
                if isinstance(expr, Name) and expr.id not in local:
                    found[expr.id] = None
                elif isinstance(expr, Call) and expr.func not in local:
                    found[expr.func] = None
    return list(found)


# The Python rendering -------------------------------------------------------------------


def _expr(expr: Expr) -> str:
    match expr:
        case Name(id=name):
            return name
        case Literal(value=value):
            return repr(value)
        case Attr(value=value, attr=attr):
            return f"{_expr(value)}.{attr}"
        case Call(func=func, args=args):
            return f"{func}({', '.join(_expr(a) for a in args)})"
        case MakeTuple(items=items):
            inner = ", ".join(_expr(i) for i in items)
            return f"({inner},)" if len(items) == 1 else f"({inner})"
        case MakeList(items=items):
            return f"[{', '.join(_expr(i) for i in items)}]"
        case NewList():
            return "[]"
        case Item(value=value, index=index):
            return f"{_expr(value)}[{_expr(index)}]"
        case Span(value=value, start=start, length=length):
            return f"{_expr(value)}[{start} : {start} + {length}]"
    raise TypeError(f"unknown expression {expr!r}")


def _test(test: Test) -> str:
    match test:
        case Compare(left=left, op=op, right=right):
            return f"{_expr(left)} {op} {_expr(right)}"
        case AnyOf(names=names):
            return " or ".join(names)
    raise TypeError(f"unknown test {test!r}")


def _line(stmt: Stmt) -> str:
    match stmt:
        case Assign(targets=targets, value=value, unpack=unpack):
            left = f"{targets[0]}," if unpack and len(targets) == 1 else ", ".join(targets)
            return f"{left} = {_expr(value)}"
        case SetAttr(target=target, attr=name, value=value):
            return f"{_expr(target)}.{name} = {_expr(value)}"
        case SetItem(target=target, index=index, value=value):
            return f"{_expr(target)}[{_expr(index)}] = {_expr(value)}"
        case Do(value=value):
            return _expr(value)
        case If(test=test):
            return f"if {_test(test)}:"
        case Raise(exception=exception):
            return f"raise {exception}"
        case Return(value=value):
            return "return" if value is None else f"return {_expr(value)}"
        case Try():
            return "try:"
    raise TypeError(f"unknown statement {stmt!r}")


def signature_text(program: Program) -> str:
    """The parameter list of the program's ``def``."""
    parts = list(program.arguments) + [f"{name}={_expr(value)}" for name, value in program.defaults]
    if parts:
        parts.append("/")
    if program.extra:
        parts.append(f"*{program.extra}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Rendering:
    """A program as Python source, and where each statement stands in it."""

    text: str
    """The function alone, its ``def`` on line 1."""
    lines: "Dict[Path, int]"
    """The line of each statement by path; a ``Try``'s ``except`` clause is at
    the path of its handler block (the ``Try``'s path plus ``(1,)``)."""


def render_python(program: Program) -> Rendering:
    """``program`` as the Python function it stands for."""
    out = [f"def {program.name}({signature_text(program)}):", f'    """{program.docstring}"""']
    lines: Dict[Path, int] = {}

    def block(stmts: "Tuple[Stmt, ...]", path: Path, depth: int) -> None:
        for index, stmt in enumerate(stmts):
            here = (*path, index)
            out.append("    " * depth + _line(stmt))
            lines[here] = len(out)
            nested = blocks_of(stmt)
            if isinstance(stmt, Try):
                block(stmt.body, (*here, 0), depth + 1)
                out.append("    " * depth + "except BaseException" + (f" as {stmt.name}:" if stmt.name else ":"))
                lines[(*here, 1)] = len(out)
                block(stmt.handler, (*here, 1), depth + 1)
            else:
                for block_index, inner in enumerate(nested):
                    block(inner, (*here, block_index), depth + 1)

    block(program.body, (), 1)
    return Rendering("\n".join(out) + "\n", lines)


# Builders ---------------------------------------------------------------------------------

Operand = Union[Expr, str, None, bool, int]


def ex(value: Operand) -> Expr:
    """An expression: a string is a name, ``None``/``True``/integers are literals."""
    if isinstance(value, str):
        return Name(value)
    if value is None or isinstance(value, (bool, int)):
        return Literal(value)
    return value


def call(func: str, *args: Operand) -> Call:
    return Call(func, tuple(ex(a) for a in args))


def attr(value: Operand, name: str) -> Attr:
    return Attr(ex(value), name)


def is_(left: Operand, right: Operand) -> Compare:
    return Compare(ex(left), "is", ex(right))


def is_not(left: Operand, right: Operand) -> Compare:
    return Compare(ex(left), "is not", ex(right))


def ne(left: Operand, right: Operand) -> Compare:
    return Compare(ex(left), "!=", ex(right))


def lt(left: Operand, right: Operand) -> Compare:
    return Compare(ex(left), "<", ex(right))


def item(value: Operand, index: Operand) -> Item:
    return Item(ex(value), ex(index))


def span(value: Operand, start: str, length: int) -> Span:
    return Span(ex(value), start, length)


def assign(target: str, value: Operand) -> Assign:
    return Assign((target,), ex(value))


def unpack(targets: "Tuple[str, ...]", value: Operand) -> Assign:
    return Assign(tuple(targets), ex(value), unpack=True)


def set_attr(target: Operand, name: str, value: Operand) -> SetAttr:
    return SetAttr(ex(target), name, ex(value))


def set_item(target: Operand, index: Operand, value: Operand) -> SetItem:
    return SetItem(ex(target), ex(index), ex(value))


def do(func: str, *args: Operand) -> Do:
    return Do(call(func, *args))


def if_(test: Test, *body: Stmt) -> If:
    return If(test, body)


def return_(value: Operand = None) -> Return:
    """``return value``; ``return_()`` is a bare ``return``."""
    return Return(None if value is None else ex(value))


def try_(body: "List[Stmt] | Tuple[Stmt, ...]", handler: "Tuple[Stmt, ...]", name: Optional[str] = None) -> Try:
    return Try(tuple(body), handler, name)
