"""Reading each job of a workflow file into its `JobSpec`: its job type's command, its resources, its environment.

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
"""

from __future__ import annotations

import math
import os
from typing import Any, cast

import yaml
from pydantic import ValidationError as PydanticError

from engine.service.jobspec import PYTHON_FILE, Condition, HttpCall, JobSpec, check_http_url
from engine.workflows import yamlnodes
from engine.workflows.expansion import expand
from engine.workflows.model import HttpOptions, JobModel, JobType, WorkflowModel
from engine.workflows.problems import Loc, Problems
from engine.workflows.workflow import Settings, WorkflowJob

# A workflow job's fields that are jobtui's own, as a JobSpec has them.
PASSED_THROUGH = ("tags", "node", "labels", "gpus", "licenses", "inputs", "outputs", "requires_approval", "priority")


class JobReader(Problems):
    """The half of the reader that builds each job (`Reader` reads the document and calls it)."""

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
        for key in (*PASSED_THROUGH, "gpu_ids", "any_gpu", "target"):
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
