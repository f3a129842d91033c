"""The workflow file's format (the DAG format of the seed, `dag-orchestrator-cli`), as pydantic reads it.

A workflow is a YAML (or JSON) mapping; every key not listed here is refused, with its file, line and field.

    name: "CI/CD Pipeline"          # default: the file's name without its extension
    version: "1.0.0"
    description: "..."
    global_config:
      max_retries: 3                # retries of a job that sets none (a job's retry_config wins)
      timeout: 3600                 # seconds (or 15m, 2h) for a job that sets none
      max_concurrent_jobs: 4        # jobs of this workflow running at once (kept for the engine: `settings`)
    jobs:
      - id: build                   # letters, digits, `_ . -`; not only digits (that would read as a job id)
        name: "Build"               # default: the id
        job_type: command           # command (default) | script | python | http
        command: "make build"       # see the job types (`jobs`)
        dependencies: [lint]        # or `after:`, not both; see the edges (`reader`)
        timeout: 300
        retry_config: {max_attempts: 3, initial_delay: 1.0, backoff_factor: 2.0, max_delay: 60}
        resource_limits: {max_memory_mb: 1024, max_cpu_percent: 200, max_execution_time: 600,
                          max_concurrent_jobs: 4}
        environment: {NODE_ENV: production, PATH: "/opt/bin:$PATH"}
        working_directory: build    # default: the workflow file's directory
        tags: [build]
        conditions: {skip_if_failed: [lint], only_if: {NODE_ENV: production}, only_if_branch: main}
        # jobtui's own: node, labels, cpus, gpus, gpu_ids, any_gpu, target, licenses, inputs, outputs,
        # requires_approval, priority

Job types (`jobs`), edges and conditions (`reader`), environment values (`expansion`) and what is refused
(`problems`) are described where they are read.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from engine.service.jobspec import parse_duration, parse_memory_mb
from engine.workflows.expansion import VARIABLE_NAME

JobType = Literal["command", "script", "python", "http"]
JOB_TYPES: tuple[str, ...] = ("command", "script", "python", "http")
CONDITIONS: tuple[str, ...] = ("success", "failure", "any")
WORKFLOW_ONLY_KEYS = ("global_config",)  # at the top level, these make a mapping a workflow even without ids
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _variable_names(value: dict[str, str]) -> dict[str, str]:
    """`value`, if every key is an environment variable's name."""
    bad = [k for k in value if not VARIABLE_NAME.fullmatch(k)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an environment variable name")
    return value


Variables = Annotated[dict[str, str], AfterValidator(_variable_names)]  # environment variables by name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _seconds(value: Any) -> Any:
    """A duration: a number (as text or not), or `90s`, `15m`, `2h`, `1d`."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return parse_duration(value)
    return value


def _megabytes(value: Any) -> Any:
    return parse_memory_mb(value) if isinstance(value, str) else value


class GlobalConfig(_Strict):
    max_retries: int | None = Field(default=None, ge=0, le=100)
    timeout: float | None = Field(default=None, gt=0)
    max_concurrent_jobs: int | None = Field(default=None, ge=1)

    _timeout = field_validator("timeout", mode="before")(_seconds)


class RetryConfig(_Strict):
    max_attempts: int | None = Field(default=None, ge=1, le=101)
    initial_delay: float | None = Field(default=None, ge=0)
    backoff_factor: float | None = Field(default=None, ge=1)
    max_delay: float | None = Field(default=None, ge=0)

    _durations = field_validator("initial_delay", "max_delay", mode="before")(_seconds)


class ResourceLimits(_Strict):
    max_memory_mb: int | None = Field(default=None, ge=0)
    max_cpu_percent: float | None = Field(default=None, gt=0)
    max_execution_time: float | None = Field(default=None, gt=0)
    max_concurrent_jobs: int | None = Field(default=None, ge=1)

    _memory = field_validator("max_memory_mb", mode="before")(_megabytes)
    _duration = field_validator("max_execution_time", mode="before")(_seconds)


class Conditions(_Strict):
    skip_if_failed: list[str] = Field(default_factory=list)
    only_if: Variables = Field(default_factory=dict)
    only_if_branch: str | None = None


class HttpOptions(_Strict):
    method: str = "GET"
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expected_status: Any = None
    timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=100)

    _timeout = field_validator("timeout", mode="before")(_seconds)


class JobModel(_Strict):
    id: str
    name: str | None = None
    job_type: str = "command"
    command: Any = None
    script_path: str | None = None
    args: list[str] = Field(default_factory=list)
    interpreter: str | None = None
    http: HttpOptions | None = None
    dependencies: Any = None
    after: Any = None
    timeout: float | None = Field(default=None, gt=0)
    retry_config: RetryConfig | None = None
    resource_limits: ResourceLimits | None = None
    environment: Variables = Field(default_factory=dict)
    working_directory: str | None = None
    tags: list[str] = Field(default_factory=list)
    conditions: Conditions | None = None
    node: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    cpus: int | None = None
    gpus: int | None = None
    gpu_ids: list[int] | None = None
    any_gpu: bool | None = None
    target: Literal["local", "remote", "auto"] | None = None
    licenses: list[str] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    requires_approval: bool | None = None
    priority: int | None = None

    _timeout = field_validator("timeout", mode="before")(_seconds)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a job id; use 1 to 128 letters, digits, `_`, `.` or `-` (not starting with . or -)"
            )
        if value.isdigit():
            raise ValueError(f"{value!r} is only digits, which reads as a job number; add a letter")
        return value

    @field_validator("job_type")
    @classmethod
    def _job_type(cls, value: str) -> str:
        if value not in JOB_TYPES:
            raise ValueError(f"unknown job type {value!r}; use one of {', '.join(JOB_TYPES)}")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ValueError("write the command as text (a shell line) or a list of arguments")

    @field_validator("environment", mode="before")
    @classmethod
    def _empty_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "" if v is None else v for k, v in value.items()}  # `NAME:` with nothing: empty
        return value


class WorkflowModel(_Strict):
    name: str | None = None
    version: str | None = None
    description: str | None = None
    global_config: GlobalConfig = Field(default_factory=GlobalConfig)
    jobs: list[dict[str, Any]] = Field(min_length=1)  # each a JobModel, validated on its own (all errors at once)


class TextLoader(yaml.SafeLoader):
    """Scalars as the text written (`1.10`, `yes`, `0755` stay text; pydantic converts where a number is
    meant); only null is None. An environment value is text, and YAML 1.1's guesses would change it."""


def _as_text(loader: TextLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("int", "float", "bool", "timestamp"):
    TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)
