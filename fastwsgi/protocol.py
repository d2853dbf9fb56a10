"""The wire format between a front-end and a daemon group: the uwsgi packet.

This module is the single written definition of the format. The Cython codec
(``cext/framing.pyx``), the router and the tests all import these constants.

Request, front-end -> daemon::

    offset  size  field
    ------  ----  ---------------------------------------------------------
    0       1     modifier1   u8     0 = WSGI request (the only one accepted)
    1       2     datasize    u16le  length of the variable block below
    3       1     modifier2   u8     0 (anything else is refused)
    4       ...   variables   ``datasize`` bytes, repeated until exhausted:

                  +---------+---------+---------+---------+
                  | keylen  |   key   | vallen  |  value  |
                  | u16le   | keylen  | u16le   | vallen  |
                  +---------+---------+---------+---------+

    4+datasize    body        CONTENT_LENGTH bytes, or, when STREAM_VAR is
                              present, bytes until the front-end half-closes
                              the connection (shutdown(SHUT_WR)).

Variables are CGI/WSGI names (``REQUEST_METHOD``, ``PATH_INFO``, ``HTTP_HOST``,
...) and are decoded as latin-1, as PEP 3333 wants native strings.

Response, daemon -> front-end: an HTTP/1.x status line, header lines, a blank
line, then the raw body; the end of the response is the daemon closing the
connection (as mod_wsgi and uWSGI do). There is no length field, so a daemon
that dies mid-body is seen as a short read, never as a complete response.

Our extensions, both invisible to Apache's mod_proxy_uwsgi and nginx's
uwsgi_pass, which never send them:

* ``STREAM_VAR`` = "1": the body has no known length (a chunked client upload);
  it is sent de-chunked and ends at the half-close; the application sees
  ``wsgi.input_terminated`` True and no CONTENT_LENGTH.
* ``FRAMED_RESPONSE_VAR`` = "1" (sent by fastwsgi's router): the daemon frames
  its response as HTTP/1.1 does for the client (Content-Length, or chunked for
  an HTTP/1.1 request, or close-delimited for 1.0; Date and Server included),
  so a daemon that dies mid-body leaves a response the router can tell is
  truncated (no final chunk, short of Content-Length). Without it the body
  is raw and ends at the close, as Apache and nginx expect.
* ``QUEUE_START_VAR``: microseconds since the epoch at which the front-end
  read the request head (queue-timeout measures from it).
* Limits: the variable block is at most ``MAX_VARS_SIZE`` bytes (the u16
  field); a front-end refuses larger request heads with 431 before framing.
"""

from __future__ import annotations

#: Size of the fixed packet header (modifier1, datasize, modifier2).
HEADER_SIZE = 4
#: modifier1 of a WSGI request; the only value a daemon accepts.
MODIFIER1_WSGI = 0
#: modifier2 of a WSGI request.
MODIFIER2_WSGI = 0
#: The variable block's length is a u16.
MAX_VARS_SIZE = 0xFFFF
#: Each key and each value carries a u16 length.
MAX_KEY_SIZE = 0xFFFF
MAX_VALUE_SIZE = 0xFFFF
#: Variable that announces a body ended by half-close (our extension).
STREAM_VAR = "FASTWSGI_STREAM_BODY"
#: Variable asking the daemon for an HTTP-framed response (our extension).
FRAMED_RESPONSE_VAR = "FASTWSGI_FRAMED_RESPONSE"
#: When the front-end read the request head, microseconds since the epoch.
QUEUE_START_VAR = "FASTWSGI_QUEUE_START"
#: Variables that set the body's framing: duplicates with different values are
#: a framing error (request smuggling), other duplicates keep the last value.
FRAMING_VARS = ("CONTENT_LENGTH", STREAM_VAR)
#: Largest CONTENT_LENGTH accepted from a frame (digits only, no sign).
MAX_CONTENT_LENGTH = (1 << 62)

__all__ = [
    "FRAMED_RESPONSE_VAR",
    "FRAMING_VARS",
    "HEADER_SIZE",
    "MAX_CONTENT_LENGTH",
    "MAX_KEY_SIZE",
    "MAX_VALUE_SIZE",
    "MAX_VARS_SIZE",
    "MODIFIER1_WSGI",
    "MODIFIER2_WSGI",
    "QUEUE_START_VAR",
    "STREAM_VAR",
]
