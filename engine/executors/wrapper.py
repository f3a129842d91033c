"""The attempt wrapper: a small POSIX-sh script every job runs under, locally and on remote hosts.

It is started detached (its own session, stdin from /dev/null), so the job outlives the engine. It writes
the job's output to `stdout`/`stderr` in the attempt's run directory and, at the end, the exit code in a single
write of a newline-terminated line: a reader accepts only a whole line, so a record cut short by a crash reads as
absent, never as a wrong code. On a remote host or cluster it writes its pid to `pid` (so a launch the engine did
not live to record is still found) and the code to `exit`; on this machine the engine finds it by its argv and
the code goes to the exit journal (`LOCAL_WRAPPER`). `$1` is the run directory, `$2` the working directory, the
rest the job's argv (passed as data, never re-parsed by the shell).
"""

from __future__ import annotations

import os
import shutil

from engine.accounts import Account

# A job with a `success_file` has it in $JOBTUI_SUCCESS_FILE (see `success_env`): once the job exited 0 the wrapper
# tests for it in the working directory (`$w`, made absolute right after the cd, so a builtin run as the job cannot
# move it) and appends the answer to the exit line: ` +` (there) or ` - PATH` (missing, PATH where it looked).
SUCCESS_ENV = "JOBTUI_SUCCESS_FILE"
SUCCESS_CHECK = r"""m=
if [ "$rc" = 0 ] && [ -n "${JOBTUI_SUCCESS_FILE-}" ]; then
  if [ -e "$w/$JOBTUI_SUCCESS_FILE" ]; then m=' +'; else m=" - $w/$JOBTUI_SUCCESS_FILE"; fi
fi
"""
EXIT_LINE = r"""printf '%s%s\n' "$rc" "$m" >"$d/exit"
"""

# The wrapper on SSH nodes (sourced env file first, see ssh_scripts.REMOTE_WRAPPER).
WRAPPER = (
    r"""d=$1; w=$2; shift 2
echo $$ >"$d/pid"
exec </dev/null >>"$d/stdout" 2>>"$d/stderr"
if cd "$w"; then w=$PWD; "$@"; rc=$?; else rc=126; fi
"""
    + SUCCESS_CHECK
    + EXIT_LINE
)

# On this machine the wrapper writes no pid file (the engine finds a wrapper it did not live to record by its
# argv, which names the run directory) and no exit file: it appends `NAME CODE` to the exit journal it is given
# (`$4`, see exit_journal.py) and exits with the code, which is how the engine learns it while it runs. One file
# fewer per job, twice. It makes its files private (umask 077) whatever the daemon's umask, and gives the job the
# daemon's own umask back (`$3`): stdin is /dev/null already (the spawn's file actions). Before the job starts it
# joins the attempt's cgroup (each `cgroup.procs` in $JOBTUI_CGROUP_PROCS, one a line: no word splitting, so the
# job's IFS is never used nor changed) and, asked to, caps the address space (`ulimit -v` from
# $JOBTUI_RLIMIT_AS_KB); a job it cannot contain, or whose output it cannot open, never runs (exit code 125, the
# reason in its stderr where there is one).
CGROUP_PROCS_ENV = "JOBTUI_CGROUP_PROCS"
RLIMIT_AS_ENV = "JOBTUI_RLIMIT_AS_KB"
LOCAL_WRAPPER = r"""d=$1; w=$2; u=$3; j=$4; shift 4
umask 077
c=0
command exec >>"$d/stdout" 2>>"$d/stderr" || c=2
if [ -n "${JOBTUI_CGROUP_PROCS-}" ] && [ $c = 0 ]; then
  while IFS= read -r f; do echo $$ >"$f" || c=1; done <<E
$JOBTUI_CGROUP_PROCS
E
fi
if [ -n "${JOBTUI_RLIMIT_AS_KB-}" ] && [ $c = 0 ]; then ulimit -v "$JOBTUI_RLIMIT_AS_KB" || c=1; fi
unset JOBTUI_CGROUP_PROCS JOBTUI_RLIMIT_AS_KB
umask "$u"
if [ $c = 2 ]; then rc=125
elif [ $c = 1 ]; then echo "jobtui: the job was not started: it could not be contained (see above)" >&2; rc=125
elif cd "$w"; then "$@"; rc=$?; else rc=126; fi
umask 077
printf '%s %s\n' "${d##*/}" "$rc" >>"$j"
exit "$rc"
"""

STDOUT, STDERR, EXIT, PID = "stdout", "stderr", "exit", "pid"
PYTHON_FILE = "job.py"  # a python job's code, written into its run directory at launch
EXIT_CANNOT_CD = 126
EXIT_NOT_FOUND = 127


def parse_exit_record(data: bytes) -> tuple[int, str | None] | None:
    """(the exit code, where the success file was looked for in vain or None) from an exit file's content
    (`CODE`, `CODE +` or `CODE - PATH`, see SUCCESS_CHECK); None while it is absent or incomplete."""
    if not data.endswith(b"\n"):
        return None
    code_text, _, rest = data[:-1].partition(b" ")
    try:
        code = int(code_text.strip())
    except ValueError:
        return None
    if rest.startswith(b"- "):
        return code, rest[2:].decode(errors="replace")
    return code, None


def success_env(extra: dict[str, object]) -> dict[str, str]:
    """The variable that asks the wrapper to check a job's success file (from `Job.extra`), or nothing."""
    name = extra.get("success_file")
    return {SUCCESS_ENV: name} if isinstance(name, str) and name else {}


def parse_exit_file(data: bytes) -> int | None:
    """The exit code in an exit file's content, or None while it is absent or incomplete."""
    record = parse_exit_record(data)
    return None if record is None else record[0]


WRAPPER_NAME = "jobtui-wrapper"  # the wrapper's $0: its argv reads [sh, -c, SCRIPT, WRAPPER_NAME, RUN_DIR, ...]


def is_wrapper_of(argv: list[bytes], run_dir: str) -> bool:
    """Is `argv` (a process's, as bytes) the wrapper of the attempt whose run directory is `run_dir`?"""
    return len(argv) > 4 and argv[3] == WRAPPER_NAME.encode() and argv[4] == os.fsencode(run_dir)


# As another user (shared mode): the wrapper stays the daemon's, so only it writes the run directory; the job
# gets its output files as inherited descriptors and changes to its working directory with its own rights.
# Run as the job's account (after setpriv): first put back the variables the engine kept from the root wrapper
# (`core.environment.for_root_wrapper`: LD_*, IFS, ...; the names are checked identifiers), then the job.
AS_USER = (
    r'for n in ${JOBTUI_RESTORE-}; do eval "export $n=\"\${JOBTUI_KEEP_$n}\"; unset JOBTUI_KEEP_$n"; done; '
    'unset JOBTUI_RESTORE; cd -- "$1" || exit 126; shift; exec "$@"'
)
AS_USER_NAME = "jobtui-job"


def wrapper_argv(
    run_dir: str, workdir: str, command: list[str], umask: int, journal: str, run_as: Account | None = None
) -> list[str]:
    """argv that runs `command` on this machine under the wrapper
    (`sh -c SCRIPT jobtui-wrapper RUN_DIR WORKDIR UMASK JOURNAL CMD...`), the job with `umask`, its exit code
    appended to the exit journal file `journal`.

    With `run_as`, the command runs as that account (its uid, gid and supplementary groups, via `setpriv`).
    """
    mask = f"{umask:04o}"
    if run_as is None:
        return ["/bin/sh", "-c", LOCAL_WRAPPER, WRAPPER_NAME, run_dir, workdir, mask, journal, *command]
    switch = [setpriv(), f"--reuid={run_as.uid}", f"--regid={run_as.gid}", "--init-groups", "--"]
    job = ["/bin/sh", "-c", AS_USER, AS_USER_NAME, workdir, *command]
    return ["/bin/sh", "-c", LOCAL_WRAPPER, WRAPPER_NAME, run_dir, "/", mask, journal, *switch, *job]


def current_umask() -> int:
    """This process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def setpriv() -> str:
    """The path of util-linux's `setpriv`, which shared mode needs to run jobs as their submitters."""
    path = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise FileNotFoundError("setpriv (util-linux) is not installed; shared mode needs it: apt install util-linux")
    return path
