#!/bin/bash
# Stop the single-node Slurm started by start-slurm.sh, by the pids in its pid files.
# Usage: scripts/stop-slurm.sh SCRATCH_DIR [DAEMON...]   (daemons: slurmd slurmctld munged; default all)
. "$(dirname "$0")/stop-by-pidfile.sh"
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
    stop_by_pidfile "$daemon" "$file" 80
done
exit 0
