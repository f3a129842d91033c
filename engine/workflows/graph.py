"""Analysis of a dependency graph: a valid DAG or the cycle, execution levels, the critical path, the widest
level, and DOT and Mermaid renderings. Pure and linear in jobs + edges (10,000 jobs: a few tens of ms).

A graph is any sequence of `GraphNode`s (or `(id, dependencies, duration)` tuples). An edge goes from a
parent to a child: the child waits for the parent. Terms:

- level: 0 for a job without dependencies, otherwise one more than its deepest parent. Jobs of one level
  can run side by side; the widest level is the most parallelism the graph allows (`max_parallelism`).
- critical path: the chain of jobs whose weights add up to the most; weight = the median of the job's past
  run times when a mapping by job name is given and holds it (source `history`), else its timeout (source
  `timeout`), else 0 (source `unknown`). Ties go to the chain of more jobs, then to the earlier declared job,
  so a graph without any durations gets its longest chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["history", "timeout", "unknown"]


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str
    after: tuple[str, ...] = ()  # the ids of its parents
    duration: float | None = None  # its expected run time (a workflow gives its timeout), seconds
    name: str | None = None  # its display name (past run times are looked up by it); the id when None
    when: Mapping[str, str] = field(default_factory=dict)  # parent id -> condition, for edges not `success`

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Weight:
    seconds: float
    source: Source


@dataclass(frozen=True)
class Analysis:
    nodes: tuple[GraphNode, ...]
    valid: bool  # a DAG: no cycle
    cycle: tuple[str, ...]  # when not valid: the ids of one cycle, in run order, its first id again last
    order: tuple[str, ...]  # a run order (parents first), declared order kept where the graph allows
    levels: tuple[tuple[str, ...], ...]
    critical_path: tuple[str, ...]
    critical_seconds: float
    weights: Mapping[str, Weight]
    title: str = "workflow"

    @property
    def max_parallelism(self) -> int:
        return max((len(level) for level in self.levels), default=0)

    def edges(self) -> list[tuple[str, str, str]]:
        """(parent, child, condition) for every edge, in declared order."""
        return [(p, n.id, n.when.get(p, "success")) for n in self.nodes for p in n.after]

    def as_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (`jobtui analyze --json`)."""
        return {
            "jobs": len(self.nodes),
            "valid": self.valid,
            "cycle": list(self.cycle),
            "levels": [list(level) for level in self.levels],
            "execution_levels": len(self.levels),
            "max_parallelism": self.max_parallelism,
            "critical_path": {"jobs": list(self.critical_path), "seconds": self.critical_seconds},
            "weights": {k: {"seconds": w.seconds, "source": w.source} for k, w in self.weights.items()},
            "edges": [{"from": p, "to": c, "when": w} for p, c, w in self.edges()],
        }

    def dot(self) -> str:
        """Graphviz DOT: a box per job (its id, and its name when that differs), the critical path bold, and
        the edges that are not `success` dashed and labelled with their condition."""
        critical = set(self.critical_path)
        lines = [f"digraph {_dot_quote(self.title)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for n in self.nodes:
            label = n.id if n.label == n.id else f"{n.id}\n{n.label}"
            style = ", penwidth=2, color=red" if n.id in critical else ""
            lines.append(f"  {_dot_quote(n.id)} [label={_dot_quote(label)}{style}];")
        for parent, child, when in self.edges():
            attributes = f" [style=dashed, label={_dot_quote(when)}]" if when != "success" else ""
            lines.append(f"  {_dot_quote(parent)} -> {_dot_quote(child)}{attributes};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def mermaid(self) -> str:
        """A Mermaid flowchart: ids that Mermaid can take stay as they are, others become `n<index>`; the
        critical path gets the class `critical`, and the edges that are not `success` are dotted and
        labelled with their condition."""
        ids = {n.id: _mermaid_id(n.id, i) for i, n in enumerate(self.nodes)}
        lines = ["flowchart LR"]
        lines += [f'  {ids[n.id]}["{_mermaid_text(n.label)}"]' for n in self.nodes]
        for parent, child, when in self.edges():
            arrow = "-->" if when == "success" else f"-.->|{when}|"
            lines.append(f"  {ids[parent]} {arrow} {ids[child]}")
        if self.critical_path:
            lines.append("  classDef critical stroke-width:3px,stroke:#d33;")
            lines.append(f"  class {','.join(ids[i] for i in self.critical_path)} critical;")
        return "\n".join(lines) + "\n"


def as_nodes(graph: Iterable[GraphNode | tuple[str, Sequence[str], float | None]]) -> tuple[GraphNode, ...]:
    return tuple(item if isinstance(item, GraphNode) else GraphNode(item[0], tuple(item[1]), item[2]) for item in graph)


def analyze(
    graph: Iterable[GraphNode | tuple[str, Sequence[str], float | None]],
    medians: Mapping[str, float] | None = None,
    title: str = "workflow",
) -> Analysis:
    """The analysis of `graph`; `medians` maps job names to their median past run time in seconds.

    An id given twice or a dependency on an id that is not in the graph is a ValueError (a workflow file
    reports those with their lines before it gets here)."""
    nodes = as_nodes(graph)
    index: dict[str, int] = {}
    for i, n in enumerate(nodes):
        if n.id in index:
            raise ValueError(f"job id {n.id!r} is given twice")
        index[n.id] = i
    count = len(nodes)
    parents: list[list[int]] = [[] for _ in range(count)]
    children: list[list[int]] = [[] for _ in range(count)]
    for i, n in enumerate(nodes):
        seen: set[int] = set()
        for dep in n.after:
            j = index.get(dep)
            if j is None:
                raise ValueError(f"job {n.id!r} depends on {dep!r}, which is no job of this graph")
            if j not in seen:
                seen.add(j)
                parents[i].append(j)
                children[j].append(i)
    weights = {n.id: _weight(n, medians) for n in nodes}
    # Kahn's algorithm, declared order first: a job is taken once all its parents are.
    missing = [len(p) for p in parents]
    order = [i for i in range(count) if not missing[i]]
    level = [0] * count
    for i in order:  # `order` grows while it is walked
        for c in children[i]:
            if level[i] + 1 > level[c]:
                level[c] = level[i] + 1
            missing[c] -= 1
            if not missing[c]:
                order.append(c)
    if len(order) < count:
        return Analysis(nodes, False, tuple(_cycle(nodes, parents, missing)), (), (), (), 0.0, weights, title)
    by_level: list[list[str]] = [[] for _ in range(max(level, default=-1) + 1)]
    for i in range(count):
        by_level[level[i]].append(nodes[i].id)
    # Longest path: (seconds, jobs) up to and including each job, and the parent it came through.
    best: list[tuple[float, int]] = [(0.0, 0)] * count
    through = [-1] * count
    for i in order:
        top, via = (0.0, 0), -1
        for p in parents[i]:
            if best[p] > top or (best[p] == top and via > p):
                top, via = best[p], p
        best[i] = (top[0] + weights[nodes[i].id].seconds, top[1] + 1)
        through[i] = via
    path: list[str] = []
    if count:
        end = max(range(count), key=lambda i: (best[i], -i))
        while end != -1:
            path.append(nodes[end].id)
            end = through[end]
        path.reverse()
    seconds = best[index[path[-1]]][0] if path else 0.0
    return Analysis(
        nodes,
        True,
        (),
        tuple(nodes[i].id for i in order),
        tuple(tuple(ids) for ids in by_level),
        tuple(path),
        seconds,
        weights,
        title,
    )


def find_cycle(graph: Iterable[GraphNode | tuple[str, Sequence[str], float | None]]) -> list[str] | None:
    """One cycle of `graph` in run order (`a -> b -> c -> a`: b waits for a, ...), or None for a DAG."""
    result = analyze(graph)
    return None if result.valid else list(result.cycle)


def _weight(node: GraphNode, medians: Mapping[str, float] | None) -> Weight:
    if medians is not None:
        median = medians.get(node.label)
        if median is not None:
            return Weight(float(median), "history")
    if node.duration is not None:
        return Weight(float(node.duration), "timeout")
    return Weight(0.0, "unknown")


def _cycle(nodes: tuple[GraphNode, ...], parents: list[list[int]], missing: list[int]) -> list[str]:
    """Every job Kahn's algorithm left has a parent that was left too: walking those parents from the
    first one left must come back to a job already walked, and that loop is a cycle."""
    left = [bool(m) for m in missing]
    start = next(i for i, m in enumerate(left) if m)
    walked: dict[int, int] = {}
    trail: list[int] = []
    current = start
    while current not in walked:
        walked[current] = len(trail)
        trail.append(current)
        current = next(p for p in parents[current] if left[p])
    loop = trail[walked[current] :]
    loop.reverse()  # walked child -> parent; shown in run order, parent -> child
    first = loop.index(min(loop))  # from its earliest declared job
    loop = loop[first:] + loop[:first]
    return [nodes[i].id for i in [*loop, loop[0]]]


_MERMAID_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MERMAID_WORDS = {
    "end",
    "graph",
    "subgraph",
    "flowchart",
    "style",
    "class",
    "classdef",
    "click",
    "linkstyle",
    "direction",
}


def _mermaid_id(job_id: str, index: int) -> str:
    if _MERMAID_ID.fullmatch(job_id) and job_id.lower() not in _MERMAID_WORDS and not re.fullmatch(r"n\d+", job_id):
        return job_id
    return f"n{index}"


_CONTROLS = {c: " " for c in [*range(32), 127]}
_MERMAID_ESCAPES = str.maketrans({**_CONTROLS, "&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;"})
_DOT_ESCAPES = str.maketrans({**_CONTROLS, "\\": "\\\\", '"': '\\"', "\n": "\\n"})


def _mermaid_text(text: str) -> str:
    return text.translate(_MERMAID_ESCAPES)


def _dot_quote(text: str) -> str:
    return '"' + text.translate(_DOT_ESCAPES) + '"'
