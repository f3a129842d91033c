"""Following a job's output with every progress parser on: a local job writes SIZE MB of mixed output (plain log
lines, `N%`, `Step i of n`, tqdm bars redrawn with `\\r`, lines a config regex matches) while it appends to an
Abaqus `.sta` file 100 times a second (and a `.msg` beside it); the engine follows all of it.

Printed: the job's own write time; the engine's follow figures, from the job's start to the moment its last
byte was read (raw MB/s, lines/s); the engine process's CPU per MB followed; the progress updates it published;
and, for reference, the parsers alone on the same bytes (no I/O). Targets: >= 200 MB/s raw, >= 0.3 M lines/s.

usage: python bench/bench_progress.py [SIZE_MB=1024] [STA_HZ=100]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import Config, Limits, LocalNode, ProgressPattern  # noqa: E402
from engine.core.engine import Engine  # noqa: E402
from engine.core.progress import LastProgress, compile_patterns  # noqa: E402
from engine.events import JobChanged  # noqa: E402
from engine.models import JobStatus  # noqa: E402
from engine.service.jobspec import parse_specs  # noqa: E402
from engine.service.verbs import JobService  # noqa: E402

PATTERNS = [ProgressPattern(name="epochs", marker="epoch ", regex=r"epoch (?P<step>\d+)/(?P<total>\d+)")]

# The job: writes the block (`_block`) until SIZE bytes, appending a .sta increment line every 1/HZ s meanwhile.
JOB = r"""
import sys, time
size, hz = int(sys.argv[1]), float(sys.argv[2])
block = open("block.bin", "rb").read()
out, written, t0 = sys.stdout.buffer, 0, time.monotonic()
sta, msg = open("bench.sta", "ab", buffering=0), open("bench.msg", "ab", buffering=0)
sta.write(b" Abaqus/Standard 2023\n SUMMARY OF JOB INFORMATION:\n")
inc, next_sta = 0, t0
while written < size:
    out.write(block)
    written += len(block)
    now = time.monotonic()
    while now >= next_sta:
        inc += 1
        t = min(1.0, inc / 1000)
        sta.write(b"   1 %5d   1     0     3     3  %.4f     %.4f     0.001\n" % (inc, t, t))
        if inc % 50 == 0:
            msg.write(b" ***WARNING: SOLVER PROBLEM. NUMERICAL SINGULARITY\n")
        next_sta += 1 / hz
out.flush()
sta.write(b" THE ANALYSIS HAS COMPLETED SUCCESSFULLY\n")
sys.stderr.write(f"{written} {time.monotonic() - t0:.6f} {inc}\n")
"""


def parse_only(data: bytes, rounds: int) -> float:
    """CPU seconds the runner's stream parser (`LastProgress`, every parser on) takes over `data`, `rounds` times,
    in 1 MB chunks as the runner reads them."""
    patterns = compile_patterns([(p.marker or "", p.regex or "") for p in PATTERNS])
    chunks = [data[at : at + (1 << 20)] for at in range(0, len(data), 1 << 20)]
    stream = LastProgress()
    start = time.process_time()
    for _ in range(rounds):
        for chunk in chunks:
            stream.feed(chunk, patterns)
    return time.process_time() - start


def prose() -> bytes:
    """The parsers' worst case: a marker (`of`) on every line, and no progress anywhere."""
    return b"".join(b"assembling block %d of the mesh, nothing to report\n" % i for i in range(20000))


async def follow(size: int, hz: float, scratch: Path) -> dict[str, float]:
    work = scratch / "work"
    work.mkdir()
    (work / "job.py").write_text(JOB)
    (work / "block.bin").write_bytes(_block())
    limits = Limits(max_concurrent=4, user_max_concurrent=4, team_max_concurrent=4)
    config = Config(nodes=[LocalNode(name="local", cores=4)], limits=limits, progress_patterns=PATTERNS)
    engine = Engine(config, scratch / "state", "bench", poll_interval=0.5)
    await engine.start()
    service = JobService(engine)
    published = 0
    try:
        sub = engine.subscribe()
        spec = {"command": [sys.executable, "job.py", str(size), str(hz)], "name": "bench", "workdir": str(work),
                "progress_files": ["{name}.sta", "{name}.msg"]}  # fmt: skip
        cpu0 = time.process_time()
        (job,) = await service.submit(service.actor("bench"), parse_specs([spec]))
        while not job.is_terminal:
            event = await sub.queue.get()
            published += isinstance(event, JobChanged) and event.key == job.id
        cpu = time.process_time() - cpu0
        assert job.status == JobStatus.COMPLETED, job.message
        attempt = await engine.attempt_of(job.id, None)
        assert attempt is not None and attempt.running_since is not None and attempt.finished_at is not None
        wall = attempt.finished_at - attempt.running_since  # its last byte is read just before it is recorded
        exits = Path(attempt.run_dir).parent / "exits"
        journal = max(exits.iterdir(), key=os.path.getmtime)  # its wrapper's exit line
        exited = journal.stat().st_mtime - attempt.running_since
        read = attempt.stdout_offset
        written, write_time, increments = (await engine_stderr(engine, job.id)).split()
        detail = job.progress.detail
    finally:
        await engine.stop()
    return {
        "bytes": float(read), "written": float(written), "write_s": float(write_time), "wall_s": wall, "cpu_s": cpu,
        "exited_s": exited,
        "published": float(published), "sta_lines": float(increments), "sta_increment": float(detail["increment"]),
        "warnings": float(detail["warnings"]),
    }  # fmt: skip


async def engine_stderr(engine: Engine, job_id: int) -> str:
    attempt = await engine.attempt_of(job_id, None)
    assert attempt is not None
    return (Path(attempt.run_dir) / "stderr").read_text()


def main() -> None:
    size_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 1024.0
    hz = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-progress-"))
    try:
        r = asyncio.run(follow(int(size_mb * (1 << 20)), hz, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    block = _block()
    per_byte = (block.count(b"\n") + block.count(b"\r")) / len(block)
    mb, written_mb, lines = r["bytes"] / (1 << 20), r["written"] / (1 << 20), r["bytes"] * per_byte
    print(
        f"job wrote {written_mb:.0f} MB in {r['write_s']:.2f} s ({written_mb / r['write_s']:.0f} MB/s), "
        f"{lines / 1e6:.2f} M lines; .sta: {r['sta_lines']:.0f} increment lines at {hz:g}/s"
    )
    print(
        f"engine followed {mb:.0f} MB: all read and the job recorded {r['wall_s']:.2f} s after its start (it "
        f"exited at {r['exited_s']:.2f} s): {mb / r['wall_s']:.0f} MB/s, {lines / r['wall_s'] / 1e6:.2f} M lines/s "
        "wall-clock on this machine"
    )
    print(
        f"engine CPU {r['cpu_s']:.2f} s: {1000 * r['cpu_s'] / mb:.2f} ms per MB, {mb / r['cpu_s']:.0f} MB and "
        f"{lines / r['cpu_s'] / 1e6:.2f} M lines per engine CPU-second; {r['published']:.0f} progress updates "
        f"published; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f".sta followed to increment {r['sta_increment']:.0f} of {r['sta_lines']:.0f}, "
        f"{r['warnings']:.0f} .msg warnings counted"
    )
    rounds = max(1, round(size_mb * (1 << 20) / len(block)))
    seconds = parse_only(block, rounds)
    worst = prose()
    worst_seconds = parse_only(worst, 3)
    worst_lines = worst.count(b"\n") * 3
    print(
        f"parsers alone on the same bytes: {len(block) * rounds / (1 << 20) / seconds:.0f} MB and "
        f"{per_byte * len(block) * rounds / seconds / 1e6:.2f} M lines per CPU-second; worst case (prose, `of` "
        f"on every line, no progress): {len(worst) * 3 / (1 << 20) / worst_seconds:.0f} MB and "
        f"{worst_lines / worst_seconds / 1e6:.2f} M lines per CPU-second"
    )


def _block() -> bytes:
    """About 1 MB of mixed output, which the job writes over and over."""
    lines = []
    for i in range(2000):
        lines += [
            f"2026-03-14 09:12:{i % 60:02d} INFO solver: assembling element block {i} of the mesh\n",
            f"Step {i} of 2000\n",
            f"{i % 100:3d}%|{'#' * (i % 40):<40}| {i}/2000 [00:{i % 60:02d}<01:00]\r",
            f"epoch {i % 10}/10 loss=0.{i:04d} done {i % 100}%\n",
            "plain output with no progress at all here\n",
        ]
    return "".join(lines).encode()


if __name__ == "__main__":
    main()
