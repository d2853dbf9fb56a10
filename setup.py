"""Build of fastwsgi: one extension, fastwsgi._cext, from cext/_cext.pyx.

The Cython sources are one compilation unit (see cext/_cext.pyx), so there is
a single Extension. A build without Cython or without a C compiler stops with
a message that says what to install instead of a bare traceback.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - exercised by hand
    sys.exit(
        "fastwsgi: building needs Cython >= 3.0 (pip install Cython), and a C "
        "compiler with the Python headers (Debian: apt-get install gcc python3-dev)."
    )


class CheckedBuildExt(build_ext):
    """build_ext that turns a missing compiler into one clear sentence."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # distutils raises several unrelated types
            if "compiler" in str(exc).lower() or "gcc" in str(exc).lower():
                sys.exit(
                    "fastwsgi: the C extension could not be compiled: "
                    f"{exc}\nInstall a C compiler and the Python headers "
                    "(Debian: apt-get install gcc python3-dev)."
                )
            raise


debug = os.environ.get("FASTWSGI_DEBUG") == "1"
extension = Extension(
    "fastwsgi._cext",
    sources=["cext/_cext.pyx"],
    include_dirs=[os.path.join(HERE, "cext", "includes")],
    extra_compile_args=["-O2", "-fno-strict-aliasing"] + (["-g", "-O0"] if debug else []),
    define_macros=[("FASTWSGI_DEBUG", "1" if debug else "0")],
)

setup(
    ext_modules=cythonize(
        [extension],
        language_level=3,
        compiler_directives={
            "boundscheck": debug,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
        include_path=[os.path.join(HERE, "cext")],
    ),
    cmdclass={"build_ext": CheckedBuildExt},
)
