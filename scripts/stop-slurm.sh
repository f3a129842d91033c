#!/bin/bash
# Stop the single-node Slurm started by start-slurm.sh, by the pids in its pid files.
# Usage: scripts/stop-slurm.sh SCRATCH_DIR [DAEMON...]   (daemons: slurmd slurmctld munged; default all)
S=${1:?usage: stop-slurm.sh SCRATCH_DIR [DAEMON...]}
shift
daemons=("$@")
[ ${#daemons[@]} -eq 0 ] && daemons=(slurmd slurmctld munged)
for daemon in "${daemons[@]}"; do
    case "$daemon" in
        slurmd) file="$S/slurmd.pid" ;;
        slurmctld) file="$S/slurmctld.pid" ;;
        munged) file="$S/munge/munged.pid" ;;
        *) echo "unknown daemon $daemon" >&2; continue ;;
    esac
    [ -s "$file" ] || continue
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 80); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$daemon ($pid) ignored SIGTERM; sending SIGKILL"
        kill -9 "$pid"
    fi
done
exit 0
