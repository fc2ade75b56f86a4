"""YAML config files read safely: bounded size, aliases, nesting and document size; no duplicate keys.

``yaml.safe_load`` runs no code, but it still accepts

- alias bombs ("billion laughs"): ``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ... nine levels in 500 bytes
  expand to 10**9 leaves as soon as anything walks the data (JSON for the store, ``repr`` for an error);
- nesting thousands deep (``[[[[...]]]]``), which ends in a ``RecursionError``;
- a mapping key given twice, silently keeping the last value.

:func:`load_yaml_file` refuses all of these (and files over :data:`MAX_BYTES` or not UTF-8) with a
:class:`~hpo.errors.ConfigError` naming the file and the limit, while parsing: memory stays bounded by the
limits, whatever the file holds. The parser is PyYAML's pure-Python ``SafeLoader`` (the C loader cannot count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node

from hpo.errors import ConfigError, short_repr

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml_file", "load_yaml_text"]

#: The largest config file read, in bytes.
MAX_BYTES = 1 << 20
#: Alias uses (``*name``) per document.
MAX_ALIASES = 100
#: Nodes of the document with every alias expanded (scalars, sequences and mappings each count one).
MAX_NODES = 100_000
#: Nesting depth of sequences and mappings.
MAX_DEPTH = 50
#: Characters of an error message quoted from the YAML parser.
_MESSAGE = 600


class _Refused(Exception):
    """A limit was exceeded (turned into a ConfigError naming the file)."""


def _line(node_or_event: Any) -> int:
    return int(node_or_event.start_mark.line) + 1


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that counts while composing: alias uses, expanded nodes, depth; and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0  # nodes of the document so far, aliases expanded
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its expanded size (kept alive by self.anchors)

    def _count(self, n: int, where: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise _Refused(f"the document expands to more than {MAX_NODES:,} nodes (aliases expanded; "
                           f"at line {_line(where)}): limit MAX_NODES = {MAX_NODES:,}")

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} alias uses (*{short_repr(event.anchor, 40)[1:-1]} at line "
                               f"{_line(event)}): limit MAX_ALIASES = {MAX_ALIASES}")
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # the anchor's own node is still being composed: a recursive structure
                raise _Refused(f"alias *{short_repr(event.anchor, 40)[1:-1]} at line {_line(event)} refers to a "
                               "node that contains it (recursive data cannot be stored)")
            self._count(size, event)
            return node
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels (at line {_line(event)}): "
                           f"limit MAX_DEPTH = {MAX_DEPTH}")
        before = self._nodes
        self._count(1, event)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._nodes - before
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # ``<<: *base``: the merged keys may be overridden
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML refuses it below
                    continue
                if first is not None:
                    raise _Refused(f"duplicate key {short_repr(key, 80)} at line {_line(key_node)} "
                                   f"(first at line {first})")
                seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document with the limits of this module.

    Raises:
        ConfigError: invalid YAML, a limit exceeded or a duplicate key; the message names ``source``.
    """
    loader = _BoundedLoader(text)
    quoted = len(source) >= 2 and source[0] == source[-1] and source[0] in "'\""
    loader.name = source[1:-1] if quoted else source  # parser messages cite the file, not "<unicode string>"
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(f"config: {source}: {exc}") from None
    except yaml.YAMLError as exc:
        message = str(exc)
        if len(message) > _MESSAGE:
            message = message[:_MESSAGE] + "..."
        raise ConfigError(f"config: {source} is not valid YAML: {message}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """Read a YAML file of at most :data:`MAX_BYTES` bytes, UTF-8, with :func:`load_yaml_text`'s limits.

    Raises:
        ConfigError: the file cannot be read, is too large, is not UTF-8 (the message gives the byte offset),
            or :func:`load_yaml_text` refuses it.
    """
    path = Path(path)
    source = short_repr(str(path), 300)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {source}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"config: {source} is larger than {MAX_BYTES:,} bytes: limit MAX_BYTES = {MAX_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config: {source} is not UTF-8 text: byte {data[exc.start]:#04x} at byte offset "
                          f"{exc.start} ({exc.reason})") from None
    return load_yaml_text(text, source)
