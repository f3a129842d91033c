"""What a submission may say, validated strictly, and how a batch's dependencies resolve.

Within one batch a job may name another by its `key`; across batches, dependencies are job ids.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
import socket
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from engine.errors import ValidationError as JobValidationError
from engine.executors.wrapper import PYTHON_FILE

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
MAX_WAITED_FILES = 1000  # files one job may wait for
MAX_ARGUMENT = 128 * 1024  # bytes in one argument or environment value (the kernel's MAX_ARG_STRLEN)
MAX_ID = 2**63 - 1
MAX_GPUS = 1024  # GPUs one job may ask for; device indexes are below it
MAX_IDEMPOTENCY_KEY = 200  # characters of printable ASCII (it travels in an HTTP header)
_IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")
NOTHING_SUBMITTED = "Nothing was submitted; fix these and submit again."
_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")  # NUL ends a C string; a lone surrogate is not text


def _check_text(value: str, where: str, limit: int = MAX_TEXT) -> None:
    if _BAD_CHARACTERS.search(value):
        raise ValueError(f"{where} holds a NUL byte or an invalid (surrogate) character; remove it")
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise ValueError(f"{where} is longer than {limit} bytes; shorten it")


def _check_arguments(value: list[str]) -> list[str]:
    """`value`, if every argument is text a process may be given."""
    for index, text in enumerate(value):
        _check_text(text, f"argument {index + 1}", MAX_ARGUMENT)
    return value


# The byte limits, as the OpenAPI schema shows them (in characters, which a byte limit always bounds); the
# validators below check the bytes and say which item is too long.
Text = Annotated[str, Field(json_schema_extra={"maxLength": MAX_TEXT})]
Argument = Annotated[str, Field(json_schema_extra={"maxLength": MAX_ARGUMENT})]
JobId = Annotated[int, Field(json_schema_extra={"minimum": 1, "maximum": MAX_ID})]
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


Condition = Literal["success", "failure", "any"]  # when a child may start: its parent completed, failed, ended
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def check_http_url(url: str) -> str:
    """`url` when it is an http(s) URL with a host; otherwise a ValueError saying so."""
    if _BAD_CHARACTERS.search(url) or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"{url!r} holds spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise ValueError(f"{url!r} is not a valid URL ({e})") from e
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL; write e.g. https://example.org/health")
    return url


class HttpCall(BaseModel):
    """An HTTP request as a job (a workflow's `job_type: http`): it succeeds when the status is expected."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(default=None, description="text as is; a mapping or list is sent as JSON")
    expected_status: list[int] = Field(default_factory=list, description="empty: any 2xx")
    timeout: float = Field(default=30.0, gt=0, description="seconds for the request")

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.upper()
            if value not in HTTP_METHODS:
                raise ValueError(f"{value!r} is not an HTTP method; use one of {', '.join(HTTP_METHODS)}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("body", mode="before")
    @classmethod
    def _body(cls, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, (dict, list)) else value

    @field_validator("body")
    @classmethod
    def _body_size(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value, "the body", MAX_ARGUMENT)
        return value

    @field_validator("expected_status", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, str)) else value

    @field_validator("expected_status")
    @classmethod
    def _status_range(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 100 <= code <= 599]
        if bad:
            raise ValueError(f"{bad[0]} is not an HTTP status; statuses are 100 to 599")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _header_texts(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if any(c in text for c in "\r\n\x00"):
                raise ValueError(f"header {name!r} holds a line break or NUL; remove it")
        return value


MAX_PYTHON_CODE = 128 * 1024  # bytes of a python job's code (it is kept on the job, in the store)


class PythonCode(BaseModel):
    """Python code as a job (a workflow's `job_type: python` with code): the engine writes it into the attempt's
    run directory as `job.py` and runs `INTERPRETER job.py ARGS` (the config's `python_interpreter` unless given)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    code: str = Field(min_length=1, json_schema_extra={"maxLength": MAX_PYTHON_CODE})
    interpreter: Text | None = Field(default=None, description="default: the engine's `python_interpreter`")
    args: list[Argument] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        _check_text(value, "the python code", MAX_PYTHON_CODE)
        return value

    @field_validator("interpreter")
    @classmethod
    def _interpreter(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value, "the interpreter")
            if not value.strip():
                raise ValueError("the interpreter is empty; name a program, e.g. python3")
        return value

    @field_validator("args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        return _check_arguments(value)


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def reaches(url: str, addresses: Iterable[tuple[str, int]], own_names: Iterable[str] = ()) -> bool:
    """Does the http(s) `url` point at one of `addresses` (host, port), which this machine listens on?

    The same port, and a host that is this machine: the listening host as written, a loopback address or name
    (127.0.0.1, 127.1, ::1, localhost, *.localhost), 0.0.0.0 or, for a wildcard listener, one of `own_names` (the
    host name). Names are not looked up (a submission never waits for DNS).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    host = (parts.hostname or "").lower().rstrip(".")
    names = {name.lower().rstrip(".") for name in own_names}
    for listen_host, listen_port in addresses:
        if port != listen_port:
            continue
        listen = listen_host.lower().strip("[]")
        if host == listen or _loopback(host) or (listen in _WILDCARDS and host in names):
            return True
    return False


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))  # 127.1, 2130706433, 0x7f.1: what C resolves
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def check_success_file(path: str, what: str = "the success file") -> None:
    """A job's `success_file` (or a file it waits for, `what`): a non-empty path below its working directory, on any
    node (no NUL or newline, not absolute or `~`, no `..` component, at most MAX_TEXT bytes); a ValueError saying
    what is wrong otherwise."""
    _check_text(path, what)
    if "\n" in path or "\r" in path:
        raise ValueError(f"{what} holds a line break; name a file without one")
    if path.startswith(("/", "~")):
        raise ValueError(f"{what} {path!r} is absolute; give a path relative to the job's working directory")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise ValueError(f"{what} {path!r} names no file; give e.g. qsub.finished.1")
    if ".." in parts:
        raise ValueError(f"{what} {path!r} leaves the job's working directory ('..'); give a path below it")


class CopyBack(BaseModel):
    """Files brought back to this machine after the job ends, whatever its end: those of its working directory on
    its node that match `files`, copied into the directory `to` here (nothing there is ever deleted), and its last
    attempt's output as `{output}.stdout` / `{output}.stderr` there. Done by the engine off its loop, only for jobs
    of the engine's own account (it writes with that account's rights); a copy that fails is noted on the job and
    never fails it."""

    model_config = ConfigDict(extra="forbid")

    to: Text = Field(description="an absolute directory on the engine's machine")
    files: list[Text] = Field(default_factory=list, max_length=256, description="globs below the working directory")
    output: Text | None = Field(default=None, description="the file-name stem the output is saved as")

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        _check_text(value, "copy_back.to")
        if not value.startswith("/") or any(ord(c) < 32 for c in value):
            raise ValueError(f"copy_back.to {value!r}: give an absolute directory on the engine's machine")
        return value

    @field_validator("files")
    @classmethod
    def _files(cls, value: list[str]) -> list[str]:
        for index, pattern in enumerate(value):
            check_success_file(pattern, f"copy_back file {index + 1}")
        return value

    @field_validator("output")
    @classmethod
    def _output(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value, "copy_back.output")
            if not value or "/" in value or value in (".", "..") or any(ord(c) < 32 for c in value):
                raise ValueError(f"copy_back.output {value!r}: give a file name (no '/'), e.g. jobtui.1")
        return value


def typed_command(http: HttpCall | None, python: PythonCode | None, interpreter: str = "python3") -> list[str]:
    """The command shown for an http or python job (the engine runs the request or the code itself)."""
    if http is not None:
        return ["http", http.method, http.url]
    assert python is not None
    return [python.interpreter or interpreter, PYTHON_FILE, *python.args]


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    command: list[Argument] = Field(min_length=1, max_length=4096)
    name: Text | None = None
    key: Text | None = Field(default=None, description="a name other jobs of the same batch use in `after`")
    priority: int | None = Field(default=None, ge=0, le=100)
    cpus: int | None = Field(default=None, ge=0, le=1_000_000)
    mem_mb: int | None = Field(default=None, ge=0, le=2**40)
    gpus: int = Field(default=0, ge=0, le=MAX_GPUS)
    gpu_ids: list[Annotated[int, Field(ge=0, lt=MAX_GPUS)]] = Field(
        default_factory=list, max_length=MAX_GPUS, description="the GPU devices it needs (it waits for them)"
    )
    any_gpu: bool = Field(default=False, description="any free GPUs (1 unless `gpus` says more); not with gpu_ids")
    no_wait: bool = Field(
        default=False, description="rejected at once (reason gpus_busy) when its GPUs are not free now"
    )
    licenses: list[Text] = Field(default_factory=list)
    after: list[JobId | Text] = Field(default_factory=list, description="job ids, or keys of jobs of this batch")
    after_when: dict[str, Condition] = Field(
        default_factory=dict,
        description="per dependency of `after` (its id or key, as text): start once it completed (success, the "
        "default), failed (failure) or ended either way (any)",
    )
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_delay: float | None = Field(default=None, ge=0)
    backoff_factor: float | None = Field(default=None, ge=1)
    max_delay: float | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    requires_approval: bool = False
    env: dict[str, Argument] = Field(default_factory=dict, json_schema_extra={"propertyNames": {"pattern": _ENV_NAME}})
    workdir: Text | None = None
    inputs: list[Text] = Field(default_factory=list, description="local files staged to the node before the run")
    outputs: list[Text] = Field(default_factory=list, description="globs collected back after the run")
    node: Text | None = None
    target: Literal["local", "remote", "auto"] = Field(
        default="auto", description="local nodes only, remote ones only (SSH, clusters), or either"
    )
    labels: dict[str, Text] = Field(default_factory=dict, json_schema_extra={"propertyNames": {"maxLength": MAX_TEXT}})
    tags: list[Text] = Field(default_factory=list)
    http: HttpCall | None = Field(
        default=None, description="an HTTP request the engine makes itself; `command` is then only shown"
    )
    python: PythonCode | None = Field(
        default=None, description="python code the engine runs from a file; `command` is then only shown"
    )
    success_file: Text | None = Field(
        default=None,
        description="a file, relative to the working directory, the job must leave behind: one that exits 0 without "
        "it fails with the reason no_finished_marker",
    )
    copy_back: CopyBack | None = Field(
        default=None, description="files and output brought back to this machine after the job ends"
    )
    wait_for_files: list[Text] = Field(
        default_factory=list,
        max_length=MAX_WAITED_FILES,
        description="files, relative to the working directory on the job's node, that must all exist before it "
        "starts; until then it waits with the reason waiting_for_files",
    )
    progress_files: list[Text] = Field(
        default_factory=list,
        max_length=16,
        description="files in the working directory to follow for progress besides its output ({name}: the job's "
        "name, {id}: its id), e.g. {name}.sta; Abaqus .sta, .msg and .inp files have built-in parsers",
    )

    @model_validator(mode="before")
    @classmethod
    def _command_of_a_typed_job(cls, data: Any) -> Any:
        """An http or python job needs no `command`: it is made from the request or the code."""
        if isinstance(data, dict) and "command" not in data and (data.get("http") or data.get("python")):
            data = {**data, "command": ["http" if data.get("http") else "python"]}
        return data

    @model_validator(mode="after")
    def _one_job_type(self) -> JobSpec:
        if self.http is not None and self.python is not None:
            raise ValueError("a job is an http request or python code, not both; split it in two jobs")
        if self.http is not None and self.success_file is not None:
            raise ValueError("an http job writes no files, so it has no success_file; remove it")
        if self.http is not None and self.copy_back is not None:
            raise ValueError("an http job writes no files, so there is nothing to copy back; remove copy_back")
        if self.http is not None and self.wait_for_files:
            raise ValueError("an http job runs on no node, so it cannot wait for files there; remove wait_for_files")
        if self.http is not None or self.python is not None:
            self.command = typed_command(self.http, self.python)
        return self

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
        bad = [k for k in value if not re.fullmatch(_ENV_NAME, k)]
        if bad:
            raise ValueError(f"invalid environment variable name(s): {', '.join(map(repr, bad))}")
        for name, text in value.items():
            _check_text(text, f"the value of {name}", MAX_ARGUMENT)
        return value

    @field_validator("command")
    @classmethod
    def _arguments(cls, value: list[str]) -> list[str]:
        return _check_arguments(value)

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

    @field_validator("success_file")
    @classmethod
    def _success_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_success_file(value)
        return value

    @field_validator("progress_files", "wait_for_files")
    @classmethod
    def _relative_files(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Paths inside the workdir (as a success file's), each once."""
        what = {"progress_files": "progress file", "wait_for_files": "waited-for file"}[str(info.field_name)]
        for index, path in enumerate(value):
            check_success_file(path, f"{what} {index + 1}")
        return list(dict.fromkeys(value))

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

    @model_validator(mode="after")
    def _gpu_request(self) -> JobSpec:
        """`gpu_ids` name the devices (and so the count); `any_gpu` takes any free ones; not both."""
        if self.gpu_ids and self.any_gpu:
            raise ValueError(
                "gpu_ids (--gpu-ids) names the devices and any_gpu (--any-gpu) takes any free ones; give one of them"
            )
        if len(set(self.gpu_ids)) != len(self.gpu_ids):
            raise ValueError(f"gpu_ids {self.gpu_ids} names a device twice; name each once")
        if self.gpu_ids and self.gpus and self.gpus != len(self.gpu_ids):
            raise ValueError(
                f"gpus is {self.gpus} but gpu_ids names {len(self.gpu_ids)} devices; drop gpus or make them agree"
            )
        if self.gpu_ids:
            self.gpus = len(self.gpu_ids)
        elif self.any_gpu and not self.gpus:
            self.gpus = 1
        if self.no_wait and not self.gpus:
            raise ValueError("no_wait (--no-wait) rejects a job whose GPUs are busy; this one asks for none: add gpus")
        return self

    @model_validator(mode="after")
    def _conditions_name_dependencies(self) -> JobSpec:
        named = {str(dep) for dep in self.after}
        stray = [key for key in self.after_when if key not in named]
        if stray:
            raise ValueError(f"after_when names {stray[0]!r}, which is not in `after`; add it there or remove it")
        return self


def parse_specs(items: list[Any], source: str = "submission") -> list[JobSpec]:
    """Validate raw dicts into specs; errors name the item and the field."""
    specs = []
    problems = []
    for index, item in enumerate(items):
        try:
            specs.append(JobSpec.model_validate(item))
        except ValidationError as e:
            problems += [spec_problem(index, err["loc"], err, source) for err in e.errors()]
    if problems:
        raise JobValidationError("\n".join(problems) + "\n" + NOTHING_SUBMITTED)
    return specs


def spec_problem(index: int, loc: Sequence[int | str], error: ErrorDetails, source: str = "submission") -> str:
    """One line for a validation `error` of job `index` at `loc` within the job: the job, the field, what."""
    field = ".".join(str(p) for p in loc) or "(job)"
    msg = "unknown field; remove it or check its spelling" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{source}: job #{index + 1}: field '{field}': {msg}"


def check_idempotency_key(key: str) -> None:
    """A submission's idempotency key: 1 to 200 characters of printable ASCII."""
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise JobValidationError(
            f"idempotency key {key[:40]!r}{'...' if len(key) > 40 else ''} is not 1 to {MAX_IDEMPOTENCY_KEY} "
            "characters of printable ASCII; use e.g. a UUID."
        )


class WorkflowInfo(BaseModel):
    """Who a batch is when it came from a workflow file: the engine keeps a record of it with its jobs. With
    `join`, the batch joins that workflow instead (a job tree's resumed part): its other fields are not used."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1)
    join: int | None = Field(
        default=None, ge=1, description="add the batch to this workflow (its submitter's or, for an admin, any)"
    )
    version: Text | None = None
    description: Text = ""
    digest: str = Field(default="", pattern=r"^([0-9a-f]{64})?$", description="sha256 of the file, hex")
    max_concurrent: int | None = Field(
        default=None, ge=1, le=1_000_000, description="jobs of it running at once (max_concurrent_jobs)"
    )

    @field_validator("name", "version", "description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value, "the value")
        return value


def parse_workflow_info(data: Any) -> WorkflowInfo:
    """A submission's `workflow` object, validated; what is wrong with it, in one error."""
    try:
        return WorkflowInfo.model_validate(data)
    except ValidationError as e:
        where = [".".join(map(str, err["loc"])) for err in e.errors()]
        problems = [f"workflow: field '{at}': {err['msg']}" if at else f"workflow: {err['msg']}"
                    for at, err in zip(where, e.errors(), strict=True)]  # fmt: skip
        raise JobValidationError("; ".join(problems) + ". " + NOTHING_SUBMITTED) from e


def batch_digest(specs: Iterable[JobSpec]) -> str:
    """What a batch says, as a hash: the same jobs give the same digest however their fields are ordered."""
    canonical = [spec.model_dump(mode="json") for spec in specs]
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
