"""Workflow files: the DAG format of the seed (`dag-orchestrator-cli`), validated strictly, as one `Workflow`.

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
        command: "make build"       # see the job types below
        dependencies: [lint]        # or `after:`, not both; see the edges below
        timeout: 300
        retry_config: {max_attempts: 3, initial_delay: 1.0, backoff_factor: 2.0, max_delay: 60}
        resource_limits: {max_memory_mb: 1024, max_cpu_percent: 200, max_execution_time: 600,
                          max_concurrent_jobs: 4}
        environment: {NODE_ENV: production, PATH: "/opt/bin:$PATH"}
        working_directory: build    # default: the workflow file's directory
        tags: [build]
        conditions: {skip_if_failed: [lint], only_if: {NODE_ENV: production}, only_if_branch: main}
        # jobtui's own: node, labels, cpus, gpus, licenses, inputs, outputs, requires_approval, priority

Job types, and the command each becomes (no shell unless the user wrote a shell string):

- `command`: a string is a shell line, run as `sh -c STRING`; a list is the argv itself, run as written.
- `script`: `script_path` (a relative path is taken from the workflow file's directory; the file must exist
  and be executable) and optional `args`: argv `[absolute script path, *args]`.
- `python`: `command` holds the code, or `script_path` a `.py` file (run as `python3 PATH *args`);
  `interpreter:` names another Python. Code (at most 128 KiB; larger code goes in a script_path file) is kept
  as `JobSpec.python`: the engine writes it into the attempt's run directory as `job.py` and runs
  `INTERPRETER job.py *args` (the config's `python_interpreter` unless the job names one), on local nodes only.
- `http`: `command: URL` (a GET) or an `http:` mapping: method, url, headers, body (text, or a mapping sent
  as JSON), expected_status (a status or a list; default any 2xx), timeout (per request, default 30 s) and
  retries (the job's retries, unless retry_config gives them). Only http(s) URLs. The spec keeps the request
  as `JobSpec.http`; the engine makes it itself (no process), and the command only shows it:
  `["http", METHOD, URL]`.

Mapping onto `JobSpec`: key = id, name = name (or id), after = the parents' ids (declared order),
after_when = the parents whose edge is not `success`; retries = retry_config.max_attempts - 1 (attempts
count the first run, as the engine's `max_attempts` does), else http.retries, else global max_retries;
retry_delay = initial_delay; backoff_factor; max_delay; timeout = the smaller of timeout and
resource_limits.max_execution_time, else global timeout; mem_mb = max_memory_mb (4096, or 512M, 4G);
cpus = cpus, else max_cpu_percent / 100 rounded up (200 % is two cores); env = environment, expanded.

Edges. `dependencies:` (or `after:`) is a list whose items are an id (`build`: waits for build to complete)
or a one-key mapping `{build: failure}`, or a mapping of ids to conditions (`after: {build: success,
lint: any}`). Conditions: `success` (Slurm afterok, the default), `failure` (afternotok: only once the parent
failed), `any` (afterany: once the parent ended, whatever way).

Environment values expand `$NAME`, `${NAME}` and `${NAME:-default}` (default when unset or empty) from the
submitter's environment only (not from each other), never through a shell: an unset variable is empty, as
in a shell; `$$` is a literal `$`, and a `$` before anything else stays as written (`$(cmd)` and backquotes
are text: nothing runs). Scalars are kept as the text written (`1.10`, `yes`, `0755` stay so, `NAME:` alone is
empty), which is what an environment value is.

Conditions are decided when the workflow is read, from the submitter's environment, so the engine needs no
new notion of them: `skip_if_failed: [ids]` (each must be a parent) makes those edges `success` (an `any`
edge then skips the job when that parent failed; a `failure` edge would never run: refused);
`only_if: {NAME: value}` compares with the job's environment (the submitter's, overlaid with `environment`);
`only_if_branch: main` compares with the branch the caller gives (`tui.jobfile`: `$JOBTUI_BRANCH`, else
the git branch checked out in the workflow's directory; unknown: the condition is false). A job whose
condition is false does not run (`Workflow.skipped` says why), nor does any child waiting for it with
`success` or `failure`; a child's `any` edge to it is dropped, as to a parent that ended.

Refused, with nothing queued, every problem at once in line order (`FILE:LINE: job 'ID': field 'F': what`):
a cycle (its path, `a -> b -> c -> a`), a dependency on an unknown id, an id given twice, a condition naming
a job that is not a parent, an unknown job type, an http job whose URL is not http(s), a missing script
file, a file that mixes this shape with a job list (entries without `id`), and any field that is not valid
for `JobSpec`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError

from engine.errors import ValidationError
from engine.service.jobspec import (
    PYTHON_FILE,
    Condition,
    HttpCall,
    JobSpec,
    check_http_url,
    parse_duration,
    parse_memory_mb,
)
from engine.workflows import yamlnodes
from engine.workflows.graph import GraphNode, analyze

JobType = Literal["command", "script", "python", "http"]
JOB_TYPES: tuple[str, ...] = ("command", "script", "python", "http")
CONDITIONS: tuple[str, ...] = ("success", "failure", "any")
WORKFLOW_ONLY_KEYS = ("global_config",)  # at the top level, these make a mapping a workflow even without ids
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPANSION = re.compile(r"\$(?:(\$)|([A-Za-z_][A-Za-z0-9_]*)|\{([^}]*)\}|(\{))")


class WorkflowError(ValidationError):
    title = "Bad workflow file"


# ---------------------------------------------------------------- the document, as pydantic reads it


def _variable_names(value: dict[str, str]) -> dict[str, str]:
    """`value`, if every key is an environment variable's name."""
    bad = [k for k in value if not _NAME.fullmatch(k)]
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


class _TextLoader(yaml.SafeLoader):
    """Scalars as the text written (`1.10`, `yes`, `0755` stay text; pydantic converts where a number is
    meant); only null is None. An environment value is text, and YAML 1.1's guesses would change it."""


def _as_text(loader: _TextLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("int", "float", "bool", "timestamp"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)


# ---------------------------------------------------------------- the result


@dataclass(frozen=True)
class Settings:
    max_retries: int | None = None
    timeout: float | None = None
    max_concurrent_jobs: int | None = None  # the smallest of global_config's and every job's resource_limits'


@dataclass(frozen=True)
class WorkflowJob:
    id: str
    name: str
    job_type: JobType
    spec: JobSpec  # the whole job, every parent in `after` (see `to_job_specs` for the batch)
    after: Mapping[str, Condition]  # parent id -> condition, declared order (skip_if_failed applied)
    line: int
    tags: tuple[str, ...] = ()
    skipped: str | None = None  # why it will not run, decided when read (only_if, a parent that will not run)


@dataclass(frozen=True)
class Workflow:
    name: str
    version: str | None
    description: str
    digest: str  # sha256 of the file's bytes, hex
    source: str  # the file as named (`<stdin>` for standard input)
    base_dir: str  # the directory relative paths are taken from
    settings: Settings
    jobs: tuple[WorkflowJob, ...]
    branch: str | None = None  # the branch `only_if_branch` compared with, when a job has one
    cycle: tuple[str, ...] = ()  # only when read with allow_cycles: one cycle of the graph
    _by_id: dict[str, WorkflowJob] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({job.id: job for job in self.jobs})

    def job(self, job_id: str) -> WorkflowJob:
        return self._by_id[job_id]

    @property
    def skipped(self) -> dict[str, str]:
        """The jobs that will not run, with the reason, decided when the workflow was read."""
        return {job.id: job.skipped for job in self.jobs if job.skipped}

    def graph(self) -> list[GraphNode]:
        """The graph `graph.analyze` takes: edges as declared, each job weighed by its timeout."""
        return [
            GraphNode(
                job.id,
                tuple(job.after),
                job.spec.timeout,
                job.name,
                {p: c for p, c in job.after.items() if c != "success"},
            )
            for job in self.jobs
        ]

    def to_job_specs(self) -> list[JobSpec]:
        return to_job_specs(self)

    def as_dict(self) -> dict[str, Any]:
        """Who the workflow is (for a record of it, or `analyze --json`)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "digest": self.digest,
            "file": self.source,
            "settings": {
                "max_retries": self.settings.max_retries,
                "timeout": self.settings.timeout,
                "max_concurrent_jobs": self.settings.max_concurrent_jobs,
            },
            "skipped": self.skipped,
        }


def to_job_specs(workflow: Workflow) -> list[JobSpec]:
    """The workflow as one batch: every job that will run, keyed by its id, its edges to the jobs that will
    not run dropped (only `any` edges can be left there: a `success` or `failure` child of such a job does
    not run either)."""
    specs = []
    for job in workflow.jobs:
        if job.skipped:
            continue
        gone = {p for p in job.after if workflow.job(p).skipped}
        if not gone:
            specs.append(job.spec)
            continue
        after = [p for p in job.spec.after if p not in gone]
        when = {p: c for p, c in job.spec.after_when.items() if p not in gone}
        specs.append(job.spec.model_copy(update={"after": after, "after_when": when}))
    return specs


# ---------------------------------------------------------------- reading


def is_workflow(root: yaml.Node | None) -> bool:
    """True when a document is a workflow: a mapping with a `jobs:` list where a job has an `id`, or with a
    key only a workflow has (`global_config`). A job list never has either."""
    if not isinstance(root, yaml.MappingNode):
        return False
    if any(yamlnodes.value_of(root, key) is not None for key in WORKFLOW_ONLY_KEYS):
        return True
    jobs = yamlnodes.value_of(root, "jobs")
    return isinstance(jobs, yaml.SequenceNode) and any(
        yamlnodes.value_of(item, "id") is not None for item in jobs.value
    )


def parse_workflow(
    data: bytes,
    source: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    branch: str | Callable[[], str | None] | None = None,
    allow_cycles: bool = False,
) -> Workflow:
    """The workflow in `data` (the file's bytes), named `source` in errors. `base_dir` (default: the file's
    directory, or the current one for `<stdin>`) anchors relative paths; `env` is the submitter's
    environment (default: this process's); `branch` is the branch `only_if_branch` compares with (or a
    function giving it, called only when a job asks). `allow_cycles` reads a cyclic graph without refusing
    it (for `analyze`, which reports the cycle): such a workflow is never to be queued."""
    text = yamlnodes.decode(data, source, WorkflowError)
    root = yamlnodes.compose(text, source, WorkflowError)
    if root is None:
        raise WorkflowError(f"{source}: holds no workflow; write a mapping with name: and jobs:.")
    yamlnodes.check_nodes(root, source, WorkflowError)
    return workflow_from_node(root, data, source, base_dir=base_dir, env=env, branch=branch, allow_cycles=allow_cycles)


def workflow_from_node(
    root: yaml.Node,
    data: bytes,
    source: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    branch: str | Callable[[], str | None] | None = None,
    allow_cycles: bool = False,
) -> Workflow:
    """`parse_workflow` for a document already composed (and checked) by the caller, as `tui.jobfile` does."""
    if base_dir is None:
        base_dir = os.getcwd() if source.startswith("<") else os.path.dirname(os.path.abspath(source))
    reader = _Reader(root, source, os.path.abspath(base_dir), os.environ if env is None else env, branch)
    return reader.read(hashlib.sha256(data).hexdigest(), allow_cycles)


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
        if not _NAME.fullmatch(name):
            raise ValueError(f"`${{{match[3]}}}` is no variable; write ${{NAME}} or ${{NAME:-default}}")
        value = env.get(name, "")
        return value if value or not sep else default

    return _EXPANSION.sub(one, text)


Loc = list[str | int]


class _Reader:
    def __init__(
        self,
        root: yaml.Node,
        source: str,
        base_dir: str,
        env: Mapping[str, str],
        branch: str | Callable[[], str | None] | None,
    ) -> None:
        self.root = root
        self.source = source
        self.base_dir = base_dir
        self.env = env
        self._branch = branch
        self._branch_known = not callable(branch)
        self.problems: list[tuple[int, str]] = []  # (line, text)
        self.ids: list[str | None] = []

    # -- reporting

    def problem(self, path: Loc, message: str) -> None:
        line = yamlnodes.line_at(self.root, path)
        where = f"{self.source}:{line}" if line else self.source
        if len(path) >= 2 and path[0] == "jobs" and isinstance(path[1], int):
            known = self.ids[path[1]] if path[1] < len(self.ids) else None
            label = repr(known) if known else f"#{path[1] + 1}"
            rest = ".".join(str(p) for p in path[2:])
            head = f"job {label}" + (f": field {rest!r}" if rest else "")
        else:
            head = f"field {'.'.join(str(p) for p in path)!r}" if path else "workflow"
        self.problems.append((line or 0, f"{where}: {head}: {message}"))

    def fail(self) -> None:
        if self.problems:
            lines = [text for _, text in sorted(self.problems, key=lambda problem: problem[0])]
            raise WorkflowError("\n".join(lines) + "\nNothing was queued; fix these and try again.")

    # -- the steps

    def read(self, digest: str, allow_cycles: bool) -> Workflow:
        self._check_shape()
        try:
            raw = _TextLoader("").construct_document(self.root)
        except yaml.MarkedYAMLError as e:
            raise yamlnodes.marked(e, self.source, WorkflowError) from e
        listed = raw.get("jobs") if isinstance(raw, dict) else None
        for item in listed if isinstance(listed, list) else []:
            job_id = item.get("id") if isinstance(item, dict) else None
            self.ids.append(job_id if isinstance(job_id, str) else None)
        try:
            top = WorkflowModel.model_validate(raw)
        except PydanticError as e:
            for error in e.errors():
                self._pydantic_problem(error)
            top = WorkflowModel.model_construct(global_config=GlobalConfig(), jobs=[])
        jobs: list[tuple[int, JobModel]] = []  # the jobs that are valid on their own, with their index
        items = raw.get("jobs") if isinstance(raw, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                jobs.append((i, JobModel.model_validate(item)))
            except PydanticError as e:
                for error in e.errors():
                    self._pydantic_problem({**error, "loc": ("jobs", i, *error["loc"])})
        edges = {i: self._edges(i, job) for i, job in jobs}
        self._check_ids(jobs, edges)
        cycle: tuple[str, ...] = ()
        if not self.problems:  # a graph of valid jobs and known ids
            cycle = tuple(analyze([GraphNode(job.id, tuple(edges[i])) for i, job in jobs]).cycle)
            if cycle and not allow_cycles:
                first, job = next((i, job) for i, job in jobs if job.id == cycle[0])
                self.problem(
                    ["jobs", first, "dependencies" if job.dependencies is not None else "after"],
                    f"dependency cycle: {' -> '.join(cycle)}; remove one of these dependencies.",
                )
        settings = self._settings(top, [job for _, job in jobs])
        built = [self._job(i, job, edges[i], settings) for i, job in jobs]
        self.fail()
        workflow_jobs = self._decide_skips([job for job in built if job is not None], [job for _, job in jobs])
        return Workflow(
            name=top.name or (Path(self.source).stem if not self.source.startswith("<") else "workflow"),
            version=top.version,
            description=top.description or "",
            digest=digest,
            source=self.source,
            base_dir=self.base_dir,
            settings=settings,
            jobs=tuple(workflow_jobs),
            branch=self._branch if isinstance(self._branch, str) else None,
            cycle=cycle,
        )

    def _check_shape(self) -> None:
        if not isinstance(self.root, yaml.MappingNode):
            self.problem([], "a workflow is a mapping (name:, global_config:, jobs: ...), not a list.")
            self.fail()
        jobs = yamlnodes.value_of(self.root, "jobs")
        if isinstance(jobs, yaml.SequenceNode):
            for i, item in enumerate(jobs.value):
                if yamlnodes.value_of(item, "id") is None:
                    self.problem(
                        ["jobs", i],
                        "has no `id`: this file mixes a workflow (jobs with id:, job_type:, dependencies:) with a "
                        "job list (name:, command:, after: by key); write every job the workflow's way, with an id.",
                    )
        self.fail()

    def _pydantic_problem(self, error: Any) -> None:
        path: Loc = list(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            key = str(path[-1])
            known = _known_keys(path[:-1])
            close = get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; remove it or check its spelling"
            message = f"unknown key{hint}"
        elif error["type"] == "missing":
            message = "required; add it"
        elif path == ["jobs"] and error["type"] == "too_short":
            message = "a workflow needs at least one job"
        self.problem(path, message)

    def _edges(self, index: int, job: JobModel) -> dict[str, Condition]:
        """The parents of job `index` with their conditions, from `dependencies:` or `after:`."""
        if job.dependencies is not None and job.after is not None:
            self.problem(["jobs", index, "after"], "give `dependencies:` or `after:`, not both")
            return {}
        key = "after" if job.after is not None else "dependencies"
        value = job.after if job.after is not None else job.dependencies
        edges: dict[str, Condition] = {}
        usage = "write a list of ids ([build, test]), items such as {build: failure}, or {build: success, lint: any}"
        items: list[tuple[Loc, Any, Any]]
        if value is None:
            return edges
        if isinstance(value, dict):
            items = [(["jobs", index, key, k], k, v) for k, v in value.items()]
        elif isinstance(value, list):
            items = []
            for n, item in enumerate(value):
                if isinstance(item, dict) and len(item) == 1:
                    ((parent, when),) = item.items()
                    items.append((["jobs", index, key, n], parent, when))
                elif isinstance(item, str):
                    items.append((["jobs", index, key, n], item, "success"))
                else:
                    self.problem(["jobs", index, key, n], f"{item!r} is not a dependency; {usage}")
        else:
            self.problem(["jobs", index, key], f"{value!r} is not a list of dependencies; {usage}")
            return edges
        for path, parent, when in items:
            if not isinstance(parent, str):
                self.problem(path, f"{parent!r} is not a job id; {usage}")
            elif when not in CONDITIONS:
                self.problem(
                    path,
                    f"{when!r} is not a condition; use success (afterok), failure (afternotok) or any (afterany)",
                )
            elif parent in edges:
                self.problem(path, f"names {parent!r} twice; give each parent once")
            else:
                edges[parent] = cast(Condition, when)
        return edges

    def _check_ids(self, jobs: list[tuple[int, JobModel]], edges: dict[int, dict[str, Condition]]) -> None:
        first: dict[str, int] = {}
        for i, job_id in enumerate(self.ids):  # every job's, valid or not: a dependency on it is no mistake
            if job_id is None:
                continue
            if job_id in first:
                line = yamlnodes.line_at(self.root, ["jobs", first[job_id], "id"])
                self.problem(["jobs", i, "id"], f"the id {job_id!r} is already used by the job at line {line}")
            else:
                first[job_id] = i
        for i, job in jobs:
            parents = edges[i]
            key = "after" if job.after is not None else "dependencies"
            for parent in parents:
                if parent not in first:
                    close = get_close_matches(parent, list(first), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.problem(
                        self._edge_path(i, key, parent),
                        f"depends on {parent!r}, which is no job of this workflow{hint}",
                    )
            for n, named in enumerate(job.conditions.skip_if_failed if job.conditions else []):
                path: Loc = ["jobs", i, "conditions", "skip_if_failed", n]
                if named not in parents:
                    self.problem(path, f"names {named!r}, which is not a dependency of this job; add it there first")
                elif parents[named] == "failure":
                    self.problem(path, f"{named!r} is a `failure` dependency: with skip_if_failed the job never runs")
                else:
                    parents[named] = "success"

    def _edge_path(self, index: int, key: str, parent: str) -> Loc:
        node = yamlnodes.value_of(yamlnodes.value_of(self.root, "jobs").value[index], key)  # type: ignore[union-attr]
        if isinstance(node, yaml.SequenceNode):
            for n, item in enumerate(node.value):
                if (isinstance(item, yaml.ScalarNode) and item.value == parent) or yamlnodes.value_of(
                    item, parent
                ) is not None:
                    return ["jobs", index, key, n]
        return ["jobs", index, key, parent]

    def _settings(self, top: WorkflowModel, jobs: list[JobModel]) -> Settings:
        limits = [top.global_config.max_concurrent_jobs] + [
            job.resource_limits.max_concurrent_jobs for job in jobs if job.resource_limits
        ]
        given = [n for n in limits if n is not None]
        return Settings(
            max_retries=top.global_config.max_retries,
            timeout=top.global_config.timeout,
            max_concurrent_jobs=min(given) if given else None,
        )

    def _job(self, i: int, job: JobModel, parents: dict[str, Condition], settings: Settings) -> WorkflowJob | None:
        at: Loc = ["jobs", i]
        origin: dict[str, Loc] = {}  # JobSpec field -> where in the file it came from
        spec: dict[str, Any] = {"key": job.id, "name": job.name or job.id}
        origin["key"], origin["name"] = [*at, "id"], [*at, "name" if job.name else "id"]
        command = self._command(i, job)
        if command is None:
            return None
        spec["command"], origin["command"] = command
        if job.http is not None or job.job_type == "http":
            call = self._http(i, job)
            if call is None:
                return None
            spec["http"], origin["http"] = call, [*at, "http" if job.http else "command"]
            spec["command"] = ["http", call["method"], call["url"]]  # shown only: the engine makes the request
        elif job.job_type == "python" and job.command is not None:
            python = {"code": job.command, "interpreter": job.interpreter, "args": job.args}
            spec["python"], origin["python"] = python, [*at, "command"]
        spec["after"], origin["after"] = list(parents), [*at, "after" if job.after is not None else "dependencies"]
        spec["after_when"] = {p: c for p, c in parents.items() if c != "success"}
        origin["after_when"] = origin["after"]
        self._resources(i, job, settings, spec, origin)
        environment = {}
        for name, value in job.environment.items():
            try:
                environment[name] = expand(value, self.env)
            except ValueError as e:
                self.problem([*at, "environment", name], str(e))
        spec["env"], origin["env"] = environment, [*at, "environment"]
        workdir = job.working_directory
        spec["workdir"] = os.path.normpath(os.path.join(self.base_dir, workdir)) if workdir else self.base_dir
        origin["workdir"] = [*at, "working_directory"]
        for key in ("tags", "node", "labels", "gpus", "licenses", "inputs", "outputs", "requires_approval", "priority"):
            value = getattr(job, key)
            if value is not None:
                spec[key], origin[key] = value, [*at, key]
        try:
            built = JobSpec.model_validate(spec)
        except PydanticError as e:
            for error in e.errors():
                loc = list(error["loc"])
                where = list(origin.get(str(loc[0]), at)) if loc else list(at)
                if loc and loc[0] in ("env", "labels") and len(loc) > 1:
                    where.append(loc[1])
                message = error["msg"].removeprefix("Value error, ")
                self.problem(where, message)
            return None
        return WorkflowJob(
            id=job.id,
            name=job.name or job.id,
            job_type=cast(JobType, job.job_type),
            spec=built,
            after=parents,
            line=yamlnodes.line_at(self.root, at) or 0,
            tags=tuple(job.tags),
        )

    def _command(self, i: int, job: JobModel) -> tuple[list[str], Loc] | None:
        """The argv of job `i` and where it comes from (an http job's is replaced by the caller)."""
        at: Loc = ["jobs", i]
        kind = job.job_type
        allowed = {
            "command": {"command"},
            "script": {"script_path", "args"},
            "python": {"command", "script_path", "args", "interpreter"},
            "http": {"command", "http"},
        }[kind]
        for key in ("command", "script_path", "args", "interpreter", "http"):
            if key not in allowed and getattr(job, key) not in (None, []):
                self.problem([*at, key], f"a {kind} job takes no `{key}`; it takes {', '.join(sorted(allowed))}")
                return None
        if kind == "command":
            if job.command in (None, "", []):
                self.problem([*at, "command"], "a command job needs `command:` (a shell line, or a list of arguments)")
                return None
            if isinstance(job.command, str):
                return ["sh", "-c", job.command], [*at, "command"]
            return list(job.command), [*at, "command"]
        if kind == "http":
            return ["http"], [*at, "command"]  # the caller puts the request in
        interpreter = job.interpreter or "python3"
        if kind == "python" and job.command is not None:
            if job.script_path is not None:
                self.problem([*at, "script_path"], "a python job runs `command:` (code) or `script_path:`, not both")
                return None
            if not isinstance(job.command, str) or not job.command.strip():
                self.problem([*at, "command"], "python code is text; write it as a `|` block")
                return None
            return [interpreter, PYTHON_FILE, *job.args], [*at, "command"]  # the caller puts the code in
        if job.script_path is None:
            needs = "`script_path:`" if kind == "script" else "`command:` (code) or `script_path:`"
            self.problem([*at], f"a {kind} job needs {needs}")
            return None
        path = os.path.normpath(os.path.join(self.base_dir, job.script_path))
        if not os.path.isfile(path):
            self.problem(
                [*at, "script_path"],
                f"{job.script_path!r}: no such file ({path}; a relative path is taken from the workflow's directory)",
            )
            return None
        if kind == "script":
            if not os.access(path, os.X_OK):
                self.problem([*at, "script_path"], f"{path} is not executable; `chmod +x` it")
                return None
            return [path, *job.args], [*at, "script_path"]
        return [interpreter, path, *job.args], [*at, "script_path"]

    def _http(self, i: int, job: JobModel) -> dict[str, Any] | None:
        at: Loc = ["jobs", i]
        options = job.http or HttpOptions()
        url = options.url
        if job.command is not None:
            if url is not None:
                self.problem([*at, "command"], "give the URL in `command:` or in `http: {url: ...}`, not both")
                return None
            if not isinstance(job.command, str):
                self.problem([*at, "command"], "an http job's command is its URL, as text")
                return None
            url = job.command.strip()
        where: Loc = [*at, "command"] if job.command is not None else [*at, "http", "url"]
        if url is None:
            self.problem([*at], "an http job needs a URL: `command: https://...` or `http: {url: https://...}`")
            return None
        try:
            check_http_url(url)
        except ValueError as e:
            self.problem(where, str(e))
            return None
        headers = dict(options.headers)
        call: dict[str, Any] = {"method": options.method, "url": url, "headers": headers}
        for key in ("body", "expected_status", "timeout"):
            if getattr(options, key) is not None:
                call[key] = getattr(options, key)
        if isinstance(options.body, (dict, list)):  # JSON: its numbers and booleans as YAML types them
            node = yamlnodes.node_at(self.root, [*at, "http", "body"])
            call["body"] = yaml.SafeLoader("").construct_document(node) if node is not None else options.body
            if not any(h.lower() == "content-type" for h in headers):
                headers["Content-Type"] = "application/json"
        try:
            return HttpCall.model_validate(call).model_dump()
        except PydanticError as e:
            for error in e.errors():
                self.problem([*at, "http", *error["loc"]], error["msg"].removeprefix("Value error, "))
            return None

    def _resources(
        self, i: int, job: JobModel, settings: Settings, spec: dict[str, Any], origin: dict[str, Loc]
    ) -> None:
        at: Loc = ["jobs", i]
        retry, limits = job.retry_config, job.resource_limits
        if retry is not None and retry.max_attempts is not None:
            spec["retries"], origin["retries"] = retry.max_attempts - 1, [*at, "retry_config", "max_attempts"]
        elif job.http is not None and job.http.retries is not None:
            spec["retries"], origin["retries"] = job.http.retries, [*at, "http", "retries"]
        elif settings.max_retries is not None:
            spec["retries"], origin["retries"] = settings.max_retries, ["global_config", "max_retries"]
        if retry is not None:
            for ours, theirs in (
                ("retry_delay", "initial_delay"),
                ("backoff_factor", "backoff_factor"),
                ("max_delay", "max_delay"),
            ):
                if getattr(retry, theirs) is not None:
                    spec[ours], origin[ours] = getattr(retry, theirs), [*at, "retry_config", theirs]
        timeouts = [t for t in (job.timeout, limits.max_execution_time if limits else None) if t is not None]
        if timeouts:
            spec["timeout"] = min(timeouts)
            origin["timeout"] = [*at, "timeout" if job.timeout == min(timeouts) else "resource_limits"]
        elif settings.timeout is not None:
            spec["timeout"], origin["timeout"] = settings.timeout, ["global_config", "timeout"]
        if limits is not None and limits.max_memory_mb is not None:
            spec["mem_mb"], origin["mem_mb"] = limits.max_memory_mb, [*at, "resource_limits", "max_memory_mb"]
        if job.cpus is not None:
            spec["cpus"], origin["cpus"] = job.cpus, [*at, "cpus"]
        elif limits is not None and limits.max_cpu_percent is not None:
            spec["cpus"] = math.ceil(limits.max_cpu_percent / 100)
            origin["cpus"] = [*at, "resource_limits", "max_cpu_percent"]

    # -- conditions decided when read

    def branch(self) -> str | None:
        if not self._branch_known:
            self._branch = cast(Callable[[], str | None], self._branch)()
            self._branch_known = True
        return cast(str | None, self._branch)

    def _decide_skips(self, jobs: list[WorkflowJob], models: list[JobModel]) -> list[WorkflowJob]:
        conditions = {job.id: job.conditions for job in models}
        reasons: dict[str, str] = {}
        for job in jobs:
            reason = self._condition_fails(job, conditions[job.id])
            if reason:
                reasons[job.id] = reason
        children: dict[str, list[WorkflowJob]] = {}
        for job in jobs:
            for parent in job.after:
                children.setdefault(parent, []).append(job)
        pending = list(reasons)
        while pending:  # a job that will not run takes its success and failure children with it
            parent = pending.pop()
            for child in children.get(parent, []):
                if child.id not in reasons and child.after[parent] != "any":
                    reasons[child.id] = f"its dependency {parent!r} does not run"
                    pending.append(child.id)
        if not reasons:
            return jobs
        return [WorkflowJob(j.id, j.name, j.job_type, j.spec, j.after, j.line, j.tags, reasons.get(j.id)) for j in jobs]

    def _condition_fails(self, job: WorkflowJob, conditions: Conditions | None) -> str | None:
        if conditions is None:
            return None
        seen = {**self.env, **job.spec.env}
        for name, wanted in conditions.only_if.items():
            actual = seen.get(name)
            if actual != wanted:
                now = "unset" if actual is None else f"{actual!r}"
                return f"only_if: {name} is {now}, not {wanted!r}"
        if conditions.only_if_branch is not None:
            actual = self.branch()
            if actual != conditions.only_if_branch:
                now = "unknown" if actual is None else f"{actual!r}"
                return f"only_if_branch: the branch is {now}, not {conditions.only_if_branch!r}"
        return None


def _known_keys(path: Loc) -> list[str]:
    """The keys a mapping at `path` may hold, for a did-you-mean hint."""
    models: dict[str, type[BaseModel]] = {
        "global_config": GlobalConfig,
        "retry_config": RetryConfig,
        "resource_limits": ResourceLimits,
        "conditions": Conditions,
        "http": HttpOptions,
    }
    if not path:
        return list(WorkflowModel.model_fields)
    last = path[-1]
    if isinstance(last, int):
        return list(JobModel.model_fields)
    model = models.get(str(last))
    return list(model.model_fields) if model else []
