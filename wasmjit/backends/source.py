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
from typing import Any, Callable, Dict, List, Tuple

from ..model.component_plan import AnyBindings, AnyPlan
from ..model.ir import Program, constants_of, render_python

__all__ = ["SourceTemplate"]

_counter = itertools.count(1)


#: Compiled factories by program: (filename, make).
_compiled: Dict[Program, Tuple[str, Callable[..., Callable[..., Any]]]] = {}


def _compile(
    program: Program, text: str, constants: List[str], label: str
) -> Tuple[str, Callable[..., Callable[..., Any]]]:
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
    return filename, make


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
        self.filename, self._make = found
        self._statics = {name: statics[name] for name in constants if name in statics}
        self._bound = [name for name in plan.bound if name in constants]

    def bind(self, bindings: "AnyBindings") -> Callable[..., Any]:
        return self._make(**self._statics, **{name: getattr(bindings, name) for name in self._bound})

    def listing(self, trampoline: Callable[..., Any]) -> str:
        return self.source
