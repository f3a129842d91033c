"""Environment expansion in workflow files: `$VAR` in a job's `environment:` values, from the submitter's environment.

Environment values expand `$NAME`, `${NAME}` and `${NAME:-default}` (default when unset or empty) from the
submitter's environment only (not from each other), never through a shell: an unset variable is empty, as
in a shell; `$$` is a literal `$`, and a `$` before anything else stays as written (`$(cmd)` and backquotes
are text: nothing runs). Scalars are kept as the text written (`1.10`, `yes`, `0755` stay so, `NAME:` alone is
empty), which is what an environment value is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPANSION = re.compile(r"\$(?:(\$)|([A-Za-z_][A-Za-z0-9_]*)|\{([^}]*)\}|(\{))")


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}`, `${NAME:-default}` and `$$` expanded from `env` (the module's rule); a ValueError
    for a `${...}` that is not one of these."""

    def one(match: re.Match[str]) -> str:
        if match[1]:
            return "$"
        if match[2]:
            return env.get(match[2], "")
        if match[4]:
            raise ValueError("`${` without its closing `}`; write ${NAME}, or $$ for a literal $")
        name, sep, default = match[3].partition(":-")
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"`${{{match[3]}}}` is no variable; write ${{NAME}} or ${{NAME:-default}}")
        value = env.get(name, "")
        return value if value or not sep else default

    return _EXPANSION.sub(one, text)
