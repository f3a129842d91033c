"""Grid Engine (SGE/OGS): `qsub -terse` on stdin, one `qstat -xml -u USER` per interval, `qacct` for ended jobs.

`qstat` lists only queued and running jobs; a job that left it is judged by its exit file, and by
`qacct` when it wrote none (killed by `qdel` or by its `h_rt` limit).
"""

from __future__ import annotations

import math

from engine.executors.batch.records import TAG_PREFIX, FinishedRecord, QueueEntry
from engine.executors.batch.script import ScriptSpec, hms
from engine.executors.batch.sge_output import parse_qacct, parse_qstat_xml, parse_qsub_id
from engine.remote.commands import CommandError, CommandResult


class SgeDialect:
    kind = "sge"
    directive_prefix = "#$"

    def __init__(self, parallel_env: str = "smp", gpu_resource: str = "gpu") -> None:
        self.parallel_env = parallel_env  # site-specific: the PE that gives a job several slots on one host
        self.gpu_resource = gpu_resource  # site-specific consumable complex for GPUs

    def directives(self, spec: ScriptSpec) -> list[str]:
        out = [f"-N {spec.job_name}", "-o /dev/null", "-e /dev/null", "-S /bin/sh"]
        if spec.cpus > 1:
            out.append(f"-pe {self.parallel_env} {spec.cpus}")
        if spec.mem_mb:
            out.append(f"-l h_vmem={max(1, spec.mem_mb // spec.cpus)}M")  # SGE counts memory per slot
        if spec.gpus:
            out.append(f"-l {self.gpu_resource}={spec.gpus}")
        if spec.time_limit is not None:
            out.append(f"-l h_rt={hms(spec.time_limit)}")
        elif spec.default_time_limit:
            out.append(f"-l h_rt={spec.default_time_limit}")
        if spec.partition:
            out.append(f"-q {spec.partition}")
        if spec.account:
            out.append(f"-A {spec.account}")
        return out + list(spec.directives)

    def submit_argv(self) -> list[str]:
        return ["qsub", "-terse"]

    def parse_submit(self, stdout: str) -> str:
        return parse_qsub_id(stdout)

    def list_argv(self, user: str) -> list[str]:
        return ["qstat", "-xml", "-u", user]

    def parse_list(self, result: CommandResult) -> list[QueueEntry]:
        if not result.ok:
            raise CommandError(result, "qstat")
        return parse_qstat_xml(result.stdout)

    def is_active(self, entry: QueueEntry) -> bool:
        return True  # qstat shows only jobs that have not ended

    def is_running(self, entry: QueueEntry) -> bool:
        return "r" in entry.state or "t" in entry.state  # running, or being transferred to its host

    def accounting_argv(self, job_id: str | None, tag: str) -> list[str]:
        return ["qacct", "-j", job_id or f"{tag}*"]

    def usage_argv(self, job_ids: list[str], age: float) -> list[str]:
        """`qacct -j` takes one job or one name pattern: several ended jobs are asked as every jobtui job
        started within the days they span (qacct reads its whole file for any question)."""
        if len(job_ids) == 1:
            return ["qacct", "-j", job_ids[0]]
        return ["qacct", "-j", f"{TAG_PREFIX}*", "-d", str(max(1, math.ceil(age / 86400)))]

    def parse_accounting(self, result: CommandResult) -> list[FinishedRecord]:
        if not result.ok:
            if "not found" in result.stderr:
                return []  # not (yet) in the accounting file
            raise CommandError(result, "qacct")
        return parse_qacct(result.stdout)

    def cancel_argv(self, job_id: str) -> list[str]:
        return ["qdel", job_id]
