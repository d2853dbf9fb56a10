# Process-level calls Python's os module does not offer.

cdef extern from "sys/prctl.h" nogil:
    int prctl(int option, unsigned long arg2, unsigned long arg3,
              unsigned long arg4, unsigned long arg5)
    enum:
        PR_SET_PDEATHSIG


def set_parent_death_signal(int sig):
    """Have the kernel send sig to this process when its parent exits."""
    if prctl(PR_SET_PDEATHSIG, <unsigned long>sig, 0, 0, 0) != 0:
        raise_errno(errno, "prctl(PR_SET_PDEATHSIG)")


cdef extern from "malloc.h" nogil:
    int mallopt(int param, int value)
    enum:
        M_MMAP_THRESHOLD
        M_TRIM_THRESHOLD


def set_malloc_thresholds(int mmap_threshold, int trim_threshold):
    """glibc's mmap and trim thresholds for this process (fixed from now on:
    setting either turns off glibc's own adjustment of both)."""
    if mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1:
        raise ValueError(f"mallopt(M_MMAP_THRESHOLD, {mmap_threshold}) refused")
    if mallopt(M_TRIM_THRESHOLD, trim_threshold) != 1:
        raise ValueError(f"mallopt(M_TRIM_THRESHOLD, {trim_threshold}) refused")
