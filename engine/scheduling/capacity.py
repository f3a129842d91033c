"""Node capacity: cores, memory and GPUs of this machine (GPUs through NVML when it is there)."""

from __future__ import annotations

import os

from engine.config import LocalNode
from engine.models import GpuSample
from engine.scheduling.plan import NodeState


def local_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def sample_local_gpus() -> list[GpuSample]:
    """Every NVIDIA GPU of this machine through NVML; an empty list where there is none."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        samples = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            samples.append(
                GpuSample(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else name,
                    memory_total_mb=memory.total // (1024 * 1024),
                    memory_used_mb=memory.used // (1024 * 1024),
                    utilization_pct=int(util.gpu),
                )
            )
        return samples
    except pynvml.NVMLError:
        return []
    finally:
        pynvml.nvmlShutdown()


def local_node_state(cfg: LocalNode, gpu_count: int) -> NodeState:
    """A local node: the config's cores, memory and GPUs, or this machine's (`gpu_count`: NVML's devices)."""
    devices = list(range(cfg.gpus if cfg.gpus is not None else gpu_count))
    return NodeState(
        name=cfg.name,
        cores=cfg.cores or os.cpu_count() or 1,
        mem_mb=cfg.memory_mb if cfg.memory_mb is not None else local_memory_mb(),
        gpus=list(devices),
        max_jobs=cfg.max_jobs,
        labels=dict(cfg.labels),
        kind="local",
        devices=devices,
    )


def abaqus_tokens(cores: int) -> int:
    """Abaqus licence tokens a job of `cores` cores draws: int(5 * cores ** 0.422)."""
    return int(5 * max(cores, 1) ** 0.422)
