"""The component-model workloads (issue 11): ``wasmjit.component`` against stock and a hand-written floor.

``wat``     the component text: one component of exports, and per host function one importing it
``floors``  the hand-written ctypes bindings, one per WIT signature, on wasmtime's C API
``build``   the builders of the ``component-*`` workloads listed in :mod:`perf.workloads`
"""
