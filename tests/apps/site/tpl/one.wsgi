"""Reached through a WSGIScriptAliasMatch-style template (tpl/$1.wsgi)."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"one\n"]
