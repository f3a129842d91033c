"""`/metrics`: the engine's state and the metrics of the last day in the Prometheus text format, written by
`prometheus_client` from one fresh registry per scrape (nothing global is kept between scrapes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.service.metrics import metrics
from engine.service.verbs import JobService

PROMETHEUS_WINDOW = 86400.0  # the window of the rates and times: one day
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _gauge(name: str, doc: str, labels: list[str], samples: Iterable[tuple[list[str], float | None]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        if value is not None:
            family.add_metric(values, value)
    return family


async def prometheus_text(service: JobService) -> bytes:
    engine = service.engine
    window = PROMETHEUS_WINDOW
    figures = await metrics(engine, window, by="node")
    day = figures["overall"]
    by_status: dict[str, int] = {}
    for job in engine.jobs():
        by_status[job.status.value] = by_status.get(job.status.value, 0) + 1
    nodes = service.nodes()
    per_node: dict[str, Any] = figures.get("groups", {})
    hooks = engine.hooks.counts
    deliveries = CounterMetricFamily(
        "jobtui_hook_deliveries", "Hook deliveries since the engine started", labels=["result"]
    )
    for result, count in hooks.to_dict().items():
        deliveries.add_metric([result], count)
    families: list[Metric] = [
        _gauge("jobtui_jobs", "Jobs in the engine by status", ["status"],
               (([s], n) for s, n in sorted(by_status.items()))),
        _gauge("jobtui_metrics_window_seconds", "The window of the jobtui_window_* figures", [], [([], window)]),
        _gauge("jobtui_window_jobs_ended", "Jobs that ended in the window, by result", ["result"],
               [(["completed"], day["completed"]), (["failed"], day["failed"]), (["any"], day["ended"])]),
        _gauge("jobtui_window_success_ratio", "Completed / (completed + failed) in the window", [],
               [([], day["success_rate"])]),
        _gauge("jobtui_window_errors", "Failed jobs in the window by reason", ["reason"],
               (([r], n) for r, n in day["errors_by_reason"].items())),
        _gauge("jobtui_window_run_seconds", "Run time of the jobs that ended in the window", ["stat"],
               [(["avg"], day["run_seconds"]["avg"]), (["p95"], day["run_seconds"]["p95"])]),
        _gauge("jobtui_window_wait_seconds", "Wait time of the jobs that started in the window", ["stat"],
               [(["avg"], day["wait_seconds"]["avg"]), (["p95"], day["wait_seconds"]["p95"])]),
        _gauge("jobtui_window_throughput_per_hour", "Jobs completed per hour in the window", [],
               [([], day["throughput_per_hour"])]),
        _gauge("jobtui_window_gpu_hours", "GPU-hours used in the window", [], [([], day["gpu_hours"])]),
        _gauge("jobtui_window_licence_hours", "Licence units x hours held in the window", ["pool"],
               (([p], h) for p, h in day["licence_hours"].items())),
        _gauge("jobtui_window_core_hours", "Core-hours used in the window by node", ["node"],
               (([n], g["core_hours"]) for n, g in per_node.items() if n)),
        _gauge("jobtui_window_node_utilisation_ratio", "Core-hours used / available in the window", ["node"],
               (([n], g["utilisation"]) for n, g in per_node.items() if n)),
        _gauge("jobtui_node_reachable", "1 when the node answers", ["node"],
               (([n["name"]], 1.0 if n["reachable"] else 0.0) for n in nodes)),
        _gauge("jobtui_node_cores_reserved", "Cores jobtui has reserved on the node", ["node"],
               (([n["name"]], n["used_cores"]) for n in nodes)),
        _gauge("jobtui_node_cores", "Cores of the node", ["node"], (([n["name"]], n["cores"]) for n in nodes)),
        _gauge("jobtui_node_load1", "The node's measured one-minute load average", ["node"],
               (([n["name"]], (n.get("measured") or {}).get("load1")) for n in nodes)),
        _gauge("jobtui_node_memory_used_bytes", "The node's measured memory in use", ["node"],
               (([n["name"]], _mib((n.get("measured") or {}).get("memory_used_mb"))) for n in nodes)),
        _gauge("jobtui_licence_tokens_in_use", "Licence tokens held by running jobs", ["pool"],
               (([p], t) for p, t in sorted(engine.usage().licenses.items()))),
        deliveries,
        _gauge("jobtui_hook_queue_length", "Hook deliveries waiting", [], [([], engine.hooks.pending)]),
    ]  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def _mib(value: float | None) -> float | None:
    return None if value is None else value * 1024 * 1024
