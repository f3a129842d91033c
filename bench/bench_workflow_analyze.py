"""The cost of analysing a large workflow graph: levels, critical path, widest level (and its renderings).

The graph: WIDTH x DEPTH jobs (default 100 x 100 = 10,000), each job after level 0 depending on DEPS jobs
(default 3) of the level before, picked with a fixed seed; each job weighs its timeout. Prints the median
(and the slowest) of REPEATS runs of `graph.analyze`, then of the DOT and Mermaid renderings.

usage: python bench/bench_workflow_analyze.py [WIDTH=100] [DEPTH=100] [DEPS=3] [REPEATS=7]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable

from engine.workflows.graph import GraphNode, analyze


def build(width: int, depth: int, deps: int, seed: int = 1) -> list[GraphNode]:
    rng = random.Random(seed)
    nodes = []
    for level in range(depth):
        for i in range(width):
            after = () if level == 0 else tuple(f"j{level - 1}_{p}" for p in rng.sample(range(width), deps))
            nodes.append(GraphNode(f"j{level}_{i}", after, float(rng.randint(10, 600))))
    return nodes


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3, max(samples) * 1e3


def main() -> None:
    width, depth, deps, repeats = (int(a) for a in (sys.argv[1:] + ["100", "100", "3", "7"][len(sys.argv) - 1 :]))
    nodes = build(width, depth, deps)
    edges = sum(len(n.after) for n in nodes)
    result = analyze(nodes)
    assert result.valid and len(result.levels) == depth and result.max_parallelism == width
    assert len(result.critical_path) == depth
    print(f"workflow graph: {len(nodes):,} jobs, {edges:,} edges, {depth} levels; {repeats} runs each (ms)")
    print(f"{'step':<32}{'median':>10}{'slowest':>10}")
    for name, fn in (
        ("analyze (levels, critical path)", lambda: analyze(nodes)),
        ("DOT rendering", result.dot),
        ("Mermaid rendering", result.mermaid),
    ):
        median, slowest = timed(fn, repeats)
        print(f"{name:<32}{median:10.1f}{slowest:10.1f}")


if __name__ == "__main__":
    main()
