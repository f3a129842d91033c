"""The config's `hooks:` (notifications: a command or an HTTP POST per event), how they are delivered, and the
per-job usage thresholds that raise a warning."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HookEvent = Literal[
    "job_completed",
    "job_failed",
    "job_retrying",
    "job_skipped",
    "job_cancelled",
    "job_started",
    "approval_needed",
    "job_overrun",
    "job_stalled",
    "progress_milestone",
    "workflow_finished",
    "node_unreachable",
]
HOOK_EVENTS: tuple[str, ...] = get_args(HookEvent)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HookFilter(_Strict):
    """Which jobs' events a hook receives; an empty filter takes every job. Node events pass every filter."""

    user: list[str] = Field(default_factory=list, description="the job's submitter is one of these")
    tags: list[str] = Field(default_factory=list, description="the job carries at least one of these tags")
    workflow: list[str] = Field(default_factory=list, description="the job's workflow name matches one (globs)")

    @field_validator("user", "tags", "workflow", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @property
    def is_empty(self) -> bool:
        return not (self.user or self.tags or self.workflow)


class Hook(_Strict):
    """One notification: `command` (argv; the event as JSON on stdin) or `url` (a JSON POST)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    events: list[HookEvent] = Field(min_length=1)
    filter: HookFilter = Field(default_factory=HookFilter)
    command: list[str] | None = Field(default=None, min_length=1, description="argv; never run through a shell")
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", description="http:// or https:// address")
    secret_file: Path | None = Field(default=None, description="HMAC-SHA256 key for the X-Jobtui-Signature header")
    timeout: float = Field(default=10.0, gt=0, le=600, description="seconds per try")
    retries: int | None = Field(default=None, ge=0, le=10, description="tries after the first; default 2 for url, 0")

    @model_validator(mode="after")
    def _one_action(self) -> Hook:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"hook {self.name!r} needs exactly one of command: [argv...] or url: https://...")
        if self.secret_file is not None and self.url is None:
            raise ValueError(f"hook {self.name!r}: secret_file signs HTTP deliveries; it needs url:")
        return self

    @property
    def tries(self) -> int:
        return 1 + (self.retries if self.retries is not None else (2 if self.url else 0))

    @property
    def action(self) -> str:
        """What it does, for messages (never the secret)."""
        return f"POST {self.url}" if self.url else f"command {self.command[0] if self.command else ''!r}"


class HookDelivery(_Strict):
    """How hooks are run: at most `workers` at once, at most `queue` events waiting (more are dropped, counted)."""

    workers: int = Field(default=4, ge=1, le=64)
    queue: int = Field(default=10_000, ge=1, le=1_000_000)


class UsageThresholds(_Strict):
    """A running job above one of these gets a `usage_warning` in its history (once per attempt and kind)."""

    rss_mb: int | None = Field(default=None, ge=1, description="resident memory of its processes, MiB")
    cpu_seconds: float | None = Field(default=None, gt=0, description="CPU time of its processes")
    sample_interval: float = Field(default=10.0, ge=0.1, le=3600, description="seconds between samples")
