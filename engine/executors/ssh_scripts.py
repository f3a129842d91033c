"""The POSIX-sh snippets the SSH executor runs on a node, and the pure parsers of what they print.

Every script takes its data as positional arguments (`sh -c SCRIPT NAME ARG...`), so paths, commands
and arguments are never parsed by the remote shell; `engine.ssh` joins the argv with `shlex.join`.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.wrapper import WRAPPER

# The wrapper, first sourcing the attempt's private env file (written from stdin at launch, mode 0600).
REMOTE_WRAPPER = '. "$1/env"\n' + WRAPPER

# $1 wrapper text, $2 run dir, then workdir and the job's argv. stdin: the env file.
# The background `setsid` is not a group leader, so it calls setsid() and execs: $! is the wrapper's pid.
LAUNCH = r"""w=$1; d=$2; shift 2
umask 077
mkdir -p "$d/work" || exit 90
cat >"$d/env" || exit 91
umask 022
setsid /bin/sh -c "$w" jobtui-wrapper "$d" "$@" </dev/null >/dev/null 2>&1 &
p=$!
l=; { read -r l <"/proc/$p/stat"; } 2>/dev/null  # the start time is the fork's: read it before a quick job ends
i=0  # the wrapper writes its pid once setsid() is done: from then on its process group can be signalled
while [ ! -s "$d/pid" ] && [ $i -lt 60 ]; do i=$((i+1)); [ $i -gt 10 ] && sleep 0.01; done
echo "$p"
echo "$l"
exit 0
"""

# Triples of (run dir, pid or -, start time or -). For each prints `X INDEX ALIVE EXIT`, where ALIVE
# is 1 while the same process runs and EXIT the exit file's first line with `;` once it is complete;
# then `SIZE PATH` for every output file. Liveness is checked before the exit file, so a process seen
# dead has already written its exit file if it ever will.
POLL = r"""chk() {
  d=$1; p=$2; s=$3; a=0; e=
  [ "$p" = - ] && { read -r p <"$d/pid" || p=-; } 2>/dev/null
  if [ "$p" != - ] && { read -r l <"/proc/$p/stat"; } 2>/dev/null; then
    l=${l##*) }; set -- $l
    [ "$1" != Z ] && { [ "$s" = - ] || [ "${20}" = "$s" ]; } && a=1
  fi
  if { read -r e <"$d/exit"; } 2>/dev/null; then e="$e;"; fi
  echo "X $i $a $p $e"
}
n=$(($# / 3)); i=0
while [ $i -lt $n ]; do
  chk "$1" "$2" "$3"; set -- "$@" "$1/stdout" "$1/stderr"; shift 3; i=$((i+1))
done
[ $# -gt 0 ] && stat -c '%s %n' -- "$@" 2>/dev/null
exit 0
"""

# $1 file, $2 1-based byte offset, $3 byte limit.
READ = r"""tail -c +"$2" "$1" 2>/dev/null | head -c "$3"
"""

# $1 pid (the process group), $2 its start time or -, $3 grace in tenths of a second.
CANCEL = r"""p=$1; s=$2; n=$3
same() {
  { read -r l <"/proc/$p/stat"; } 2>/dev/null || return 1
  l=${l##*) }; set -- $l
  [ "$1" != Z ] && { [ "$s" = - ] || [ "${20}" = "$s" ]; }
}
same || exit 0
kill -TERM "-$p" 2>/dev/null
i=0
while [ $i -lt "$n" ] && kill -0 "-$p" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL "-$p" 2>/dev/null
exit 0
"""

HOME = 'printf %s "$HOME"'


@dataclass(slots=True, frozen=True)
class AttemptState:
    alive: bool
    pid: int | None
    exit_code: int | None


def start_time_of(stat_line: str) -> int | None:
    """Field 22 (start time) of a /proc/PID/stat line; None when absent."""
    if ")" not in stat_line:
        return None
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def parse_launch(text: str) -> tuple[int | None, int | None]:
    """(pid, start time) from LAUNCH's output."""
    lines = text.splitlines()
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    return pid, start_time_of(lines[1]) if len(lines) > 1 else None


def parse_poll(text: str, count: int) -> tuple[dict[int, AttemptState], dict[str, int]]:
    """POLL's output: the state of attempt number i, and the size of each output file."""
    states: dict[int, AttemptState] = {}
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("X "):
            parts = line.split(" ", 4)
            if len(parts) < 4 or not parts[1].isdigit() or int(parts[1]) >= count:
                continue
            exit_text = parts[4] if len(parts) > 4 else ""
            code = int(exit_text[:-1]) if exit_text.endswith(";") and exit_text[:-1].lstrip("-").isdigit() else None
            pid = int(parts[3]) if parts[3].isdigit() else None
            states[int(parts[1])] = AttemptState(parts[2] == "1", pid, code)
        else:
            size, _, path = line.partition(" ")
            if size.isdigit() and path:
                sizes[path] = int(size)
    return states, sizes
