"""wasmjit.component: fast calls across the component-model boundary.

* :func:`typed` - a caller of a ``wasmtime.component.Func`` specialised for its
  WIT type (and your Python classes);
* :func:`define_callback` - a host function specialised the same way;
* :func:`bind` - typed callers for every export of an instance, interfaces as
  nested attributes;
* ``python -m wasmjit.component stubs COMPONENT.wasm`` - typed Python
  declarations of a component, which :func:`bind` and :func:`define_callback`
  accept as annotations.

Values: ``bool``; ``s8``..``u64`` as ``int`` (range-checked); ``f32``/``f64`` as
``float``; ``char`` as a one-character ``str``; ``string`` as ``str``;
``list<u8>`` as ``bytes``; ``list<T>`` as ``list``; ``tuple<...>`` as ``tuple``;
records, enums, flags, options, results and variants as wasmtime-py's shapes,
or as your classes (see :mod:`wasmjit.model.shapes`).
"""

from __future__ import annotations

from ..model.shapes import Err, Ok, ShapeError, Some
from .bind import BindError, Bound, bind, check_protocol, define_imports, wit_name
from .callbacks import HostFunction, define_callback
from .calls import typed

__all__ = [
    "typed",
    "define_callback",
    "bind",
    "define_imports",
    "check_protocol",
    "wit_name",
    "Bound",
    "BindError",
    "HostFunction",
    "Some",
    "Ok",
    "Err",
    "ShapeError",
]
