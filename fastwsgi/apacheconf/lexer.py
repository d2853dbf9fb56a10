"""Apache configuration text -> a tree of directives and sections.

Theory of operation (Apache 2.4's own rules, which real files rely on):
1. A line whose first non-blank character is '#' is a comment; a '#' later
   on a line is an ordinary character (Apache has no trailing comments).
2. A line ending in '\\' continues on the next line (trailing blanks after
   the backslash are forgiven); the logical line keeps the first line number.
3. Words are split on blanks; a word that starts with '"' or ''' runs to the
   matching quote, inside which '\\' escapes the quote and the backslash.
4. ``${NAME}`` is replaced by a Define'd value, else by the environment's;
   an undefined one is an error (Apache warns and keeps the text, which then
   names a wrong file), raised when the directive is used (Node.pending_error).
5. ``<Name args>`` opens a section, ``</Name>`` closes the innermost one;
   names are case-insensitive. Include/IncludeOptional (globs, relative to
   ServerRoot), Define/UnDefine, ServerRoot, <IfDefine>, <IfModule> and
   <IfVersion> (as Apache 2.4.62) are handled here, while reading, because
   they decide what is read at all.

Which modules <IfModule> sees as loaded: the ones whose work fastwsgi does
(MODULES_PRESENT: mod_wsgi, mod_alias, mod_log_config, mod_mime, mod_env,
core ones). Everything else is absent, so ``<IfModule mod_ssl.c>`` blocks
(SSL virtual hosts, ``Listen 443``) are skipped as an Apache without mod_ssl
skips them: fastwsgi speaks no TLS and must not serve plain HTTP on 443.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fastwsgi.errors import ConfigError

MODULES_PRESENT = frozenset({
    "wsgi", "alias", "log_config", "logio", "mime", "env", "version", "unixd", "so",
    "core", "http", "mpm_event", "mpm_worker", "mpm_prefork", "setenvif"})

_READ_HERE = frozenset({"include", "includeoptional", "define", "undefine", "serverroot"})
_VAR = re.compile(r"\$\{([A-Za-z0-9_:.-]+)\}")


@dataclass
class Node:
    """A directive (children is None) or a section (children is a list)."""

    name: str                 # as written
    args: list[str]
    file: str
    line: int
    children: list[Node] | None = None
    #: The raw argument text (sections: between the name and '>').
    raw: str = ""
    #: An undefined ${VAR} in a directive: raised only if the directive is used.
    pending_error: ConfigError | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, message: str) -> ConfigError:
        """A ConfigError 'FILE:LINE: Name: message'."""
        shown = f"<{self.name}>" if self.children is not None else self.name
        return ConfigError(message, source=self.file, line=self.line, directive=shown)


def _getword(text: str, i: int, file: str, line: int, name: str) -> tuple[str, int]:
    """One word from text[i:] (blanks skipped first), as ap_getword_conf reads it."""
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] in "\"'":
        quote = text[i]
        i += 1
        buf: list[str] = []
        while True:
            if i >= n:
                raise ConfigError(f"unterminated {quote} quote in: {text}; valid: a matching "
                                  f"closing {quote} on the same (logical) line",
                                  source=file, line=line, directive=name or None)
            c = text[i]
            if c == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
                buf.append(text[i + 1])
                i += 2
                continue
            i += 1
            if c == quote:
                return "".join(buf), i
            buf.append(c)
    j = i
    while j < n and text[j] not in " \t":
        j += 1
    return text[i:j], j


def split_words(text: str, file: str = "", line: int = 0, name: str = "") -> list[str]:
    """Split an argument string as Apache's ap_getword_conf does."""
    words: list[str] = []
    i = 0
    while text[i:].strip(" \t"):
        word, i = _getword(text, i, file, line, name)
        words.append(word)
    return words


def split_options(text: str, positional: int, file: str = "", line: int = 0,
                  name: str = "") -> list[str]:
    """Words of a mod_wsgi line: positional words, then name=value options
    whose value may be quoted (display-name='my app'), as wsgi_parse_option."""
    words: list[str] = []
    i = 0
    while text[i:].strip(" \t"):
        if len(words) < positional:
            word, i = _getword(text, i, file, line, name)
            words.append(word)
            continue
        while text[i] in " \t":
            i += 1
        m = re.match(r"[^\s=]+=", text[i:])
        if m is None:  # not name=value: the caller says what is valid
            word, i = _getword(text, i, file, line, name)
            words.append(word)
            continue
        i += m.end()
        value = ""
        if i < len(text) and text[i] not in " \t":  # 'name=' alone has an empty value
            value, i = _getword(text, i, file, line, name)
        words.append(m.group(0) + value)
    return words


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-comment logical line."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending:
            start = number
            if not stripped or stripped.startswith("#"):
                continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].rstrip())
            continue
        pending.append(stripped)
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        out.append((start, " ".join(p for p in pending if p)))
    return out


def module_base(name: str) -> str:
    """'mod_ssl.c', 'ssl_module' and 'mod_ssl' all name 'ssl'."""
    name = name.lower()
    if name.endswith(".c"):
        name = name[:-2]
    if name.startswith("mod_"):
        name = name[4:]
    if name.endswith("_module"):
        name = name[:-7]
    return name


@dataclass
class ReadState:
    """What reading needs while it goes: defines, ServerRoot, files, warnings."""

    server_root: str
    defines: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warn: Callable[[str], None] = lambda text: None
    depth: int = 0


def expand_vars(text: str, state: ReadState, file: str, line: int, directive: str = "") -> str:
    """${NAME} replaced by its Define'd or environment value (rule 4)."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in state.defines:
            return state.defines[name]
        if name in os.environ:
            return os.environ[name]
        raise ConfigError(f"variable ${{{name}}} is not defined; valid: define it with "
                          f"'Define {name} VALUE' before this line, or set it in the environment "
                          f"(Debian: run '. /etc/apache2/envvars' first)",
                          source=file, line=line, directive=directive or None)
    return _VAR.sub(sub, text)


def read_file(path: str, state: ReadState) -> list[Node]:
    """Read one file (and what it includes) into a list of top-level nodes."""
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file: {exc.strerror}", source=path) from None
    state.files.append(path)
    root: list[Node] = []
    stack: list[Node] = []   # open sections
    skip: list[Node] = []    # open sections whose content is not read (false IfModule...)
    for number, content in logical_lines(text):
        _one_line(path, number, content, state, root, stack, skip)
    if stack or skip:
        open_section = (stack + skip)[-1]
        raise open_section.error(f"section is not closed by </{open_section.name}> "
                                 f"before the end of {path}")
    return root


def _one_line(path: str, number: int, content: str, state: ReadState,
              root: list[Node], stack: list[Node], skip: list[Node]) -> None:
    target = stack[-1].children if stack else root
    assert target is not None
    if content.startswith("</"):
        if not content.endswith(">"):
            raise ConfigError(f"a closing tag must end with '>': {content}", source=path, line=number)
        name = content[2:-1].strip()
        opened = skip[-1] if skip else (stack[-1] if stack else None)
        if opened is None:
            raise ConfigError(f"</{name}> closes no open section", source=path, line=number)
        if opened.key != name.lower():
            raise ConfigError(f"</{name}> does not close <{opened.name}> opened at "
                              f"{opened.where}; valid: </{opened.name}>", source=path, line=number)
        (skip if skip else stack).pop()
        return
    if content.startswith("<"):
        if not content.endswith(">"):
            raise ConfigError(f"a section header must end with '>': {content}",
                              source=path, line=number)
        inner = content[1:-1].strip()
        name, raw = _name_and_rest(inner)
        node = Node(name, [], path, number, [], raw)
        if skip:
            skip.append(node)
            return
        raw = expand_vars(raw, state, path, number, f"<{name}>")
        node.args = split_words(raw, path, number, f"<{name}>")
        node.raw = raw
        if node.key in ("ifmodule", "ifdefine", "ifversion"):
            if _condition_holds(node, state):
                # The section vanishes: its content joins the enclosing list.
                node.children = target
                stack.append(_Transparent(node))
            else:
                skip.append(node)
            return
        target.append(node)
        stack.append(node)
        return
    if skip:
        return
    name, raw = _name_and_rest(content)
    pending = None
    try:
        raw = expand_vars(raw, state, path, number, name)
    except ConfigError as exc:
        if name.lower() in _READ_HERE:
            raise
        # Only a directive fastwsgi uses needs its value: a skipped one
        # (PidFile ${APACHE_PID_FILE}) must not stop a Debian file loading.
        pending = exc
    node = Node(name, split_words(raw, path, number, name), path, number, None, raw)
    node.pending_error = pending
    key = node.key
    if key in ("include", "includeoptional"):
        target.extend(_include(node, state, optional=key == "includeoptional"))
    elif key == "define":
        if not node.args or len(node.args) > 2:
            raise node.error("takes NAME [VALUE]")
        state.defines[node.args[0]] = node.args[1] if len(node.args) == 2 else ""
    elif key == "undefine":
        if len(node.args) != 1:
            raise node.error("takes one NAME")
        state.defines.pop(node.args[0], None)
    elif key == "serverroot":
        if stack and any(not isinstance(n, _Transparent) for n in stack):
            raise node.error("not allowed inside a section; valid: outside all sections")
        if len(node.args) != 1:
            raise node.error("takes one directory")
        root_dir = os.path.join(state.server_root, node.args[0])
        if not os.path.isdir(root_dir):
            raise node.error(f"{root_dir} is not a directory")
        state.server_root = os.path.abspath(root_dir)
        target.append(node)
    else:
        target.append(node)


class _Transparent(Node):
    """An open <IfModule>/<IfDefine> whose content goes to the enclosing list."""

    def __init__(self, node: Node) -> None:
        super().__init__(node.name, node.args, node.file, node.line, node.children, node.raw)


def _name_and_rest(text: str) -> tuple[str, str]:
    parts = re.split(r"[ \t]+", text.strip(), maxsplit=1)
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


#: The Apache version <IfVersion> compares with: the 2.4 series fastwsgi's
#: configuration language follows.
APACHE_VERSION = (2, 4, 62)


def _version_holds(node: Node) -> bool:
    """<IfVersion [[!]op] version>, op one of = == > >= < <= ~ or /regex/."""
    args = node.args
    if len(args) == 1:
        op, text = "=", args[0]
    elif len(args) == 2:
        op, text = args
    else:
        raise node.error("takes [[!]OPERATOR] VERSION; valid: <IfVersion >= 2.4>")
    negate = op.startswith("!")
    op = op.lstrip("!")
    version = ".".join(map(str, APACHE_VERSION))
    if op == "~" or (text.startswith("/") and text.endswith("/") and len(text) > 1):
        holds = re.search(text.strip("/"), version) is not None
    else:
        try:
            wanted = tuple(int(p) for p in text.split("."))
        except ValueError:
            raise node.error(f"invalid version {text!r}; valid: 2.4 or 2.4.62") from None
        have = APACHE_VERSION[:len(wanted)]
        compare = {"=": have == wanted, "==": have == wanted, ">": have > wanted,
                   ">=": have >= wanted, "<": have < wanted, "<=": have <= wanted}
        if op not in compare:
            raise node.error(f"invalid operator {op!r}; valid: = == > >= < <= ~")
        holds = compare[op]
    return holds != negate


def _condition_holds(node: Node, state: ReadState) -> bool:
    if node.key == "ifversion":
        return _version_holds(node)
    if len(node.args) != 1:
        raise node.error("takes one argument")
    arg = node.args[0]
    negate = arg.startswith("!")
    if negate:
        arg = arg[1:]
    if node.key == "ifdefine":
        holds = arg in state.defines
    else:
        holds = module_base(arg) in MODULES_PRESENT
        if not holds and not negate:
            state.warn(f"{node.where}: <IfModule {node.args[0]}>: {arg} is not part of "
                       f"fastwsgi; the section is skipped")
    return holds != negate


def _include(node: Node, state: ReadState, optional: bool) -> list[Node]:
    if len(node.args) != 1:
        raise node.error("takes one file, directory or wildcard pattern")
    pattern = os.path.join(state.server_root, node.args[0])
    if state.depth > 32:
        raise node.error("includes nest more than 32 deep (an Include loop?)")
    if os.path.isdir(pattern):
        paths = sorted(os.path.join(pattern, p) for p in os.listdir(pattern))
        paths = [p for p in paths if os.path.isfile(p)]
    elif glob.has_magic(pattern):
        paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not paths and not optional:
            raise node.error(f"no file matches {pattern}; valid: an existing file, "
                             f"or IncludeOptional for a pattern that may match nothing")
    elif os.path.isfile(pattern):
        paths = [pattern]
    else:
        if optional:
            return []
        raise node.error(f"{pattern} does not exist; valid: an existing file or directory "
                         f"(relative to ServerRoot {state.server_root}), or IncludeOptional")
    nodes: list[Node] = []
    state.depth += 1
    try:
        for path in paths:
            nodes.extend(read_file(path, state))
    finally:
        state.depth -= 1
    return nodes
