"""The POSIX-sh code the SSH executor runs on a node, and the pure parsers of what it prints.

`PRELUDE` defines small `jt_*` functions once per remote shell (a long-lived `/bin/sh` fed on stdin,
see `remote.pool.SshHost.script`). A request is a few lines of calls to them, every argument a word
quoted with `shlex.quote`, so paths, commands, arguments and environment values are data to the remote
shell, never code; nothing of it appears on a remote command line. The builders below write those
requests; `parse_report` reads the answer.

The answer is a list of records, one per line:
  `L INDEX PID STAT`    an attempt was started: its wrapper's pid and /proc/PID/stat line
  `F INDEX CODE`        an attempt could not be started (90: no run directory, 91: no env file)
  `X INDEX ALIVE PID EXIT` its state: ALIVE is 1 while the same process runs, EXIT the exit file's
                        first line with `;` once it is complete (liveness is read first, so a process
                        seen dead has already written its exit file if it ever will); the line says
                        too whether the job's success file was there (`wrapper.SUCCESS_CHECK`)
  `S INDEX OUT ERR`     the sizes of its stdout and stderr files
  `D INDEX STREAM OFFSET N` then N raw bytes of that stream from OFFSET, then a newline
  `P INDEX SIZE PATH`   the size of one of its progress files (`progress_files`); an absent one has no line
  `G INDEX STREAM 0 N`  the same as `D` for a whole file of an ended attempt, whose bytes come in the block:
  `B TOTAL`             last: TOTAL raw bytes, the `G` files one after the other, then a newline
A stream's bytes are sent only while all that is left of it (size - offset) is at most `DATA_CAP`,
so the engine's final read of a short job costs no round trip.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.executors.wrapper import WRAPPER, parse_exit_record
from engine.remote.node_agent import DATA_BUDGET, DATA_CAP  # the agent answers by the same rules

# The wrapper, first sourcing the attempt's private env file (written at launch, mode 0600).
REMOTE_WRAPPER = '. "$1/env"\n' + WRAPPER
LINGER = 0.03  # a launch waits up to this long for its jobs to end, to report short ones at once

# `jt_start` puts each wrapper in the background of this shell, so `jt_linger` can `wait` for the
# batch (a trapped USR1 from a timer ends the wait early). The background `setsid` is not a group
# leader, so it calls setsid() and execs: $! is the wrapper's pid, in its own session.
PRELUDE = (
    r"""trap : USR1
jt_nl='
'
jt_ifs=$IFS
jt_wr="""
    + shlex.quote(REMOTE_WRAPPER)
    + r"""
jt_begin() { jt_pids=; jt_dirs=; jt_f=; jt_nf=0; jt_s=; jt_q=; jt_cat=; jt_ct=0; jt_tot=0; }
jt_mkdir() {
  umask 077; mkdir -p -- "$@" </dev/null 2>/dev/null; umask 022
}
jt_start() {  # INDEX RUNDIR WORKDIR ENV ARGV...
  jt_i=$1 jt_d=$2 jt_wd=$3
  [ -d "$jt_d/work" ] || { echo "F $jt_i 90"; return 0; }
  umask 077
  if ! { printf '%s' "$4" >"$jt_d/env"; } 2>/dev/null; then umask 022; echo "F $jt_i 91"; return 0; fi
  umask 022
  shift 4
  setsid /bin/sh -c "$jt_wr" jobtui-wrapper "$jt_d" "$jt_wd" "$@" </dev/null >/dev/null 2>&1 &
  jt_p=$!
  jt_l=; { read -r jt_l <"/proc/$jt_p/stat"; } 2>/dev/null
  jt_pids="$jt_pids $jt_p"; jt_dirs="$jt_dirs$jt_d$jt_nl"
  echo "L $jt_i $jt_p $jt_l"
}
jt_linger() {  # SECONDS: wait until this batch's wrappers ended, at most SECONDS
  [ -n "$jt_pids" ] || return 0
  (sleep "$1"; kill -USR1 $$) </dev/null >/dev/null 2>&1 &
  jt_t=$!
  wait $jt_pids
  kill "$jt_t" 2>/dev/null
  return 0
}
jt_ready() {  # once a wrapper wrote its pid, setsid() is done and its group can be signalled
  jt_n=0
  set -f; IFS=$jt_nl
  for jt_d in $jt_dirs; do
    while [ ! -s "$jt_d/pid" ] && [ $jt_n -lt 60 ]; do jt_n=$((jt_n+1)); [ $jt_n -gt 10 ] && sleep 0.01; done
  done
  IFS=$jt_ifs; set +f
}
jt_st() {  # INDEX RUNDIR PID|- START|-
  jt_i=$1 jt_d=$2 jt_p=$3 jt_b=$4 jt_a=0 jt_e=
  [ "$jt_p" = - ] && { read -r jt_p <"$jt_d/pid" || jt_p=-; } 2>/dev/null
  if [ "$jt_p" != - ] && { read -r jt_l <"/proc/$jt_p/stat"; } 2>/dev/null; then
    jt_l=${jt_l##*) }; set -- $jt_l
    [ "$1" != Z ] && { [ "$jt_b" = - ] || [ "${20}" = "$jt_b" ]; } && jt_a=1
  fi
  if { read -r jt_e <"$jt_d/exit"; } 2>/dev/null; then jt_e="$jt_e;"; fi
  echo "X $jt_i $jt_a $jt_p $jt_e"
  if [ $jt_a = 0 ] && [ -n "$jt_e" ]; then jt_q="${jt_q}E"; else jt_q="${jt_q}L"; fi
  for jt_x in stdout stderr; do
    if [ -f "$jt_d/$jt_x" ]; then jt_f="$jt_f$jt_d/$jt_x$jt_nl"; else jt_f="$jt_f/dev/null$jt_nl"; fi
  done
  jt_nf=$((jt_nf+2))
}
jt_sizes() {  # one stat for every file jt_st listed; none at all if one of them vanished meanwhile
  jt_s=
  [ -n "$jt_f" ] || return 0
  set -f; IFS=$jt_nl
  jt_s=$(stat -c %s -- $jt_f </dev/null 2>/dev/null)
  IFS=$jt_ifs; set +f
  set -- $jt_s
  if [ $# -eq $jt_nf ]; then jt_s="$* "; else jt_s=; fi
}
jt_data() {  # INDEX RUNDIR OUT_OFFSET ERR_OFFSET, in jt_st's order
  jt_o=${jt_s%% *}; jt_s=${jt_s#* }; jt_e=${jt_s%% *}; jt_s=${jt_s#* }
  jt_c=${jt_q%"${jt_q#?}"}; jt_q=${jt_q#?}
  [ -n "$jt_o" ] || return 0
  echo "S $1 $jt_o $jt_e"
  jt_one "$1" stdout "$2/stdout" "$3" "$jt_o" "$jt_c"
  jt_one "$1" stderr "$2/stderr" "$4" "$jt_e" "$jt_c"
}
jt_one() {  # INDEX STREAM FILE OFFSET SIZE E|L
  jt_k=$(($5 - $4))
  [ $jt_k -gt 0 ] && [ $jt_k -le """
    + str(DATA_CAP)
    + r""" ] && [ $((jt_tot + jt_k)) -le """
    + str(DATA_BUDGET)
    + r""" ] || return 0
  jt_tot=$((jt_tot + jt_k))
  if [ "$6" = E ] && [ "$4" = 0 ]; then
    echo "G $1 $2 0 $jt_k"; jt_cat="$jt_cat$3$jt_nl"; jt_ct=$((jt_ct + jt_k))
  elif [ "$4" = 0 ]; then
    echo "D $1 $2 0 $jt_k"; head -c "$jt_k" -- "$3" </dev/null; echo
  else
    echo "D $1 $2 $4 $jt_k"; tail -c +"$(($4 + 1))" -- "$3" </dev/null | head -c "$jt_k"; echo
  fi
}
jt_fs() {  # INDEX FILE...: the sizes of an attempt's progress files, one stat for all (absent ones say nothing)
  jt_i=$1; shift
  stat -c "P $jt_i %s %n" -- "$@" </dev/null 2>/dev/null
  return 0
}
jt_flush() {  # the whole files of ended attempts, in one cat
  [ -n "$jt_cat" ] || return 0
  echo "B $jt_ct"
  set -f; IFS=$jt_nl
  cat -- $jt_cat </dev/null
  IFS=$jt_ifs; set +f
  echo
}
"""
)

# $1 file, $2 1-based byte offset, $3 byte limit.
READ = r"""tail -c +"$2" "$1" 2>/dev/null | head -c "$3"
"""

# The same, after a first line with the file's size in bytes (0 when it does not exist): `parse_sized_read`.
READ_SIZED = r"""s=$(stat -c %s -- "$1" 2>/dev/null) || s=0
echo "$s"
[ "$s" -ge "$2" ] && tail -c +"$2" -- "$1" 2>/dev/null | head -c "$3"
exit 0
"""


def parse_sized_read(out: bytes, offset: int) -> tuple[bytes, int]:
    """(the bytes, the stream's size) from what READ_SIZED printed for a read from `offset` (0-based)."""
    first, _, data = out.partition(b"\n")
    size = int(first) if first.strip().isdigit() else 0
    return data, max(size, offset + len(data)) if data else size  # it may have grown since the stat


# $1 pid (the process group), $2 its start time or -, $3 grace in tenths of a second, $4 the attempt's marker
# (`JOBTUI_ATTEMPT_MARK`, in every process of the job's environment; empty: none). The process group gets TERM,
# then KILL after the grace; so do the processes carrying the marker (found with GNU grep in /proc/*/environ),
# which reaches a descendant that left the group with `setsid`, even once the wrapper has ended.
CANCEL = r"""p=$1; s=$2; n=$3; m=${4-}
same() {
  { read -r l <"/proc/$p/stat"; } 2>/dev/null || return 1
  l=${l##*) }; set -- $l
  [ "$1" != Z ] && { [ "$s" = - ] || [ "${20}" = "$s" ]; }
}
marked() {
  [ -n "$m" ] || return 0
  grep -lzxF "JOBTUI_ATTEMPT_MARK=$m" /proc/[0-9]*/environ 2>/dev/null | sed 's|^/proc/||; s|/environ$||'
}
signal_marked() { for q in $(marked); do [ "$q" = $$ ] || kill "-$1" "$q" 2>/dev/null; done; }
if same; then
  kill -TERM "-$p" 2>/dev/null
  signal_marked TERM
  i=0
  while [ $i -lt "$n" ] && { kill -0 "-$p" 2>/dev/null || [ -n "$(marked)" ]; }; do sleep 0.1; i=$((i+1)); done
  kill -KILL "-$p" 2>/dev/null
fi
signal_marked KILL
exit 0
"""

HOME = 'printf %s "$HOME"'


@dataclass(slots=True, frozen=True)
class AttemptState:
    alive: bool
    pid: int | None
    exit_code: int | None
    missing: str | None = None  # exited 0 without its success file, looked for at this path


@dataclass(slots=True, frozen=True)
class LaunchItem:
    """One attempt to start: its absolute run dir, working dir, argv and env file text."""

    run_dir: str
    workdir: str
    command: Sequence[str]
    env: str


@dataclass(slots=True, frozen=True)
class PollItem:
    """One attempt to check: run dir, pid and start time if known, and the engine's read offsets."""

    run_dir: str
    pid: int | None
    start: int | None
    out_offset: int = 0
    err_offset: int = 0
    files: tuple[str, ...] = ()  # its progress files (absolute paths), whose sizes are reported too


@dataclass(slots=True)
class Report:
    """What one answer said, by attempt index."""

    launched: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)
    states: dict[int, AttemptState] = field(default_factory=dict)
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    data: dict[tuple[int, str], tuple[int, bytes]] = field(default_factory=dict)
    file_sizes: dict[str, int] = field(default_factory=dict)  # progress file -> its size


def _line(*words: object) -> str:
    return shlex.join(str(w) for w in words) + "\n"


def check_word(text: str, what: str) -> None:
    """Refuse what no remote shell word can carry (NUL), and newlines in paths (listed one per line)."""
    if "\0" in text or (what == "run directory" and "\n" in text):
        raise ValueError(f"the {what} {text!r} cannot be passed to a remote shell")


def _report_lines(items: Sequence[PollItem]) -> str:
    out = [
        _line("jt_st", i, it.run_dir, it.pid or "-", it.start if it.pid and it.start is not None else "-")
        for i, it in enumerate(items)
    ]
    out.append("jt_sizes\n")
    out += [_line("jt_data", i, it.run_dir, it.out_offset, it.err_offset) for i, it in enumerate(items)]
    out += [_line("jt_fs", i, *it.files) for i, it in enumerate(items) if it.files]
    out.append("jt_flush\n")
    return "".join(out)


def check_launch(item: LaunchItem) -> None:
    check_word(item.run_dir, "run directory")
    check_word(item.workdir, "working directory")
    for word in (*item.command, item.env):
        check_word(word, "argument")


def launch_script(items: Sequence[LaunchItem], linger: float = LINGER) -> str:
    """Start every item's wrapper, wait up to `linger` s for them, then report states and short outputs."""
    for it in items:
        check_launch(it)
    parts = ["jt_begin\n", _line("jt_mkdir", *(f"{it.run_dir}/work" for it in items))]
    parts += [_line("jt_start", i, it.run_dir, it.workdir, it.env, *it.command) for i, it in enumerate(items)]
    if linger > 0:
        parts.append(_line("jt_linger", f"{linger:.3f}"))
    parts.append("jt_ready\n")
    parts.append(_report_lines([PollItem(it.run_dir, None, None) for it in items]))
    return "".join(parts)


def poll_script(items: Sequence[PollItem]) -> str:
    """Check every item; report states, sizes and the short remainders of their outputs."""
    for it in items:
        check_word(it.run_dir, "run directory")
        for path in it.files:
            check_word(path, "run directory")  # listed one per line, like run directories
    return "jt_begin\n" + _report_lines(items)


def start_time_of(stat_line: str) -> int | None:
    """Field 22 (start time) of a /proc/PID/stat line; None when absent."""
    if ")" not in stat_line:
        return None
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def _index(word: bytes, count: int) -> int | None:
    return int(word) if word.isdigit() and int(word) < count else None


def parse_report(body: bytes, count: int) -> Report:
    """Records of an answer about `count` attempts; a malformed or cut-short block ends the data read."""
    report = Report()
    whole: list[tuple[int, str, int]] = []  # G records: (index, stream, size), bytes in the B block
    pos = 0
    while pos < len(body):
        end = body.find(b"\n", pos)
        if end < 0:
            break
        line, pos = body[pos:end], end + 1
        parts = line.split(b" ")
        kind, index = parts[0], _index(parts[1], count) if len(parts) > 1 else None
        if kind == b"B":
            total = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else -1
            blob = body[pos:]
            if total == sum(n for _, _, n in whole) and len(blob) == total + 1 and blob.endswith(b"\n"):
                at = 0
                for i, stream, n in whole:
                    report.data[(i, stream)] = (0, blob[at : at + n])
                    at += n
            break
        if index is None:
            if kind in (b"D", b"G"):
                break  # its bytes would be read as records
            continue
        if kind == b"X" and len(parts) >= 4:
            exit_text = b" ".join(parts[4:])  # the exit line (`CODE`, `CODE +`, `CODE - PATH`) and `;`
            record = parse_exit_record(exit_text[:-1] + b"\n") if exit_text.endswith(b";") else None
            code, missing = record if record is not None else (None, None)
            pid = int(parts[3]) if parts[3].isdigit() else None
            report.states[index] = AttemptState(parts[2] == b"1", pid, code, missing)
        elif kind == b"L" and len(parts) >= 3:
            pid = int(parts[2]) if parts[2].isdigit() else None
            report.launched[index] = (pid, start_time_of(b" ".join(parts[3:]).decode(errors="replace")))
        elif kind == b"F" and len(parts) == 3 and parts[2].isdigit():
            report.failed[index] = int(parts[2])
        elif kind == b"P" and len(parts) >= 4 and parts[2].isdigit():
            report.file_sizes[b" ".join(parts[3:]).decode(errors="replace")] = int(parts[2])
        elif kind == b"S" and len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            report.sizes[index] = (int(parts[2]), int(parts[3]))
        elif kind in (b"D", b"G") and len(parts) == 5 and parts[3].isdigit() and parts[4].isdigit():
            stream, offset, n = parts[2].decode(errors="replace"), int(parts[3]), int(parts[4])
            if stream not in ("stdout", "stderr"):
                break
            if kind == b"G":
                whole.append((index, stream, n))
                continue
            if body[pos + n : pos + n + 1] != b"\n":
                break  # cut short: nothing after it can be trusted
            report.data[(index, stream)] = (offset, body[pos : pos + n])
            pos += n + 1
    return report
