"""Typed Python declarations of a component: ``python -m wasmjit.component stubs COMPONENT.wasm``.

:func:`generate` reads a ``wasmtime.component.Component``'s type (its
exports and imports) and writes a Python module:

* a ``@dataclass`` per ``record`` (fields ``snake_case``, in WIT order), an
  ``enum.Enum`` per ``enum`` (members ``UPPER_CASE``, values the WIT case
  names), an ``enum.Flag`` per ``flags``;
* per ``variant``, one ``@dataclass`` per case (named ``CamelCase`` after the
  case, with a ``value`` field where the case has a payload) and a ``Union``
  alias; where a case class name is taken (two variants with a ``none``
  case), the variant's cases sit in a namespace class ``<Variant>Cases``
  (``ShapeCases.Circle``);
* ``option<T>`` as ``T | None`` (``Some[T] | None`` where options nest),
  ``result<T, E>`` as ``Ok[T] | Err[E]``, ``list<u8>`` as ``bytes``;
* a ``Protocol`` per exported or imported interface, and the protocols
  ``Exports`` and ``Imports``: a method per function (parameters
  positional-only, as the typed callers take them), an attribute
  ``Annotated[Iface, "ns:pkg/iface"]`` per interface.

wasmtime-py's component types are structural: an anonymous record has no
name.  A type the component exports (or imports) under a name is named after
it (``point`` -> ``Point``); any other is named after where it is first met:
``<Function><Param>``, ``<Function>Result``, ``<Record><Field>``,
``<Variant><Case>``, ``...Item`` for list elements, ``...Ok``/``...Error``
for result payloads.  Identical types share one class (so two WIT records of
identical structure become one class).  Functions over resources are
annotated ``Any`` where wasmtime-py's shape differs from the declared classes (records, enums,
options... and resources themselves): wasmjit calls them through stock conversion.

The module imports cleanly, passes ``mypy --strict``, and is what
:func:`wasmjit.component.bind` (``protocol=Exports``) and
:func:`wasmjit.component.bind.define_imports` (``Imports``) check against
the component when they run.
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from ..boundary.wasmtime_py import component_item_type
from ..model import wit
from .bind import _kebab, export_attribute_names

__all__ = ["generate", "generate_from_path", "load_component"]

_NOMINAL = (wit.Record, wit.Enum, wit.Flags, wit.Variant)
_BUILTINS = ("int", "float", "str", "bool", "bytes", "list", "tuple", "None")
_RESERVED = {
    "Exports",
    "Imports",
    "Any",
    "Annotated",
    "Protocol",
    "TypeAlias",
    "Union",
    "Some",
    "Ok",
    "Err",
    "dataclass",
    "enum",
    "builtins",
    "wit_name",
    "bind",
    "define_imports",
    "cast",
    "wasmtime",
    *dir(builtins),
}


# The component's shape, read once -----------------------------------------------------------------------------


@dataclass
class _Func:
    wit_name: str
    attribute: str
    func_type: wit.FuncType
    resources: bool


@dataclass
class _Level:
    """One level of exports or imports: functions, nested interfaces, named types."""

    funcs: List[_Func] = field(default_factory=list)
    interfaces: List[Tuple[str, str, "_Level"]] = field(default_factory=list)
    """``(wit name, attribute, level)``."""
    types: List[Tuple[str, wit.WitType]] = field(default_factory=list)
    order: List[Tuple[str, int]] = field(default_factory=list)

    def key(self) -> Any:
        return (
            tuple((f.wit_name, f.attribute, f.func_type) for f in self.funcs),
            tuple((n, a, level.key()) for n, a, level in self.interfaces),
        )


def _read_level(items: Dict[str, Any], engine: Any) -> _Level:
    from wasmtime import component as c

    level = _Level()
    entries: List[Tuple[str, str]] = []
    for name, extern in items.items():
        ty = component_item_type(extern)
        if isinstance(ty, c.FuncType):
            entries.append((name, "func"))
        elif isinstance(ty, c.ComponentInstanceType):
            entries.append((name, "instance"))
    attributes = export_attribute_names(entries)
    for name, extern in items.items():
        ty = component_item_type(extern)
        if isinstance(ty, c.FuncType):
            func_type = wit.func_type_from_wasmtime(ty)
            resources = func_type.uses_resources
            level.order.append(("func", len(level.funcs)))
            level.funcs.append(_Func(name, attributes[name], func_type, resources))
        elif isinstance(ty, c.ComponentInstanceType):
            level.order.append(("instance", len(level.interfaces)))
            level.interfaces.append((name, attributes[name], _read_level(ty.exports(engine), engine)))
        elif isinstance(ty, c.ValType) and not isinstance(ty, (c.OwnType, c.BorrowType)):
            try:
                level.types.append((name, wit.from_wasmtime(ty)))
            except TypeError:  # a type wasmjit does not handle (stream, future, ...)
                pass
    return level


# Naming -----------------------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    if '"' in text or "\\" in text or not text.isprintable():
        return repr(text)
    return f'"{text}"'


def _case_name(case: str) -> str:
    """The class of a variant case: ``CamelCase``, upper-cased where that is a keyword (``none`` -> ``NONE``)."""
    name = wit.class_name(case)
    return name.upper() if keyword.iskeyword(name) else name


def _camel(name: str) -> str:
    text = wit.class_name(name.split("@", 1)[0].replace(":", "-").replace("/", "-").replace(".", "-"))
    text = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text)
    if not text or text[0].isdigit():
        text = "T" + text
    return text


class _Namer:
    def __init__(self, reserved: Set[str]) -> None:
        self.taken: Set[str] = set(reserved)
        self.names: Dict[Any, str] = {}
        self.order: List[Any] = []
        self.nested_cases: Dict[Any, str] = {}
        """Variant -> namespace class, where its case classes could not sit at module level."""

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{name}{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def assign(self, ty: wit.WitType, hint: str) -> str:
        found = self.names.get(ty)
        if found is not None:
            return found
        name = self.names[ty] = self.unique(_camel(hint) if hint else "Anonymous")
        self.order.append(ty)
        if isinstance(ty, wit.Variant):
            cases = [_case_name(case) for case, _ in ty.cases]
            if any(c in self.taken for c in cases) or len(set(cases)) != len(cases):
                self.nested_cases[ty] = self.unique(name + "Cases")
            else:
                self.taken.update(cases)
        return name

    def collect(self, ty: Optional[wit.WitType], hint: str) -> None:
        if ty is None or wit.contains_resource(ty):
            return
        if isinstance(ty, wit.List):
            self.collect(ty.element, hint + "Item")
        elif isinstance(ty, wit.Tuple_):
            for i, t in enumerate(ty.elements):
                self.collect(t, f"{hint}{i}")
        elif isinstance(ty, wit.Option):
            self.collect(ty.payload, hint)
        elif isinstance(ty, wit.Result):
            self.collect(ty.ok, hint + "Ok")
            self.collect(ty.err, hint + "Error")
        elif isinstance(ty, (wit.Enum, wit.Flags)):
            self.assign(ty, hint)
        elif isinstance(ty, wit.Record):
            name = self.assign(ty, hint)
            for field_name, t in ty.fields:
                self.collect(t, name + _camel(field_name))
        elif isinstance(ty, wit.Variant):
            name = self.assign(ty, hint)
            for case, payload in ty.cases:
                self.collect(payload, name + _camel(case))


def _plain(ty: Optional[wit.WitType]) -> bool:
    """Whether wasmtime-py's shape for ``ty`` is what the annotation says (no record, enum, option...)."""
    if isinstance(ty, (wit.Prim, wit.String)):
        return True
    if isinstance(ty, wit.List):
        return _plain(ty.element)
    if isinstance(ty, wit.Tuple_):
        return all(_plain(t) for t in ty.elements)
    return False


# Rendering --------------------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, namer: _Namer) -> None:
        self.namer = namer
        self.used: Set[str] = set()

    def builtin(self, name: str, shadowed: Set[str]) -> str:
        if name in shadowed:
            self.used.add("builtins")
            return f"builtins.{name}"
        return name

    def case_class(self, variant: wit.Variant, case: str) -> str:
        namespace = self.namer.nested_cases.get(variant)
        name = _case_name(case)
        return f"{namespace}.{name}" if namespace else name

    def ann(self, ty: Optional[wit.WitType], shadowed: Set[str]) -> str:
        """The annotation standing for ``ty``, in a scope where ``shadowed`` names are members."""
        if ty is None:
            return "None"
        if isinstance(ty, wit.Prim):
            if ty.name == "bool":
                return self.builtin("bool", shadowed)
            if ty.name in ("f32", "f64"):
                return self.builtin("float", shadowed)
            if ty.name == "char":
                return self.builtin("str", shadowed)
            return self.builtin("int", shadowed)
        if isinstance(ty, wit.String):
            return self.builtin("str", shadowed)
        if isinstance(ty, wit.List):
            if ty.element == wit.Prim("u8"):
                return self.builtin("bytes", shadowed)
            return f"{self.builtin('list', shadowed)}[{self.ann(ty.element, shadowed)}]"
        if isinstance(ty, wit.Tuple_):
            return f"{self.builtin('tuple', shadowed)}[{', '.join(self.ann(t, shadowed) for t in ty.elements)}]"
        if isinstance(ty, wit.Option):
            inner = self.ann(ty.payload, shadowed)
            if isinstance(ty.payload, wit.Option):
                self.used.add("Some")
                inner = f"Some[{inner}]"
            return f"{inner} | None"
        if isinstance(ty, wit.Result):
            self.used.update(("Ok", "Err"))
            return f"Ok[{self.ann(ty.ok, shadowed)}] | Err[{self.ann(ty.err, shadowed)}]"
        if isinstance(ty, wit.Resource) or wit.contains_resource(ty):
            self.used.add("Any")
            return "Any"
        return self.namer.names[ty]

    def stock_ann(self, ty: wit.WitType, shadowed: Set[str]) -> str:
        """In a function over resources (values in wasmtime-py's shapes): precise where stock's shape is plain."""
        if _plain(ty):
            return self.ann(ty, shadowed)
        self.used.add("Any")
        return "Any"

    def brief(self, ty: Optional[wit.WitType]) -> str:
        """``ty`` in WIT syntax, nominal types by their class names."""
        if ty is None:
            return "_"
        if isinstance(ty, _NOMINAL) and ty in self.namer.names:
            return self.namer.names[ty]
        if isinstance(ty, wit.List):
            return f"list<{self.brief(ty.element)}>"
        if isinstance(ty, wit.Tuple_):
            return "tuple<" + ", ".join(self.brief(t) for t in ty.elements) + ">"
        if isinstance(ty, wit.Option):
            return f"option<{self.brief(ty.payload)}>"
        if isinstance(ty, wit.Result):
            if ty.ok is None and ty.err is None:
                return "result"
            if ty.err is None:
                return f"result<{self.brief(ty.ok)}>"
            return f"result<{self.brief(ty.ok)}, {self.brief(ty.err)}>"
        return wit.wit_text(ty)

    def definition(self, ty: wit.WitType) -> str:
        """A nominal type's WIT definition, the types nested in it by their class names."""
        if isinstance(ty, wit.Record):
            return "record { " + ", ".join(f"{n}: {self.brief(t)}" for n, t in ty.fields) + " }"
        if isinstance(ty, wit.Variant):
            cases = ", ".join(n if t is None else f"{n}({self.brief(t)})" for n, t in ty.cases)
            return "variant { " + cases + " }"
        return wit.wit_text(ty)

    def doc(self, ty: wit.WitType, wit_names: Dict[Any, str]) -> str:
        origin = wit_names.get(ty)
        text = f"WIT ``{origin}``: {self.definition(ty)}" if origin else f"WIT {self.definition(ty)}"
        return text.replace("\\", "\\\\").replace('"', '\\"')

    def func_brief(self, func: _Func) -> str:
        params = ", ".join(f"{n}: {self.brief(t)}" for n, t in func.func_type.params)
        text = f"{func.wit_name}: func({params})"
        if func.func_type.result is not None:
            text += f" -> {self.brief(func.func_type.result)}"
        return text

    # Classes ----------------------------------------------------------------------------------------------------

    def type_class(self, ty: wit.WitType, wit_names: Dict[Any, str]) -> List[str]:
        name = self.namer.names[ty]
        doc = self.doc(ty, wit_names)
        if isinstance(ty, wit.Record):
            fields = [wit.python_name(n) for n, _ in ty.fields]
            shadowed = set(fields)
            self.used.add("dataclass")
            lines = ["@dataclass", f"class {name}:", f'    """{doc}"""', ""]
            lines += [f"    {f}: {self.ann(t, shadowed)}" for f, (_, t) in zip(fields, ty.fields, strict=True)]
            return lines
        if isinstance(ty, wit.Enum):
            self.used.add("enum")
            lines = [f"class {name}(enum.Enum):", f'    """{doc}"""', ""]
            lines += [f"    {wit.python_name(case).upper()} = {_q(case)}" for case in ty.names]
            return lines
        if isinstance(ty, wit.Flags):
            self.used.add("enum")
            lines = [f"class {name}(enum.Flag):", f'    """{doc}"""', ""]
            lines += [f"    {wit.python_name(flag).upper()} = enum.auto()" for flag in ty.names]
            return lines
        assert isinstance(ty, wit.Variant)
        self.used.add("dataclass")
        namespace = self.namer.nested_cases.get(ty)
        indent = "    " if namespace else ""
        lines = []
        if namespace:
            lines += [f"class {namespace}:", f'    """The cases of :data:`{name}`."""', ""]
        for i, (case, payload) in enumerate(ty.cases):
            if i:
                lines += [""] if namespace else ["", ""]
            lines += [f"{indent}@dataclass", f"{indent}class {_case_name(case)}:"]
            lines.append(f'{indent}    """Case ``{case}`` of :data:`{name}`."""')
            if payload is not None:
                lines += ["", f"{indent}    value: {self.ann(payload, {'value'})}"]
        return lines

    def variant_alias(self, ty: wit.Variant, wit_names: Dict[Any, str]) -> List[str]:
        name = self.namer.names[ty]
        cases = [self.case_class(ty, case) for case, _ in ty.cases]
        self.used.add("TypeAlias")
        if len(cases) == 1:
            line = f"{name}: TypeAlias = {cases[0]}"
        else:
            self.used.add("Union")
            line = f"{name}: TypeAlias = Union[{', '.join(cases)}]"
        return [line, f'"""{self.doc(ty, wit_names)}"""']

    # Protocols --------------------------------------------------------------------------------------------------

    def protocol(self, name: str, doc: str, level: _Level, protocols: Dict[Any, str]) -> List[str]:
        self.used.add("Protocol")
        lines = [f"class {name}(Protocol):", f'    """{doc}"""']
        shadowed = {f.attribute for f in level.funcs} | {a for _, a, _ in level.interfaces}
        for kind, index in level.order:
            lines.append("")
            if kind == "instance":
                wit_name_, attribute, nested = level.interfaces[index]
                self.used.add("Annotated")
                lines.append(f"    {attribute}: Annotated[{protocols[nested.key()]}, {_q(wit_name_)}]")
                continue
            func = level.funcs[index]
            if _kebab(func.attribute) != func.wit_name:
                self.used.add("wit_name")
                lines.append(f"    @wit_name({_q(func.wit_name)})")
            params = ["self"]
            for param, ty in func.func_type.params:
                pname = wit.python_name(param)
                if pname == "self":
                    pname = "self_"
                params.append(f"{pname}: {self.stock_ann(ty, shadowed) if func.resources else self.ann(ty, shadowed)}")
            if func.func_type.params:
                params.append("/")
            result = func.func_type.result
            if result is None:
                returns = "None"
            else:
                returns = self.stock_ann(result, shadowed) if func.resources else self.ann(result, shadowed)
            lines.append(f"    def {func.attribute}({', '.join(params)}) -> {returns}:")
            brief = self.func_brief(func).replace("\\", "\\\\")
            note = " (over resources: wasmtime-py's value shapes)" if func.resources else ""
            lines.append(f'        """``{brief}``{note}"""')
        return lines


# The module ---------------------------------------------------------------------------------------------------------


def _attribute_names(level: _Level, into: Set[str]) -> None:
    for f in level.funcs:
        into.add(f.attribute)
        for param, _ in f.func_type.params:
            into.add(wit.python_name(param))
    for _, attribute, nested in level.interfaces:
        into.add(attribute)
        _attribute_names(nested, into)


def _collect_types(level: _Level, namer: _Namer, wit_names: Dict[Any, str]) -> None:
    for name, ty in level.types:
        if isinstance(ty, _NOMINAL) and not wit.contains_resource(ty):
            if ty not in namer.names:
                wit_names[ty] = name
            namer.collect(ty, name)
    for _, _, nested in level.interfaces:
        _collect_types(nested, namer, wit_names)


def _collect_funcs(level: _Level, namer: _Namer) -> None:
    for func in level.funcs:
        if func.resources:
            continue
        base = _camel(func.wit_name)
        for param, ty in func.func_type.params:
            namer.collect(ty, base + _camel(param))
        namer.collect(func.func_type.result, base + "Result")
    for _, _, nested in level.interfaces:
        _collect_funcs(nested, namer)


def _field_names(ty: Optional[wit.WitType], into: Set[str], seen: Set[int]) -> None:
    if ty is None or id(ty) in seen:
        return
    seen.add(id(ty))
    if isinstance(ty, wit.Record):
        for name, t in ty.fields:
            into.add(wit.python_name(name))
            _field_names(t, into, seen)
    elif isinstance(ty, wit.Variant):
        for _, payload in ty.cases:
            _field_names(payload, into, seen)
    elif isinstance(ty, wit.List):
        _field_names(ty.element, into, seen)
    elif isinstance(ty, wit.Tuple_):
        for t in ty.elements:
            _field_names(t, into, seen)
    elif isinstance(ty, wit.Option):
        _field_names(ty.payload, into, seen)
    elif isinstance(ty, wit.Result):
        _field_names(ty.ok, into, seen)
        _field_names(ty.err, into, seen)


def _all_types(level: _Level) -> List[Optional[wit.WitType]]:
    found: List[Optional[wit.WitType]] = [t for _, t in level.types]
    for f in level.funcs:
        found += [t for _, t in f.func_type.params]
        if f.func_type.result is not None:
            found.append(f.func_type.result)
    for _, _, nested in level.interfaces:
        found += _all_types(nested)
    return found


def generate(component: Any, engine: Any, *, name: Optional[str] = None) -> str:
    """The Python source of the typed declarations of ``component`` (see the module's documentation).

    ``component``: a ``wasmtime.component.Component``; ``engine``: the engine
    it was compiled with; ``name``: how the header names it.
    """
    exports = _read_level(component.type.exports(engine), engine)
    imports = _read_level(component.type.imports(engine), engine)
    members: Set[str] = set()
    _attribute_names(exports, members)
    _attribute_names(imports, members)
    for ty in _all_types(exports) + _all_types(imports):
        _field_names(ty, members, set())
    namer = _Namer(_RESERVED | members)
    wit_names: Dict[Any, str] = {}
    _collect_types(exports, namer, wit_names)
    _collect_types(imports, namer, wit_names)
    _collect_funcs(exports, namer)
    _collect_funcs(imports, namer)
    writer = _Writer(namer)

    body: List[List[str]] = []
    for ty in namer.order:
        body.append(writer.type_class(ty, wit_names))
    for ty in namer.order:
        if isinstance(ty, wit.Variant):
            body.append(writer.variant_alias(ty, wit_names))

    protocols: Dict[Any, str] = {}

    def interfaces(level: _Level) -> None:
        for wit_name_, _, nested in level.interfaces:
            interfaces(nested)
            key = nested.key()
            if key in protocols:
                continue
            base = wit_name_.split("@", 1)[0].rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            protocols[key] = namer.unique(_camel(base))
            body.append(writer.protocol(protocols[key], f"The interface ``{wit_name_}``.", nested, protocols))

    interfaces(exports)
    interfaces(imports)
    body.append(
        writer.protocol(
            "Exports", "What the component exports (``bind(store, instance)`` returns one).", exports, protocols
        )
    )
    body.append(
        writer.protocol(
            "Imports",
            "What the component imports (implement it for ``define_imports(linker, component, host)``).",
            imports,
            protocols,
        )
    )

    what = f" of the component ``{name}``" if name else ""
    lines = [
        f'"""Typed declarations{what}, written by ``python -m wasmjit.component stubs``.',
        "",
        "Call its exports through ``bind(store, instance)`` (typed ``Exports``); give it its imports",
        "with ``define_imports(linker, component, host)`` (``host`` implementing ``Imports``).  Both",
        "check these declarations against the component when they run (see wasmjit.component.bind).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    std = []
    if "builtins" in writer.used:
        std.append("import builtins")
    if "enum" in writer.used:
        std.append("import enum")
    if "dataclass" in writer.used:
        std.append("from dataclasses import dataclass")
    typing_names = [n for n in ("Annotated", "Any", "Protocol", "TypeAlias", "Union") if n in writer.used] + ["cast"]
    std.append(f"from typing import {', '.join(typing_names)}")
    lines += std
    lines += ["", "import wasmtime", "import wasmtime.component"]
    ours = sorted(n for n in ("Err", "Ok", "Some") if n in writer.used)
    if ours:
        lines.append(f"from wasmjit.component import {', '.join(ours)}")
    lines.append("from wasmjit.component.bind import bind as _bind")
    lines.append("from wasmjit.component.bind import define_imports as _define_imports")
    if "wit_name" in writer.used:
        lines.append("from wasmjit.component.bind import wit_name")
    public = [namer.names[t] for t in namer.order]
    public += sorted({n for n in namer.nested_cases.values()})
    public += [*protocols.values(), "Exports", "Imports", "bind", "define_imports"]
    lines += ["", "__all__ = ["] + [f"    {_q(n)}," for n in public] + ["]"]
    for block in body:
        lines += ["", "", *block]
    lines += ["", "", *_HELPERS.splitlines()]
    return "\n".join(lines) + "\n"


_HELPERS = '''def bind(
    store: wasmtime.Store,
    instance: wasmtime.component.Instance,
    *,
    component: wasmtime.component.Component | None = None,
    dynamic_code: bool | None = None,
    backend: str | None = None,
) -> Exports:
    """Typed callers for the exports of ``instance``: ``wasmjit.component.bind(store, instance, Exports)``."""
    bound = _bind(store, instance, Exports, component=component, dynamic_code=dynamic_code, backend=backend)
    return cast(Exports, bound)


def define_imports(
    linker: wasmtime.component.Linker,
    component: wasmtime.component.Component,
    host: Imports,
    *,
    dynamic_code: bool | None = None,
    backend: str | None = None,
) -> None:
    """Define the component's imports from ``host``: ``wasmjit.component.bind.define_imports(..., Imports)``."""
    _define_imports(linker, component, host, Imports, dynamic_code=dynamic_code, backend=backend)
'''


def load_component(path: str, engine: Any) -> Any:
    """A ``Component`` from a binary ``.wasm`` file or a component text (``.wat``) file."""
    from wasmtime import component as c

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\0asm":
        return c.Component(engine, data)
    return c.Component(engine, data.decode("utf-8"))


def generate_from_path(path: str, engine: Any = None) -> str:
    """:func:`generate` for the component in the file ``path`` (binary or text)."""
    import os

    import wasmtime

    engine = engine if engine is not None else wasmtime.Engine()
    return generate(load_component(path, engine), engine, name=os.path.basename(path))
