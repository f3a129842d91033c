"""The policy sections of the config: the environment deny-list, approval rules and fair share over time.

Strict pydantic models like the rest of the config (`engine.config` holds them as `env_deny`, `approval` and
`fairshare`). A rule with a field it does not know is refused with the rule's name, so a typo never turns a
rule into one that matches every job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_ENV_DENY: tuple[str, ...] = ("*TOKEN*", "*SECRET*", "*PASSWORD*", "SSH_AUTH_SOCK", "JOBTUI_*")
REDACTED = "<redacted>"  # what `show`, events and the store hold in place of a deny-listed value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleCondition(_Strict):
    """What a job must have for a rule to apply: every field given must hold (unset fields match any job)."""

    gpus_at_least: int | None = Field(default=None, ge=0)
    cpus_at_least: int | None = Field(default=None, ge=0)
    mem_mb_at_least: int | None = Field(default=None, ge=0)
    licenses: list[str] = Field(default_factory=list, description="the job draws from any of these pools")
    nodes: list[str] = Field(default_factory=list, description="globs; the job's node request matches one")
    core_hours_at_least: float | None = Field(default=None, ge=0)
    cost_at_least: float | None = Field(default=None, ge=0, description="core-hours x approval.cost_per_core_hour")
    users: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    roles: list[Literal["admin", "lead", "researcher", "viewer"]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="the job has any of these tags")


class ApprovalRule(_Strict):
    """One rule: when a submitted job matches `when`, it waits for an approver, or it is refused."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    when: RuleCondition = Field(default_factory=RuleCondition)
    action: Literal["require_approval", "reject"]
    approver: Literal["admin", "team_lead"] = Field(
        default="admin", description="require_approval: an admin, or a lead of the job's team (or an admin)"
    )
    message: str = Field(default="", description="told to the submitter (a rejection's reason)")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        """An unknown field is an error that names the rule (and the fields there are)."""
        if not isinstance(data, dict):
            return data
        name = data.get("name", "(unnamed)")
        unknown = sorted(set(data) - set(cls.model_fields))
        where = f"rule {name!r}:"
        if not unknown and isinstance(data.get("when"), dict):
            unknown = sorted(set(data["when"]) - set(RuleCondition.model_fields))
            where, known = f"rule {name!r}, when:", sorted(RuleCondition.model_fields)
        else:
            known = sorted(cls.model_fields)
        if unknown:
            raise ValueError(
                f"{where} unknown field(s) {', '.join(map(repr, unknown))}; the fields are {', '.join(known)}"
            )
        return data


class Approval(_Strict):
    """Approval rules, checked in order at submission: the first that matches a job decides."""

    cost_per_core_hour: float = Field(default=0.0, ge=0, description="the rate of `cost_at_least`")
    hours_without_timeout: float = Field(
        default=1.0, gt=0, description="the run time assumed for core-hours when a job has no timeout"
    )
    rules: list[ApprovalRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Approval:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"approval rule names must be unique; repeated: {', '.join(dupes)}")
        return self


class FairShare(_Strict):
    """Fair share over time (opt-in): users and teams that used less than their share of the machine go first.

    Usage is core-seconds plus GPU-seconds, halved every `half_life_hours`; a user's factor is
    2^(-usage/share) with both normalised (Slurm's classic factor), times their team's; the factor times
    `weight` is added to each of their jobs' priority when the queue is ordered.
    """

    enabled: bool = False
    half_life_hours: float = Field(default=168.0, gt=0)
    weight: int = Field(default=100, ge=0, le=10_000, description="priority points at factor 1")
    default_share: float = Field(default=1.0, gt=0, description="the share of a user or team not listed")
    users: dict[str, float] = Field(default_factory=dict)
    teams: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _positive(self) -> FairShare:
        bad = [f"{k}: {v}" for k, v in {**self.users, **self.teams}.items() if v <= 0]
        if bad:
            raise ValueError(f"shares must be more than 0; fix {', '.join(bad)}")
        return self


def check_env_deny(value: Any) -> Any:
    """The deny-list must be a list of name patterns (a bare string would deny by its letters)."""
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ValueError('env_deny must be a list of variable-name patterns, e.g. ["*TOKEN*", "AWS_*"]')
    return value
