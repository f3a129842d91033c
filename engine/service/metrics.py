"""Metrics over the job history, aggregated in SQL (no job is loaded): success and error rates, run and wait
times (average and 95th percentile), throughput, core-hours used against those available, GPU-hours and
licence-hours, overall or by user, team, node or tag; and the running/queued counts of the last hour.

A job counts in a window when it ended in it (rates, run times), started in it (wait times), or ran during
it (the part of its run inside the window: core-, GPU- and licence-hours). Run time is from the job's first
start to its end; wait time from its submission to its first start.
"""

from __future__ import annotations

import re
from typing import Any

from engine.core.engine import Engine
from engine.errors import ValidationError

GROUPINGS = ("user", "team", "node", "tag")
SERIES_SPAN = 3600.0
SERIES_STEP = 60.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW = 3650 * 86400.0


def parse_window(text: str) -> float:
    """`7d`, `12h`, `30m`, `3600` -> seconds."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValidationError(f"--since {text!r} is not a duration; write e.g. 90m, 12h, 7d or 2w.")
    return min(MAX_WINDOW, float(m.group(1)) * _UNIT[m.group(2)])


# Each job that ended in the window or has not ended, reduced to the fields the metrics need. Its JSON is parsed
# once: one extraction of several paths gives a small array, read again cheaply. A row's changing fields come
# from its `state` once one was written, else from its `data`.
_JOBS = """
raw AS MATERIALIZED (
    SELECT status, user, finished_at,
        json_extract(data, '$.team', '$.created_at', '$.resources.cpus', '$.resources.gpus', '$.tags',
                     '$.resources.licenses', '$.node', '$.started_at', '$.reason') AS d,
        CASE WHEN state IS NULL THEN NULL ELSE json_extract(state, '$.node', '$.started_at', '$.reason') END AS s
    FROM jobs WHERE finished_at IS NULL OR finished_at >= :since
),
j AS MATERIALIZED (
    SELECT status, user, finished_at,
        COALESCE(d ->> 0, '') AS team, d ->> 1 AS created_at, COALESCE(d ->> 2, 0) AS cpus,
        COALESCE(d ->> 3, 0) AS gpus, d -> 4 AS tags, d -> 5 AS licenses,
        COALESCE(CASE WHEN s IS NULL THEN d ->> 6 ELSE s ->> 0 END, '') AS node,
        CASE WHEN s IS NULL THEN d ->> 7 ELSE s ->> 1 END AS started_at,
        CASE WHEN s IS NULL THEN d ->> 8 ELSE s ->> 2 END AS reason
    FROM raw
),
ran AS MATERIALIZED (  -- with the hours of each job's run inside the window
    SELECT *, CASE WHEN started_at IS NOT NULL AND (finished_at IS NOT NULL OR status IN ('running', 'starting'))
        THEN MAX(0.0, (MIN(COALESCE(finished_at, :now), :now) - MAX(started_at, :since)) / 3600.0) ELSE 0.0 END
        AS hours
    FROM j
)"""
# A group's key: `grp` 0 is the whole window, 1 a group of `by`.
_GROUPS = {
    None: "SELECT 0 AS grp, 'all' AS k, ran.* FROM ran",
    "user": "SELECT 0 AS grp, 'all' AS k, ran.* FROM ran UNION ALL SELECT 1, user, ran.* FROM ran",
    "team": "SELECT 0 AS grp, 'all' AS k, ran.* FROM ran UNION ALL SELECT 1, team, ran.* FROM ran",
    "node": "SELECT 0 AS grp, 'all' AS k, ran.* FROM ran UNION ALL SELECT 1, node, ran.* FROM ran",
    "tag": "SELECT 0 AS grp, 'all' AS k, ran.* FROM ran "
    "UNION ALL SELECT 1, tag.value, ran.* FROM ran, json_each(ran.tags) AS tag",
}
_ENDED_RUN = "status IN ('completed', 'failed', 'missing') AND finished_at >= :since"
# Every figure in one statement (one pass over the jobs): rows of (what, grp, key, name, a, b, c, d, e, f, g, h).
_FIGURES = f"""WITH {_JOBS}, g AS MATERIALIZED ({{groups}}),
runs AS (SELECT grp, k, finished_at - started_at AS x FROM g WHERE {_ENDED_RUN} AND started_at IS NOT NULL),
waits AS (SELECT grp, k, started_at - created_at AS x FROM g WHERE started_at >= :since)
SELECT 'counts', grp, k, NULL,
    SUM(status = 'completed' AND finished_at >= :since), SUM(status IN ('failed', 'missing') AND finished_at >= :since),
    SUM(finished_at >= :since), SUM(started_at >= :since),
    AVG(CASE WHEN {_ENDED_RUN} AND started_at IS NOT NULL THEN finished_at - started_at END),
    AVG(CASE WHEN started_at >= :since THEN started_at - created_at END), SUM(cpus * hours), SUM(gpus * hours)
FROM g GROUP BY grp, k
UNION ALL
SELECT 'reason', grp, k, COALESCE(reason, 'unknown'), COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM g WHERE status IN ('failed', 'missing') AND finished_at >= :since GROUP BY grp, k, 4
UNION ALL
SELECT 'licence', grp, k, lic.key, SUM(lic.value * hours), NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM g, json_each(g.licenses) AS lic WHERE hours > 0 GROUP BY grp, k, lic.key
UNION ALL
SELECT what, grp, k, NULL, MIN(x), NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM (
    SELECT 'run' AS what, grp, k, x, CUME_DIST() OVER (PARTITION BY grp, k ORDER BY x) AS cd FROM runs
    UNION ALL
    SELECT 'wait', grp, k, x, CUME_DIST() OVER (PARTITION BY grp, k ORDER BY x) FROM waits
) WHERE cd >= 0.95 GROUP BY what, grp, k  -- the nearest-rank 95th percentile: the least value with 95 % at or below
"""


async def metrics(engine: Engine, window: float, by: str | None = None) -> dict[str, Any]:
    """The metrics of the last `window` seconds, overall and (with `by`) per group."""
    if by is not None and by not in GROUPINGS:
        raise ValidationError(f"cannot group metrics by {by!r}; use one of {', '.join(GROUPINGS)}.")
    now = engine.clock.now()
    params = {"since": now - window, "now": now}
    states = engine.node_states().values()
    available = sum(state.cores for state in states) * window / 3600.0
    node_hours = {s.name: s.cores * window / 3600.0 for s in states}
    rows = await engine.query(_FIGURES.format(groups=_GROUPS[by]), params)
    figures: dict[tuple[int, str], dict[str, Any]] = {}
    for what, grp, k, name, a, b, c, d, e, f, g, h in rows:
        entry = figures.setdefault((grp, str(k)), {"reasons": {}, "licences": {}, "p95": {}})
        if what == "counts":
            entry["counts"] = (a or 0, b or 0, c or 0, d or 0, e, f, g or 0.0, h or 0.0)
        elif what == "reason":
            entry["reasons"][str(name)] = a
        elif what == "licence":
            entry["licences"][str(name)] = a
        else:
            entry["p95"][what] = a

    def summary(grp: int, k: str, pool: float) -> dict[str, Any]:
        entry = figures.get((grp, k)) or {"reasons": {}, "licences": {}, "p95": {}}
        counts = entry.get("counts", (0, 0, 0, 0, None, None, 0.0, 0.0))
        return _figures(counts, entry["reasons"], entry["licences"], entry["p95"], window, pool)

    result: dict[str, Any] = {"since": params["since"], "until": now, "window_seconds": window, "by": by}
    result["overall"] = summary(0, "all", available)
    if by is not None:
        keys = sorted(k for grp, k in figures if grp == 1)
        result["groups"] = {k: summary(1, k, node_hours.get(k, 0.0) if by == "node" else available) for k in keys}
    result["series"] = await running_and_queued(engine, now)
    return result


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _figures(
    figures: tuple[Any, ...],
    reasons: dict[str, float],
    licences: dict[str, float],
    p95s: dict[str, float | None],
    window: float,
    available: float,
) -> dict[str, Any]:
    completed, failed, ended, started, avg_run, avg_wait, cpu_h, gpu_h = figures
    finished_runs = completed + failed
    return {
        "ended": ended,
        "completed": completed,
        "failed": failed,
        "started": started,
        "success_rate": _round(completed / finished_runs, 4) if finished_runs else None,
        "error_rate": _round(failed / finished_runs, 4) if finished_runs else None,
        "errors_by_reason": {r: int(n) for r, n in sorted(reasons.items())},
        "error_rate_by_reason": {r: round(n / finished_runs, 4) for r, n in sorted(reasons.items())}
        if finished_runs
        else {},
        "run_seconds": {"avg": _round(avg_run), "p95": _round(p95s.get("run"))},
        "wait_seconds": {"avg": _round(avg_wait), "p95": _round(p95s.get("wait"))},
        "throughput_per_hour": round(completed / (window / 3600.0), 4),
        "core_hours": round(cpu_h, 4),
        "available_core_hours": round(available, 4),
        "utilisation": round(cpu_h / available, 4) if available else None,
        "gpu_hours": round(gpu_h, 4),
        "licence_hours": {name: round(h, 4) for name, h in sorted(licences.items())},
    }


async def running_and_queued(engine: Engine, now: float) -> dict[str, Any]:
    """How many jobs were running and queued at each minute of the last hour (from their start and end times)."""
    start = now - SERIES_SPAN + SERIES_STEP
    rows = await engine.query(
        f"""WITH RECURSIVE ticks(t) AS (SELECT :start UNION ALL SELECT t + :step FROM ticks WHERE t + :step <= :now),
        {_JOBS.replace(":since", ":start")}
        SELECT t,
            COALESCE(SUM(started_at IS NOT NULL AND started_at <= t AND t < COALESCE(finished_at, :far)
                         AND (finished_at IS NOT NULL OR status IN ('running', 'starting'))), 0),
            COALESCE(SUM(created_at <= t AND t < COALESCE(started_at, finished_at, :far)), 0)
        FROM ticks LEFT JOIN j ON 1 GROUP BY t ORDER BY t""",
        {"start": start, "step": SERIES_STEP, "now": now + 1e-6, "far": 1e18},
    )
    return {
        "step_seconds": SERIES_STEP,
        "at": [r[0] for r in rows],
        "running": [int(r[1]) for r in rows],
        "queued": [int(r[2]) for r in rows],
    }
