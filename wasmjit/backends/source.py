"""The ``source`` backend: the plan's program rendered as Python and compiled.

Each plan is rendered once (:func:`wasmjit.model.ir.render_python`), as a
factory whose parameters are the constants the trampoline uses (so they are
closure variables of the trampoline, not globals), compiled under a unique
filename registered in ``linecache`` — tracebacks, ``inspect.getsource`` and
debuggers show the generated lines, the way ``dataclasses`` and ``attrs`` do
it.  Binding a new callable calls the factory; nothing is compiled again.
"""

from __future__ import annotations

import itertools
import linecache
import types
from typing import Any, Callable, Dict, List, Tuple

from ..model.component_plan import AnyBindings, AnyPlan
from ..model.ir import Program, Return, Try, constants_of, render_python
from . import extable

__all__ = ["SourceTemplate"]

_counter = itertools.count(1)


def _covering_entry(make: Callable[..., Any], name: str, returns: int) -> "Tuple[Callable[..., Any], bool]":
    """``make`` whose trampoline's ``try`` covers its entry (``Program.try_covers_entry``), and whether it does.

    The trampoline is a closure (its constants are ``make``'s parameters), so
    its code starts with ``COPY_FREE_VARS``, the instruction before ``RESUME``
    that CPython 3.11 needs inside the range.  Where an audit hook refuses
    new code objects, ``make`` is returned as compiled.
    """
    code = make.__code__
    (index, trampoline), *others = [(i, c) for i, c in enumerate(code.co_consts) if getattr(c, "co_name", None) == name]
    assert not others
    table = extable.covering_table(trampoline, returns)  # ValueError: the compiler changed its layout
    consts = list(code.co_consts)
    try:
        consts[index] = trampoline.replace(co_exceptiontable=table)
        return types.FunctionType(code.replace(co_consts=tuple(consts)), make.__globals__, make.__name__), True
    except Exception:  # an audit hook refusing code.__new__
        return make, False


#: Compiled factories by program: (filename, make, whether the trampoline's try covers its entry).
_compiled: Dict[Program, Tuple[str, Callable[..., Callable[..., Any]], bool]] = {}


def _compile(
    program: Program, text: str, constants: List[str], label: str
) -> Tuple[str, Callable[..., Callable[..., Any]], bool]:
    filename = f"<wasmjit-source {label} #{next(_counter)}>"
    # The factory wraps the trampoline, so the trampoline's own lines are
    # shifted by one in the module text.
    body = "".join("    " + line + "\n" if line else "\n" for line in text.splitlines())
    module_source = f"def make({', '.join(constants)}):\n{body}    return {program.name}\n"
    linecache.cache[filename] = (len(module_source), None, module_source.splitlines(True), filename)
    namespace: Dict[str, Any] = {}
    code = compile(module_source, filename, "exec")
    exec(code, {"__name__": "wasmjit.generated", "__builtins__": {}}, namespace)
    make: Callable[..., Callable[..., Any]] = namespace["make"]
    covers_entry = False
    if program.try_covers_entry:
        returns = sum(1 for stmt in program.body if isinstance(stmt, Try) and isinstance(stmt.body[-1], Return))
        make, covers_entry = _covering_entry(make, program.name, returns)
    return filename, make, covers_entry


class SourceTemplate:
    """A compiled factory for the trampolines of one plan."""

    backend = "source"

    def __init__(self, plan: AnyPlan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        program = plan.program()
        self.source = render_python(program).text
        constants = constants_of(program)
        # Plans with the very same program (component plans of one shape: their
        # programs are named after the shape) share one compiled factory.
        found = _compiled.get(program)
        if found is None:
            found = _compiled[program] = _compile(program, self.source, constants, plan.name)
        #: ``covers_entry``: whether the trampoline's try covers its entry (``Program.try_covers_entry``);
        #: False where an audit hook refuses new code objects (compile allowed).
        self.filename, self._make, self.covers_entry = found
        self._statics = {name: statics[name] for name in constants if name in statics}
        self._bound = [name for name in plan.bound if name in constants]

    def bind(self, bindings: "AnyBindings") -> Callable[..., Any]:
        return self._make(**self._statics, **{name: getattr(bindings, name) for name in self._bound})

    def listing(self, trampoline: Callable[..., Any]) -> str:
        return self.source
