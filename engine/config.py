"""The config file: pydantic models, strict (unknown keys rejected), loaded once with `load_config()`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.accounts import DEFAULT_SHARED_SOCKET
from engine.config_hooks import Hook, HookDelivery, UsageThresholds
from engine.containment.settings import ContainmentSettings
from engine.errors import ConfigError
from engine.policy import DEFAULT_ENV_DENY, Approval, FairShare, check_env_deny

Role = Literal["admin", "lead", "researcher", "viewer"]
ROLE_PRIORITY: dict[str, int] = {"admin": 30, "lead": 20, "researcher": 10, "viewer": 0}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_WORD = r"^[A-Za-z0-9_.-]+$"  # one token on a directive line: no spaces, no newlines


class NodeBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    cores: int | None = Field(default=None, ge=1, description="None: detect")
    memory_mb: int | None = Field(default=None, ge=0, description="None: detect")
    gpus: int | None = Field(default=None, ge=0, description="None: detect")
    max_jobs: int | None = Field(default=None, ge=1)
    labels: dict[str, str] = Field(default_factory=dict)


class LocalNode(NodeBase):
    kind: Literal["local"] = "local"


class SshNode(NodeBase):
    kind: Literal["ssh"]
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None
    ssh_config: Path | None = None
    work_root: str = "~/.jobtui/work"
    max_channels: int = Field(default=8, ge=1, description="below sshd's MaxSessions (10)")
    max_connects_per_minute: int = Field(default=6, ge=1)
    keepalive_interval: float = Field(default=15.0, gt=0)
    unreachable_after: float = Field(default=60.0, gt=0)


class ClusterNode(NodeBase):
    kind: Literal["slurm", "sge", "pbs"]
    via: str | None = Field(default=None, description="an ssh node to reach the cluster through")
    partition: str | None = None
    account: str | None = None
    max_queued: int = Field(default=100, ge=1)
    max_cores: int | None = Field(default=None, ge=1)
    poll_interval: float = Field(default=30.0, gt=0)
    lost_grace: float = Field(default=120.0, ge=0)
    work_root: str = "~/.jobtui/cluster"
    directives: list[str] = Field(default_factory=list)
    default_time_limit: str | None = None
    # site-specific scheduler options (each is used by the kinds named)
    sacct_args: list[str] = Field(default_factory=list, description="slurm: extra sacct options, e.g. [-c]")
    parallel_env: str = Field(default="smp", pattern=_WORD, description="sge: the PE of `-pe NAME N`")
    gpu_resource: str | None = Field(
        default=None, pattern=_WORD, description="sge/pbs GPU resource; None: gpu (SGE), ngpus (PBS Pro), gpus (Torque)"
    )
    pbs_flavor: Literal["pbspro", "torque"] = Field(default="pbspro", description="pbs: PBS Pro/OpenPBS or Torque")

    @field_validator("sacct_args")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        for arg in value:
            if not arg.startswith("-") or any(c in arg for c in "\n\r"):
                raise ValueError(f"{arg!r} is not one command-line option (write each as -x or --name=value)")
        return value


Node = Annotated[LocalNode | SshNode | ClusterNode, Field(discriminator="kind")]


class UserConfig(Strict):
    role: Role = "researcher"
    team: str | None = None


MAX_LIMIT = 1_000_000  # jobs at once: more than any queue runs, and a number every JSON reader takes


class Limits(Strict):
    max_concurrent: int = Field(default=5, ge=1, le=MAX_LIMIT)
    user_max_concurrent: int = Field(default=2, ge=1, le=MAX_LIMIT)
    team_max_concurrent: int = Field(default=10, ge=1, le=MAX_LIMIT)
    fair_share: bool = False
    local_gpu_max_concurrent: int | None = Field(
        default=None, ge=0, le=MAX_LIMIT, description="GPUs jobs on local nodes hold at once; None: no limit"
    )
    local_job_max_concurrent: int | None = Field(
        default=None, ge=0, le=MAX_LIMIT, description="jobs on local nodes at once; None: no limit"
    )
    starvation_minutes: float = Field(default=60.0, gt=0, le=525_600)  # a year
    starvation_boost: int = Field(default=10, ge=0, le=100)  # priority a waiting job gains per starvation_minutes
    starvation_max_boost: int = Field(default=50, ge=0, le=1000)  # the most it gains by waiting


class LicensePool(Strict):
    tokens: int = Field(ge=0)
    formula: Literal["abaqus", "per_job"] = "abaqus"


class JobDefaults(Strict):
    cpus: int = Field(default=1, ge=0)
    mem_mb: int = Field(default=0, ge=0)
    max_attempts: int = Field(default=1, ge=1)
    initial_delay: float = Field(default=5.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=600.0, ge=0)


class ProgressPattern(Strict):
    name: str
    regex: str | None = None
    marker: str | None = Field(default=None, description="a literal substring every matching line contains")
    progress_files: list[str] = Field(
        default_factory=list,
        description="files in the job's working directory to follow besides its output ({name}: the job's name, "
        "{id}: its id), e.g. {name}.sta; Abaqus .sta, .msg and .inp files have built-in parsers",
    )
    tags: list[str] = Field(
        default_factory=list, description="progress_files are followed for jobs with one of these tags (none: all)"
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        import re

        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from e
        return value

    @model_validator(mode="after")
    def _something_to_follow(self) -> ProgressPattern:
        if (self.regex is None) != (self.marker is None):
            raise ValueError(f"progress pattern {self.name!r}: give both regex and marker, or neither")
        if self.regex is None and not self.progress_files:
            raise ValueError(f"progress pattern {self.name!r}: give a regex and marker, or progress_files")
        return self


class Watch(Strict):
    """When a running job is flagged: past its run-time estimate (`job_overrun`), or making no progress
    (`job_stalled`). Flags, not states: the job runs on."""

    overrun_factor: float = Field(
        default=2.0, ge=0, description="flag a job running past this many times its estimate; 0: never"
    )
    min_history: int = Field(default=3, ge=1, description="completed runs an estimate needs")
    stall_after: float | None = Field(
        default=None, gt=0, description="flag a job with no new output and no progress change for this many seconds"
    )
    stall_factor: float = Field(
        default=10.0, ge=0, description="or for this many times its usual interval between progress updates; 0: never"
    )
    stall_min: float = Field(default=60.0, ge=0, description="the least time the stall_factor rule waits, seconds")


class TuiConfig(Strict):
    theme: str = "dark"
    keys: dict[str, str] = Field(default_factory=dict, description="binding id -> key")


def _default_nodes() -> list[Node]:
    return [LocalNode(name="local")]


class SharedMode(Strict):
    """Shared mode: one engine (run as root) for every user of this machine.

    Its socket is open to every local user, who is known by the kernel's peer credentials (SO_PEERCRED);
    each local job runs as its submitter's Unix user.
    """

    socket: Path = Field(default=DEFAULT_SHARED_SOCKET, description="the socket every local user connects to")


class HttpJobs(Strict):
    """Http jobs: requests the engine makes itself."""

    allow_engine_api: bool = Field(
        default=False, description="may an http job call this engine's own API (its --listen address)?"
    )


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    seen = Counter(names)
    return sorted(name for name, count in seen.items() if count > 1)


class Config(Strict):
    state_dir: Path | None = None
    mode: Literal["personal", "shared"] = Field(
        default="personal",
        description="personal: the engine is its owner's alone; shared: run as root, jobs run as their submitter",
    )
    shared: SharedMode = Field(default_factory=SharedMode)
    nodes: list[Node] = Field(default_factory=_default_nodes)
    users: dict[str, UserConfig] = Field(default_factory=dict)
    owner_role: Role = "admin"
    limits: Limits = Field(default_factory=Limits)
    defaults: JobDefaults = Field(default_factory=JobDefaults)
    licenses: dict[str, LicensePool] = Field(default_factory=dict)
    progress_patterns: list[ProgressPattern] = Field(default_factory=list)
    watch: Watch = Field(default_factory=Watch)
    tui: TuiConfig = Field(default_factory=TuiConfig)
    python_interpreter: str = Field(
        default="python3", min_length=1, description="runs python jobs' code unless a job names another"
    )
    http_jobs: HttpJobs = Field(default_factory=HttpJobs)
    containment: ContainmentSettings = Field(default_factory=ContainmentSettings)
    env_deny: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENV_DENY),
        description="names (globs) of the submitter's variables a job never gets, and whose values are redacted",
    )
    approval: Approval = Field(default_factory=Approval)
    fairshare: FairShare = Field(default_factory=FairShare)
    hooks: list[Hook] = Field(default_factory=list, description="notifications: a command or an HTTP POST per event")
    hook_delivery: HookDelivery = Field(default_factory=HookDelivery)
    usage: UsageThresholds = Field(default_factory=UsageThresholds)

    @field_validator("hooks")
    @classmethod
    def _unique_hooks(cls, hooks: list[Hook]) -> list[Hook]:
        if dupes := repeated(h.name for h in hooks):
            raise ValueError(f"hook names must be unique; repeated: {', '.join(dupes)}")
        return hooks

    @field_validator("env_deny", mode="before")
    @classmethod
    def _env_deny(cls, value: Any) -> Any:
        return check_env_deny(value)

    @field_validator("nodes")
    @classmethod
    def _unique_names(cls, nodes: list[Any]) -> list[Any]:
        if dupes := repeated(n.name for n in nodes):
            raise ValueError(f"node names must be unique; repeated: {', '.join(dupes)}")
        vias = {n.name: n.kind for n in nodes}
        for node in nodes:
            via = getattr(node, "via", None)
            if via and vias.get(via) != "ssh":
                raise ValueError(f"node {node.name!r}: via {via!r} must name an ssh node")
        return nodes

    def role_of(self, user: str, owner: str) -> str:
        if user in self.users:
            return self.users[user].role
        return self.owner_role if user == owner else "researcher"

    def team_of(self, user: str) -> str | None:
        entry = self.users.get(user)
        return entry.team if entry else None


def load_config(path: Path | None) -> Config:
    """Read and validate a config file; no file means the embedded default."""
    if path is None:
        return Config()
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(
            f"{path}: cannot read the config file ({e.strerror}); check the path given to --config."
        ) from e
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        tree = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: malformed YAML: {problem}. Fix the syntax at that line.") from e
    except RecursionError as e:
        raise ConfigError(f"{source}: nested too deeply to be a config; a config is a few levels of keys.") from e
    except (ValueError, OverflowError) as e:  # `\U00110000`: an escape beyond Unicode, raised without a line
        raise ConfigError(f"{source}: invalid character escape ({e}); a \\U escape goes up to \\U0010FFFF.") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the config must be a mapping of keys (nodes:, users:, limits: ...).")
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, tree, source)) from e


def _describe(error: ValidationError, tree: yaml.Node | None, source: str) -> str:
    lines = []
    for item in error.errors():
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p in {"local", "ssh", "slurm", "sge", "pbs"})]
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(tree, loc)
        where = f"{source}:{line}" if line else source
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        lines.append(f"{where}: field '{field}': {msg}")
    return "\n".join(lines) + "\nFix these fields and start again."


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                return line
            key, node = pair
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def resolve_state_dir(cli_value: Path | None, config: Config) -> Path:
    """--state-dir, then JOBTUI_HOME, then the config's state_dir, then the platform's data dir."""
    if cli_value is not None:
        return cli_value.expanduser()
    if env := os.environ.get("JOBTUI_HOME"):
        return Path(env).expanduser()
    if config.state_dir is not None:
        return config.state_dir.expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("jobtui"))
