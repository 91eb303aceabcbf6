"""Backends render a :class:`~wasmjit.model.plan.Plan` into a trampoline.

``bytecode``  assembles a code object (the ``bytecode`` package)
``source``    renders Python source, compiles it, registers it in ``linecache``
``reflect``   interprets the plan; no generated code

Which one is used: ``dynamic_code=None`` tries them in that order, skipping a
backend this interpreter forbids (an audit hook refusing ``compile``,
``exec`` or ``code.__new__``; a Python the bytecode backend does not
target).  ``dynamic_code=False`` forces ``reflect``; ``dynamic_code=True``
demands generated code and raises :class:`~wasmjit.DynamicCodeUnavailable`
otherwise.  The process default comes from ``WASMJIT_DYNAMIC_CODE`` (``0``
makes ``reflect`` the default) or :func:`set_dynamic_code`.

Templates are cached per (plan, backend): a signature is generated once per
process, and every later registration only binds its values.

What every backend needs is done here, once: the values shared by all
trampolines of a plan (:func:`statics`), the bound values' structure (the
plan's ``bindings``), the trampoline's name, and for callbacks the interrupt
machinery (see :mod:`wasmjit.boundary.interrupts`).
"""

from __future__ import annotations

import os
import struct
import threading
import types
from typing import Any, Callable, Dict, Optional, Protocol, Tuple

from ..boundary import component_calls, conversions, errors, ffi, guest, headroom, interrupts
from ..boundary.caller import Caller
from ..boundary.errors import DynamicCodeUnavailable
from ..boundary.failures import DONE, MISSING, ExactPath, closed_store
from ..model.component_plan import AnyBindings, AnyPlan, ComponentPlan
from ..model.kinds import Kind
from ..model.plan import Direction
from . import bytecode as bytecode_backend
from .reflect import ReflectTemplate
from .source import SourceTemplate

__all__ = [
    "BACKENDS",
    "Template",
    "probe",
    "template_for",
    "bind",
    "set_dynamic_code",
    "get_dynamic_code",
    "generation_count",
    "statics",
]

BACKENDS = ("bytecode", "source", "reflect")
GENERATED = ("bytecode", "source")


class Template(Protocol):
    """What a backend makes of one plan: binds values into trampolines, and lists them."""

    backend: str
    plan: AnyPlan

    def bind(self, bindings: "AnyBindings") -> Callable[..., Any]:
        """A new trampoline with ``bindings`` (an instance of ``plan.bindings``) bound in."""
        ...

    def listing(self, trampoline: Callable[..., Any]) -> str:
        """A readable listing of ``trampoline`` (one this template bound)."""
        ...


# What trampolines read besides their bound values --------------------------------

_STATICS: Dict[AnyPlan, Dict[str, Any]] = {}


def statics(plan: AnyPlan) -> Dict[str, Any]:
    """The values of the names every trampoline of ``plan`` shares."""
    if isinstance(plan, ComponentPlan):
        return component_calls.statics(plan)
    found = _STATICS.get(plan)
    if found is not None:
        return found
    names: Dict[str, Any] = {
        "MEMORY": ffi.MEMORY,
        "MISSING": MISSING,
        "DONE": DONE,
        "ExactPath": ExactPath,
        "tuple": tuple,
        "BaseException": BaseException,
        "decode": struct.Struct(plan.decode_format).unpack_from,
        "encode": struct.Struct(plan.encode_format).pack_into,
        "release": conversions.release,
    }
    names.update((kind.python_class.__name__, kind.python_class) for kind in Kind if kind.python_class)
    if plan.direction is Direction.CALLBACK:
        names["interrupts"] = interrupts.STATE
        names["raise_interrupt"] = interrupts.raise_interrupt
        names["caller_context"] = ffi.caller_context
        names["Caller"] = Caller
        names["invalidate"] = Caller._invalidate
        names["PENDING"] = errors.PENDING
        if plan.guarded:
            names["FLAGVIEW"] = ffi.shifted_memory(plan.flag_offset)
    else:
        names["call_unchecked"] = ffi.func_call_unchecked_prebuilt
        names["closed_store"] = closed_store
        names["PENDING"] = errors.PENDING
        names["discard"] = ffi.discard_failure
        names["HEADROOM"] = headroom.STATE
        names["check_headroom"] = headroom.check
        names["ROOM"] = headroom.ROOM
        names["ROOM_NEEDED"] = headroom.NEEDED
    for _, conv in plan.decoders + plan.encoders:
        names[conv] = conversions.CONVERTERS[conv]
    names.update(guest.helpers(plan))
    _STATICS[plan] = names
    return names


# The process-wide policy -------------------------------------------------------

_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}


def _policy_from_environment() -> Optional[bool]:
    value = os.environ.get("WASMJIT_DYNAMIC_CODE", "").strip().lower()
    if value in _FALSE:
        return False
    if value in _TRUE:
        return True
    return None


_default_policy: Optional[bool] = _policy_from_environment()


def set_dynamic_code(value: Optional[bool]) -> None:
    """Set the process default for ``dynamic_code=`` (``None``: try in order)."""
    global _default_policy
    if value not in (None, True, False):
        raise TypeError("set_dynamic_code() takes True, False or None")
    _default_policy = value


def get_dynamic_code() -> Optional[bool]:
    """The process default for ``dynamic_code=``."""
    return _default_policy


# The probe -----------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_result: Optional[Dict[str, Optional[str]]] = None


def _probe_bytecode() -> Optional[str]:
    reason = bytecode_backend.unsupported_reason()
    if reason is not None:
        return reason
    from bytecode import Bytecode, Instr

    try:
        code = Bytecode([Instr("RESUME", 0), Instr("LOAD_CONST", 42), Instr("RETURN_VALUE")]).to_code()
        if types.FunctionType(code, {})() != 42:
            return "an assembled code object did not run correctly"
    except Exception as exc:  # an audit hook may raise anything
        return f"creating code objects is forbidden here ({type(exc).__name__}: {exc})"
    return None


def _probe_source() -> Optional[str]:
    try:
        code = compile("def probe():\n    return 42\n", "<wasmjit-probe>", "exec")
    except Exception as exc:
        return f"compile() is forbidden here ({type(exc).__name__}: {exc})"
    namespace: Dict[str, Any] = {}
    try:
        exec(code, {"__builtins__": {}}, namespace)
    except Exception as exc:
        return f"exec() is forbidden here ({type(exc).__name__}: {exc})"
    if namespace["probe"]() != 42:
        return "compiled source did not run correctly"
    return None


def probe() -> Dict[str, Optional[str]]:
    """Which backends this interpreter allows: name -> ``None``, or why it is skipped.

    Runs once per process.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            _probe_result = {"bytecode": _probe_bytecode(), "source": _probe_source(), "reflect": None}
        return dict(_probe_result)


# Templates ---------------------------------------------------------------------

_templates: Dict[Tuple[AnyPlan, str], Template] = {}
_failures: Dict[Tuple[AnyPlan, str], str] = {}
_generations: Dict[str, int] = {name: 0 for name in BACKENDS}
_templates_lock = threading.RLock()

#: The template class of each backend (the tests add a reference interpreter here).
FACTORIES: Dict[str, Any] = {
    "bytecode": bytecode_backend.BytecodeTemplate,
    "source": SourceTemplate,
    "reflect": ReflectTemplate,
}


def generation_count() -> Dict[str, int]:
    """How many templates each backend has built in this process."""
    return dict(_generations)


def _build(plan: AnyPlan, backend: str) -> Template:
    key = (plan, backend)
    found = _templates.get(key)
    if found is not None:
        return found
    with _templates_lock:
        found = _templates.get(key)
        if found is None:
            built: Template = FACTORIES[backend](plan, statics(plan))
            _generations[backend] = _generations.get(backend, 0) + 1
            _templates[key] = found = built
        return found


def order_for(dynamic_code: Optional[bool]) -> Tuple[str, ...]:
    policy = _default_policy if dynamic_code is None else dynamic_code
    if policy is False:
        return ("reflect",)
    if policy is True:
        return GENERATED
    return BACKENDS


def template_for(
    plan: AnyPlan, dynamic_code: Optional[bool] = None, backend: Optional[str] = None
) -> Tuple[Template, Dict[str, str]]:
    """The template that renders ``plan``, and why other backends were skipped.

    ``backend=`` names one backend exactly (and raises if it is unusable);
    otherwise ``dynamic_code`` and the process default choose.
    """
    if dynamic_code not in (None, True, False):
        raise TypeError("dynamic_code= takes True, False or None")
    if backend is not None:
        if backend not in FACTORIES:
            raise ValueError(f"backend= must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if dynamic_code is False and backend != "reflect":
            raise ValueError(f"backend={backend!r} generates code but dynamic_code=False")
        reason = probe().get(backend) or _failures.get((plan, backend))
        if reason is not None:
            raise DynamicCodeUnavailable(f"the {backend} backend is unavailable: {reason}")
        return _build(plan, backend), {}
    skipped: Dict[str, str] = {}
    allowed = probe()
    for backend in order_for(dynamic_code):
        reason = allowed[backend] or _failures.get((plan, backend))
        if reason is not None:
            skipped[backend] = reason
            continue
        try:
            return _build(plan, backend), skipped
        except Exception as exc:  # e.g. an audit hook installed after the probe
            reason = f"generating this trampoline failed ({type(exc).__name__}: {exc})"
            _failures[(plan, backend)] = reason
            skipped[backend] = reason
    details = "; ".join(f"{name}: {why}" for name, why in skipped.items())
    raise DynamicCodeUnavailable(f"dynamic_code=True, but no code generator is usable here ({details})")


def bind(
    plan: AnyPlan,
    bindings: "AnyBindings",
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
    name: Optional[str] = None,
) -> Tuple[Template, Callable[..., Any], Dict[str, str]]:
    """Choose a template for ``plan`` and bind ``bindings`` into a trampoline.

    ``bindings`` is an instance of ``plan.bindings``.  The trampoline is
    named ``name`` (default: the plan's name).  Binding a bytecode template
    creates a code object; an audit hook added after the template was built
    can refuse that.  Unless ``backend=`` names one backend, such a refusal
    moves on to the next backend, like a failed generation does.
    """
    if type(bindings) is not plan.bindings:
        raise TypeError(f"a {plan.direction.value} plan binds {plan.bindings.__name__}, not {type(bindings).__name__}")
    while True:
        template, skipped = template_for(plan, dynamic_code, backend)
        try:
            trampoline = template.bind(bindings)
        except Exception as exc:
            if backend is not None:
                raise
            _failures[(plan, template.backend)] = f"binding failed ({type(exc).__name__}: {exc})"
            continue
        trampoline.__name__ = trampoline.__qualname__ = name or plan.name
        if plan.direction is Direction.CALLBACK:
            # The trampoline's frame must not raise an interrupt before its try.
            interrupts.ensure_deferring_handler()
            interrupts.register_entry(trampoline.__code__)
        return template, trampoline, skipped
