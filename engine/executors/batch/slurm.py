"""Slurm: `sbatch --parsable` on stdin, one `squeue --me -t all` per interval, `sacct` for purged jobs."""

from __future__ import annotations

from engine.executors.batch.records import FinishedRecord, QueueEntry
from engine.executors.batch.script import ScriptSpec, minutes
from engine.executors.batch.slurm_output import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    is_unknown_job_error,
    parse_sacct,
    parse_sbatch_id,
    parse_squeue,
    slurm_is_active,
)
from engine.remote.commands import CommandError, CommandResult


class SlurmDialect:
    kind = "slurm"
    directive_prefix = "#SBATCH"

    def __init__(self, sacct_args: tuple[str, ...] = ()) -> None:
        # e.g. ("-c",) to read the job completion file where no slurmdbd runs (tests)
        self.sacct_args = sacct_args

    def directives(self, spec: ScriptSpec) -> list[str]:
        out = [
            f"--job-name={spec.job_name}",
            "--output=/dev/null",
            "--error=/dev/null",
            "--ntasks=1",
            f"--cpus-per-task={spec.cpus}",
        ]
        if spec.mem_mb:
            out.append(f"--mem={spec.mem_mb}M")
        if spec.gpus:
            out.append(f"--gres=gpu:{spec.gpus}")
        if spec.time_limit is not None:
            out.append(f"--time={minutes(spec.time_limit)}")
        elif spec.default_time_limit:
            out.append(f"--time={spec.default_time_limit}")
        if spec.partition:
            out.append(f"--partition={spec.partition}")
        if spec.account:
            out.append(f"--account={spec.account}")
        return out + list(spec.directives)

    def submit_argv(self) -> list[str]:
        return ["sbatch", "--parsable"]

    def parse_submit(self, stdout: str) -> str:
        return parse_sbatch_id(stdout)

    def list_argv(self, user: str) -> list[str]:
        return ["squeue", "--me", "--states=all", "--noheader", f"--format={SQUEUE_FORMAT}"]

    def parse_list(self, result: CommandResult) -> list[QueueEntry]:
        if not result.ok:
            raise CommandError(result, "squeue")
        return parse_squeue(result.stdout)

    def is_active(self, entry: QueueEntry) -> bool:
        return slurm_is_active(entry.state)

    def is_running(self, entry: QueueEntry) -> bool:
        return entry.state in {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}

    def accounting_argv(self, job_id: str | None, tag: str) -> list[str]:
        which = ["--jobs", job_id] if job_id else ["--starttime", "now-7days"]
        return ["sacct", *self.sacct_args, "--parsable2", "--noheader", f"--format={SACCT_FIELDS}", *which]

    def usage_argv(self, job_ids: list[str], age: float) -> list[str]:
        """One `sacct` for several ended jobs: the same fields, TotalCPU and MaxRSS among them."""
        return [
            "sacct",
            *self.sacct_args,
            "--parsable2",
            "--noheader",
            f"--format={SACCT_FIELDS}",
            "--jobs",
            ",".join(job_ids),
        ]

    def parse_accounting(self, result: CommandResult) -> list[FinishedRecord]:
        if not result.ok:
            if is_unknown_job_error(result.stderr):
                return []
            raise CommandError(result, "sacct")
        return parse_sacct(result.stdout)

    def cancel_argv(self, job_id: str) -> list[str]:
        return ["scancel", job_id]
