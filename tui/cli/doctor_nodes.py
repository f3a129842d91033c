"""`jobtui doctor`'s node checks: does each configured node answer?

local: always. ssh: a TCP connection to host:port within `TIMEOUT` (no login: nothing is authenticated).
slurm/sge/pbs: their commands on PATH, or, for a cluster reached `via:` an SSH node, that node's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket

from engine.config import ClusterNode, Config, SshNode
from tui.cli.doctor_checks import Check

TIMEOUT = 3.0
NOT_FOUND = "host name not found"
COMMANDS = {"slurm": ("sbatch", "squeue"), "sge": ("qsub", "qstat"), "pbs": ("qsub", "qstat")}


async def nodes(config: Config) -> list[Check]:
    """One check per node, in config order; the SSH nodes are tried at the same time."""
    ssh = [n for n in config.nodes if isinstance(n, SshNode)]
    answers = dict(zip([n.name for n in ssh], await asyncio.gather(*(tcp_answer(n) for n in ssh)), strict=True))
    checks = []
    for node in config.nodes:
        name = f"node {node.name}"
        if isinstance(node, SshNode):
            checks.append(_ssh(name, node, answers[node.name]))
        elif isinstance(node, ClusterNode):
            checks.append(_cluster(name, node, answers))
        else:
            checks.append(Check(name, "ok", "local: this machine"))
    return checks


async def tcp_answer(node: SshNode) -> str | None:
    """None when something accepts a TCP connection at the node's host:port in time, else why not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(node.host, node.port), TIMEOUT)
    except TimeoutError:
        return f"no answer within {TIMEOUT:g} s"
    except socket.gaierror:
        return NOT_FOUND
    except OSError as e:  # asyncio words it "Connect call failed (...)": the errno says why
        return os.strerror(e.errno).lower() if e.errno else " ".join(str(e).split()) or type(e).__name__
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def _ssh(name: str, node: SshNode, why_not: str | None) -> Check:
    where = f"{node.user + '@' if node.user else ''}{node.host}:{node.port}"
    if why_not is None:
        return Check(name, "ok", f"ssh: {where} answers (TCP only, not logged in)")
    if why_not != NOT_FOUND:
        return Check(
            name, "fail", f"ssh: {where} does not answer ({why_not}): check the host is up and sshd listens there"
        )
    if node.ssh_config:  # the name may be a `Host` alias that only that file resolves
        return Check(
            name,
            "warn",
            f"ssh: {node.host} is not a host name here; if it is a Host alias of {node.ssh_config} "
            f"(which doctor does not read), check it with `ssh -F {node.ssh_config} {node.host} true`",
        )
    return Check(name, "fail", f"ssh: {where}: {NOT_FOUND}; check the spelling of `host:` or the network's DNS")


def _cluster(name: str, node: ClusterNode, answers: dict[str, str | None]) -> Check:
    if node.via:
        if node.via not in answers:
            return Check(name, "fail", f"{node.kind} via {node.via}: no SSH node of that name in the config")
        why_not = answers[node.via]
        if why_not is None:
            return Check(name, "ok", f"{node.kind} via {node.via}: that node answers")
        return Check(name, "fail", f"{node.kind} via {node.via}: that node does not answer ({why_not}); see its check")
    commands = COMMANDS[node.kind]
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        return Check(
            name,
            "fail",
            f"{node.kind}: {', '.join(missing)} not on PATH: install the {node.kind} client tools here, "
            "or reach the cluster `via:` an SSH node",
        )
    return Check(name, "ok", f"{node.kind}: {', '.join(shutil.which(c) or c for c in commands)}")
