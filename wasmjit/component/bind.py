"""``bind``: typed callers for every export of a component instance; ``define_imports``: the mirror image.

A ``wasmtime.component.Instance`` does not list its exports: they are listed
by the component's *type*.  So :func:`bind` takes the ``Component`` (keyword
``component=``), a ``Protocol`` describing the exports (for example the
``Exports`` class ``python -m wasmjit.component stubs`` writes), or both:

* ``bind(store, instance, component=component)``: every exported function,
  with wasmtime-py's value shapes;
* ``bind(store, instance, Exports)``: the functions ``Exports`` declares, each
  with its method's annotations as the ``signature=`` (records as your
  dataclasses, enums as your ``Enum`` and so on), checked when ``bind`` runs;
* ``bind(store, instance, Exports, component=component)``: every export, the
  declared ones typed by ``Exports``; a declared function the component does
  not export is an error at bind time, an export ``Exports`` does not declare
  is bound with stock shapes.

(``bind(store, instance, component)``, a ``Component`` as the third argument,
is accepted too.)

Names: a function ``kebab-case`` becomes ``snake_case``
(:func:`wasmjit.model.wit.python_name`), an exported interface
``ns:pkg/iface-name@1.0.0`` becomes the attribute ``iface_name`` (the full
name, ``ns_pkg_iface_name``, where two interfaces would share it).  A
protocol can say the WIT name itself: ``Annotated[Iface, "ns:pkg/iface"]``
for an interface attribute, :func:`wit_name` for a method.  Indexing takes
either name: ``exports["ns:pkg/iface"]``, ``exports["add-two"]``.

:func:`define_imports` registers a host object's methods for a component's
imports (:func:`wasmjit.component.define_callback` each), checking every
annotation against the import's WIT type *before* instantiation.
"""

from __future__ import annotations

import inspect
import keyword
import re
import typing
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type, TypeVar, overload

from ..boundary.wasmtime_py import component_item_type
from ..model import wit
from ..model.shapes import Err, Ok, ShapeError, shape_of

__all__ = [
    "bind",
    "Bound",
    "BindError",
    "define_imports",
    "wit_name",
    "check_signature",
    "export_attribute_names",
    "interface_attribute",
    "protocol_members",
    "check_protocol",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class BindError(TypeError):
    """A protocol (or host object) does not match the component: a missing export or import, or a wrong kind."""


# Names ---------------------------------------------------------------------------------------------------

_SPECIAL = re.compile(r"^\[(method|static|constructor)\](.*)$")


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def function_attribute(wit_name_: str) -> str:
    """The attribute a function export or import ``wit_name_`` gets (``add-two`` -> ``add_two``).

    Resource functions: ``[constructor]r`` -> ``r_new``, ``[method]r.f`` and
    ``[static]r.f`` -> ``r_f``.
    """
    special = _SPECIAL.match(wit_name_)
    if special:
        kind, rest = special.groups()
        rest = rest.replace(".", "-")
        wit_name_ = rest + "-new" if kind == "constructor" else rest
    return _identifier(wit.python_name(wit_name_))


def interface_attribute(wit_name_: str) -> str:
    """The attribute an instance export or import gets: ``ns:pkg/iface-name@1.0.0`` -> ``iface_name``."""
    base = wit_name_.split("@", 1)[0]
    base = base.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return _identifier(wit.python_name(base))


def _full_attribute(wit_name_: str) -> str:
    return _identifier(wit.python_name(wit_name_.split("@", 1)[0].replace(":", "-").replace("/", "-")))


def export_attribute_names(entries: List[Tuple[str, str]]) -> Dict[str, str]:
    """WIT name -> attribute name for ``(wit_name, kind)`` entries of one level (``kind``: ``func``/``instance``).

    Functions keep :func:`function_attribute`; interfaces get
    :func:`interface_attribute`, or the full name where two would share it
    (or an interface would shadow a function); then ``_2``, ``_3``... .
    Deterministic: the stubs generator and :func:`bind` agree.
    """
    names: Dict[str, str] = {}
    taken: set[str] = set()
    funcs = [name for name, kind in entries if kind == "func"]
    for name in funcs:
        names[name] = _unique(function_attribute(name), taken)
    short: Dict[str, int] = {}
    for name, kind in entries:
        if kind == "instance":
            attr = interface_attribute(name)
            short[attr] = short.get(attr, 0) + 1
    for name, kind in entries:
        if kind != "instance":
            continue
        attr = interface_attribute(name)
        if short[attr] > 1 or attr in taken:
            attr = _full_attribute(name)
        names[name] = _unique(attr, taken)
    return {name: names[name] for name, _ in entries}


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _kebab(attribute: str) -> str:
    """The WIT name an attribute most likely stands for (``add_two`` -> ``add-two``; ``type_`` -> ``type``)."""
    if attribute.endswith("_") and (keyword.iskeyword(attribute[:-1]) or keyword.issoftkeyword(attribute[:-1])):
        attribute = attribute[:-1]
    return attribute.replace("_", "-")


def wit_name(name: str) -> Callable[[F], F]:
    """Decorate a protocol method with the WIT name of the function it stands for (where snake_case loses it)."""

    def decorate(function: F) -> F:
        function.__wit_name__ = name  # type: ignore[attr-defined]
        return function

    return decorate


# Protocols --------------------------------------------------------------------------------------------------


class Member(typing.NamedTuple):
    """One member of a protocol: a function (``obj`` carries the annotations) or an interface (``obj``: its class)."""

    kind: str
    obj: Any
    wit_name: Optional[str]


def _unannotated(hint: Any) -> Tuple[Any, Optional[str]]:
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        names = [e for e in extras if isinstance(e, str)]
        return base, names[0] if names else None
    return hint, None


def _is_callable_hint(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return origin is not None and getattr(origin, "__name__", "") == "Callable"


def protocol_members(protocol: Any) -> Dict[str, Member]:
    """The functions and interfaces ``protocol`` declares, by attribute name (``_private`` names left out).

    Methods are functions; an attribute annotated ``Callable[[...], R]`` is a
    function too; an attribute (or property) annotated with a class is an
    interface.
    """
    if not isinstance(protocol, type):
        raise TypeError(f"a protocol is a class, not {type(protocol).__name__}")
    members: Dict[str, Member] = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or klass.__module__ in ("typing", "typing_extensions", "abc"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if inspect.isfunction(value):
                members[name] = Member("func", value, getattr(value, "__wit_name__", None))
            elif isinstance(value, property) and value.fget is not None:
                hints = _hints(value.fget, f"{protocol.__name__}.{name}")
                base, wit_ = _unannotated(hints.get("return"))
                if _is_callable_hint(base):
                    members[name] = Member("func", base, wit_)
                elif _is_interface(base):
                    members[name] = Member("instance", base, wit_)
    for name, hint in _hints(protocol, protocol.__name__).items():
        if name.startswith("_") or name in members:
            continue
        base, wit_ = _unannotated(hint)
        if typing.get_origin(base) is typing.ClassVar:
            continue
        if _is_callable_hint(base):
            members[name] = Member("func", base, wit_)
        elif _is_interface(base):
            members[name] = Member("instance", base, wit_)
    return members


def _is_interface(annotation: Any) -> bool:
    """A class standing for an interface (not ``int``, ``str``... : data attributes are not members)."""
    return isinstance(annotation, type) and annotation.__module__ != "builtins"


def _hints(obj: Any, what: str) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {what}: {exc}") from exc


# Annotation checks (the parts shape_of leaves alone) ------------------------------------------------------

_INTS = ("s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64")


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _is_union(annotation: Any) -> bool:
    import types

    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _check(ty: Optional[wit.WitType], annotation: Any, path: str, seen: set[int]) -> None:
    """Raise :class:`ShapeError` where ``annotation`` cannot stand for ``ty`` (primitives, containers, nesting)."""
    if ty is None or annotation is None or annotation is Any or annotation is inspect.Parameter.empty:
        return
    if isinstance(annotation, (str, typing.ForwardRef)) or annotation is object:
        return
    annotation, _ = _unannotated(annotation)
    where = f" (at {path})" if path else ""

    def fail(wanted: str) -> None:
        raise ShapeError(f"{wit.wit_text(ty)} is {wanted}, not {_annotation_text(annotation)}{where}")

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(ty, wit.Prim):
        if ty.name == "bool":
            if annotation is not bool:
                fail("bool")
        elif ty.name in _INTS:
            if annotation is not int:
                fail("int")
        elif ty.name in ("f32", "f64"):
            if annotation is not float:
                fail("float")
        elif annotation is not str:
            fail("str (one character)")
        return
    if isinstance(ty, wit.String):
        if annotation is not str:
            fail("str")
        return
    if isinstance(ty, wit.List):
        if ty.element == wit.Prim("u8"):
            if annotation not in (bytes, bytearray, memoryview) and not _is_sequence(annotation, origin):
                fail("bytes")
            return
        if not _is_sequence(annotation, origin):
            fail("list[...]")
        if args:
            _check(ty.element, args[0], path + "[]", seen)
        return
    if isinstance(ty, wit.Tuple_):
        if annotation is not tuple and origin is not tuple:
            fail(f"tuple[{', '.join('...' for _ in ty.elements)}]")
        if args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(ty.elements):
                raise ShapeError(
                    f"{wit.wit_text(ty)} has {len(ty.elements)} elements; {_annotation_text(annotation)}"
                    f" has {len(args)}{where}"
                )
            for i, (t, a) in enumerate(zip(ty.elements, args, strict=True)):
                _check(t, a, f"{path}[{i}]", seen)
        return
    if isinstance(ty, wit.Option):
        if _is_union(annotation):
            rest = [a for a in args if a is not type(None)]
            inner: Any = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
            if isinstance(ty.payload, wit.Option):
                inner_args = typing.get_args(inner)
                inner = inner_args[0] if inner_args else None
            _check(ty.payload, inner, path + ".some", seen)
        return
    if isinstance(ty, wit.Result):
        parts = list(args) if _is_union(annotation) else [annotation]
        for part in parts:
            base = typing.get_origin(part) or part
            part_args = typing.get_args(part)
            if base is Ok and part_args:
                _check_payload(ty.ok, part_args[0], path + ".ok", seen)
            elif base is Err and part_args:
                _check_payload(ty.err, part_args[0], path + ".err", seen)
        return
    if isinstance(annotation, type) and id(annotation) in seen:
        return
    if isinstance(ty, wit.Record) and isinstance(annotation, type):
        seen.add(id(annotation))
        hints = _hints(annotation, annotation.__qualname__)
        for name, t in ty.fields:
            field = wit.python_name(name)
            _check(t, hints.get(field), f"{path}.{field}" if path else field, seen)
        return
    if isinstance(ty, wit.Variant):
        classes = list(args) if _is_union(annotation) else [annotation]
        by_name = {c.__name__.lower(): c for c in classes if isinstance(c, type)}
        for case, payload in ty.cases:
            cls = by_name.get(wit.class_name(case).lower()) or by_name.get(wit.python_name(case).replace("_", ""))
            if cls is None or id(cls) in seen:
                continue
            seen.add(id(cls))
            hints = _hints(cls, cls.__qualname__)
            if payload is None:
                continue
            if "value" not in hints and not hasattr(cls, "value"):
                raise ShapeError(f"{cls.__qualname__} needs a value field: the WIT case {case!r} has a payload{where}")
            _check(payload, hints.get("value"), f"{path}.{case}.value" if path else f"{case}.value", seen)
        return


def _check_payload(ty: Optional[wit.WitType], annotation: Any, path: str, seen: set[int]) -> None:
    if ty is None:
        if annotation not in (None, type(None), Any):
            raise ShapeError(f"this result case has no payload; annotate it None, not {_annotation_text(annotation)}")
        return
    _check(ty, annotation, path, seen)


def _is_sequence(annotation: Any, origin: Any) -> bool:
    import collections.abc as abc

    bases = (list, tuple, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
    return annotation in bases or origin in bases


def _signature_parts(signature: Any, what: str) -> Tuple[Optional[List[Tuple[str, Any]]], Any, bool]:
    """``([(name, annotation)], result, has a result annotation)``; ``None`` params for ``Callable[..., R]``."""
    if _is_callable_hint(signature):
        hinted, result = typing.get_args(signature)
        result = None if result is type(None) else result
        if hinted is Ellipsis:
            return None, result, True
        return [(f"parameter {i}", p) for i, p in enumerate(hinted)], result, True
    try:
        sig = inspect.signature(signature, eval_str=True)
    except NameError as exc:  # a string annotation naming what its module does not define
        raise TypeError(f"{what}: cannot resolve its annotations: {exc}") from None
    except (TypeError, ValueError):
        sig = inspect.signature(signature)
    params: Optional[List[Tuple[str, Any]]] = [
        (p.name, p.annotation)
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        params = None  # ``*args``: any number of parameters, none annotated one by one
    has_result = sig.return_annotation is not inspect.Signature.empty
    result = sig.return_annotation if has_result else None
    return params, (None if result is type(None) else result), has_result


def check_signature(func_type: wit.FuncType, signature: Any, what: str) -> None:
    """Raise (naming ``what`` and the parameter) where ``signature`` does not fit ``func_type``.

    Stricter than the shape matching :func:`wasmjit.component.typed` does on
    its own: the parameter count (also for a function without parameters),
    a result annotated ``None`` for a function that returns one, primitives
    (``int`` for ``u32``, ``float`` for ``f64``, ``str`` for ``string`` and
    ``char``, ``bytes`` for ``list<u8>``) and containers, all the way down.
    """
    params, result, has_result = _signature_parts(signature, what)
    if params is not None and len(params) != len(func_type.params):
        raise BindError(
            f"{what} takes {len(params)} parameter{'s' if len(params) != 1 else ''}; the component function"
            f" {func_type} takes {len(func_type.params)}"
        )
    for i, (name, ty) in enumerate(func_type.params):
        annotation = params[i][1] if params is not None else None
        try:
            shape_of(ty, annotation)
            _check(ty, annotation, "", set())
        except TypeError as exc:
            raise type(exc)(f"{what}, parameter {i} ({name}): {exc}") from None
    if not has_result:
        return
    if func_type.result is None:
        if result is not None:
            raise ShapeError(f"{what} annotates a result; the component function {func_type} returns nothing")
        return
    if result is None:
        raise ShapeError(f"{what} is annotated -> None; the component function {func_type} returns a value")
    try:
        shape_of(func_type.result, result)
        _check(func_type.result, result, "", set())
    except TypeError as exc:
        raise type(exc)(f"{what}, result: {exc}") from None


# The bound object ----------------------------------------------------------------------------------------------


class Bound:
    """The typed callers of one instance (or exported interface), as attributes.

    ``bound.add_two(1, 2)`` calls the export ``add-two``; ``bound.math_ops`` is
    the nested :class:`Bound` of the interface ``ns:pkg/math-ops``;
    ``bound["ns:pkg/math-ops"]`` and ``bound["add-two"]`` index by WIT name.
    Read-only.
    """

    _name: str
    _wit_names: Dict[str, str]

    def __init__(self, name: str, members: Dict[str, Any], wit_names: Dict[str, str]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_wit_names", dict(wit_names))
        self.__dict__.update(members)

    def _members(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._name} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self._name} is read-only")

    def __getitem__(self, name: str) -> Any:
        members = self._members()
        if name in members:
            return members[name]
        for attribute, wit_ in self._wit_names.items():
            if wit_ == name:
                return members[attribute]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._members() or name in self._wit_names.values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._members())

    def __len__(self) -> int:
        return len(self._members())

    def __dir__(self) -> List[str]:
        return sorted(self._members())

    def __repr__(self) -> str:
        parts = []
        for attribute, value in self._members().items():
            wit_ = self._wit_names.get(attribute, attribute)
            label = attribute if wit_ == attribute or function_attribute(wit_) == attribute else f"{attribute} ({wit_})"
            if isinstance(value, Bound):
                parts.append(f"{label}: <{len(value)} export{'s' if len(value) != 1 else ''}>")
            else:
                owner = getattr(value, "__wasmjit__", None)
                plan = getattr(owner, "plan", None)
                func_type = getattr(plan, "func_type", None)
                parts.append(f"{label}: {func_type}" if func_type is not None else label)
        return f"<wasmjit.component.bind {self._name}: {'; '.join(parts)}>"


# bind ------------------------------------------------------------------------------------------------------------


class _Context(typing.NamedTuple):
    store: Any
    instance: Any
    engine: Any
    dynamic_code: Optional[bool]
    backend: Optional[str]


def _entries(items: Dict[str, Any]) -> List[Tuple[str, str, Any]]:
    from wasmtime import component as c

    entries: List[Tuple[str, str, Any]] = []
    for name, extern in items.items():
        ty = component_item_type(extern)
        if isinstance(ty, c.FuncType):
            entries.append((name, "func", ty))
        elif isinstance(ty, c.ComponentInstanceType):
            entries.append((name, "instance", ty))
    return entries


def _match(
    members: Dict[str, Member], entries: List[Tuple[str, str, Any]], attributes: Dict[str, str], where: str, side: str
) -> Dict[str, str]:
    """WIT name -> protocol attribute for every member of ``members`` (a missing one raises)."""
    by_attribute = {attributes[name]: name for name, _, _ in entries}
    kinds = {name: kind for name, kind, _ in entries}
    matched: Dict[str, str] = {}
    for attribute, member in members.items():
        target = member.wit_name or by_attribute.get(attribute)
        if target is None and _kebab(attribute) in kinds:
            target = _kebab(attribute)
        noun = "function" if member.kind == "func" else "interface"
        if target is None or target not in kinds:
            have = ", ".join(f"{n} ({k})" for n, k, _ in entries) or "nothing"
            wanted = f" ({member.wit_name})" if member.wit_name else ""
            raise BindError(
                f"{where}.{attribute}: the component {side} no {noun} {attribute}{wanted}; it {side} {have}"
            )
        if kinds[target] != member.kind:
            is_ = "a function" if kinds[target] == "func" else "an interface"
            raise BindError(
                f"{where}.{attribute}: {target!r} is {is_}, not {'a' if noun == 'function' else 'an'} {noun}"
            )
        matched[target] = attribute
    return matched


def _typed_member(
    ctx: _Context, func: Any, func_type: Any, attribute: str, member: Optional[Member], where: str
) -> Any:
    from . import calls

    signature = member.obj if member is not None else None
    if signature is not None:
        check_signature(wit.func_type_from_wasmtime(func_type), signature, f"{where}.{attribute}")
    try:
        return calls.typed(
            ctx.store, func, signature, dynamic_code=ctx.dynamic_code, backend=ctx.backend, name=attribute
        )
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}.{attribute}: {exc}") from None


def _bind_level(
    ctx: _Context,
    parent: Any,
    items: Optional[Dict[str, Any]],
    protocol: Any,
    where: str,
    label: str,
) -> Bound:
    members = protocol_members(protocol) if protocol is not None else {}
    bound: Dict[str, Any] = {}
    wit_names: Dict[str, str] = {}
    if items is not None:
        entries = _entries(items)
        attributes = export_attribute_names([(n, k) for n, k, _ in entries])
        matched = _match(members, entries, attributes, where, "exports")
        taken = set(matched.values())
        for name, kind, ty in entries:
            attribute = matched.get(name)
            if attribute is None:
                attribute = _unique(attributes[name], taken)
            member = members.get(attribute) if name in matched else None
            index = ctx.instance.get_export_index(ctx.store, name, parent)
            if index is None:  # pragma: no cover - the component's type lists it
                raise BindError(f"{where}: the instance has no export {name!r}")
            if kind == "func":
                func = ctx.instance.get_func(ctx.store, index)
                bound[attribute] = _typed_member(ctx, func, ty, attribute, member, where)
            else:
                nested = member.obj if member is not None else None
                bound[attribute] = _bind_level(ctx, index, ty.exports(ctx.engine), nested, f"{where}.{attribute}", name)
            wit_names[attribute] = name
        return Bound(label, bound, wit_names)
    for attribute, member in members.items():
        name = member.wit_name or _kebab(attribute)
        index = ctx.instance.get_export_index(ctx.store, name, parent)
        if index is None:
            noun = "function" if member.kind == "func" else "interface"
            raise BindError(f"{where}.{attribute}: the instance exports no {noun} {name!r}")
        if member.kind == "func":
            func = ctx.instance.get_func(ctx.store, index)
            if func is None:
                raise BindError(f"{where}.{attribute}: the export {name!r} is not a function")
            bound[attribute] = _typed_member(ctx, func, func.type(ctx.store), attribute, member, where)
        else:
            bound[attribute] = _bind_level(ctx, index, None, member.obj, f"{where}.{attribute}", name)
        wit_names[attribute] = name
    return Bound(label, bound, wit_names)


@overload
def bind(
    store: Any,
    instance: Any,
    protocol: Type[T],
    *,
    component: Any = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> T: ...


@overload
def bind(
    store: Any,
    instance: Any,
    protocol: Any = None,
    *,
    component: Any = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> Any: ...


def bind(
    store: Any,
    instance: Any,
    protocol: Any = None,
    *,
    component: Any = None,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> Any:
    """Typed callers (:func:`wasmjit.component.typed`) for the exports of ``instance``, as attributes.

    ``component`` (the ``wasmtime.component.Component`` ``instance`` was
    instantiated from) lists the exports; ``protocol`` (a class, typically a
    generated ``Exports`` ``Protocol``) declares them, each method's
    annotations the ``signature=`` of its function.  Give either or both (a
    ``Component`` passed as ``protocol`` is taken as ``component``).  With a
    protocol, every declared function and interface must be exported and
    every annotation must fit its WIT type, or :class:`BindError` /
    :class:`~wasmjit.component.ShapeError` names it, here and not at the
    first call.  With a protocol the result is typed as the protocol (for
    mypy); it is a :class:`Bound`.  ``dynamic_code=``/``backend=`` are passed
    to every :func:`~wasmjit.component.typed`.
    """
    from wasmtime import component as c

    if isinstance(protocol, c.Component):
        if component is not None:
            raise TypeError("bind() got a Component both as its protocol and as component=")
        component, protocol = protocol, None
    if not isinstance(instance, c.Instance):
        raise TypeError(f"bind() takes a wasmtime.component.Instance, not {type(instance).__name__}")
    if component is not None and not isinstance(component, c.Component):
        raise TypeError(f"bind(component=) takes a wasmtime.component.Component, not {type(component).__name__}")
    if protocol is not None and not isinstance(protocol, type):
        raise TypeError(f"bind(protocol) takes a class (a Protocol), not {type(protocol).__name__}")
    if component is None and protocol is None:
        raise TypeError(
            "bind() needs the component (component=...) or a protocol declaring the exports:"
            " a wasmtime.component.Instance does not list its exports"
        )
    ctx = _Context(store, instance, store.engine, dynamic_code, backend)
    items = component.type.exports(store.engine) if component is not None else None
    where = protocol.__name__ if protocol is not None else "exports"
    return _bind_level(ctx, None, items, protocol, where, where)


# define_imports ------------------------------------------------------------------------------------------------


def _host_attribute(host: Any, attribute: str) -> Any:
    if isinstance(host, dict):
        return host.get(attribute)
    return getattr(host, attribute, None)


def define_imports(
    linker: Any,
    component: Any,
    host: Any,
    protocol: Any = None,
    *,
    dynamic_code: Optional[bool] = None,
    backend: Optional[str] = None,
) -> None:
    """Define every function ``component`` imports from ``host``'s attributes, checked now.

    ``host`` is any object (an instance of a class implementing the generated
    ``Imports`` protocol, a module, a dict): the import ``log-line`` is
    ``host.log_line``, the imported interface ``ns:pkg/logger`` is
    ``host.logger`` (itself such an object); each function is registered with
    :func:`wasmjit.component.define_callback` on ``linker`` (a
    ``wasmtime.component.Linker``).  Each function's annotations are checked
    against the import's WIT type here, before instantiation (an error names
    the import and the parameter); ``protocol`` (the generated ``Imports``),
    if given, is checked too, and its members name the WIT imports.
    Imports other than functions and interfaces (resources, modules) are left
    to you.
    """
    from wasmtime import component as c

    if not isinstance(component, c.Component):
        raise TypeError(f"define_imports() takes a wasmtime.component.Component, not {type(component).__name__}")
    items = component.type.imports(linker.engine)
    where = protocol.__name__ if protocol is not None else type(host).__name__
    plan = _imports_plan(items, protocol, host, where, linker.engine)
    from .callbacks import define_callback

    with linker.root() as root:
        _define_level(root, plan, define_callback, dynamic_code, backend)


def check_protocol(component: Any, engine: Any, protocol: Any, *, imports: bool = False) -> None:
    """Check ``protocol`` against ``component``'s exports (``imports=True``: its imports), now.

    What :func:`bind` and :func:`define_imports` check, without an instance
    or a linker: every declared function and interface exists, with the
    right kind, and every annotation fits its WIT type; the first mismatch
    raises :class:`BindError` or :class:`~wasmjit.component.ShapeError`
    naming it.  For host functions registered one by one with
    :func:`~wasmjit.component.define_callback` (which checks annotations at
    the first call), this is the check at load time.
    """
    from wasmtime import component as c

    if not isinstance(component, c.Component):
        raise TypeError(f"check_protocol() takes a wasmtime.component.Component, not {type(component).__name__}")
    items = component.type.imports(engine) if imports else component.type.exports(engine)
    _check_level(items, protocol, protocol.__name__, engine, "imports" if imports else "exports")


def _check_level(items: Dict[str, Any], protocol: Any, where: str, engine: Any, side: str) -> None:
    members = protocol_members(protocol)
    entries = _entries(items)
    attributes = export_attribute_names([(n, k) for n, k, _ in entries])
    matched = _match(members, entries, attributes, where, side)
    for name, kind, ty in entries:
        attribute = matched.get(name)
        if attribute is None:
            continue
        member = members[attribute]
        if kind == "func":
            check_signature(wit.func_type_from_wasmtime(ty), member.obj, f"{where}.{attribute}")
        else:
            _check_level(ty.exports(engine), member.obj, f"{where}.{attribute}", engine, side)


def _imports_plan(items: Dict[str, Any], protocol: Any, host: Any, where: str, engine: Any) -> List[Tuple[str, Any]]:
    members = protocol_members(protocol) if protocol is not None else {}
    entries = _entries(items)
    attributes = export_attribute_names([(n, k) for n, k, _ in entries])
    matched = _match(members, entries, attributes, where, "imports")
    plan: List[Tuple[str, Any]] = []
    for name, kind, ty in entries:
        attribute = matched.get(name, attributes[name])
        member = members.get(attribute) if name in matched else None
        target = _host_attribute(host, attribute)
        if target is None and attribute != attributes[name]:
            target = _host_attribute(host, attributes[name])
        if target is None:
            noun = "function" if kind == "func" else "interface"
            raise BindError(f"{where}.{attribute}: no host {noun} for the import {name!r}")
        if kind == "func":
            func_type = wit.func_type_from_wasmtime(ty)
            if member is not None:
                check_signature(func_type, member.obj, f"{where}.{attribute}")
            if not callable(target):
                raise BindError(f"{where}.{attribute}: the host's {attribute} is not callable")
            call = target if inspect.isroutine(target) else type(target).__call__
            if getattr(call, "__annotations__", None):
                check_signature(func_type, target, f"{_qualname(target, where, attribute)}")
            plan.append((name, target))
        else:
            nested = member.obj if member is not None else None
            plan.append((name, _imports_plan(ty.exports(engine), nested, target, f"{where}.{attribute}", engine)))
    return plan


def _qualname(target: Any, where: str, attribute: str) -> str:
    name = getattr(target, "__qualname__", None)
    return str(name) if name else f"{where}.{attribute}"


def _define_level(
    linker_instance: Any,
    plan: List[Tuple[str, Any]],
    define_callback: Callable[..., Any],
    dynamic_code: Optional[bool],
    backend: Optional[str],
) -> None:
    for name, target in plan:
        if isinstance(target, list):
            with linker_instance.add_instance(name) as nested:
                _define_level(nested, target, define_callback, dynamic_code, backend)
        else:
            define_callback(linker_instance, name, target, dynamic_code=dynamic_code, backend=backend)
