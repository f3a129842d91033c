"""Reading a file of jobs (`submit --file`, `run`, `--submit`): a YAML list of jobs, or one command per line.

Which of the two a file is, is decided by its first meaningful line (the first that is neither blank nor
a `#` comment), never by whether the text happens to parse as YAML:

- the file is YAML when that line starts a list item (`-` then a space or the end of the line), a flow
  collection (`[` or `{`, so JSON is read too), a document (`---`, or a `%` directive), or a mapping key
  (a word then `:` and a space or the end of the line, as in `jobs:`);
- anything else makes it a command list: one command per line, split like a shell would (as GNU parallel
  reads them), blank lines and `#` comments skipped.

So a YAML file with a mistake in it is reported with its line and never run line by line. YAML holds a
list of jobs, each a mapping (`name:`, `command:`, ... as `jobtui submit` takes them) or a command string,
or a mapping with that list under `jobs:`. Every problem is one `ValidationError` (exit 2) naming the file
and, where it has one, the line: text that is not UTF-8, a YAML syntax or escape error, nesting too deep,
a number that is not finite (`.inf`, `.nan`), a job that is not a mapping, a `workdir` that is not a path.
A relative `workdir` is taken from the current directory.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ValidationError

_YAML_START = re.compile(r"(-(\s|$)|[\[{]|---|%|[\w.-]+\s*:(\s|$))")
_FLOAT_TAG = "tag:yaml.org,2002:float"
MAX_DEPTH = 64  # no job needs more; a deeper file is a mistake (or an attack on the parser)


class JobFileError(ValidationError):
    title = "Bad job file"


def read_job_file(name: str) -> list[dict[str, Any]]:
    """The jobs of file `name` (`-`: stdin) as submission specs; see the module's rule for the two formats."""
    where = "<stdin>" if name == "-" else name
    text = _read_text(name, where)
    jobs = _yaml_jobs(text, where) if is_yaml(text) else _command_lines(text, where)
    if not jobs:
        raise JobFileError(f"{where}: holds no jobs; write a YAML list of jobs or one command per line.")
    return jobs


def is_yaml(text: str) -> bool:
    """True when `text` is read as YAML rather than as a command list (the module's rule)."""
    first = next((s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")), "")
    return bool(_YAML_START.match(first))


def _read_text(name: str, where: str) -> str:
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as e:
        raise JobFileError(f"{where}: cannot read the job file ({e.strerror or e}); check the path.") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise JobFileError(
            f"{where}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8."
        ) from e


def _command_lines(text: str, where: str) -> list[dict[str, Any]]:
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            jobs.append({"command": shlex.split(line), "workdir": os.getcwd()})
        except ValueError as e:
            raise JobFileError(f"{where}:{number}: cannot split this command line ({e}); check its quotes.") from e
    return jobs


def _yaml_jobs(text: str, where: str) -> list[dict[str, Any]]:
    root = _compose(text, where)
    if root is None:
        return []
    _check_nodes(root, where)
    items: yaml.Node = root
    if isinstance(root, yaml.MappingNode):
        found = next((value for key, value in root.value if key.value == "jobs"), None)
        if found is None:
            raise JobFileError(
                f"{where}:{_line(root)}: a mapping without `jobs:`; a job file is a list of jobs, "
                "or a mapping with the list under `jobs:`."
            )
        items = found
    if not isinstance(items, yaml.SequenceNode):
        raise JobFileError(f"{where}:{_line(items)}: expected a list of jobs (`- name: ...` items).")
    loader = yaml.SafeLoader("")
    jobs = []
    for number, node in enumerate(items.value, 1):
        try:
            item = loader.construct_document(node)
        except yaml.MarkedYAMLError as e:
            raise _marked(e, where) from e
        except (ValueError, OverflowError) as e:  # a date like 2024-13-45, raised unmarked
            raise JobFileError(f"{where}:{_line(node)}: job {number}: {e}; quote the value to keep it as text.") from e
        if isinstance(item, str):
            item = {"command": item}
        if not isinstance(item, dict):
            raise JobFileError(
                f"{where}:{_line(node)}: job {number} is a {_kind(item)}; write each job as a mapping "
                "(name:, command:, ...) or as a command string."
            )
        workdir = item.get("workdir")
        if workdir is not None and not isinstance(workdir, str):
            raise JobFileError(
                f"{where}:{_line(node, 'workdir')}: job {number}: workdir must be a path (text), not {workdir!r}."
            )
        jobs.append({**item, "workdir": os.path.abspath(workdir or ".")})
    return jobs


def _compose(text: str, where: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise _marked(e, where) from e
    except yaml.YAMLError as e:
        raise JobFileError(f"{where}: YAML error: {' '.join(str(e).split())}") from e
    except RecursionError as e:
        raise JobFileError(f"{where}: nested too deeply to be a job file (YAML nesting over {MAX_DEPTH}).") from e
    except (ValueError, OverflowError) as e:  # `\U0011FFFF`: an escape beyond Unicode, raised unmarked
        raise JobFileError(
            f"{where}:{loader.line + 1}: invalid character escape ({e}); a \\U escape goes up to \\U0010FFFF."
        ) from e
    finally:
        loader.dispose()


def _marked(error: yaml.MarkedYAMLError, where: str) -> JobFileError:
    mark = error.problem_mark or error.context_mark
    line = f":{mark.line + 1}" if mark else ""
    problem = error.problem or error.context or "invalid YAML"
    if error.context and error.context_mark and error.problem and mark and error.context_mark.line != mark.line:
        problem += f" ({error.context} that starts at line {error.context_mark.line + 1})"
    return JobFileError(f"{where}{line}: YAML error: {problem}; fix the file there.")


def _check_nodes(root: yaml.Node, where: str) -> None:
    """Nesting no deeper than MAX_DEPTH, and every float finite (`.inf` and `.nan` are no job's numbers)."""
    constructor = yaml.SafeLoader("")
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JobFileError(f"{where}:{_line(node)}: nested too deeply to be a job file (over {MAX_DEPTH}).")
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
                raise JobFileError(f"{where}:{_line(node)}: {node.value} is not a finite number; give a plain number.")


def _line(node: yaml.Node, key: str | None = None) -> int:
    """The 1-based line of `node`, or of its `key`'s value when it is a mapping that has one."""
    if key is not None and isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == key), node)
    return int(node.start_mark.line) + 1


def _kind(value: Any) -> str:
    return {list: "list", int: "number", float: "number", bool: "true/false"}.get(type(value), type(value).__name__)
