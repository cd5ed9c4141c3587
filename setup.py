"""Build the Cython kernels, with OpenMP when the compiler has it.

OpenMP is probed by compiling a tiny program; without it the extension is
built serially and ``lrn.show_config()`` says so (``openmp: no``), unless
``LRN_REQUIRE_OPENMP=1`` (release wheels), which makes that an error.

Builds are reproducible and stripped: no debug information (``LRN_DEBUG=1``
keeps it), no build paths, and the same bytes from the same commit when
``SOURCE_DATE_EPOCH`` is set (which dates the files in the wheel).
"""
import glob
import os
import platform
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_OMP_TEST = textwrap.dedent("""
    #include <omp.h>
    int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
""")


def _openmp_flags(compiler):
    """(compile_args, link_args) for OpenMP, or None when unavailable."""
    if os.environ.get("LRN_NO_OPENMP"):
        return None
    if compiler.compiler_type == "msvc":
        # MSVC's OpenMP 2.0 runtime (vcomp140.dll) ships with the VC++ redistributable.
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no OpenMP runtime of its own: libomp (Homebrew's, found
        # through CPPFLAGS/LDFLAGS, which the probe below passes on).
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, lflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "omp_test.c")
            with open(src, "w") as f:
                f.write(_OMP_TEST)
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                # link_executable leaves LDFLAGS out (extensions get them through
                # LDSHARED), so a runtime found only through them is passed here.
                compiler.link_executable(objs, "omp_test", output_dir=tmp,
                                         extra_postargs=lflags + _LDFLAGS)
            except Exception:
                continue
        return cflags, lflags
    return None


_LDFLAGS = os.environ.get("LDFLAGS", "").split()


def _accepts(compiler, flags):
    """Whether the compiler takes ``flags`` (compiling an empty function)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "flag_test.c")
        with open(src, "w") as f:
            f.write("int lrn_flag_test(void) { return 0; }\n")
        try:
            compiler.compile([src], output_dir=tmp, extra_postargs=flags + ["-Werror"])
        except Exception:
            return False
    return True


# Code placement, which otherwise moved a kernel by up to 10 % from one build
# of the same loops to the next: loops start on a 32-byte boundary, so that a
# loop a few instructions long (the window sum's loop over its rows) never
# straddles a 64-byte fetch block; and a tile function called from one place
# is not inlined into the OpenMP region (channels-last double was 10 % slower
# inlined there).
_PLACEMENT = ["-falign-loops=32", "-fno-inline-functions-called-once"]


def _reproducible(compiler, debug):
    """(compile_args, link_args) that keep build paths, and unless ``debug``
    debug information and symbol tables, out of the binaries.  Python's own
    CFLAGS carry ``-g``; a later ``-g0`` overrides it."""
    if compiler.compiler_type == "msvc":
        return [], []             # no /Zi is passed, so no debug information
    cflags, lflags = [] if debug else ["-g0"], []
    # The build directory, and the isolated build environment's NumPy headers,
    # differ from one build to the next; __FILE__ and (with LRN_DEBUG) the
    # debug information would record them.
    for path, name in ((os.getcwd(), "."), (os.path.dirname(np.get_include()), "numpy")):
        flag = f"-ffile-prefix-map={path}={name}"
        if _accepts(compiler, [flag]):
            cflags.append(flag)
    if not debug and sys.platform.startswith("linux"):
        lflags.append("-s")       # the symbol table too (the exported init function stays)
    return cflags, lflags


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:   # the two kernel builds compile side by side
            self.parallel = True

    def build_extensions(self):
        omp = _openmp_flags(self.compiler)
        if not omp and os.environ.get("LRN_REQUIRE_OPENMP"):
            raise RuntimeError("lrn: LRN_REQUIRE_OPENMP is set but the compiler has no OpenMP")
        msvc = self.compiler.compiler_type == "msvc"
        # -fno-math-errno lets sqrt vectorise; it does not change IEEE results
        # (unlike the fast-math option, which would break NaN/inf semantics).
        # -ffp-contract=off: a multiply and an add written apart stay two
        # roundings (GCC fuses them by default where the ISA has FMA), so the
        # AVX2 build's row passes sum squares as its fused passes and the
        # portable build do, and a given scale equals a recomputed one; FMAs
        # the kernels want are written as intrinsics.
        base = ["/O2"] if msvc else ["-O3", "-fno-math-errno", "-ffp-contract=off"]
        if not msvc and _accepts(self.compiler, _PLACEMENT):
            base += _PLACEMENT
        extra = os.environ.get("LRN_CFLAGS", "").split()
        repro_c, repro_l = _reproducible(self.compiler, bool(os.environ.get("LRN_DEBUG")))
        for ext in self.extensions:
            isa = _ISA_FLAGS.get(ext.name.rpartition("_")[2], [])
            flags = base + isa + (omp[0] if omp else []) + extra
            # show_config() reports the flags that shape the code; the path maps
            # stay out of the binary, or every build directory would change it.
            ext.define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                                 ("LRN_CFLAGS", '"' + " ".join(flags).replace('"', "") + '"')]
            ext.extra_compile_args = flags + repro_c
            ext.extra_link_args = (omp[1] if omp else []) + repro_l
        if not omp:
            print("lrn: the compiler has no OpenMP; building the kernels serially",
                  file=sys.stderr)
        super().build_extensions()


# Further builds of the same kernels for AVX2+FMA+F16C processors and for those
# with AVX-512 F and VL too, chosen at run time (the baseline build stays
# portable: no native-ISA flags).
_AVX2_FLAGS = ["-mavx2", "-mfma", "-mf16c"]
_ISA_FLAGS = {
    "avx2": _AVX2_FLAGS,
    # the intrinsics step 16 lanes; loops the compiler vectorises stay at 8 (at 16
    # the channels-last partial sums of long windows ran 5-18 % slower)
    "avx512": _AVX2_FLAGS + ["-mavx512f", "-mavx512vl", "-mprefer-vector-width=256"],
}
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
# MSVC defines neither __FMA__ nor __F16C__ and has no __builtin_cpu_supports,
# so the AVX2 rows would compile out and the modules would never be chosen.
_AVX2_BUILD = _X86_64 and sys.platform != "win32" and not os.environ.get("LRN_NO_AVX2")

# The .pxi parts and C headers that _kernels.pyx includes: a change to one
# rebuilds both modules, and the sdist carries them.
_DEPENDS = sorted(glob.glob("src/lrn/*.pxi") + glob.glob("src/lrn/csrc/*.h"))


def _extension(name, source):
    return Extension(name, [source], include_dirs=[np.get_include(), "src/lrn/csrc"],
                     depends=_DEPENDS)


exts = [_extension("lrn._kernels", "src/lrn/_kernels.pyx")]
if _AVX2_BUILD:
    exts += [_extension("lrn._kernels_avx2", "src/lrn/_kernels_avx2.pyx"),
             _extension("lrn._kernels_avx512", "src/lrn/_kernels_avx512.pyx")]
setup(
    # the modules translated side by side, as build_ext compiles them (Linux only:
    # where multiprocessing spawns rather than forks, its workers would run this file again)
    ext_modules=cythonize(exts, nthreads=len(exts) if sys.platform.startswith("linux") else 0,
                          compiler_directives={
                              "language_level": 3, "boundscheck": False, "wraparound": False,
                              "cdivision": True, "initializedcheck": False, "nonecheck": False}),
    cmdclass={"build_ext": BuildExt},
)
