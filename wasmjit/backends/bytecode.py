"""The ``bytecode`` backend: the plan's program assembled as a code object.

The plan's program (see :mod:`wasmjit.model.ir`) is lowered here to CPython
instructions with the ``bytecode`` package; nothing is compiled from text.
Every name that is not a local is a constant of the code object: statics
are baked in when the plan's template is assembled (once per plan), and the
per-trampoline values (the callback, the buffer, ...) are placeholders that
:meth:`BytecodeTemplate.bind` swaps with ``code.replace(co_consts=...)``.
The hot path loads them with ``LOAD_CONST``: no global, builtin or closure
look-up.

Line numbers follow the program's Python rendering
(:func:`~wasmjit.model.ir.render_python`, statement by statement through
their paths), and that rendering is registered in ``linecache`` under the
code object's filename, so a traceback through a bytecode trampoline shows
the equivalent Python.

Instruction sequences differ between CPython versions; this backend emits
the forms of CPython 3.11 to 3.15 (call sequences, jump names, ``TO_BOOL``,
3.14's ``NOT_TAKEN`` and docstring flag) and reports itself unavailable
elsewhere, or when the installed ``bytecode`` package predates the running
CPython (the probe then moves on to ``source``).
"""

from __future__ import annotations

import dataclasses
import dis
import io
import itertools
import linecache
import sys
import types
from typing import Any, Callable, Dict, List, Tuple

from ..model.component_plan import AnyBindings, AnyPlan
from ..model.ir import (
    AnyOf,
    Assign,
    Attr,
    Call,
    Compare,
    Do,
    Expr,
    If,
    Item,
    Literal,
    MakeList,
    MakeTuple,
    Name,
    NewList,
    Path,
    Program,
    Raise,
    Return,
    SetAttr,
    SetItem,
    Span,
    Stmt,
    Try,
    constants_of,
    locals_of,
    render_python,
)

__all__ = ["BytecodeTemplate", "SUPPORTED", "unsupported_reason"]

SUPPORTED = ((3, 11), (3, 12), (3, 13), (3, 14), (3, 15))
_VERSION = sys.version_info[:2]

#: The first ``bytecode`` release that knows each CPython's instruction set.
_BYTECODE_MINIMUM = {(3, 11): (0, 14), (3, 12): (0, 15), (3, 13): (0, 16), (3, 14): (0, 17), (3, 15): (0, 19)}

#: 3.14+: ``co_consts[0]`` is the docstring only when the code says so
#: (``inspect.CO_HAS_DOCSTRING``; the ``bytecode`` package does not set it).
_CO_HAS_DOCSTRING = 0x4000000

_counter = itertools.count(1)


def unsupported_reason() -> "str | None":
    if sys.implementation.name != "cpython":
        return f"the bytecode backend needs CPython (this is {sys.implementation.name})"
    if sys.version_info[:2] not in SUPPORTED:
        version = ".".join(map(str, sys.version_info[:2]))
        return f"the bytecode backend emits CPython 3.11-3.15 instructions (this is {version})"
    try:
        import bytecode
    except Exception as exc:  # missing, or its import refused (an audit hook forbidding compile)
        return f"the bytecode package is not importable here ({type(exc).__name__}: {exc})"
    installed = _release(getattr(bytecode, "__version__", ""))
    needed = _BYTECODE_MINIMUM[sys.version_info[:2]]
    if installed < needed:
        version = ".".join(map(str, sys.version_info[:2]))
        return (
            f"bytecode {bytecode.__version__} predates CPython {version}; "
            f"the bytecode backend needs bytecode>={'.'.join(map(str, needed))} here"
        )
    return None


def _release(text: str) -> "Tuple[int, ...]":
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        parts.append(int(digits or 0))
    return tuple(parts)


#: The ``bytecode`` package's comparison of each IR comparison other than identity.
_COMPARE = {"==": lambda c: c.EQ, "!=": lambda c: c.NE, "<": lambda c: c.LT}
_JUMP_IF_FALSE = "POP_JUMP_FORWARD_IF_FALSE" if _VERSION < (3, 12) else "POP_JUMP_IF_FALSE"
_JUMP_IF_TRUE = "POP_JUMP_FORWARD_IF_TRUE" if _VERSION < (3, 12) else "POP_JUMP_IF_TRUE"
# 3.14+: the compiler follows every conditional jump with ``NOT_TAKEN``, a
# no-op the jump steps over; sys.monitoring's BRANCH_LEFT event and
# ``code.co_branches()`` come from it.
_NOT_TAKEN = _VERSION >= (3, 14)


class _Placeholder:
    """Stands for a per-trampoline constant until :meth:`BytecodeTemplate.bind`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<bound {self.name}>"


class _Assembler:
    def __init__(self, local_names: "List[str]", constants: Dict[str, Any], lines: Dict[Path, int]) -> None:
        from bytecode import Instr

        self.Instr = Instr
        self.local_names = set(local_names)
        self.constants = constants
        self.lines = lines
        self.lineno = 1
        self.out: List[Any] = []

    def instr(self, name: str, arg: Any = None) -> None:
        if arg is None and name in ("LOAD_CONST",):
            self.out.append(self.Instr(name, None, lineno=self.lineno))
        elif arg is None:
            self.out.append(self.Instr(name, lineno=self.lineno))
        else:
            self.out.append(self.Instr(name, arg, lineno=self.lineno))

    def to_bool(self) -> None:
        # 3.13+'s conditional jumps take an exact bool.
        if _VERSION >= (3, 13):
            self.instr("TO_BOOL")

    def jump_if(self, name: str, target: Any) -> None:
        self.instr(name, target)
        if _NOT_TAKEN:
            self.instr("NOT_TAKEN")

    def load(self, name: str) -> None:
        if name in self.local_names:
            self.instr("LOAD_FAST", name)
        else:
            self.instr("LOAD_CONST", self.constants[name])

    def expr(self, expr: Expr) -> None:
        if isinstance(expr, Name):
            self.load(expr.id)
        elif isinstance(expr, Literal):
            self.instr("LOAD_CONST", expr.value)
        elif isinstance(expr, Attr):
            self.expr(expr.value)
            self.instr("LOAD_ATTR", expr.attr if _VERSION < (3, 12) else (False, expr.attr))
        elif isinstance(expr, Call):
            # The callable and a NULL "self": 3.11/3.12 push NULL first, 3.13+ after.
            if _VERSION < (3, 13):
                self.instr("PUSH_NULL")
                self.load(expr.func)
            else:
                self.load(expr.func)
                self.instr("PUSH_NULL")
            for arg in expr.args:
                self.expr(arg)
            if _VERSION < (3, 12):
                self.instr("PRECALL", len(expr.args))
            self.instr("CALL", len(expr.args))
        elif isinstance(expr, MakeTuple):
            for item in expr.items:
                self.expr(item)
            self.instr("BUILD_TUPLE", len(expr.items))
        elif isinstance(expr, MakeList):
            for item in expr.items:
                self.expr(item)
            self.instr("BUILD_LIST", len(expr.items))
        elif isinstance(expr, NewList):
            self.instr("BUILD_LIST", 0)
        elif isinstance(expr, Item):
            self.expr(expr.value)
            self.expr(expr.index)
            self.subscript()
        elif isinstance(expr, Span):
            from bytecode import BinaryOp

            self.expr(expr.value)
            self.load(expr.start)
            self.load(expr.start)
            self.instr("LOAD_CONST", expr.length)
            self.instr("BINARY_OP", BinaryOp.ADD)
            if _VERSION < (3, 12):
                self.instr("BUILD_SLICE", 2)
                self.subscript()
            else:
                self.instr("BINARY_SLICE")
        else:
            raise TypeError(f"unknown expression {expr!r}")

    def subscript(self) -> None:
        # 3.14 folded BINARY_SUBSCR into BINARY_OP.
        if _VERSION < (3, 14):
            self.instr("BINARY_SUBSCR")
        else:
            from bytecode import BinaryOp

            self.instr("BINARY_OP", BinaryOp.SUBSCR)

    def statements(self, stmts: "Tuple[Stmt, ...]", path: Path) -> None:
        for index, stmt in enumerate(stmts):
            self.statement(stmt, (*path, index))

    def statement(self, stmt: Stmt, path: Path) -> None:
        from bytecode import Compare as BytecodeCompare
        from bytecode import Label, TryBegin, TryEnd  # type: ignore[attr-defined]

        self.lineno = self.lines[path]
        if isinstance(stmt, Assign):
            self.expr(stmt.value)
            if stmt.unpack:
                self.instr("UNPACK_SEQUENCE", len(stmt.targets))
            for target in stmt.targets:
                self.instr("STORE_FAST", target)
        elif isinstance(stmt, SetAttr):
            self.expr(stmt.value)
            self.expr(stmt.target)
            self.instr("STORE_ATTR", stmt.attr)
        elif isinstance(stmt, SetItem):
            self.expr(stmt.value)
            self.expr(stmt.target)
            self.expr(stmt.index)
            self.instr("STORE_SUBSCR")
        elif isinstance(stmt, Do):
            self.expr(stmt.value)
            self.instr("POP_TOP")
        elif isinstance(stmt, If):
            end = Label()
            if isinstance(stmt.test, Compare):
                self.expr(stmt.test.left)
                self.expr(stmt.test.right)
                if stmt.test.op in ("is", "is not"):
                    self.instr("IS_OP", 0 if stmt.test.op == "is" else 1)
                else:
                    self.instr("COMPARE_OP", _COMPARE[stmt.test.op](BytecodeCompare))
                    self.to_bool()
                self.jump_if(_JUMP_IF_FALSE, end)
            elif isinstance(stmt.test, AnyOf):
                then = Label()
                *first, final = stmt.test.names
                for name in first:
                    self.load(name)
                    self.to_bool()
                    self.jump_if(_JUMP_IF_TRUE, then)
                self.load(final)
                self.to_bool()
                self.jump_if(_JUMP_IF_FALSE, end)
                self.out.append(then)
            else:
                raise TypeError(f"unknown test {stmt.test!r}")
            self.statements(stmt.body, (*path, 0))
            self.out.append(end)
        elif isinstance(stmt, Raise):
            self.load(stmt.exception)
            self.instr("RAISE_VARARGS", 1)
        elif isinstance(stmt, Return):
            if stmt.value is None:
                self.instr("LOAD_CONST", None)
            else:
                self.expr(stmt.value)
            self.instr("RETURN_VALUE")
        elif isinstance(stmt, Try):
            handler, cleanup, after = Label(), Label(), Label()
            # Try statements stand at statement level: the value stack is empty
            # on entry, and holds the saved lasti under the handler.
            begin = TryBegin(handler, push_lasti=False, stack_depth=0)
            self.out.append(begin)
            self.statements(stmt.body, (*path, 0))
            self.out.append(TryEnd(begin))
            body_returns = bool(stmt.body) and isinstance(stmt.body[-1], Return)
            if not body_returns:
                self.instr("JUMP_FORWARD", after)
            self.out.append(handler)
            guard = TryBegin(cleanup, push_lasti=True, stack_depth=1)
            self.out.append(guard)
            handler_path = (*path, 1)
            self.lineno = self.lines[handler_path]  # the ``except`` line
            self.instr("PUSH_EXC_INFO")
            if stmt.name:
                self.instr("STORE_FAST", stmt.name)
            else:
                self.instr("POP_TOP")
            leading, last = stmt.handler[:-1], stmt.handler[-1]
            self.statements(leading, handler_path)
            last_path = (*handler_path, len(leading))
            if isinstance(last, Return):
                self.lineno = self.lines[last_path]
                if last.value is None:
                    self.instr("LOAD_CONST", None)
                else:
                    self.expr(last.value)
                self.out.append(TryEnd(guard))
                self.instr("SWAP", 2)
                self.instr("POP_EXCEPT")
                self.instr("RETURN_VALUE")
            else:
                self.statement(last, last_path)
                self.out.append(TryEnd(guard))
                self.instr("POP_EXCEPT")
                self.instr("JUMP_FORWARD", after)
            self.out.append(cleanup)
            self.instr("COPY", 3)
            self.instr("POP_EXCEPT")
            self.instr("RERAISE", 1)
            self.out.append(after)
        else:
            raise TypeError(f"unknown statement {stmt!r}")


def _expr_depth(expr: Expr) -> int:
    """Stack slots an expression needs while it is evaluated."""
    if isinstance(expr, Call):
        # NULL, the callable, then each argument on top of the earlier ones.
        return 2 + max([i + _expr_depth(a) for i, a in enumerate(expr.args)] + [0])
    if isinstance(expr, (MakeTuple, MakeList)):
        return max([i + _expr_depth(a) for i, a in enumerate(expr.items)] + [1])
    if isinstance(expr, Attr):
        return _expr_depth(expr.value) + 1
    if isinstance(expr, Item):
        return max(_expr_depth(expr.value), 1 + _expr_depth(expr.index))
    if isinstance(expr, Span):  # the value, the start, then the start and the length added
        return max(_expr_depth(expr.value), 4)
    return 1


def _stack_needed(stmts: "Tuple[Stmt, ...]") -> int:
    need = 0
    for stmt in stmts:
        if isinstance(stmt, (Assign, Do)):
            need = max(need, _expr_depth(stmt.value), len(stmt.targets) if isinstance(stmt, Assign) else 0)
        elif isinstance(stmt, SetAttr):
            need = max(need, _expr_depth(stmt.value), 1 + _expr_depth(stmt.target))
        elif isinstance(stmt, SetItem):
            need = max(need, _expr_depth(stmt.value), 1 + _expr_depth(stmt.target), 2 + _expr_depth(stmt.index))
        elif isinstance(stmt, If):
            if isinstance(stmt.test, Compare):
                need = max(need, _expr_depth(stmt.test.left), 1 + _expr_depth(stmt.test.right))
            need = max(need, 1, _stack_needed(stmt.body))
        elif isinstance(stmt, Return) and stmt.value is not None:
            need = max(need, _expr_depth(stmt.value))
        elif isinstance(stmt, Try):
            # The handler runs above the saved lasti, the previous exception and the exception.
            need = max(need, _stack_needed(stmt.body), 3 + _stack_needed(stmt.handler))
        else:
            need = max(need, 1)
    return need


_DOC_MARKER = "<wasmjit docstring>"

# How the program's ``entry_checks_signals`` is rendered.  ``RESUME 0`` at a
# function's start handles pending signals, before the trampoline's ``try``;
# ctypes would swallow a KeyboardInterrupt raised there and hand wasm an
# undefined return value.  ``RESUME 2`` ("after yield from") runs no such
# check on CPython 3.11-3.15: the next check is inside the ``try``.  (The
# program's interrupt point covers the same hazard under wasmjit's default
# SIGINT handler; this covers custom handlers too.)
_RESUME_AT_ENTRY = {True: 0, False: 2}
_assembled: Dict[Program, types.CodeType] = {}


def _assemble(shape: Program, constant_names: "List[str]", lines: Dict[Path, int]) -> types.CodeType:
    """Assemble the code object of one program shape; every constant is a placeholder.

    Programs of one shape differ only in the values of their constants
    (the ``struct`` formats of their kinds, the bound callable): plans of
    the same shape share one assembly.  (A program that calls a converter
    names it, so kinds with different converters make different shapes.)
    """
    found = _assembled.get(shape)
    if found is not None:
        return found
    from bytecode import Bytecode, CompilerFlags

    constants = {
        name: _Placeholder(name)
        for name in constant_names
        # The handler catches everything without a type check.
        if name != "BaseException"
    }
    assembler = _Assembler(locals_of(shape), constants, lines)
    assembler.lineno = 1
    if shape.try_covers_entry and _VERSION < (3, 12):
        # 3.11 looks an exception raised at the frame's entry up at the
        # instruction before the traced one: the range must start before RESUME.
        assembler.instr("NOP")
    assembler.instr("RESUME", _RESUME_AT_ENTRY[shape.entry_checks_signals])
    assembler.statements(shape.body, ())
    if shape.try_covers_entry:
        # The try's range starts at the function's first instruction (see
        # ``Program.try_covers_entry`` and :mod:`wasmjit.backends.extable`);
        # its body ends with its ``return``, inside the range.
        from bytecode import TryBegin  # type: ignore[attr-defined]

        begin = next(i for i, item in enumerate(assembler.out) if isinstance(item, TryBegin))
        assembler.out.insert(0, assembler.out.pop(begin))
    if not shape.body or not isinstance(shape.body[-1], Return):
        assembler.instr("LOAD_CONST", None)
        assembler.instr("RETURN_VALUE")
    code = Bytecode(assembler.out)
    code.name = shape.name
    code.filename = "<wasmjit-bytecode>"
    code.first_lineno = 1
    parameters = [*shape.arguments, *(name for name, _ in shape.defaults)]
    code.argcount = len(parameters)
    code.posonlyargcount = len(parameters)
    code.argnames = parameters + ([shape.extra] if shape.extra else [])
    code.docstring = _DOC_MARKER
    flags = int(CompilerFlags.OPTIMIZED | CompilerFlags.NEWLOCALS)
    if shape.extra:
        flags |= int(CompilerFlags.VARARGS)
    if _VERSION >= (3, 14):
        flags |= _CO_HAS_DOCSTRING
    code.flags = CompilerFlags(flags)
    # Stack size and exception depths are known from the program's shape;
    # letting ``bytecode`` compute them costs most of the assembly time.
    assembled: types.CodeType = code.to_code(
        stacksize=_stack_needed(shape.body) + 4, compute_exception_stack_depths=False
    )
    _assembled[shape] = assembled
    return assembled


def _default(value: Expr, statics: Dict[str, Any]) -> Any:
    """A parameter default of a program: a static's value, or a literal."""
    if isinstance(value, Name):
        return statics[value.id]
    if isinstance(value, Literal):
        return value.value
    raise TypeError(f"a program's parameter default is a name or a literal, not {value!r}")


class BytecodeTemplate:
    """The code object for the trampolines of one plan.

    Assembled once per program shape; per plan, the statics, the name, the
    docstring and the filename are filled in; per trampoline, the bound values.
    """

    backend = "bytecode"

    def __init__(self, plan: AnyPlan, statics: Dict[str, Any]) -> None:
        reason = unsupported_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.plan = plan
        program = plan.program()
        rendering = render_python(program)
        self.source = text = rendering.text
        shape = dataclasses.replace(program, name="trampoline", docstring="")
        assembled = _assemble(shape, constants_of(program), rendering.lines)
        consts = list(assembled.co_consts)
        self._slots: List[Tuple[int, str]] = []
        for index, value in enumerate(consts):
            if isinstance(value, _Placeholder):
                if value.name in plan.bound:
                    self._slots.append((index, value.name))
                else:
                    consts[index] = statics[value.name]
            elif value == _DOC_MARKER:
                consts[index] = program.docstring
        self.filename = f"<wasmjit-bytecode {plan.name} #{next(_counter)}>"
        self.code: types.CodeType = assembled.replace(
            co_consts=tuple(consts), co_name=program.name, co_qualname=program.name, co_filename=self.filename
        )
        linecache.cache[self.filename] = (len(text), None, text.splitlines(True), self.filename)
        self._consts = consts
        self._globals: Dict[str, Any] = {"__name__": "wasmjit.generated", "__builtins__": {}}
        self.name = program.name
        self._defaults = tuple(_default(value, statics) for _, value in program.defaults)

    def bind(self, bindings: "AnyBindings") -> Callable[..., Any]:
        consts = self._consts.copy()
        for index, name in self._slots:
            consts[index] = getattr(bindings, name)
        code = self.code.replace(co_consts=tuple(consts))
        return types.FunctionType(code, self._globals, self.name, self._defaults or None)

    def listing(self, trampoline: Callable[..., Any]) -> str:
        out = io.StringIO()
        dis.dis(trampoline.__code__, file=out)
        return f"{out.getvalue()}\nequivalent Python:\n{self.source}"
