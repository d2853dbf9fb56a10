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
