"""A submitted workflow's graph as lines of text, for the workflow screen (`tui.screens.workflow`).

Levels run top to bottom (level 0 first: its jobs start first), each level's jobs side by side as small
chips (`★✔ name`: critical-path mark, status glyph, the name cut to fit), wrapping onto more lines when a
level is wider than the screen. An edge always goes from a higher line to a lower one, so the level order
shows the edges' direction; a job's own parents are listed (and underlined) when it is selected.

A job tree (`jobtui tree`, a workflow named `tree:<run directory>`) is drawn by directory instead: a line or
more per material directory, its `qsub.{id}` jobs side by side in tree order, the directory in the gutter.

Pure: it takes the detail `EngineClient.workflow()` returns (`engine.wire.workflow_detail_result`) and
gives pieces of plain text with style names (a status, `critical`, `cursor`, ...), which the widget maps
to theme styles. User text (job names) is only ever text here, never markup.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len, set_cell_size

from engine.trees.states import ORDER as TREE_ORDER
from engine.trees.states import directory_state
from engine.wire import workflow_status
from tui.formatting import STATUS_GLYPH, duration

# style names besides the job statuses
LEVEL = "level"  # the level gutter
MARK = "mark"  # the critical-path star
CRITICAL = "critical"  # a job on the critical path
CURSOR = "cursor"  # the selected job
PARENT = "parent"  # a parent of the selected job

CRITICAL_MARK = "★"
CHIP_MIN, CHIP_MAX = 10, 24  # cells per job chip, its mark and glyph included
CHIP_SHRUNK = 14  # the narrowest a chip gets so that more of a level fits on one line
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Piece = tuple[str, tuple[str, ...]]  # text and the style names it is drawn with
Cell = tuple[str, tuple[str, ...], int | None]  # a piece of the graph, and the job it draws (None: no job)


def plain(text: object) -> str:
    """User text on one line: control characters (line breaks, escapes) shown as `�`."""
    return _CONTROL.sub("\ufffd", str(text))


def fit_cells(text: str, width: int) -> str:
    """`text` padded or cut (with an ellipsis) to exactly `width` terminal cells."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


@dataclass(slots=True)
class GraphLayout:
    """The graph at one width. The selection is not part of it: `line` adds it, so moving the cursor over a
    large workflow costs a repaint, not a new layout."""

    lines: list[list[Cell]] = field(default_factory=list)
    line_of: dict[int, int] = field(default_factory=dict)  # job id -> its line
    levels: list[list[int]] = field(default_factory=list)  # job ids per shown level, in the detail's order
    place: dict[int, tuple[int, int]] = field(default_factory=dict)  # job id -> (level, place in the level)

    def position(self, job_id: int) -> tuple[int, int] | None:
        """(level, place in the level) of a job."""
        return self.place.get(job_id)

    def line(self, n: int, selected: int | None = None, parents: Collection[int] = ()) -> list[Piece]:
        """Line `n` with the selected job (`cursor`) and its parents (`parent`) marked."""
        return [
            (text, styles + ((PARENT,) if owner in parents else ()) + ((CURSOR,) if owner == selected else ()))
            if owner is not None
            else (text, styles)
            for text, styles, owner in self.lines[n]
        ]


def jobs_by_id(detail: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    return {job["id"]: job for job in detail.get("jobs") or []}


def critical_ids(detail: Mapping[str, Any]) -> list[int]:
    return list((detail.get("critical_path") or {}).get("jobs") or [])


TREE_PREFIX = "tree:"  # the name `jobtui tree` gives a tree's workflow records
DIRECTORY_MAX = 20  # cells of a directory name in a tree's gutter


def is_tree(detail: Mapping[str, Any]) -> bool:
    return str((detail.get("workflow") or {}).get("name") or "").startswith(TREE_PREFIX)


def split_tree_name(name: str) -> tuple[str, str]:
    """(directory, script) of a tree job's name `DIR/qsub.{id}`; a script of the run directory's top: `.`."""
    directory, _, script = name.rpartition("/")
    return (directory or ".", script)


def directories_of(detail: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    """(directory, job ids) per directory of a tree, in the order its jobs were submitted (tree order)."""
    groups: dict[str, list[int]] = {}
    for job in sorted(detail.get("jobs") or [], key=lambda j: j["id"]):
        groups.setdefault(split_tree_name(str(job.get("name") or ""))[0], []).append(job["id"])
    return list(groups.items())


def levels_of(detail: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    """(label, job ids) per line group: a tree's directories, else the execution levels, where a job no level
    holds (the engine found no order) goes last, as `?`."""
    if is_tree(detail):
        return directories_of(detail)
    jobs = jobs_by_id(detail)
    out = [(str(n), [i for i in level if i in jobs]) for n, level in enumerate(detail.get("levels") or [])]
    placed = {i for _, level in out for i in level}
    rest = [i for i in jobs if i not in placed]
    return [(label, ids) for label, ids in [*out, ("?", rest)] if ids]


def chip_name(job: Mapping[str, Any], tree: bool) -> str:
    """What a chip calls a job: its name, or in a tree (whose gutter names the directory) its script."""
    name = plain(job.get("name") or job["id"])
    return split_tree_name(name)[1] if tree else name


def chip_text(job: Mapping[str, Any], critical: bool, width: int, tree: bool = False) -> str:
    mark = CRITICAL_MARK if critical else " "
    glyph = STATUS_GLYPH.get(job.get("status", ""), "·")
    return fit_cells(f"{mark}{glyph} {chip_name(job, tree)}", width)


def parents_of(detail: Mapping[str, Any], job_id: int | None) -> set[int]:
    job = jobs_by_id(detail).get(job_id) if job_id is not None else None
    return {p["id"] for p in job.get("after") or []} if job else set()


def layout(detail: Mapping[str, Any], width: int) -> GraphLayout:
    """The graph in `width` cells: a line or more per level, `L<n> │` then the level's jobs (a tree: per
    directory, `DIR │` then its scripts)."""
    jobs = jobs_by_id(detail)
    levels = levels_of(detail)
    tree = is_tree(detail)
    critical = set(critical_ids(detail))
    heads = [fit_cells(label, min(cell_len(label), DIRECTORY_MAX)) if tree else f"L{label}" for label, _ in levels]
    gutter = max((cell_len(head) for head in heads), default=2)
    avail = max(1, width - gutter - 3)
    longest = max((cell_len(chip_name(j, tree)) for j in jobs.values()), default=0)
    chip = max(1, min(max(longest + 3, CHIP_MIN), CHIP_MAX, avail))
    widest = max((len(ids) for _, ids in levels), default=1)
    for side_by_side in range(widest, (avail + 1) // (chip + 1), -1):  # narrower chips, to keep a level on a line
        if (avail + 1) // side_by_side - 1 >= CHIP_SHRUNK:
            chip = min(chip, (avail + 1) // side_by_side - 1)
            break
    per_line = max(1, (avail + 1) // (chip + 1))
    out = GraphLayout(levels=[ids for _, ids in levels])
    for level, (_label, ids) in enumerate(levels):
        out.place.update((job_id, (level, n)) for n, job_id in enumerate(ids))
        for start in range(0, len(ids), per_line):
            head = " " * gutter
            if start == 0:
                head = set_cell_size(heads[level], gutter) if tree else heads[level].rjust(gutter)
            line: list[Cell] = [(f"{head} │ ", (LEVEL,), None)]
            for n, job_id in enumerate(ids[start : start + per_line]):
                job = jobs[job_id]
                status = job.get("status", "")
                styles: tuple[str, ...] = (status, CRITICAL) if job_id in critical else (status,)
                text = chip_text(job, job_id in critical, chip, tree)
                if n:
                    line.append((" ", (), None))
                if job_id in critical:  # the star in the accent colour, the rest in the job's status colour
                    line.append((text[:1], (*styles, MARK), job_id))
                    text = text[1:]
                line.append((text, styles, job_id))
                out.line_of[job_id] = len(out.lines)
            out.lines.append(line)
    return out


# -- the lines around the graph (plain text and style names, like the graph) -----------------------------


def title_pieces(detail: Mapping[str, Any]) -> list[Piece]:
    """`Workflow #3 nightly v2  ▶ running  14 jobs  9 levels  ★ 9 jobs, 6h29m` (the critical path: its jobs
    and their timeouts' sum)."""
    if is_tree(detail):
        return tree_title_pieces(detail)
    wf = detail.get("workflow") or {}
    jobs = detail.get("jobs") or []
    status = str(wf.get("status") or "?")
    version = f" v{plain(wf['version'])}" if wf.get("version") else ""
    path = critical_ids(detail)
    seconds = (detail.get("critical_path") or {}).get("seconds") or 0
    timing = f", {duration(seconds)}" if seconds else ""
    return [
        (f"Workflow #{wf.get('id', '?')} ", (CRITICAL,)),
        (f"{plain(wf.get('name') or '')}{version}", (CRITICAL,)),
        ("  ", ()),
        (f"{STATUS_GLYPH.get(status, '·')} {status}", (status,)),
        (f"  {len(jobs)} jobs  {len(detail.get('levels') or [])} levels  ", ()),
        (CRITICAL_MARK, (MARK,)),
        (f" {len(path)} jobs{timing}", ()),
    ]


def tree_title_pieces(detail: Mapping[str, Any]) -> list[Piece]:
    """`Tree #3 camp-20260101-120000  ▶ running  12 jobs  3 directories: 1 done, 2 running` (directory states
    as `jobtui tree status` words them)."""
    wf = detail.get("workflow") or {}
    jobs = jobs_by_id(detail)
    status = str(wf.get("status") or "?")
    run = plain(str(wf.get("name") or "")[len(TREE_PREFIX) :])
    part = f" ({plain(wf['version'])})" if wf.get("version") else ""
    groups = directories_of(detail)
    states = Counter(directory_state(jobs[i].get("status", "") for i in ids) for _, ids in groups)
    by_state = ", ".join(f"{states[state]} {state}" for state in TREE_ORDER if states[state])
    return [
        (f"Tree #{wf.get('id', '?')} ", (CRITICAL,)),
        (f"{run}{part}", (CRITICAL,)),
        ("  ", ()),
        (f"{STATUS_GLYPH.get(status, '·')} {status}", (status,)),
        (f"  {len(jobs)} jobs  {len(groups)} directories: {by_state or 'none'}", ()),
    ]


def job_pieces(detail: Mapping[str, Any], job_id: int | None, width: int = 0) -> list[list[Piece]]:
    """Three lines on the selected job: what it is (its name cut so that the rest fits `width`, when
    given), what it runs after (underlined in the graph; with each edge's condition), what runs after it."""
    jobs = jobs_by_id(detail)
    job = jobs.get(job_id) if job_id is not None else None
    if job is None:
        return [[("no job selected", ())], [], []]
    critical = job["id"] in set(critical_ids(detail))
    status = job.get("status", "?")
    facts: list[Piece] = [
        ("  ", ()),
        (f"{STATUS_GLYPH.get(status, '·')} {status}", (status,)),
        (f"  {where(detail, job)}", (LEVEL,)),
        (f"  tries {job.get('attempts', 0)}", ()),
    ]
    if job.get("timeout"):
        facts.append((f"  timeout {duration(job['timeout'])}", ()))
    if job.get("reason") or job.get("message"):  # last: cut first
        facts.append((f"  {plain(job.get('reason') or '-')}: {plain(job.get('message') or '')}", ()))
    mark = f"{CRITICAL_MARK} " if critical else ""
    name = f"#{job['id']} {plain(job.get('name') or '')}"
    if width:
        room = width - cell_len(mark) - sum(cell_len(text) for text, _ in facts[:5])
        name = name if cell_len(name) <= room else fit_cells(name, max(12, room))
    first: list[Piece] = [(mark, (MARK,)), (name, (CRITICAL,) if critical else ()), *facts]
    parents = [(p["id"], p.get("when", "success")) for p in job.get("after") or []]
    after = [("after:", (LEVEL, PARENT)), *_edges(" ", parents, jobs, "nothing (it starts first)")]
    children = [(j["id"], "") for j in jobs.values() if any(p["id"] == job["id"] for p in j.get("after") or [])]
    then = [("then:", (LEVEL,)), *_edges("  ", children, jobs, "nothing (a last job)")]
    return [first, after, then]


def where(detail: Mapping[str, Any], job: Mapping[str, Any]) -> str:
    """Where a job is drawn: its level (`L2`), or in a tree its directory."""
    if is_tree(detail):
        return f"in {fit_cells(split_tree_name(plain(job.get('name') or ''))[0], DIRECTORY_MAX).rstrip()}"
    return f"L{job.get('level') if job.get('level') is not None else '?'}"


def _edges(
    head: str, edges: Sequence[tuple[int, str]], jobs: Mapping[int, Mapping[str, Any]], none: str
) -> list[Piece]:
    """`#id name glyph (on condition)` per edge, after `head`; `none` when there is no edge."""
    out: list[Piece] = [(head, ())]
    if not edges:
        return [*out, (none, (LEVEL,))]
    for n, (other_id, when) in enumerate(edges):
        other = jobs.get(other_id)
        if n:
            out.append((", ", ()))
        if other is None:  # a dependency outside the workflow (by id)
            out.append((f"#{other_id} (not in this workflow)", ()))
            continue
        status = other.get("status", "?")
        out.append((f"#{other_id} {plain(other.get('name') or '')} ", ()))
        out.append((STATUS_GLYPH.get(status, "·"), (status,)))
        if when and when != "success":
            out.append((f" (on {when})", (LEVEL,)))
    return out


def legend_pieces(detail: Mapping[str, Any], order: Sequence[str], width: int = 0) -> list[Piece]:
    """The critical-path mark and a glyph per status this workflow's jobs are in (shorter where `width`, when
    given, is too narrow for all of it). Underlined jobs are the selected job's parents (`after:` says so)."""
    present = {job.get("status") for job in detail.get("jobs") or []}
    out: list[Piece] = [(CRITICAL_MARK, (MARK,)), (" critical path ", ())]
    for status in (s for s in order if s in present):
        out += [(" ", ()), (f"{STATUS_GLYPH.get(status, '·')} {status}", (status,))]
    if width and sum(cell_len(text) for text, _ in out) > width:
        out[1] = (" critical", ())
    return out


def with_statuses(detail: dict[str, Any], statuses: Mapping[int, tuple[str, str | None, int]]) -> bool:
    """Update the detail in place from (status, reason, attempts) by job id, the workflow's status and counts
    derived again as the engine derives them; True when a job changed."""
    changed = False
    jobs = detail.get("jobs") or []
    for job in jobs:
        new = statuses.get(job["id"])
        if new is not None and (job.get("status"), job.get("reason"), job.get("attempts")) != new:
            job["status"], job["reason"], job["attempts"] = new
            changed = True
    summary = detail.get("workflow")
    if changed and isinstance(summary, dict):
        summary["status"] = workflow_status((j["status"], j.get("reason")) for j in jobs)
        summary["counts"] = dict(sorted(Counter(j["status"] for j in jobs).items()))
    return changed
