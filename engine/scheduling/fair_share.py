"""Fair share over time: each user's and team's decayed usage, and the priority it earns their queued jobs.

Usage is core-seconds plus GPU-seconds of ended attempts, halved every half-life. A user's factor is Slurm's
classic 2^(-U/S): U their share of all decayed usage, S their share of all shares (the config's, or its
`default_share`); times their team's factor, found the same way. The scheduler adds `weight x factor` to the
priority of each of their jobs when it orders users (`plan()`'s `Policy.user_bonus`), so a user who has used
little goes before one who has used much. The bonus is worked out again when usage is charged, and at most
once a minute for the decay, never per start decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.policy import FairShare

REFRESH_SECONDS = 60.0


class UsageBook:
    """Decayed usage by user and by team (pure: the time is given)."""

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.at = 0.0
        self.users: dict[str, float] = {}
        self.teams: dict[str, float] = {}

    def decay_to(self, now: float) -> None:
        if now <= self.at:
            return
        if self.at:
            keep = 2.0 ** (-(now - self.at) / self.half_life_s)
            self.users = {u: v * keep for u, v in self.users.items() if v * keep > 1e-6}
            self.teams = {t: v * keep for t, v in self.teams.items() if v * keep > 1e-6}
        self.at = now

    def charge(self, user: str, team: str | None, amount: float, now: float) -> None:
        self.decay_to(now)
        self.users[user] = self.users.get(user, 0.0) + amount
        if team:
            self.teams[team] = self.teams.get(team, 0.0) + amount

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "users": self.users, "teams": self.teams}

    def load(self, data: dict[str, Any]) -> None:
        """Take back a saved book; a malformed one is ignored (usage starts again from nothing)."""
        try:
            at = float(data.get("at", 0.0))
            users = {str(k): float(v) for k, v in dict(data.get("users") or {}).items()}
            teams = {str(k): float(v) for k, v in dict(data.get("teams") or {}).items()}
        except (TypeError, ValueError, AttributeError):
            return
        self.at, self.users, self.teams = at, users, teams


def factors(
    usage: dict[str, float], shares: dict[str, float], default: float, whom: Iterable[str], known: Iterable[str]
) -> dict[str, float]:
    """2^(-U/S) for each of `whom`: U their part of all usage, S their part of the shares of `known`, `whom` and
    the listed; the totals worked out once (O(users), not O(users²))."""
    whom = list(whom)
    total_usage = sum(usage.values())
    if total_usage <= 0:
        return dict.fromkeys(whom, 1.0)
    names = set(shares) | set(known) | set(whom)
    total_share = sum(shares.get(n, default) for n in names)
    return {w: 2.0 ** (-(usage.get(w, 0.0) / total_usage) / (shares.get(w, default) / total_share)) for w in whom}


class FairShareKeeper:
    """The engine's fair share: charges ended attempts, and keeps each queued user's priority bonus."""

    def __init__(self, config: FairShare) -> None:
        self.config = config
        self.book = UsageBook(config.half_life_hours * 3600)
        self._bonus: dict[str, int] = {}
        self._computed_at: float | None = None
        self.dirty = True

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def charge(self, user: str, team: str | None, cores: int, gpus: int, seconds: float, now: float) -> None:
        amount = max(seconds, 0.0) * (max(cores, 0) + max(gpus, 0))
        if amount > 0:
            self.book.charge(user, team, amount, now)
            self.dirty = True

    def bonus(self, users: Callable[[], dict[str, str | None]], now: float) -> dict[str, int]:
        """Priority points per user, worked out again (for `users()`: user -> team, every user with usage among
        them) only after a charge or once a minute. A user not in it has used nothing: `weight` (factor 1, their
        team's not counted until the next time)."""
        stale = self._computed_at is None or now - self._computed_at >= REFRESH_SECONDS
        if self.dirty or stale:
            self._bonus = self.bonuses(users(), now)
            self._computed_at, self.dirty = now, False
        return self._bonus

    def bonuses(self, users: dict[str, str | None], now: float) -> dict[str, int]:
        self.book.decay_to(now)
        return {u: round(self.config.weight * f) for u, f in self.factors(users).items()}

    def factors(self, users: dict[str, str | None]) -> dict[str, float]:
        """Each user's factor: their own times their team's."""
        cfg, book = self.config, self.book
        known_teams = {t for t in users.values() if t} | set(book.teams)
        team_factor = factors(book.teams, cfg.teams, cfg.default_share, known_teams, known_teams)
        user_factor = factors(book.users, cfg.users, cfg.default_share, users, book.users)
        return {u: user_factor[u] * team_factor.get(team or "", 1.0) for u, team in users.items()}

    def report(self, users: dict[str, str | None], now: float) -> dict[str, Any]:
        """What `jobtui fairshare` shows: per user and team, the share, decayed usage and factor."""
        self.book.decay_to(now)
        cfg, book = self.config, self.book
        everyone = {**{u: None for u in book.users}, **users}
        user_factors = self.factors(everyone)
        teams = {t for t in everyone.values() if t} | set(book.teams) | set(cfg.teams)
        team_factors = factors(book.teams, cfg.teams, cfg.default_share, teams, teams)
        team_rows = [
            {
                "team": t,
                "share": cfg.teams.get(t, cfg.default_share),
                "usage": round(book.teams.get(t, 0.0), 3),
                "factor": round(team_factors[t], 4),
            }
            for t in sorted(teams)
        ]
        user_rows = [
            {
                "user": u,
                "team": everyone[u],
                "share": cfg.users.get(u, cfg.default_share),
                "usage": round(book.users.get(u, 0.0), 3),
                "factor": round(user_factors[u], 4),
                "bonus": round(cfg.weight * user_factors[u]),
            }
            for u in sorted(everyone)
        ]
        return {
            "enabled": cfg.enabled,
            "half_life_hours": cfg.half_life_hours,
            "weight": cfg.weight,
            "users": user_rows,
            "teams": team_rows,
        }
