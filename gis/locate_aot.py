"""The point locator's kernels compiled ahead of time, for commands that start, locate one batch and stop.

A process that calls a numba kernel pays for numba itself before the first call returns: importing it and
loading its compiler's registries (which also import ``scipy.linalg``) takes ≈0.6 s of CPU even when the
machine code comes from numba's cache. For ``gridmap locate FILE`` that is a third of the whole run. The same
functions of :mod:`gis._locate_kernels` compiled once by ``numba.pycc`` into an extension module load in about
a millisecond and need no numba at run time; they run on one thread (``prange`` is a plain loop there).

The module is built by ``python -m gis.jit_warmup`` (the set-up runs it) into ``gis/__pycache__``, named by a key
of the kernels' source, these signatures and the numba, NumPy and Python versions: after any change the old
file is simply not found and :func:`load` returns ``None`` (the caller then uses numba as always). It needs a C
compiler; without one the build is skipped with a message.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import shutil
import sys
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

KERNELS_SOURCE = Path(__file__).with_name("_locate_kernels.py")
CACHE_DIR = Path(__file__).with_name("__pycache__")

_RASTER = "i8, i8, f8, f8, f8, f8, i8[:], i4[:], f8[:], f8[:], f8[:], f8[:], i4[:]"
_SETS = "i8[:], i4[:], f8[:], f8[:], f8[:], f8[:]"  # ref_start, ref_ids, refx, refy, kxr, kyr
# the argument types the locator passes (gis.locate), one compiled version each
SIGNATURES = {
    "maxset": "i8()",
    "metres_per_degree": "UniTuple(f8, 2)(f8)",
    "row_scales": "UniTuple(f8[:], 2)(f8, f8, i8)",
    "bucket": "void(f8[:], f8[:], f8[:], f8[:], f8[:], f8[:], f8, f8, f8, f8, i8, i8, i8, i8[:], i4[:], b1)",
    "in_cell_order": "Tuple((f8[:], f8[:], f8[:], f8[:], i4[:]))(i4[:], f8[:], f8[:], f8[:], f8[:], i4[:])",
    "wkb_rings": "i8(u1[:], i8[:], i8[:], i8[:])",
    "ring_edges": "Tuple((f8[:], f8[:], f8[:], f8[:], i4[:]))(f8[:, :], i8[:], i8[:])",
    "build_reference_sets": f"void({_RASTER}, i8[:], b1, i8[:], i4[:], f8[:], f8[:], i4[:])",
    "grid_methods": "void(i4[:], i4[:], b1[:], b1[:], i8, i8, i8, i1[:], b1[:])",
    "cell_best_of": "i4[:](i8[:], i4[:], i8[:])",
    "direct_of": "i4[:](i8[:], i8[:], i4[:])",
    "answer_direct": "Tuple((i8[:], f8[:], f8[:]))(f8[:], f8[:], f8, f8, f8, f8, i8, i8, i8, i4[:], i4[:], i4[:], b1[:])",
    "band_order": "Tuple((i8[:], f8[:], f8[:]))(f8[:], f8[:], f8, f8, i8, i8)",
    "assign_polygons": f"void(i8[:], f8[:], f8[:], f8, {_RASTER}, {_SETS}, i4[:], i8[:], i1[:], i4[:], i4[:], b1[:])",
    "cover_set": f"UniTuple(i8, 2)(f8, f8, f8, {_RASTER}, {_SETS}, i4[:], i1[:])",
    "nearest_line": f"void(i8[:], f8[:], f8[:], {_RASTER}, f8[:], i4[:], f8[:])",
    "nearest_line_one": f"Tuple((i8, f8))(f8, f8, {_RASTER}, f8[:])",
}


def key() -> str:
    """What the compiled module is made from, as 12 hex digits."""
    h = hashlib.sha1(KERNELS_SOURCE.read_bytes())
    for name, sig in sorted(SIGNATURES.items()):
        h.update(f"{name}:{sig};".encode())
    h.update(f"{version('numba')};{version('numpy')};{sys.version}".encode())
    return h.hexdigest()[:12]


def module_name() -> str:
    """The extension module's name (its file is this plus the interpreter's extension suffix)."""
    return f"_locate_aot_{key()}"


def path() -> Path:
    """Where the compiled module for the current source lives."""
    return CACHE_DIR / (module_name() + importlib.machinery.EXTENSION_SUFFIXES[0])


def load() -> ModuleType | None:
    """The compiled kernels, or ``None`` when they have not been built for the current source."""
    file = path()
    if not file.exists():
        return None
    spec = importlib.util.spec_from_file_location(module_name(), file)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(*, force: bool = False, log=print) -> Path | None:
    """Compile the kernels into :func:`path` unless it is there already; ``None`` if no C compiler is found."""
    target = path()
    if target.exists() and not force:
        return target
    if not (shutil.which("cc") or shutil.which("gcc")):
        log("未找到 C 编译器，跳过预编译定位内核 (no C compiler: the point locator will use numba at run time)")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc is pending deprecation; nothing replaces it yet
        from numba.pycc import CC

        from gis import _locate_kernels as kernels

        cc = CC(module_name())
        with tempfile.TemporaryDirectory() as tmp:
            cc.output_dir = tmp
            cc.verbose = False
            for name, signature in SIGNATURES.items():
                cc.export(name, signature)(getattr(kernels, name).py_func)
            cc.compile()
            built = Path(tmp) / cc.output_file
            CACHE_DIR.mkdir(exist_ok=True)
            for old in CACHE_DIR.glob("_locate_aot_*"):
                old.unlink(missing_ok=True)
            shutil.move(str(built), target)
    return target
