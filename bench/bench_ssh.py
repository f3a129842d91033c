"""100 short remote jobs on one SSH node: through jobtui vs the same commands over one reused connection.

Run as root from the repository root: `.venv/bin/python bench/bench_ssh.py [--jobs 100]`. It starts its
own sshd on 127.0.0.1 (as the tests do), runs both sides in one process, and prints per-job times, the
ratio and how many connections jobtui opened.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import Config, Limits
from engine.engine import Engine
from engine.jobspec import JobSpec
from engine.service import JobService
from tests.fixtures.sshd import TEST_USER, _ensure_user, _free_port, _public_dir, start_sshd

COMMAND = ["sh", "-c", "echo job $0 done", "x"]


async def baseline(server, jobs: int, parallel: int) -> float:
    """The same commands over ONE reused asyncssh connection, `parallel` at a time; seconds in all."""
    async with asyncssh.connect(
        server.addr, port=server.port, username=TEST_USER, client_keys=[str(server.key_file)],
        known_hosts=str(server.known_hosts),
    ) as conn:
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                for attempt in range(6):  # sshd frees a session slot a moment after its channel closes
                    try:
                        result = await conn.run(shlex.join(COMMAND), check=True)
                        break
                    except asyncssh.ChannelOpenError:
                        await asyncio.sleep(0.02 * 2**attempt)
                assert result.stdout == "job x done\n"

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return time.perf_counter() - began


async def through_jobtui(server, jobs: int, parallel: int) -> tuple[float, int]:
    """The same commands as jobtui jobs on an ssh node; (seconds in all, connections opened)."""
    node = server.node("bench", cores=parallel, max_channels=8)
    limits = Limits(max_concurrent=parallel, user_max_concurrent=parallel, team_max_concurrent=parallel)
    engine = Engine(Config(nodes=[node], limits=limits), Path(tempfile.mkdtemp()) / "state", "root", poll_interval=0.1)
    await engine.start()
    try:
        service = JobService(engine)
        began = time.perf_counter()
        submitted = await service.submit(service.actor("root"), [JobSpec(command=COMMAND) for _ in range(jobs)])
        while not all(j.is_terminal for j in submitted):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - began
        bad = [j for j in submitted if j.status.value != "completed"]
        assert not bad, [(j.id, j.status, j.message) for j in bad[:3]]
        return elapsed, engine.executors["bench"].host.connects
    finally:
        await engine.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=8, help="commands at a time on the reused connection")
    parser.add_argument("--jobtui-parallel", type=int, default=32,
                        help="jobs running at a time in jobtui (a running job holds no channel)")
    args = parser.parse_args()
    _ensure_user()
    key = Path(tempfile.mkdtemp()) / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    server = start_sshd(_public_dir("bench"), "127.0.0.1", _free_port(), Path(f"{key}.pub"), key)
    try:
        base_seq = await baseline(server, args.jobs, 1)
        base_par = await baseline(server, args.jobs, args.parallel)
        ours, connections = await through_jobtui(server, args.jobs, args.jobtui_parallel)
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
    n = args.jobs
    print(f"{n} jobs `{shlex.join(COMMAND)}` on one node")
    print(f"  reused connection, one at a time : {base_seq:7.3f} s  {base_seq / n * 1000:7.2f} ms/job")
    print(f"  reused connection, {args.parallel} at a time   : {base_par:7.3f} s  {base_par / n * 1000:7.2f} ms/job")
    label = f"jobtui, {args.jobtui_parallel} jobs at a time"
    print(f"  {label:<33}: {ours:7.3f} s  {ours / n * 1000:7.2f} ms/job")
    print(f"  ratio jobtui / reused, {args.parallel} at a time   : {ours / base_par:.2f}x")
    print(f"  ratio jobtui / reused, one at a time   : {ours / base_seq:.2f}x")
    print(f"  connections jobtui opened: {connections}")


if __name__ == "__main__":
    asyncio.run(main())
