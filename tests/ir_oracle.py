"""A reference interpreter of the IR: the oracle the backends are held to.

:class:`Oracle` runs a :class:`wasmjit.model.ir.Program` directly, one node
at a time (a ``match`` on the node types, nothing generated, nothing
compiled), in an environment of

* constants: :func:`wasmjit.backends.statics` of the plan and the values
  bound into the trampoline (the fields of ``plan.bindings``);
* locals: the program's arguments (all positional-only), its defaults
  (:attr:`Program.defaults`, bound first), its ``*extra``
  parameter (:attr:`Program.extra`) and whatever it assigns.

It follows Python's semantics where the program's Python rendering
(:func:`wasmjit.model.ir.render_python`) would: ``try``/``except
BaseException`` catches everything (the trampolines are called by ctypes
from wasm: nothing may escape), a name bound by ``except ... as name`` is
unbound after its handler, unpacking raises CPython's errors, and a call
with the wrong arguments raises CPython's ``TypeError`` with CPython's exact
message, naming the trampoline by its ``__qualname__`` (which
``backends.bind`` sets after the template bound it).

:class:`OracleTemplate` has the interface of the backends' templates, and
:func:`oracle_backend` registers it as ``backend="oracle"`` for the
duration of a ``with`` block (or of a test, through the ``oracle`` fixture
in ``conftest.py``), so that ``wasmjit.Function.from_callback(...,
backend="oracle")`` and ``wasmjit.typed(..., backend="oracle")`` build their
trampolines with it.

Everything the oracle does not know (a node type added to the IR, a name
that is neither a local nor a constant) is refused when the template is
built, never at call time where the program's own ``try`` would swallow it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from wasmjit import backends
from wasmjit.model import ir
from wasmjit.model.ir import (
    AnyOf,
    Assign,
    Attr,
    Call,
    Compare,
    Do,
    If,
    Literal,
    MakeList,
    MakeTuple,
    Name,
    NewList,
    Program,
    Raise,
    Return,
    Try,
    constants_of,
    locals_of,
    render_python,
)
from wasmjit.model.plan import Plan

__all__ = ["BACKEND", "Oracle", "OracleTemplate", "OracleError", "oracle_backend", "arity_error"]

BACKEND = "oracle"

#: ``target.attr = value`` (added to the IR after the oracle was first written;
#: ``None`` on an IR without it).
SetAttr: Any = getattr(ir, "SetAttr", None)
SetItem: Any = getattr(ir, "SetItem", None)
#: ``value[index]`` and ``value[start:start + length]`` (reads through a memoryview).
Item: Any = getattr(ir, "Item", None)
Span: Any = getattr(ir, "Span", None)


class OracleError(Exception):
    """The oracle cannot run this program (an unknown node, an unbound constant)."""


class _Unbound:
    """What a local holds before its first assignment."""

    __repr__ = object.__repr__


_UNBOUND = _Unbound()


# Calling conventions --------------------------------------------------------------


def _quoted_list(names: "List[str]") -> str:
    quoted = [repr(name) for name in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def arity_error(
    qualname: str, parameters: "Tuple[str, ...]", has_extra: bool, given: int, keywords: "Tuple[str, ...]"
) -> Optional[TypeError]:
    """CPython's ``TypeError`` for calling ``def qualname(*parameters, /[, *extra])`` like this, or ``None``.

    The checks run in CPython's order (3.11-3.13): keyword arguments first
    (none is accepted: every parameter is positional-only), then surplus
    positional arguments, then missing ones.
    """
    if keywords:
        posonly = [name for name in parameters if name in keywords]
        if posonly:
            return TypeError(
                f"{qualname}() got some positional-only arguments passed as keyword arguments: '{', '.join(posonly)}'"
            )
        return TypeError(f"{qualname}() got an unexpected keyword argument '{keywords[0]}'")
    expected = len(parameters)
    if given > expected and not has_extra:
        plural = "" if expected == 1 else "s"
        verb = "was" if given == 1 else "were"
        return TypeError(f"{qualname}() takes {expected} positional argument{plural} but {given} {verb} given")
    if given < expected:
        missing = list(parameters[given:])
        plural = "" if len(missing) == 1 else "s"
        return TypeError(
            f"{qualname}() missing {len(missing)} required positional argument{plural}: {_quoted_list(missing)}"
        )
    return None


def _unpack(value: Any, count: int) -> "Tuple[Any, ...]":
    """``t0, ..., t{count-1} = value`` with CPython's errors (3.11-3.15)."""
    try:
        iterator = iter(value)
    except TypeError:
        raise TypeError(f"cannot unpack non-iterable {type(value).__name__} object") from None
    items: List[Any] = []
    for item in iterator:
        if len(items) == count:
            if sys.version_info >= (3, 14) and type(value) in (list, tuple, dict):
                # 3.14+ also says how many, for the exact types whose size it knows.
                raise ValueError(f"too many values to unpack (expected {count}, got {len(value)})")
            raise ValueError(f"too many values to unpack (expected {count})")
        items.append(item)
    if len(items) < count:
        raise ValueError(f"not enough values to unpack (expected {count}, got {len(items)})")
    return tuple(items)


# The interpreter -------------------------------------------------------------------


class _Returned(NamedTuple):
    value: Any


class Oracle:
    """Runs one program against one set of constants."""

    def __init__(self, program: Program, constants: Dict[str, Any]) -> None:
        self.program = program
        self.local_names = tuple(locals_of(program))
        local = set(self.local_names)
        missing = [name for name in constants_of(program) if name not in constants and name != "BaseException"]
        if missing:
            raise OracleError(f"{program.name}: no value for the constant(s) {', '.join(missing)}")
        self.constants = {name: value for name, value in constants.items() if name not in local}
        self._check_block(program.body)

    # What the oracle knows, checked before anything runs.

    def _check_block(self, stmts: "Tuple[Any, ...]") -> None:
        for stmt in stmts:
            self._check_stmt(stmt)

    def _check_stmt(self, stmt: Any) -> None:
        match stmt:
            case Assign(value=value) | Do(value=value):
                self._check_expr(value)
            case If(test=test, body=body):
                match test:
                    case Compare(left=left, op=op, right=right):
                        if op not in ("is", "is not", "==", "!=", "<"):
                            raise OracleError(f"unknown comparison {op!r}")
                        self._check_expr(left)
                        self._check_expr(right)
                    case AnyOf(names=names):
                        for name in names:
                            self._check_name(name)
                    case _:
                        raise OracleError(f"the oracle does not know the test {test!r}")
                self._check_block(body)
            case Raise(exception=exception):
                self._check_name(exception)
            case Return(value=value):
                if value is not None:
                    self._check_expr(value)
            case Try(body=body, handler=handler):
                self._check_block(body)
                self._check_block(handler)
            case _ if SetAttr is not None and isinstance(stmt, SetAttr):
                self._check_expr(stmt.target)
                self._check_expr(stmt.value)
            case _ if SetItem is not None and isinstance(stmt, SetItem):
                self._check_expr(stmt.target)
                self._check_expr(stmt.index)
                self._check_expr(stmt.value)
            case _:
                raise OracleError(f"the oracle does not know the statement {stmt!r}")

    def _check_expr(self, expr: Any) -> None:
        match expr:
            case Name(id=name):
                self._check_name(name)
            case Literal(value=value):
                if not (value is None or isinstance(value, (bool, int))):
                    raise OracleError(f"unknown literal {value!r}")
            case Attr(value=value):
                self._check_expr(value)
            case Call(func=func, args=args):
                self._check_name(func)
                for arg in args:
                    self._check_expr(arg)
            case MakeTuple(items=items) | MakeList(items=items):
                for item in items:
                    self._check_expr(item)
            case NewList():
                pass
            case _ if Item is not None and isinstance(expr, Item):
                self._check_expr(expr.value)
                self._check_expr(expr.index)
            case _ if Span is not None and isinstance(expr, Span):
                self._check_expr(expr.value)
                self._check_name(expr.start)
                if not isinstance(expr.length, int):
                    raise OracleError(f"a span's length is a literal int, not {expr.length!r}")
            case _:
                raise OracleError(f"the oracle does not know the expression {expr!r}")

    def _check_name(self, name: str) -> None:
        if name not in self.local_names and name not in self.constants:
            raise OracleError(f"{self.program.name}: {name!r} is neither a local nor a constant")

    # Running.

    def run(self, qualname: str, args: "Tuple[Any, ...]", keywords: "Dict[str, Any]") -> Any:
        """Call the program as the function ``qualname`` with ``args`` and ``keywords``."""
        program = self.program
        error = arity_error(qualname, program.arguments, program.extra is not None, len(args), tuple(keywords))
        if error is not None:
            raise error
        frame: Dict[str, Any] = dict.fromkeys(self.local_names, _UNBOUND)
        count = len(program.arguments)
        frame.update(zip(program.arguments, args[:count], strict=True))
        # Defaults are bound before the first statement (nobody passes them).
        frame.update((name, self._expr(value, frame)) for name, value in program.defaults)
        if program.extra is not None:
            frame[program.extra] = tuple(args[count:])
        returned = self._block(program.body, frame)
        return None if returned is None else returned.value

    def _block(self, stmts: "Tuple[Any, ...]", frame: Dict[str, Any]) -> Optional[_Returned]:
        for stmt in stmts:
            returned = self._stmt(stmt, frame)
            if returned is not None:
                return returned
        return None

    def _stmt(self, stmt: Any, frame: Dict[str, Any]) -> Optional[_Returned]:
        match stmt:
            case Assign(targets=targets, value=value, unpack=unpack):
                result = self._expr(value, frame)
                if unpack:
                    frame.update(zip(targets, _unpack(result, len(targets)), strict=True))
                else:
                    (target,) = targets
                    frame[target] = result
            case Do(value=value):
                self._expr(value, frame)
            case If(test=test, body=body):
                if self._test(test, frame):
                    return self._block(body, frame)
            case Raise(exception=exception):
                raise self._name(exception, frame)
            case Return(value=value):
                return _Returned(None if value is None else self._expr(value, frame))
            case Try(body=body, handler=handler, name=name):
                try:
                    return self._block(body, frame)
                except BaseException as exc:  # like the generated ``except BaseException``
                    if name is not None:
                        frame[name] = exc
                    try:
                        return self._block(handler, frame)
                    finally:
                        if name is not None:
                            frame[name] = _UNBOUND  # Python unbinds ``except ... as name``
            case _ if SetAttr is not None and isinstance(stmt, SetAttr):
                value = self._expr(stmt.value, frame)
                setattr(self._expr(stmt.target, frame), stmt.attr, value)
            case _ if SetItem is not None and isinstance(stmt, SetItem):
                # Python's order: the value, then the target, then the index.
                value = self._expr(stmt.value, frame)
                target = self._expr(stmt.target, frame)
                target[self._expr(stmt.index, frame)] = value
            case _:
                raise OracleError(f"the oracle does not know the statement {stmt!r}")
        return None

    def _test(self, test: Any, frame: Dict[str, Any]) -> bool:
        match test:
            case Compare(left=left, op="is", right=right):
                return self._expr(left, frame) is self._expr(right, frame)
            case Compare(left=left, op="is not", right=right):
                return self._expr(left, frame) is not self._expr(right, frame)
            case Compare(left=left, op="==", right=right):
                return bool(self._expr(left, frame) == self._expr(right, frame))
            case Compare(left=left, op="!=", right=right):
                return bool(self._expr(left, frame) != self._expr(right, frame))
            case Compare(left=left, op="<", right=right):
                return bool(self._expr(left, frame) < self._expr(right, frame))
            case AnyOf(names=names):
                return any(self._name(name, frame) for name in names)
        raise OracleError(f"the oracle does not know the test {test!r}")

    def _name(self, name: str, frame: Dict[str, Any]) -> Any:
        if name in frame:
            value = frame[name]
            if value is _UNBOUND:
                raise UnboundLocalError(
                    f"cannot access local variable '{name}' where it is not associated with a value"
                )
            return value
        return self.constants[name]

    def _expr(self, expr: Any, frame: Dict[str, Any]) -> Any:
        match expr:
            case Name(id=name):
                return self._name(name, frame)
            case Literal(value=value):
                return value
            case Attr(value=value, attr=attr):
                return getattr(self._expr(value, frame), attr)
            case Call(func=func, args=args):
                function = self._name(func, frame)
                return function(*[self._expr(arg, frame) for arg in args])
            case MakeTuple(items=items):
                return tuple([self._expr(item, frame) for item in items])
            case MakeList(items=items):
                return [self._expr(item, frame) for item in items]
            case NewList():
                return []
            case _ if Item is not None and isinstance(expr, Item):
                target = self._expr(expr.value, frame)
                return target[self._expr(expr.index, frame)]
            case _ if Span is not None and isinstance(expr, Span):
                target = self._expr(expr.value, frame)
                start = self._name(expr.start, frame)
                return target[start : start + expr.length]
        raise OracleError(f"the oracle does not know the expression {expr!r}")


def make_trampoline(oracle: Oracle) -> Callable[..., Any]:
    """A real Python function that runs ``oracle`` (a new one per binding).

    Its ``__name__``/``__qualname__`` start as the program's name; arity
    errors name it by its ``__qualname__`` at call time, as CPython does.
    """

    # A typed caller's busy guard, as a free variable of the trampoline: code
    # that walks the stack for a caller's frames (``calls._Busy``) finds it in
    # ``f_locals`` as it finds a generated caller's (every oracle trampoline
    # shares one code object, so the code alone does not tell them apart).
    guard = oracle.constants.get("guard")

    def trampoline(*args: Any, **keywords: Any) -> Any:
        _ = guard
        return oracle.run(trampoline.__qualname__, args, keywords)

    trampoline.__name__ = trampoline.__qualname__ = oracle.program.name
    trampoline.__doc__ = oracle.program.docstring
    return trampoline


# The template -------------------------------------------------------------------------


class OracleTemplate:
    """The oracle as a backend: the same interface as the backends' templates."""

    backend = BACKEND

    def __init__(self, plan: Plan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        self.program = plan.program()
        self.statics = statics
        self.source = render_python(self.program).text
        unknown = [name for name in constants_of(self.program) if name not in statics and name not in plan.bound]
        if unknown and unknown != ["BaseException"]:
            raise OracleError(f"{plan.name}: {', '.join(unknown)} are neither statics nor bound values")

    def bind(self, bindings: NamedTuple) -> Callable[..., Any]:
        if type(bindings) is not self.plan.bindings:
            raise TypeError(f"{self.plan.name} binds {self.plan.bindings.__name__}, not {type(bindings).__name__}")
        constants = dict(self.statics)
        constants.update(bindings._asdict())
        constants.setdefault("BaseException", BaseException)
        return make_trampoline(Oracle(self.program, constants))

    def listing(self, trampoline: Callable[..., Any]) -> str:
        return f"interprets (reference oracle):\n{self.source}"


# Registering it ------------------------------------------------------------------------

_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def oracle_backend() -> Iterator[str]:
    """Make ``backend="oracle"`` usable while the block runs; yields the name.

    Registers :class:`OracleTemplate` in ``wasmjit.backends.FACTORIES`` (and a
    generation counter for it); on exit removes both and the cached oracle
    templates.  Nests.
    """
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            backends.FACTORIES[BACKEND] = OracleTemplate
            generations: Dict[str, int] = backends._generations
            generations.setdefault(BACKEND, 0)
    try:
        yield BACKEND
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                backends.FACTORIES.pop(BACKEND, None)
                backends._generations.pop(BACKEND, None)
                templates: Dict[Tuple[Plan, str], Any] = backends._templates
                for key in [key for key in templates if key[1] == BACKEND]:
                    del templates[key]
