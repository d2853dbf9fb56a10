# cython: language_level=3
# fastwsgi._cext: the Cython core, one compilation unit.
#
# Cross-module cimports from cext/ do not resolve for this module, so the
# parts are `include`d here in dependency order; this list is the table of
# contents.

from cpython.bytes cimport PyBytes_AS_STRING
from libc.string cimport memchr, memcmp, memcpy, memmove, memset
from libc.stdlib cimport calloc, free, malloc, realloc

import os

from fastwsgi.errors import (
    ClientDisconnected,
    FrameTooLarge,
    FramingError,
    InvalidRequestBody,
    RequestBodyTimeout,
    RequestBodyTooLarge,
    RequestTimeout,
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
    FRAMED_RESPONSE_VAR,
    QUEUE_START_VAR,
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

# Largest Content-Length (request or frame), = fastwsgi.protocol.MAX_CONTENT_LENGTH.
cdef long long MAX_CONTENT_LENGTH_C = 1LL << 62

_C_MIRROR = (C_HEADER_SIZE, C_MODIFIER1_WSGI, C_MODIFIER2_WSGI, C_MAX_VARS_SIZE,
             C_MAX_FIELD_SIZE, C_MAX_FIELD_SIZE, MAX_CONTENT_LENGTH_C)
_PY_VALUES = (HEADER_SIZE, MODIFIER1_WSGI, MODIFIER2_WSGI, MAX_VARS_SIZE,
              MAX_KEY_SIZE, MAX_VALUE_SIZE, MAX_CONTENT_LENGTH)
if _C_MIRROR != _PY_VALUES:
    raise ImportError("fastwsgi._cext was built against another fastwsgi.protocol")

include "errors.pyx"
include "framing.pyx"
include "response_head.pyx"
include "hconn.pyx"
include "sockio.pyx"
include "watchdog.pyx"
include "access_log.pyx"
include "http_parser.pyx"
include "chunked.pyx"
include "wsgi_input.pyx"
include "handler.pyx"
include "wsgi_response.pyx"
include "eventset.pyx"
include "gil_gate.pyx"
include "acceptor.pyx"
include "relay_head.pyx"
include "splice.pyx"
include "relay.pyx"
include "relay_app.pyx"
include "dispatch.pyx"
include "http_loop.pyx"
include "process.pyx"
include "latency_hist.pyx"
include "loadgen_response.pyx"
include "loadgen.pyx"
