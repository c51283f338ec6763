"""Reading YAML written by people: one clear message for every mistake, and no hostile input.

Every YAML file the program or a tool reads goes through :func:`load_yaml` or
:func:`read_yaml_file`: ``Pulumi.<stack>.yaml`` (``tools/mockrun.py``, ``tools/render.py``,
``tools/smoke.py``, ``tools/check_secrets.py``), Helm values files, SOPS secrets files before
and after decryption, and kubeconfigs. Each failure is one line that names the file, the line
and column and what the parser expected, in words, with a hint where the mistake is a common
one; never a traceback.

What is refused, and why:

* **aliases** (``*name``, also ``<<: *name`` merge keys): an alias refers back to an anchored
  node, and nested aliases expand exponentially (the "billion laughs" bomb), so a file of a
  few hundred bytes can take all memory. None of our files needs them; write the value out.
  https://yaml.org/spec/1.2.2/#71-alias-nodes
* **nesting deeper than** :data:`MAX_DEPTH`: PyYAML composes recursively, so a few thousand
  ``[`` end in a ``RecursionError``;
* **duplicate keys** in a mapping: PyYAML keeps the last one silently, while the Pulumi CLI
  (Go ``yaml.v3``) refuses them, so a duplicate is a mistake the user wants to hear about;
* **files over a size cap**, **non-regular files** (a FIFO or ``/dev/zero`` would never end)
  and **text that is not UTF-8**.

The parser's own snippet (which quotes the offending line) is never printed: in a secrets file
that line may hold a plaintext value. With ``secret=True`` even the characters the parser quotes
in its problem are left out.

Only the standard library and PyYAML: tools import this without the Pulumi SDK.
PyYAML's error classes and marks: https://github.com/yaml/pyyaml/blob/6.0.2/lib/yaml/error.py
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.resolver import Resolver

if yaml.__with_libyaml__:
    from yaml._yaml import CParser
else:  # PyYAML built without libyaml (a source install): the pure-Python loader alone
    CParser = Parser  # type: ignore[assignment,misc]

#: Nesting deeper than this is refused (PyYAML's composer recurses once per level).
MAX_DEPTH = 64
#: Default cap of a file's size; callers pass their own where a file kind needs another one.
MAX_BYTES = 1024 * 1024

ErrorFactory = Callable[[str], BaseException]


class YamlInputError(ValueError):
    """A YAML file or text that cannot be used; the message names it and says how to fix it."""


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


# --------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark
        self.context: str | None = None
        self.context_mark: yaml.Mark | None = None


class _Strict(Composer, SafeConstructor):
    """The composer and mapping constructor of both loaders below: no aliases (or a bounded
    expansion), no duplicate keys, no deep nesting."""

    if TYPE_CHECKING:  # from the parser each loader adds (Python or libyaml's)

        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...

    _depth = 0
    _sizes: dict[int, int]
    #: How many nodes aliases may add in all, counted as if each alias were written out;
    #: 0 refuses every alias.
    alias_limit = 0
    _alias_nodes = 0

    def _expanded_size(self, node: Node, sizes: dict[int, int]) -> int:
        """Nodes in ``node`` with every alias in it written out (memoised: linear time)."""
        if id(node) not in sizes:
            children: list[Node] = []
            if isinstance(node, MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            sizes[id(node)] = 1 + sum(self._expanded_size(c, sizes) for c in children)
        return sizes[id(node)]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            if self.alias_limit == 0:
                raise _Refused(
                    f"an alias (*{event.anchor}) is not accepted: aliases can expand to any "
                    "size; write the value out in full",
                    event.start_mark,
                )
            if anchored is not None:  # an undefined alias: PyYAML reports it below
                self._alias_nodes += self._expanded_size(anchored, self._sizes)
                if self._alias_nodes > self.alias_limit:
                    raise _Refused(
                        f"the aliases up to *{event.anchor} expand to more than "
                        f"{self.alias_limit} nodes; write the values out",
                        event.start_mark,
                    )
        nests = self.check_event(MappingStartEvent, SequenceStartEvent)
        if nests:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep; no file of ours needs that",
                    self.peek_event().start_mark,
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let PyYAML report it as it does
                break
            if first is not None:
                raise _Refused(
                    f"the key '{key}' appears twice in the same mapping (first at line "
                    f"{first.start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


    def construct_yaml_int(self, node: ScalarNode) -> int:
        # Python refuses to convert a decimal of more than 4300 digits (a ValueError, not a
        # YAMLError, so it escaped as a traceback): https://docs.python.org/3/library/stdtypes.html#int-max-str-digits
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Refused(
                f"a number of {len(str(node.value))} characters is too long to read; no "
                "setting of ours needs one (if it is a text, put it in quotes)",
                node.start_mark,
            ) from None


_Strict.add_constructor(  # type: ignore[type-var]  # a mixin: the loaders below are _L
    "tag:yaml.org,2002:int", _Strict.construct_yaml_int)


class _StrictLoader(_Strict, yaml.SafeLoader):
    """PyYAML's pure-Python reader, scanner and parser: the authority for every error message
    (the hints below are written against its wording)."""


class _FastStrictLoader(_Strict, CParser, SafeConstructor, Resolver):
    """libyaml's scanner and parser (C) under the same Python composer and constructor.

    Events come from C, so the checks in :class:`_Strict` run unchanged on every one; reading
    is about 7x faster than the pure-Python loader, which matters because every program run
    reads all the values files. libyaml words its errors differently, so any failure here is
    read again by :class:`_StrictLoader` for the message (see :func:`load_yaml`).
    https://pyyaml.org/wiki/PyYAMLDocumentation (the LibYAML bindings)
    """

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


#: False when PyYAML was built without libyaml: everything still works, only slower.
FAST: bool = yaml.__with_libyaml__


# --------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------

#: PyYAML's token names, in words.
_TOKENS = {
    "'<block end>'": "the end of the indented block",
    "<block end>": "the end of the indented block",
    "'<block mapping start>'": "a key at a new indentation",
    "'<block sequence start>'": "a list indented deeper than the lines above it",
    "'<block entry>'": "a list item ('- ')",
    "'<stream end>'": "the end of the file",
    "'<document start>'": "a new document ('---')",
    "'<scalar>'": "a value",
    "'?'": "a key",
    "'<flow mapping end>'": "'}'",
    "'<flow sequence end>'": "']'",
}

#: Common mistakes: a fragment of the message (in words) and the fix in our words.
_HINTS = (
    (
        "mapping values are not allowed here",
        "a ': ' where a value was expected: check this line's indentation, or quote a value "
        "that contains ': '",
    ),
    (
        "but found a key at a new indentation",
        "this line is indented differently from the keys above it: align it with its siblings",
    ),
    (
        "expected the end of the indented block",
        "check this line's indentation against the lines above it",
    ),
    (
        "cannot start any token",
        "indent with spaces, not tabs, and quote values starting with '@' or '`'",
    ),
    (
        "unknown escape character",
        "in double quotes a backslash starts an escape: write '\\\\' or use single quotes",
    ),
    ("flow sequence", "a '[' is not closed by ']'"),
    ("flow mapping", "a '{' is not closed by '}'"),
    ("end of stream (while scanning a", "a quote is not closed"),
    ("expected a single document", "keep one document: remove the '---' line"),
    ("could not determine a constructor", "remove the tag ('!name') or quote the value"),
)


def _words(text: str) -> str:
    for token, words in _TOKENS.items():
        text = text.replace(token, words)
    return text.replace(" but got ", " but found ")


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown place"


def yaml_error_message(
    source: str, exc: yaml.YAMLError, *, secret: bool = False, where: str | None = None
) -> str:
    """One line: the file, where, what the parser expected, and a hint. No snippet.

    ``where`` places a reader error (which has a character position, not a mark)."""
    if isinstance(exc, yaml.reader.ReaderError):
        return (
            f"{source}: character #x{exc.character:04x} at {where or 'an unknown place'} is "
            "not allowed in YAML (a control character); remove it"
            if isinstance(exc.character, int)
            else f"{source}: not UTF-8 text; save it as UTF-8"
        )
    mark = getattr(exc, "problem_mark", None)
    problem = _words(str(getattr(exc, "problem", None) or type(exc).__name__))
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if secret and not isinstance(exc, _Refused):
        # The parser quotes text it found (a tag, a character); in a secrets file that may be
        # part of a value. Punctuation it expected (',' or ']') and a tab stay. Our own
        # refusals name only keys and anchors, never values.
        problem = re.sub(r"'(?!\\t')[^'\s]*[^\W_][^'\s]*'", "'…'", problem)
    if context and problem.startswith("but "):  # the composer puts the expectation first
        problem, context = f"{_words(context)}, {problem}", None
    kind = "at" if isinstance(exc, _Refused) else "YAML syntax error at"
    message = f"{source}: {kind} {_where(mark)}: {problem}"
    if context and isinstance(exc, yaml.MarkedYAMLError) and context_mark is not None:
        if context_mark.line != getattr(mark, "line", None):
            message += f" ({_words(context)} that starts at line {context_mark.line + 1})"
        else:
            message += f" ({_words(context)})"
    for fragment, hint in _HINTS:
        if fragment in message:
            message += f"; {hint}"
            break
    return message


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def _decode(data: bytes, source: str, error: ErrorFactory) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"{source}: not UTF-8 text (the byte at line {line}, column {column} is not valid "
            "UTF-8); save the file as UTF-8"
        ) from None


def load_yaml(
    data: bytes | str,
    source: str,
    *,
    error: ErrorFactory = YamlInputError,
    secret: bool = False,
    max_bytes: int | None = MAX_BYTES,
    alias_nodes: int = 0,
) -> Any:
    """Parse one YAML document, refusing what this module refuses.

    ``source`` names the text in messages (a path, or a config key such as
    ``binder:kubeconfig``); ``error`` makes the exception raised (``ConfigError``,
    ``SecretsError`` ...); ``secret`` keeps every character of the text out of messages.
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise error(
            f"{source}: larger than the cap of {_size(max_bytes)} for this kind of file; check "
            "that it is the right file"
        )
    text = _decode(data, source, error) if isinstance(data, bytes) else data
    if FAST:
        try:
            return _parse(_FastStrictLoader, text, alias_nodes)
        except (yaml.YAMLError, RecursionError):
            pass  # read again below: PyYAML's own words are the ones our hints explain
    try:
        return _parse(_StrictLoader, text, alias_nodes)  # its reader checks every character
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {exc.position - before.rfind(chr(10))}"
        raise error(yaml_error_message(source, exc, secret=secret, where=where)) from None
    except yaml.YAMLError as exc:
        raise error(yaml_error_message(source, exc, secret=secret)) from None
    except RecursionError:  # a deep key in a mapping key: beyond what MAX_DEPTH catches
        raise error(f"{source}: nested too deeply; no file of ours needs that") from None


def _parse(kind: type[_StrictLoader] | type[_FastStrictLoader], text: str, aliases: int) -> Any:
    loader = kind(text)
    try:
        loader.alias_limit = aliases
        loader._sizes = {}
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(
    path: Path,
    source: str | None = None,
    *,
    error: ErrorFactory = YamlInputError,
    secret: bool = False,
    max_bytes: int | None = MAX_BYTES,
    alias_nodes: int = 0,
) -> Any:
    """Read and parse ``path`` (a regular file of at most ``max_bytes``)."""
    source = source or str(path)
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a regular file"
            raise error(f"{source}: {what}; give the path of a YAML file")
        with path.open("rb") as stream:
            # Read one byte past the cap: stat() sizes can lie (files under /proc say 0).
            data = stream.read(max_bytes + 1) if max_bytes is not None else stream.read()
    except OSError as exc:
        raise error(f"{source}: cannot be read ({exc.strerror}); check its permissions") from None
    return load_yaml(
        data, source, error=error, secret=secret, max_bytes=max_bytes, alias_nodes=alias_nodes
    )


#: PyYAML's safe loader on libyaml where PyYAML has it (the pure-Python one otherwise).
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_written(text: str | bytes) -> Any:
    """``yaml.safe_load`` at libyaml's speed, for YAML a program wrote (Helm's output, a
    chart's metadata, our own render files): none of the checks above, which are for YAML
    people write."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 -- a safe loader either way


def load_written_all(text: str | bytes) -> list[Any]:
    """``yaml.safe_load_all`` as :func:`load_written`."""
    return list(yaml.load_all(text, Loader=_SAFE_LOADER))


#: A stack file is a few KiB of settings; secrets in it are short ciphertexts.
STACK_FILE_MAX_BYTES = 256 * 1024


def read_stack_config(
    path: Path, *, error: ErrorFactory = YamlInputError, source: str | None = None
) -> dict[str, Any]:
    """The ``config:`` mapping of a ``Pulumi.<stack>.yaml`` (empty if it has none).

    The Pulumi CLI reads this file itself for ``pulumi up``; the tools (render, the mock
    engine's test runs, smoke) read it here, with the same one-line errors.
    https://www.pulumi.com/docs/iac/concepts/projects/stack-settings-file/
    """
    source = source or path.name
    document = read_yaml_file(path, source, error=error, max_bytes=STACK_FILE_MAX_BYTES)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise error(f"{source}: must be a mapping with a `config:` key at the top level")
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise error(
            f"{source}: `config:` must be a mapping of keys such as `binder:cluster:`, not a "
            f"{type(config).__name__}"
        )
    return config
