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
from typing import Any, Callable, Dict, NamedTuple, Tuple

from ..model.ir import Return, Try, constants_of, render_python
from ..model.plan import Plan
from . import extable

__all__ = ["SourceTemplate"]


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

_counter = itertools.count(1)


class SourceTemplate:
    """A compiled factory for the trampolines of one plan."""

    backend = "source"

    def __init__(self, plan: Plan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        program = plan.program()
        self.source = render_python(program).text
        constants = constants_of(program)
        self.filename = f"<wasmjit-source {plan.name} #{next(_counter)}>"
        # The factory wraps the trampoline, so the trampoline's own lines are
        # shifted by one in the module text.
        body = "".join("    " + line + "\n" if line else "\n" for line in self.source.splitlines())
        module_source = f"def make({', '.join(constants)}):\n{body}    return {program.name}\n"
        linecache.cache[self.filename] = (len(module_source), None, module_source.splitlines(True), self.filename)
        namespace: Dict[str, Any] = {}
        code = compile(module_source, self.filename, "exec")
        exec(code, {"__name__": "wasmjit.generated", "__builtins__": {}}, namespace)
        self._make: Callable[..., Callable[..., Any]] = namespace["make"]
        #: Whether the trampoline's try covers its entry (``Program.try_covers_entry``);
        #: False where an audit hook refuses new code objects (compile allowed).
        self.covers_entry = False
        if program.try_covers_entry:
            returns = sum(1 for stmt in program.body if isinstance(stmt, Try) and isinstance(stmt.body[-1], Return))
            self._make, self.covers_entry = _covering_entry(self._make, program.name, returns)
        self._statics = {name: statics[name] for name in constants if name in statics}
        self._bound = [name for name in plan.bound if name in constants]

    def bind(self, bindings: NamedTuple) -> Callable[..., Any]:
        return self._make(**self._statics, **{name: getattr(bindings, name) for name in self._bound})

    def listing(self, trampoline: Callable[..., Any]) -> str:
        return self.source
