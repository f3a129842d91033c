"""Graph analysis (engine/workflows/graph.py) on small graphs worked out by hand, the cycle path, the DOT and
Mermaid renderings, and the size it must stay fast for."""

from __future__ import annotations

import time

import pytest

from bench.bench_workflow_analyze import build
from engine.workflows.graph import GraphNode, analyze, find_cycle

#        b(2)
#      /      \
#  a(3) - c(4) - d(1) - f(2)
#      \              /
#        e(6) -------
GRAPH = [
    ("a", [], 3.0),
    ("b", ["a"], 2.0),
    ("c", ["a"], 4.0),
    ("d", ["b", "c"], 1.0),
    ("e", ["a"], 6.0),
    ("f", ["d", "e"], 2.0),
]


def test_levels_critical_path_and_parallelism_of_a_known_graph() -> None:
    result = analyze(GRAPH)
    assert result.valid and result.cycle == ()
    # a has no parent; b, c, e wait for a only; d for b and c (level 1) -> 2; f for d (2) and e (1) -> 3.
    assert result.levels == (("a",), ("b", "c", "e"), ("d",), ("f",))
    assert result.max_parallelism == 3
    # a-b-d-f = 3+2+1+2 = 8, a-c-d-f = 3+4+1+2 = 10, a-e-f = 3+6+2 = 11.
    assert result.critical_path == ("a", "e", "f") and result.critical_seconds == 11.0
    assert {w.source for w in result.weights.values()} == {"timeout"}
    order = result.order
    assert all(order.index(p) < order.index(job) for job, parents, _ in GRAPH for p in parents)


def test_median_run_times_by_name_replace_the_timeouts_and_say_so() -> None:
    nodes = [GraphNode(i, tuple(after), t, name=f"job {i}") for i, after, t in GRAPH]
    result = analyze(nodes, medians={"job c": 10.0, "job e": 1.0, "unrelated": 99.0})
    # a-c-d-f = 3+10+1+2 = 16 beats a-e-f = 3+1+2 = 6.
    assert result.critical_path == ("a", "c", "d", "f") and result.critical_seconds == 16.0
    assert (result.weights["c"].seconds, result.weights["c"].source) == (10.0, "history")
    assert (result.weights["a"].seconds, result.weights["a"].source) == (3.0, "timeout")


def test_a_tie_goes_to_the_longer_chain_and_no_durations_give_the_longest_chain() -> None:
    tied = [(i, after, 5.0 if i == "e" else t) for i, after, t in GRAPH]  # a-e-f = 10 = a-c-d-f
    assert analyze(tied).critical_path == ("a", "c", "d", "f")
    unknown = analyze([(i, after, None) for i, after, _ in GRAPH])
    assert unknown.critical_path == ("a", "b", "d", "f")  # four jobs; b is declared before c
    assert unknown.critical_seconds == 0.0 and unknown.weights["a"].source == "unknown"


def test_a_cycle_is_named_in_run_order_from_its_first_declared_job() -> None:
    nodes = [("x", [], 1.0), ("a", ["c", "x"], 1.0), ("b", ["a"], 1.0), ("c", ["b"], 1.0), ("d", ["c"], 1.0)]
    result = analyze(nodes)
    assert not result.valid and result.cycle == ("a", "b", "c", "a")  # b waits for a, c for b, a for c
    assert result.levels == () and result.critical_path == ()
    assert find_cycle(nodes) == ["a", "b", "c", "a"]
    assert find_cycle([("a", ["a"], None)]) == ["a", "a"]
    assert find_cycle(GRAPH) is None


def test_bad_graphs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="depends on 'z'"):
        analyze([("a", ["z"], None)])
    with pytest.raises(ValueError, match="given twice"):
        analyze([("a", [], None), ("a", [], None)])


def test_an_empty_graph_and_repeated_dependencies() -> None:
    assert analyze([]).max_parallelism == 0
    result = analyze([("a", [], 1.0), ("b", ["a", "a"], 1.0)])
    assert result.levels == (("a",), ("b",)) and result.edges() == [("a", "b", "success"), ("a", "b", "success")]


CONDITIONAL = [
    GraphNode("build", (), 10.0, 'Build "it"'),
    GraphNode("end", ("build",), 1.0),  # a word Mermaid reserves
    GraphNode("notify-ops", ("build",), 1.0, when={"build": "failure"}),
    GraphNode("clean", ("end", "notify-ops"), 1.0, when={"notify-ops": "any"}),
]


def test_dot_draws_every_edge_and_its_condition() -> None:
    dot = analyze(CONDITIONAL, title="ci").dot()
    assert dot.startswith('digraph "ci" {') and dot.rstrip().endswith("}")
    assert '  "build" -> "end";' in dot
    assert '  "build" -> "notify-ops" [style=dashed, label="failure"];' in dot
    assert '  "notify-ops" -> "clean" [style=dashed, label="any"];' in dot
    assert '"end" -> "clean";' in dot
    assert '"build" [label="build\\nBuild \\"it\\"", penwidth=2, color=red];' in dot  # on the critical path


def test_mermaid_draws_every_edge_with_safe_ids() -> None:
    mermaid = analyze(CONDITIONAL).mermaid()
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  build["Build #quot;it#quot;"]' in lines
    assert '  n1["end"]' in lines and '  n2["notify-ops"]' in lines  # `end` and `notify-ops` are no Mermaid ids
    assert "  build --> n1" in lines
    assert "  build -.->|failure| n2" in lines
    assert "  n2 -.->|any| clean" in lines and "  n1 --> clean" in lines
    assert "  class build,n1,clean critical;" in lines


def test_as_dict_carries_everything() -> None:
    data = analyze(GRAPH).as_dict()
    assert data["jobs"] == 6 and data["valid"] and data["execution_levels"] == 4 and data["max_parallelism"] == 3
    assert data["critical_path"] == {"jobs": ["a", "e", "f"], "seconds": 11.0}
    assert data["weights"]["e"] == {"seconds": 6.0, "source": "timeout"}
    assert {"from": "b", "to": "d", "when": "success"} in data["edges"]


def test_ten_thousand_jobs_are_analysed_well_under_a_second() -> None:
    nodes = build(100, 100, 3)
    start = time.perf_counter()
    result = analyze(nodes)
    elapsed = time.perf_counter() - start
    assert result.valid and len(result.levels) == 100 and result.max_parallelism == 100
    assert len(result.critical_path) == 100
    assert elapsed < 1.0, f"{elapsed:.2f} s"  # about 0.05 s here; bench/bench_workflow_analyze.py measures it
