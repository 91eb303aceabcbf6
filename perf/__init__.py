"""wasmjit's benchmark suite: ``python -m perf`` from the repository root.

It measures the Python <-> wasm boundary on wasmtime, side by side in one
process: stock wasmtime-py, a hand-written ctypes floor (:mod:`perf.floors`),
and wasmjit with each of its backends forced.  Modules:

``__main__``     the command line
``workloads``    what is measured (WAT in :mod:`perf.wasm`; registration and
                 allocation workloads in their own modules)
``variants``     the columns: stock, floor, bytecode, source, reflect, install, pywasm3
``floors``       the hand-written ctypes bindings wasmjit is measured against
``loops``        the Python timing loops of host -> wasm calls
``registration`` the cost of turning a callable into a host function
``component``    the component-model workloads: component text, hand-written
                 floors per WIT signature, and the builders of ``component-*``
``measure``      calibration, interleaved repeats, statistics
``allocations``  tracemalloc bytes per 1,000 calls
``targets``      the figures wasmjit should reach, checked on the same run
``suite``        runs the selected workloads and collects the outcome
``report``       the table, the JSON and the plot
``rigorous``     the same workloads under pyperf
``reference``    pywasm3, when installed
"""
