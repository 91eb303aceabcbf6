"""Component host functions: :func:`define_callback` (component -> host)."""

from __future__ import annotations

import builtins
import ctypes
import struct
import sys
import threading
import types
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from wasmtime import _bindings as _b
from wasmtime import component as _c

from .. import backends
from ..backends import extable
from ..boundary import component_calls as calls_rt
from ..boundary import component_values as values
from ..boundary import headroom, interrupts, lifetimes
from ..model import wit
from ..model.component_plan import ComponentPlan, component_plan
from ..model.plan import Direction
from ..model.shapes import STOCK
from .calls import signature_shapes

__all__ = ["define_callback", "HostFunction"]

_FUNC_TYPE_POINTER = ctypes.POINTER(_b.wasmtime_component_func_type_t)


class HostFunction:
    """One registered host function: its trampolines, one per WIT type it was called with.

    wasmtime's component linker does not say a host function's type when it
    is defined (a host function can be imported under any type), so the
    trampoline is specialised from the type the first call presents; each
    trampoline checks the kinds of the values it is handed, and a call that
    presents another type is re-specialised (and cached) instead of misread.
    """

    def __init__(
        self,
        callback: Callable[..., Any],
        name: str,
        dynamic_code: Optional[bool],
        backend: Optional[str],
        mode: str = "checked",
        stock_callback: Optional[Callable[..., Any]] = None,
    ) -> None:
        self.callback = callback
        self.name = name
        self.dynamic_code = dynamic_code
        self.backend = backend
        self.mode = mode
        self.stock_callback = stock_callback
        self.trampolines: Dict[wit.FuncType, Callable[..., Any]] = {}
        self.templates: Dict[wit.FuncType, Any] = {}
        self._lock = threading.Lock()
        self._stock_indices: List[int] = []

        # What wasmtime calls: a function of its own, whose code is the dispatcher below or, once
        # specialised, the trampoline's own (see _install).  Its globals hold what the dispatcher
        # calls (``current``: one global load, no attribute lookup); at first, a function that
        # reaches this object through a weak reference: the entry must not keep this object in a
        # cycle with it (lifetimes' owner keeps both alive until wasmtime's finalizer releases
        # them), and neither do the trampolines (their ``failed`` holds a weak reference too).
        self._entry_globals: Dict[str, Any] = {
            "current": _first_call(weakref.proxy(self)),
            "park": calls_rt.park,
            "__builtins__": builtins,
        }
        self.entry = types.FunctionType(_dispatch.__code__, self._entry_globals, "entry")
        self.thunk = calls_rt.HostCallback(self.entry)

    @property
    def current(self) -> Callable[..., Any]:
        """What calls run now: the trampoline installed last, or (before the first call) what
        specialises.  Held by the entry's globals, which the dispatcher reads."""
        return self._entry_globals["current"]  # type: ignore[no-any-return]

    def __del__(self) -> None:
        # wasmtime released the function (its finalizer dropped our owner).
        if self._stock_indices:
            from wasmtime.component import _linker as stock_linker

            for index in self._stock_indices:
                stock_linker.FUNCTIONS.deallocate(index)

    # The first call of each type --------------------------------------------------

    def trampoline_for(self, type_address: int) -> Callable[..., Any]:
        fty = _c.FuncType._from_ptr(ctypes.cast(type_address, _FUNC_TYPE_POINTER), owner=self)
        func_type = wit.func_type_from_wasmtime(fty)
        found = self.trampolines.get(func_type)
        if found is not None:
            return found
        with self._lock:
            found = self.trampolines.get(func_type)
            if found is None:
                found = self.trampolines[func_type] = self._specialise(func_type)
        return found

    def _specialise(self, func_type: wit.FuncType) -> Callable[..., Any]:
        what = f"{getattr(self.callback, '__qualname__', self.name)} (host function {self.name!r})"
        if self.mode == "stock":
            shapes: Tuple[Any, ...] = tuple(STOCK for _ in func_type.params)
            result_shape = STOCK
        else:
            shapes, result_shape = signature_shapes(func_type, _annotated(self.callback), what)
        if func_type.uses_resources:
            if not all(shape.is_stock for shape in shapes) or not result_shape.is_stock:
                raise TypeError(
                    f"{what}: {func_type} involves resources: it is called through wasmtime-py's own"
                    " conversion, with wasmtime-py's value shapes; annotate its records, enums and so on as Any"
                )
            return self._through_stock(func_type)
        plan = component_plan(Direction.CALLBACK, func_type, shapes, result_shape, self.mode)
        # Arguments are checked as they are read (Codec.read): a call may present another type
        # than the first one.
        reads = {
            f"read_{n}": values.codec(func_type.params[i][1], shapes[i], self.mode).read
            for n, i in enumerate(plan.unpacked)
        }
        lower_result, scratch = None, None
        if func_type.result is not None and not plan.result_packed:
            codec = values.codec(func_type.result, result_shape, self.mode)
            assert codec.owned == plan.result_owned
            lower_result = codec.lower
            if plan.result_owned:  # lowered here, then val_clone'd into wasmtime's allocations
                scratch = values.Scratch(values.LAYOUT.val + codec.static)
        bindings = plan.bind_values(
            callback=self.callback, lower_result=lower_result, scratch=scratch, failed=self._failed_for(plan), **reads
        )
        template, trampoline, _ = backends.bind(plan, bindings, self.dynamic_code, self.backend, _py_name(self.name))
        self.templates[func_type] = template
        return trampoline

    def _through_stock(self, func_type: wit.FuncType) -> Callable[..., Any]:
        from wasmtime.component import _linker as stock_linker

        callback = self.callback  # (not self: the slab entry must not keep this object alive)
        stock_user = self.stock_callback or (lambda store, *args: callback(*args))
        index = stock_linker.FUNCTIONS.allocate(stock_user)
        self._stock_indices.append(index)  # released with this object (see __del__)
        stock_impl = stock_linker.func_impl
        cast = ctypes.cast
        context_p = ctypes.POINTER(_b.wasmtime_context_t)
        val_p = ctypes.POINTER(_b.wasmtime_component_val_t)

        def trampoline(env: Any, context: Any, type_: Any, args: Any, nargs: int, results: Any, nresults: int) -> Any:
            # wasmtime-py's own host-function entry, called with its ctypes argument types.
            return stock_impl(
                index,
                cast(context, context_p),
                cast(type_, _FUNC_TYPE_POINTER),
                cast(args, val_p),
                nargs,
                cast(results, val_p),
                nresults,
            )

        return trampoline

    def specialise_and_call(
        self, env: Any, context: Any, type_: Any, args: Any, nargs: int, results: Any, nresults: int
    ) -> Any:
        try:
            trampoline = self.trampoline_for(type_)
        except BaseException as exc:
            return calls_rt.park(exc)
        self._install(trampoline)
        return trampoline(env, context, type_, args, nargs, results, nresults)

    def _install(self, trampoline: Callable[..., Any]) -> None:
        """Make ``trampoline`` what wasmtime's calls run.

        A trampoline that is a plain function of constants (the bytecode backend's)
        lends its code to :attr:`entry`: calls run it with no dispatching frame in
        between.  Others (closures: source; reflect) are called through the dispatcher.
        """
        self._entry_globals["current"] = trampoline
        code = getattr(trampoline, "__code__", None)
        if (
            isinstance(trampoline, types.FunctionType)
            and code is not None
            and not code.co_freevars
            and trampoline.__defaults__ is None
            and not trampoline.__kwdefaults__
        ):
            try:
                self.entry.__code__ = code
                return
            except Exception:  # an audit hook may refuse it: dispatch instead
                pass
        self.entry.__code__ = _dispatch.__code__

    def _failed_for(self, plan: ComponentPlan) -> Callable[..., Any]:
        mismatch = values.TypeMismatch
        park = calls_rt.park
        result_type = plan.func_type.result
        host = weakref.proxy(self)  # the trampolines this binds into are this object's own

        def failed(
            exc: BaseException, context: Any, type_: Any, args: Any, nargs: int, results: Any, nresults: int
        ) -> Any:
            if type(exc) is mismatch:
                return host.specialise_and_call(None, context, type_, args, nargs, results, nresults)
            if isinstance(exc, struct.error) and result_type is not None:
                exc = _result_error(result_type, exc)
            return park(exc)

        return failed

    def backend_of(self, func_type: wit.FuncType) -> str:
        return str(self.templates[func_type].backend)

    def _wasmjit_listing(self) -> str:
        """What :func:`wasmjit.explain` shows: each trampoline, per WIT type it was called with."""
        parts = [f"host function {self.name!r} ({getattr(self.callback, '__qualname__', self.callback)!r})"]
        if not self.trampolines:
            parts.append("  not called yet: its trampoline is specialised from the type the first call presents")
        for func_type, trampoline in self.trampolines.items():
            template = self.templates.get(func_type)
            if template is None:
                parts.append(f"\n{func_type} -> wasmtime-py's own conversion (resources)")
                continue
            parts.append(f"\n{func_type} -> {template.backend} backend\n")
            parts.append(template.listing(trampoline))
        return "\n".join(parts)

    def __repr__(self) -> str:
        types = ", ".join(str(t) for t in self.trampolines) or "not called yet"
        return f"<wasmjit.component host function {self.name!r}: {types}>"


def _first_call(host: Any) -> Callable[..., Any]:
    """What an entry runs before its first specialisation: ``host`` (a weak proxy of its
    HostFunction) specialises for the type the call presents, then calls the trampoline."""

    def first_call(env: Any, context: Any, type_: Any, args: Any, nargs: int, results: Any, nresults: int) -> Any:
        return host.specialise_and_call(env, context, type_, args, nargs, results, nresults)

    return first_call


def _dispatch(env: Any, context: Any, type_: Any, args: Any, nargs: int, results: Any, nresults: int) -> Any:
    # The code of a HostFunction's entry until (and unless) a trampoline lends it its own.
    # ``current`` and ``park`` are globals of each entry function: what its HostFunction installed
    # last (HostFunction._install), calls_rt.park.  Whatever raises here, even as this frame starts
    # (its try is widened over its entry and return below), becomes the call's error: never an
    # exception escaping into ctypes.
    try:
        return current(env, context, type_, args, nargs, results, nresults)  # type: ignore[name-defined]  # noqa: F821
    except BaseException as exc:
        return park(exc)  # type: ignore[name-defined]  # noqa: F821


def _cover_dispatch() -> bool:
    """Widen ``_dispatch``'s try over its entry and its return, as a trampoline's
    (``Program.try_covers_entry``); register it with the deferring SIGINT handler.

    CPython 3.11 needs an instruction before ``RESUME`` inside the range: one
    ``NOP`` is put there with the ``bytecode`` package.  Where that package or
    new code objects are refused, the compiler's range stays (docs/errors.md).
    """
    code = _dispatch.__code__
    try:
        if sys.version_info < (3, 12):
            from bytecode import Bytecode, Instr

            assembled = Bytecode.from_code(code)
            assembled.insert(0, Instr("NOP"))
            code = assembled.to_code()
        _dispatch.__code__ = extable.cover_entry(code, 1)
    except Exception:  # no bytecode package, an audit hook refusing code objects
        return False
    finally:
        interrupts.register_entry(_dispatch.__code__)
    return True


#: Whether the dispatcher's try covers its entry in this process.
DISPATCH_COVERS_ENTRY = _cover_dispatch()


def _result_error(ty: wit.WitType, exc: BaseException) -> BaseException:
    """What ``struct`` refusing a number result means: out of range, or not a number at all."""
    text = str(exc)
    kind = OverflowError if "requires" in text or "out of range" in text else TypeError
    return kind(f"the host function's result does not fit {wit.wit_text(ty)}: {text}")


def _annotated(callback: Callable[..., Any]) -> Any:
    annotations = getattr(callback, "__annotations__", None)
    if annotations is None:
        annotations = getattr(vars(type(callback)).get("__call__"), "__annotations__", None)
    return callback if annotations else None


def _py_name(name: str) -> str:
    text = wit.python_name(name.split("/")[-1].split("#")[-1])
    return text if text.isidentifier() else "host_function"


def define_callback(
    linker_instance: Any,
    name: str,
    fn: Optional[Callable[..., Any]] = None,
    *,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> Any:
    """Define the host function ``name`` in ``linker_instance`` (a ``wasmtime.component.LinkerInstance``).

    ``fn`` receives the WIT parameters as Python values (no store) and returns
    the result.  Without ``fn``, returns a decorator that registers the
    function and returns it unchanged::

        @wasmjit.component.define_callback(root, "log")
        def log(message: str) -> None: ...

    Annotations, when present, choose the Python shapes (as for
    :func:`wasmjit.component.typed`'s ``signature=``) and are checked against
    the import's WIT type at the first call, with an error naming the
    parameter.  An exception ``fn`` raises is re-raised, the same object, by
    the call that entered the component.
    """
    if fn is None:

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            define_callback(linker_instance, name, function, dynamic_code=dynamic_code, backend=backend)
            return function

        return decorate
    if not callable(fn):
        raise TypeError(f"define_callback() needs a callable, not {type(fn).__name__}")
    host = HostFunction(fn, name, dynamic_code, backend)
    register(linker_instance, name, host)
    return host


def register(linker_instance: Any, name: str, host: HostFunction) -> None:
    """Hand ``host``'s thunk to wasmtime, kept alive until wasmtime's finalizer releases it.

    A component host function has no wasm guard in front of it: every entry into
    wasm checks for room below it from now on (:mod:`wasmjit.boundary.headroom`).
    """
    linker_instance._assert_not_locked()
    headroom.arm()
    owner = lifetimes.Owner(
        thunk=host.thunk, trampoline=host.current, callback=host.callback, functype=None, template=host
    )
    handle = lifetimes.register(owner)
    data = name.encode("utf-8")
    error = calls_rt.add_func(
        ctypes.cast(linker_instance.ptr(), ctypes.c_void_p).value,
        data,
        len(data),
        ctypes.cast(host.thunk, ctypes.c_void_p).value,
        handle,
        lifetimes.FINALIZER_ADDRESS,
    )
    if error:
        lifetimes.release(handle)
        from ..boundary import wasmtime_py

        raise wasmtime_py.error_from_address(error)
