"""PBS (PBS Pro / OpenPBS, and Torque): `qsub` on stdin, one `qstat -f` per interval, `qstat -x -f ID` for ended jobs.

The listing is the full format, the only one that never shortens job names (where the jobtui tag is):
PBS Pro prints it as JSON (`-F json`), Torque as `key = value` blocks (`-1`: one line per attribute).
`qstat -f` cannot be narrowed to one user on either flavour, so the dialect keeps the user's own jobs.
It lists queued and running jobs only: PBS Pro's `-x` would add every user's history (two weeks by
default) to every poll. A job that left the listing is judged by its exit file, and, when it wrote
none (killed at its walltime, deleted), by `qstat -x -f ID` on PBS Pro, which answers while the server
keeps job history (`job_history_enable`), and by `qstat -f ID` on Torque, which answers for
`keep_completed` seconds. Without either, such a job ends `lost` after the node's `lost_grace`.

`-x` means "include finished jobs" on PBS Pro but "XML output" on Torque, hence the explicit flavour.
"""

from __future__ import annotations

from engine.executors.batch.pbs_output import (
    PBS_ACTIVE,
    PBS_RUNNING,
    Flavor,
    is_unknown_pbs_job,
    parse_pbs_qsub_id,
    parse_qstat_full,
    parse_qstat_json,
    pbs_entries,
    pbs_finished_records,
)
from engine.executors.batch.records import FinishedRecord, QueueEntry
from engine.executors.batch.script import ScriptSpec, hms
from engine.remote.commands import CommandError, CommandResult

DEFAULT_GPU_RESOURCE: dict[Flavor, str] = {"pbspro": "ngpus", "torque": "gpus"}


class PbsDialect:
    kind = "pbs"
    directive_prefix = "#PBS"

    def __init__(self, flavor: Flavor = "pbspro", gpu_resource: str | None = None) -> None:
        if flavor not in DEFAULT_GPU_RESOURCE:
            raise ValueError(f"unknown PBS flavour {flavor!r}; use pbspro or torque")
        self.flavor: Flavor = flavor
        self.gpu_resource = gpu_resource or DEFAULT_GPU_RESOURCE[flavor]  # site-specific consumable
        self._user: str | None = None

    def directives(self, spec: ScriptSpec) -> list[str]:
        out = [f"-N {spec.job_name}", "-o /dev/null", "-e /dev/null", "-S /bin/sh"]
        out += self._resources(spec)
        if spec.time_limit is not None:
            out.append(f"-l walltime={hms(spec.time_limit)}")
        elif spec.default_time_limit:
            out.append(f"-l walltime={spec.default_time_limit}")
        if spec.partition:
            out.append(f"-q {spec.partition}")
        if spec.account:
            out.append(f"-A {spec.account}")
        return out + list(spec.directives)

    def _resources(self, spec: ScriptSpec) -> list[str]:
        if self.flavor == "pbspro":  # one chunk on one host: the job's cores, memory and GPUs together
            chunk = f"select=1:ncpus={spec.cpus}"
            chunk += f":mem={spec.mem_mb}mb" if spec.mem_mb else ""
            chunk += f":{self.gpu_resource}={spec.gpus}" if spec.gpus else ""
            return [f"-l {chunk}"]
        nodes = f"nodes=1:ppn={spec.cpus}" + (f":{self.gpu_resource}={spec.gpus}" if spec.gpus else "")
        return [f"-l {nodes}"] + ([f"-l mem={spec.mem_mb}mb"] if spec.mem_mb else [])

    def submit_argv(self) -> list[str]:
        return ["qsub"]  # the script on stdin

    def parse_submit(self, stdout: str) -> str:
        return parse_pbs_qsub_id(stdout)

    def list_argv(self, user: str) -> list[str]:
        self._user = user  # `qstat -f` takes no user filter: parse_list keeps this user's jobs
        return ["qstat", "-f", "-F", "json"] if self.flavor == "pbspro" else ["qstat", "-f", "-1"]

    def parse_list(self, result: CommandResult) -> list[QueueEntry]:
        if not result.ok:
            raise CommandError(result, "qstat")
        return pbs_entries(self._parse(result.stdout), self._user)

    def is_active(self, entry: QueueEntry) -> bool:
        return entry.state in PBS_ACTIVE

    def is_running(self, entry: QueueEntry) -> bool:
        return entry.state in PBS_RUNNING

    def accounting_argv(self, job_id: str | None, tag: str) -> list[str]:
        which = [job_id] if job_id else []  # without an id: every job the server still knows, by tag
        if self.flavor == "pbspro":
            return ["qstat", "-x", "-f", "-F", "json", *which]
        return ["qstat", "-f", "-1", *which]

    def usage_argv(self, job_ids: list[str], age: float) -> list[str]:
        """Several ended jobs in one `qstat`: their `resources_used.cput` and `.mem` are in the same records."""
        return self.accounting_argv(job_ids[0], "") + job_ids[1:]

    def parse_accounting(self, result: CommandResult) -> list[FinishedRecord]:
        if not result.ok:
            if is_unknown_pbs_job(result.stderr):  # no history kept, or kept no longer (for some of the ids)
                return pbs_finished_records(self._parse(result.stdout), self.flavor) if result.stdout.strip() else []
            raise CommandError(result, "qstat")
        return pbs_finished_records(self._parse(result.stdout), self.flavor)

    def cancel_argv(self, job_id: str) -> list[str]:
        return ["qdel", job_id]

    def _parse(self, stdout: str) -> list[dict[str, str]]:
        return parse_qstat_json(stdout) if self.flavor == "pbspro" else parse_qstat_full(stdout)
