"""Loading the WSGI application as mod_wsgi does.

Either a script file (``/srv/app.wsgi`` or ``app.py``) that defines
``application`` (or the callable named after a ``::``), executed as a module
under a unique name derived from its path, or ``package.module:callable``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from fastwsgi.errors import AppLoadError

WSGIApp = Callable[..., Any]


def is_script(spec: str) -> bool:
    path = spec.split("::", 1)[0]
    return path.endswith((".wsgi", ".py")) or os.sep in path


def script_module_name(path: str) -> str:
    """A unique module name per script path, as mod_wsgi's _mod_wsgi_<md5>."""
    return "_fastwsgi_" + hashlib.md5(os.path.abspath(path).encode(), usedforsecurity=False).hexdigest()


def default_group_name(spec: str) -> str:
    """A process group name derived from the application, e.g. 'hello'."""
    base = spec.split("::", 1)[0] if is_script(spec) else spec.split(":", 1)[0]
    base = os.path.basename(base) if is_script(spec) else base
    for ext in (".wsgi", ".py"):
        base = base.removesuffix(ext)
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in base)
    return name or "wsgi"


def load_script(path: str, callable_name: str = "application") -> WSGIApp:
    path = os.path.abspath(path)
    return app_of(exec_script(path, script_module_name(path)), path, callable_name)


def exec_script(path: str, name: str) -> ModuleType:
    """Execute the script file at path as a new module registered as name."""
    if not os.path.isfile(path):
        raise AppLoadError(f"WSGI script {path} does not exist")
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def app_of(module: ModuleType, path: str, callable_name: str) -> WSGIApp:
    """The WSGI callable named callable_name in a script's module."""
    app = getattr(module, callable_name, None)
    if app is None:
        raise AppLoadError(f"WSGI script {path} does not define {callable_name!r}")
    if not callable(app):
        raise AppLoadError(f"{callable_name!r} in {path} is not callable")
    return app


def load_module(spec: str) -> WSGIApp:
    module_name, _, attr = spec.partition(":")
    attr = attr or "application"
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise AppLoadError(f"{spec!r} is not callable")
    return obj


def load_application(spec: str) -> WSGIApp:
    """Import and return the WSGI callable named by spec."""
    if is_script(spec):
        path, _, name = spec.partition("::")
        return load_script(path, name or "application")
    return load_module(spec)
