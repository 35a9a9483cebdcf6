"""Which BLAS Debian's torch runs on, and with how many threads.

Debian's python3-torch does its GEMMs in the system libblas.so.3: the
reference (netlib) BLAS, or OpenBLAS once installed (update-alternatives
then selects it). OpenBLAS's pthread build starts one thread per core unless
told, and torch.set_num_threads does not reach it, so the peers pin it to
their --threads before torch is imported, and print the library they got:
a peer on the reference BLAS is 10-100x slower on GEMM-bound work.
"""
import os
import sys


def pin_blas_threads(default="2"):
    """Sets OPENBLAS_NUM_THREADS from --threads (call before importing torch)."""
    threads = default
    for i, x in enumerate(sys.argv):
        if x == "--threads" and i + 1 < len(sys.argv):
            threads = sys.argv[i + 1]
        elif x.startswith("--threads="):
            threads = x.split("=", 1)[1]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", threads)


def blas_library():
    """The BLAS shared libraries this process loaded."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and line.split()[-1].startswith("/")}
    return ", ".join(sorted(os.path.realpath(x) for x in libs)) or "none found"
