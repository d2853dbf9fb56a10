# cython: language_level=3
# fastwsgi._cext: the Cython core, one compilation unit.
#
# Cross-module cimports from cext/ do not resolve for this module, so the
# parts are `include`d here in dependency order; this list is the table of
# contents.

from libc.string cimport memchr, memmove
from libc.stdlib cimport free, malloc, realloc

import os

from fastwsgi.errors import (
    ClientDisconnected,
    FrameTooLarge,
    InvalidVariable,
    ResponseError,
    TruncatedVariable,
    UnsupportedModifier,
)
from fastwsgi.protocol import (
    HEADER_SIZE,
    MAX_CONTENT_LENGTH,
    MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
    MAX_VARS_SIZE,
    MODIFIER1_WSGI,
    MODIFIER2_WSGI,
    STREAM_VAR,
)

from includes.system cimport *

# C mirrors of fastwsgi.protocol, so hot loops compare C ints, not objects.
# The module refuses to import if the two ever disagree.
cdef enum:
    C_HEADER_SIZE = 4
    C_MODIFIER1_WSGI = 0
    C_MODIFIER2_WSGI = 0
    C_MAX_VARS_SIZE = 0xFFFF
    C_MAX_FIELD_SIZE = 0xFFFF

if (C_HEADER_SIZE, C_MODIFIER1_WSGI, C_MODIFIER2_WSGI, C_MAX_VARS_SIZE, C_MAX_FIELD_SIZE,
        C_MAX_FIELD_SIZE) != (HEADER_SIZE, MODIFIER1_WSGI, MODIFIER2_WSGI, MAX_VARS_SIZE,
                              MAX_KEY_SIZE, MAX_VALUE_SIZE):
    raise ImportError("fastwsgi._cext was built against another fastwsgi.protocol")

include "errors.pyx"
include "framing.pyx"
include "response_head.pyx"
include "sockio.pyx"
include "wsgi_input.pyx"
include "acceptor.pyx"
include "process.pyx"
include "watchdog.pyx"
