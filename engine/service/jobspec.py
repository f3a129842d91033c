"""What a submission may say, validated strictly, and how a batch's dependencies resolve.

Within one batch a job may name another by its `key`; across batches, dependencies are job ids.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ValidationError as JobValidationError

_UNITS = {"": 1, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_memory_mb(value: int | str) -> int:
    """`4096`, `"512M"`, `"4G"` -> megabytes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)i?[bB]?\s*", value)
    if not m:
        raise ValueError(f"{value!r} is not a memory size; write e.g. 4096, 512M or 4G")
    return int(float(m[1]) * _UNITS[m[2].lower()])


def parse_duration(value: float | str) -> float:
    """`90`, `"90s"`, `"15m"`, `"2h"` -> seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration; write e.g. 90, 15m or 2h")
    return float(m[1]) * _SECONDS[m[2]]


MAX_TEXT = 4096  # bytes in a name or path (PATH_MAX)
MAX_ARGUMENT = 128 * 1024  # bytes in one argument or environment value (the kernel's MAX_ARG_STRLEN)
MAX_ID = 2**63 - 1
_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")  # NUL ends a C string; a lone surrogate is not text


def _check_text(value: str, where: str, limit: int = MAX_TEXT) -> None:
    if _BAD_CHARACTERS.search(value):
        raise ValueError(f"{where} holds a NUL byte or an invalid (surrogate) character; remove it")
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise ValueError(f"{where} is longer than {limit} bytes; shorten it")


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    command: list[str] = Field(min_length=1, max_length=4096)
    name: str | None = None
    key: str | None = Field(default=None, description="a name other jobs of the same batch use in `after`")
    priority: int | None = Field(default=None, ge=0, le=100)
    cpus: int | None = Field(default=None, ge=0, le=1_000_000)
    mem_mb: int | None = Field(default=None, ge=0, le=2**40)
    gpus: int = Field(default=0, ge=0, le=1024)
    licenses: list[str] = Field(default_factory=list)
    after: list[int | str] = Field(default_factory=list)  # ids (1 to 2**63-1) or keys of this batch
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_delay: float | None = Field(default=None, ge=0)
    backoff_factor: float | None = Field(default=None, ge=1)
    max_delay: float | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    requires_approval: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    inputs: list[str] = Field(default_factory=list, description="local files staged to the node before the run")
    outputs: list[str] = Field(default_factory=list, description="globs collected back after the run")
    node: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("mem_mb", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return parse_memory_mb(value) if isinstance(value, str) else value

    @field_validator("timeout", "retry_delay", "max_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        if bad:
            raise ValueError(f"invalid environment variable name(s): {', '.join(bad)}")
        for name, text in value.items():
            _check_text(text, f"the value of {name}", MAX_ARGUMENT)
        return value

    @field_validator("command")
    @classmethod
    def _arguments(cls, value: list[str]) -> list[str]:
        for index, text in enumerate(value):
            _check_text(text, f"argument {index + 1}", MAX_ARGUMENT)
        return value

    @field_validator("licenses", "inputs", "outputs", "tags")
    @classmethod
    def _texts(cls, value: list[str]) -> list[str]:
        for index, text in enumerate(value):
            _check_text(text, f"item {index + 1}")
        return value

    @field_validator("name", "key", "workdir", "node")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value, "the value")
        return value

    @field_validator("labels")
    @classmethod
    def _label_texts(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _check_text(name, "a label name")
            _check_text(text, f"label {name!r}")
        return value

    @field_validator("after")
    @classmethod
    def _dependencies(cls, value: list[int | str]) -> list[int | str]:
        for dep in value:
            if isinstance(dep, int) and not 1 <= dep <= MAX_ID:
                raise ValueError(f"job id {dep} is out of range; ids are 1 to {MAX_ID}")
            if isinstance(dep, str):
                _check_text(dep, "a dependency")
                if dep.isdigit() and not dep.isascii():
                    raise ValueError(f"{dep!r} is not a job id: write ids with the digits 0-9")
                if dep.isascii() and dep.isdigit() and not 1 <= int(dep) <= MAX_ID:
                    raise ValueError(f"job id {dep} is out of range; ids are 1 to {MAX_ID}")
        return value


def parse_specs(items: list[Any], source: str = "submission") -> list[JobSpec]:
    """Validate raw dicts into specs; errors name the item and the field."""
    specs = []
    problems = []
    for index, item in enumerate(items):
        try:
            specs.append(JobSpec.model_validate(item))
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(job)"
                msg = (
                    "unknown field; remove it or check its spelling" if err["type"] == "extra_forbidden" else err["msg"]
                )
                problems.append(f"{source}: job #{index + 1}: field '{field}': {msg}")
    if problems:
        raise JobValidationError("\n".join(problems) + "\nNothing was submitted; fix these and submit again.")
    return specs


def batch_order(specs: list[JobSpec]) -> list[int]:
    """Indexes of `specs` with every in-batch parent before its children; a cycle is an error naming it."""
    keys: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.key is not None:
            if spec.key in keys:
                raise JobValidationError(f"two jobs in this batch use the key {spec.key!r}; keys must be unique.")
            keys[spec.key] = i
    for i, spec in enumerate(specs):
        for dep in spec.after:
            if isinstance(dep, str) and dep not in keys and not (dep.isascii() and dep.isdigit()):
                raise JobValidationError(
                    f"job #{i + 1} ({_label(spec, i)}) depends on {dep!r}, which no job in this batch has as its key."
                )
    order: list[int] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(i: int, path: list[int]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            cycle = [*path[path.index(i) :], i]
            names = " -> ".join(_label(specs[j], j) for j in cycle)
            raise JobValidationError(f"dependency cycle: {names}. Remove one of these dependencies.")
        state[i] = 1
        for dep in specs[i].after:
            if isinstance(dep, str) and dep in keys:
                visit(keys[dep], [*path, i])
        state[i] = 2
        order.append(i)

    for i in range(len(specs)):
        visit(i, [])
    return order


def _label(spec: JobSpec, index: int) -> str:
    return spec.key or spec.name or f"#{index + 1}"
