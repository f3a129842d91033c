"""Reading YAML (and JSON) into a node tree with one clear, located error per problem.

Shared by job files (`tui.jobfile`) and workflow files (`schema`): the text is composed into nodes first,
so every later problem can name the line it comes from. Each function takes the error class to raise.
"""

from __future__ import annotations

import math

import yaml

from engine.errors import ValidationError

MAX_DEPTH = 64  # no job needs more; a deeper file is a mistake (or an attack on the parser)
_FLOAT_TAG = "tag:yaml.org,2002:float"


def decode(raw: bytes, where: str, error: type[ValidationError]) -> str:
    """`raw` as text (UTF-8, a BOM allowed); anything else is an error naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(f"{where}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8.") from e


def compose(text: str, where: str, error: type[ValidationError]) -> yaml.Node | None:
    """The single document of `text` as nodes (None when empty); YAML errors carry their line."""
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters at once
    except yaml.YAMLError as e:
        raise error(f"{where}: {' '.join(str(e).split())}; a job file is plain text.") from e
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise marked(e, where, error) from e
    except yaml.YAMLError as e:
        raise error(f"{where}: YAML error: {' '.join(str(e).split())}") from e
    except RecursionError as e:
        raise error(f"{where}: nested too deeply to be a job file (YAML nesting over {MAX_DEPTH}).") from e
    except (ValueError, OverflowError) as e:  # `\U0011FFFF`: an escape beyond Unicode, raised unmarked
        raise error(
            f"{where}:{loader.line + 1}: invalid character escape ({e}); a \\U escape goes up to \\U0010FFFF."
        ) from e
    finally:
        loader.dispose()


def marked(e: yaml.MarkedYAMLError, where: str, error: type[ValidationError]) -> ValidationError:
    """A YAML error as one line: the file, the line of the problem, and what is wrong there."""
    mark = e.problem_mark or e.context_mark
    line = f":{mark.line + 1}" if mark else ""
    problem = e.problem or e.context or "invalid YAML"
    if e.context and e.context_mark and e.problem and mark and e.context_mark.line != mark.line:
        problem += f" ({e.context} that starts at line {e.context_mark.line + 1})"
    return error(f"{where}{line}: YAML error: {problem}; fix the file there.")


def check_nodes(root: yaml.Node, where: str, error: type[ValidationError]) -> None:
    """Nesting no deeper than MAX_DEPTH, and every float finite (`.inf` and `.nan` are no job's numbers)."""
    constructor = yaml.SafeLoader("")
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(f"{where}:{line_of(node)}: nested too deeply to be a job file (over {MAX_DEPTH}).")
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]
        elif isinstance(node, yaml.ScalarNode) and node.tag == _FLOAT_TAG:
            try:
                finite = math.isfinite(constructor.construct_yaml_float(node))
            except ValueError:  # `!!float abc`
                finite = False
            if not finite:
                raise error(f"{where}:{line_of(node)}: {node.value} is not a finite number; give a plain number.")


def line_of(node: yaml.Node, key: str | None = None) -> int:
    """The 1-based line of `node`, or of its `key`'s value when it is a mapping that has one."""
    if key is not None and isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == key), node)
    return int(node.start_mark.line) + 1


def value_of(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of `key` in a mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return None


def node_at(root: yaml.Node, path: list[str | int]) -> yaml.Node | None:
    """The node at `path` (keys and list indexes), or None."""
    node: yaml.Node | None = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = value_of(node, str(part))
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def line_at(root: yaml.Node | None, path: list[str | int]) -> int | None:
    """The 1-based line of the node at `path` (keys and list indexes), or of its nearest existing parent;
    a key's own line for a mapping entry (its value may start on the next line)."""
    if root is None:
        return None
    node: yaml.Node = root
    line = int(node.start_mark.line) + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None
            )
            if pair is None:
                return line
            key, node = pair
            line = int(key.start_mark.line) + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = int(node.start_mark.line) + 1
        else:
            return line
    return line
