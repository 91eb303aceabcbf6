"""The ``reflect`` backend: no generated code; the plan is interpreted per call.

This is the path for interpreters that forbid ``compile``/``exec`` and new
code objects.  The trampolines below are ordinary functions written once;
each reads the plan's fields (formats, conversions, result shape) from its
closure on every call.  They do what the plan's program (``Plan.program()``)
says, in the same order, with the same failure paths; the tests run them
beside a reference interpreter of that program, messages included.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from ..boundary.wasmtime_py import STORE_CONTEXT_ATTRIBUTE
from ..model.plan import CallbackBindings, CallBindings, Direction, Plan

__all__ = ["ReflectTemplate"]


class ReflectTemplate:
    """Binds the generic trampoline of a direction to one plan."""

    backend = "reflect"

    def __init__(self, plan: Plan, statics: Dict[str, Any]) -> None:
        self.plan = plan
        self.statics = statics

    def bind(self, bindings: NamedTuple) -> Callable[..., Any]:
        if self.plan.direction is Direction.CALLBACK:
            assert isinstance(bindings, CallbackBindings)
            return _callback(self.plan, self.statics, bindings)
        assert isinstance(bindings, CallBindings)
        return _call(self.plan, self.statics, bindings)

    def listing(self, trampoline: Callable[..., Any]) -> str:
        return self.plan.describe()


def _missing_arguments(qualname: str, names: "List[str]") -> TypeError:
    """The ``TypeError`` CPython raises for a call that lacks positional arguments."""
    quoted = [repr(name) for name in names]
    if len(quoted) == 1:
        listed = quoted[0]
    elif len(quoted) == 2:
        listed = f"{quoted[0]} and {quoted[1]}"
    else:
        listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    plural = "" if len(names) == 1 else "s"
    return TypeError(f"{qualname}() missing {len(names)} required positional argument{plural}: {listed}")


def _callback(plan: Plan, statics: Dict[str, Any], bindings: CallbackBindings) -> Callable[..., Any]:
    callback, fail = bindings
    MEMORY = statics["MEMORY"]
    MISSING = statics["MISSING"]
    ExactPath = statics["ExactPath"]
    decode = statics["decode"] if plan.params else None
    encode = statics["encode"]
    release = statics["release"]
    Caller = statics["Caller"]
    invalidate = statics["invalidate"]
    caller_context = statics["caller_context"]
    interrupts_state = statics["interrupts"]
    raise_interrupt = statics["raise_interrupt"]
    decoders: Tuple[Tuple[int, Callable[..., Any]], ...] = tuple((i, statics[n]) for i, n in plan.decoders)
    encoders: Tuple[Tuple[int, Callable[..., Any]], ...] = tuple((i, statics[n]) for i, n in plan.encoders)
    wants_caller = plan.signature.wants_caller
    needs_context = plan.needs_context
    keeps_refs = plan.keeps_refs
    has_results = bool(plan.results)
    as_tuple = plan.signature.results_as_tuple
    class_checks = plan.class_checks

    def trampoline(env: Any, caller_ptr: Optional[int], raw: int, nraw: int) -> Optional[int]:
        result = MISSING
        caller = None
        keep: Optional[List[Any]] = [] if keeps_refs else None
        try:
            if interrupts_state.pending:
                raise_interrupt()
            if wants_caller:
                caller = Caller(caller_ptr)
            ctx = caller_context(caller_ptr) if needs_context else None
            args: Any = decode(MEMORY, raw) if decode is not None else ()
            if decoders:
                args = list(args)
                for index, convert in decoders:
                    args[index] = convert(ctx, args[index])
            if caller is not None:
                result = callback(caller, *args)
                invalidate(caller)
            else:
                result = callback(*args)
            if not has_results:
                if result is not None:
                    raise ExactPath
                return None
            if as_tuple:
                if result.__class__ is not tuple:
                    raise ExactPath
                outputs: Any = result
            else:
                outputs = (result,)
            for index, cls in class_checks:
                if outputs[index].__class__ is not cls:
                    raise ExactPath
            if encoders:
                outputs = list(outputs)
                for index, convert in encoders:
                    outputs[index] = convert(ctx, outputs[index], keep)
            encode(MEMORY, raw, *outputs)
            if keep:
                release(keep)
        except BaseException as exc:
            return fail(exc, result, raw, caller_ptr, caller, keep)
        return None

    return trampoline


def _call(plan: Plan, statics: Dict[str, Any], bindings: CallBindings) -> Callable[..., Any]:
    (
        store,
        buffer,
        context,
        func,
        buffer_address,
        nslots,
        trap_address,
        fail,
        encode_exact,
        too_many,
        guard,
        nested,
        interrupted,
    ) = bindings
    encode = statics["encode"]
    decode = statics["decode"]
    release = statics["release"]
    closed_store = statics["closed_store"]
    call_unchecked = statics["call_unchecked"]
    decoders = tuple((i, statics[n]) for i, n in plan.decoders)
    encoders = tuple((i, statics[n]) for i, n in plan.encoders)
    nparams = len(plan.params)
    nresults = len(plan.results)
    keeps_refs = plan.keeps_refs
    as_tuple = plan.signature.results_as_tuple or nresults > 1
    as_list = plan.results_as_list
    class_checks = plan.class_checks
    ExactPath = statics["ExactPath"]
    argument_names = [f"a{i}" for i in range(nparams)]

    def call(*given: Any) -> Any:
        if len(given) < nparams:
            raise _missing_arguments(call.__qualname__, argument_names[len(given) :])
        args, extra = given[:nparams], given[nparams:]
        if extra:
            too_many(args, extra)
        keep: Optional[List[Any]] = [] if keeps_refs else None
        if getattr(store, STORE_CONTEXT_ATTRIBUTE) is None:
            closed_store()
        if guard.busy is True:
            return nested(*args)
        guard.busy = True
        if nparams:
            try:
                for index, cls in class_checks:
                    if args[index].__class__ is not cls:
                        raise ExactPath
                inputs: Any = args
                if encoders:
                    inputs = list(args)
                    for index, convert in encoders:
                        inputs[index] = convert(context, inputs[index], keep)
                encode(buffer, 0, *inputs)
            except BaseException as exc:
                encode_exact(exc, keep, *args)
        try:
            err = call_unchecked(context, func, buffer_address, nslots, trap_address)
        except BaseException as exc:
            interrupted(exc, keep)
        guard.busy = False
        outputs: Any = decode(buffer)
        if keep:
            release(keep)
        trap = outputs[-1]
        if err or trap:
            fail(err, trap)
        if not nresults:
            return None
        if decoders:
            outputs = list(outputs)
            for index, convert in decoders:
                outputs[index] = convert(context, outputs[index])
        if as_list:
            return list(outputs[:nresults])
        if as_tuple:
            return tuple(outputs[:nresults])
        return outputs[0]

    return call
