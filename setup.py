"""Build the Cython kernels, with OpenMP when the compiler has it.

OpenMP is probed by compiling a tiny program; without it the extension is
built serially and ``lrn.show_config()`` says so (``openmp: no``).
"""
import os
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
        return ["/openmp"], []
    if sys.platform == "darwin":
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
                compiler.link_executable(objs, "omp_test", output_dir=tmp,
                                         extra_postargs=lflags)
            except Exception:
                continue
        return cflags, lflags
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        omp = _openmp_flags(self.compiler)
        msvc = self.compiler.compiler_type == "msvc"
        # -fno-math-errno lets sqrt vectorise; it does not change IEEE results
        # (unlike -ffast-math, which would break NaN/inf semantics).
        base = ["/O2"] if msvc else ["-O3", "-fno-math-errno"]
        extra = os.environ.get("LRN_CFLAGS", "").split()
        for ext in self.extensions:
            ext.extra_compile_args = base + (omp[0] if omp else []) + extra
            ext.extra_link_args = omp[1] if omp else []
            ext.define_macros = [("LRN_OPENMP", "1" if omp else "0"),
                                 ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
            flags = " ".join(ext.extra_compile_args)
            ext.define_macros.append(("LRN_CFLAGS", '"' + flags.replace('"', "") + '"'))
        if not omp:
            print("lrn: the compiler has no OpenMP; building the kernels serially",
                  file=sys.stderr)
        super().build_extensions()


ext = Extension("lrn._kernels", ["src/lrn/_kernels.pyx"], include_dirs=[np.get_include()])
setup(
    ext_modules=cythonize([ext], compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
