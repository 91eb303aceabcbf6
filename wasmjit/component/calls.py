"""Typed component calls: :func:`typed` (host -> component)."""

from __future__ import annotations

import ctypes
import inspect
import struct
import typing
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import wasmtime
from wasmtime import component as _c

from .. import backends
from ..boundary import component_calls as calls_rt
from ..boundary import component_values as values
from ..boundary import wasmtime_py
from ..model import wit
from ..model.component_plan import ComponentPlan, component_plan
from ..model.plan import Direction
from ..model.shapes import STOCK, Shape, shape_of

__all__ = ["typed", "ComponentOwner", "signature_shapes", "func_wit_type"]


class ComponentOwner:
    """What the raw addresses bound into one typed component call point to."""

    def __init__(self, template: Any, plan: ComponentPlan, arena: Any, handle: Any, func: Any, store: Any) -> None:
        self.template = template
        self.plan = plan
        self.arena = arena
        self.handle = handle
        self.func = func
        self.store = store

    @property
    def backend(self) -> str:
        return str(self.template.backend)


def _free_last_result(arena: Any, at: int) -> None:
    values.release_result(at)


def func_wit_type(store: Any, func: Any) -> wit.FuncType:
    """The WIT type of a ``wasmtime.component.Func``, read once."""
    return wit.func_type_from_wasmtime(func.type(store))


def _annotations_of(signature: Any) -> Tuple[List[Any], Any, bool]:
    """``(parameter annotations, result annotation, has_result_annotation)`` of ``signature``."""
    origin = typing.get_origin(signature)
    if origin is not None and getattr(origin, "__name__", "") == "Callable":
        args = typing.get_args(signature)
        params, result = args[0], args[1]
        if params is Ellipsis:
            return [], result, True
        return list(params), result, True
    try:
        sig = inspect.signature(signature, eval_str=True)
    except (TypeError, ValueError, NameError):
        sig = inspect.signature(signature)
    params = [
        p.annotation
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self",)
    ]
    has_result = sig.return_annotation is not inspect.Signature.empty
    return params, sig.return_annotation if has_result else None, has_result


def signature_shapes(func_type: wit.FuncType, signature: Any, what: str) -> Tuple[Tuple[Shape, ...], Shape]:
    """The shapes ``signature``'s annotations give each parameter and the result of ``func_type``."""
    if signature is None:
        return tuple(STOCK for _ in func_type.params), STOCK
    from .bind import check_signature

    # Counts, ``-> None``, primitives and containers, all the way down (one checker for
    # typed(), define_callback() and bind()); then the shapes the annotations choose.
    check_signature(func_type, signature, what)
    params, result, has_result = _annotations_of(signature)
    if params and len(params) != len(func_type.params):
        raise TypeError(
            f"{what} annotates {len(params)} parameters; the component function {func_type} takes"
            f" {len(func_type.params)}"
        )
    shapes = []
    for i, (name, ty) in enumerate(func_type.params):
        annotation = params[i] if params else None
        try:
            shapes.append(shape_of(ty, annotation))
        except TypeError as exc:
            raise type(exc)(f"{what}, parameter {i} ({name}): {exc}") from None
    if has_result and func_type.result is None and result not in (None, type(None)):
        raise TypeError(f"{what} annotates a result; the component function {func_type} returns nothing")
    try:
        result_shape = shape_of(func_type.result, result) if has_result else STOCK
    except TypeError as exc:
        raise type(exc)(f"{what}, result: {exc}") from None
    return tuple(shapes), result_shape


def _lowering_error(ty: wit.WitType, shape: Shape, value: Any, mode: str) -> Optional[BaseException]:
    """What the codec of ``ty`` raises for ``value`` (lowered into scratch memory), or ``None``."""
    codec = values.codec(ty, shape, mode)
    scratch, address = values.new_arena(values.LAYOUT.val + codec.static)
    try:
        codec.lower(value, address, address + values.LAYOUT.val, [scratch])
    except BaseException as exc:
        return exc
    return None


def make_failed(
    plan: ComponentPlan, shapes: Sequence[Shape], stock_call: Optional[Callable[..., Any]]
) -> Callable[..., Any]:
    """``failed(exc, *args)`` of a typed call: stock's own call (stock mode) or the precise error.

    The fast paths (one struct call for the numbers, item stores for flat
    records) raise what ``struct`` or ``memoryview`` raise; each parameter's
    codec, run again into scratch memory, says which one is wrong and why.
    """
    names = plan.param_names
    params = plan.func_type.params
    direct = set(plan.packed) | set(plan.flat_records)

    def failed(exc: BaseException, *args: Any) -> Any:
        if stock_call is not None:
            return stock_call(*args)
        if isinstance(exc, (struct.error, TypeError, ValueError, OverflowError, AttributeError)):
            for i, (_, ty) in enumerate(params):
                if i not in direct:
                    continue
                cause = _lowering_error(ty, shapes[i], args[i], plan.mode)
                if cause is not None:
                    cause.add_note(f"in parameter {names[i]!r} ({wit.wit_text(ty)})")
                    raise cause.with_traceback(None) from None
        raise exc

    return failed


def typed(
    store: wasmtime.Store,
    func: Any,
    signature: Any = None,
    *,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
    name: Optional[str] = None,
) -> Callable[..., Any]:
    """A fast caller of the component function ``func`` with ``store`` bound.

    The function's WIT type is read once; a plan for it (and for the Python
    shapes ``signature``'s annotations give, if any) is rendered by a backend
    (``dynamic_code=``/``backend=`` as for :func:`wasmjit.typed`).  Call it
    without the store: ``add = typed(store, func); add(1, 2)``.

    ``signature`` (a function or ``Callable[[...], R]``) maps WIT types to
    your classes: a dataclass or ``NamedTuple`` for a record, an ``enum.Enum``
    for an enum, an ``enum.Flag`` for flags, ``Optional[T]`` for an option,
    ``wasmjit.component.Ok``/``Err`` for a result, a ``Union`` of case
    classes for a variant.  Without it, values have wasmtime-py's shapes.
    Integers are range-checked (``OverflowError``).  Functions over resources
    are called through wasmtime-py's own conversion.
    """
    if not isinstance(func, _c.Func):
        raise TypeError(f"typed() takes a wasmtime.component.Func, not {type(func).__name__}")
    func_type = func_wit_type(store, func)
    shapes, result_shape = signature_shapes(func_type, signature, "signature=")
    return _typed(store, func, func_type, shapes, result_shape, "checked", dynamic_code, backend, name, None)


def _typed(
    store: Any,
    func: Any,
    func_type: wit.FuncType,
    shapes: Sequence[Shape],
    result_shape: Shape,
    mode: str,
    dynamic_code: Optional[bool],
    backend: Optional[str],
    name: Optional[str],
    stock_call: Optional[Callable[..., Any]],
) -> Callable[..., Any]:
    if func_type.uses_resources:
        if not all(shape.is_stock for shape in shapes) or not result_shape.is_stock:
            raise TypeError(
                f"{func_type} involves resources: it is called through wasmtime-py's own conversion,"
                " with wasmtime-py's value shapes; annotate its records, enums and so on as Any"
            )

        def call_through_stock(*args: Any) -> Any:
            return func(store, *args)

        call_through_stock.__name__ = name or "call_component"
        return call_through_stock
    plan = component_plan(Direction.CALL, func_type, tuple(shapes), result_shape, mode)
    nparams = len(func_type.params)
    arena, base = values.new_arena(plan.arena_size)
    results = base + nparams * values.LAYOUT.val
    constants: List[Any] = []
    for i, offset in zip(plan.flat_records, plan.flat_offsets, strict=True):
        record = func_type.params[i][1]
        assert isinstance(record, wit.Record)
        constants += values.prepare_flat_record(record, base + i * values.LAYOUT.val, base + offset)
    flat_at = {f"flat_at_{i}": base + plan.flat_offsets[plan.flat_records.index(i)] for i in plan.flat_headers_packed}
    octets = memoryview(arena).cast("B")
    views = {f"view_{code}": octets.cast(code) for code in plan.view_codes}  # type: ignore[call-overload]
    original = wasmtime_py.func_handle(func)
    handle = type(original).from_buffer_copy(original)
    lowers: Dict[str, Any] = {}
    for n, i in enumerate(plan.unpacked):
        lowers[f"lower_{n}"] = values.codec(func_type.params[i][1], shapes[i], mode).lower
        lowers[f"at_{n}"] = base + i * values.LAYOUT.val
        lowers[f"extra_{n}"] = base + plan.extra_offsets[n]
    lift = None
    if func_type.result is not None and not plan.result_packed:
        lift = values.codec(func_type.result, result_shape, mode).lift
    bindings = plan.bind_values(
        store=store,
        context_arg=ctypes.c_void_p(wasmtime_py.store_context(store)),
        func_arg=ctypes.c_void_p(ctypes.addressof(handle)),
        args=base,
        args_arg=ctypes.c_void_p(base),
        results=results,
        results_arg=ctypes.c_void_p(results),
        lift=lift,
        failed=make_failed(plan, shapes, stock_call),
        raise_error=calls_rt.raise_error,
        **lowers,
        **views,
        **flat_at,
    )
    template, trampoline, _ = backends.bind(plan, bindings, dynamic_code, backend, name)
    owner = ComponentOwner(template, plan, (arena, constants), handle, func, store)
    if plan.result_owned:
        # Each call leaves its result tree in the slot for the next call to drop (plan.result_owned);
        # the last one is freed with the caller (the finalizer holds the arena until then).
        weakref.finalize(owner, _free_last_result, arena, results)
    trampoline.__wasmjit__ = owner  # type: ignore[attr-defined]
    trampoline.signature = func_type  # type: ignore[attr-defined]
    return trampoline
