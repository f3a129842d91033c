#!/bin/bash
# Stop the single-node Grid Engine started by start-sge.sh, by the pids in its pid files.
# Usage: scripts/stop-sge.sh [execd|qmaster]...   (default: both)
. "$(dirname "$0")/stop-by-pidfile.sh"
daemons=("$@")
[ ${#daemons[@]} -eq 0 ] && daemons=(execd qmaster)
for daemon in "${daemons[@]}"; do
    case "$daemon" in
        execd) files=(/var/spool/gridengine/execd/*/execd.pid) ;;
        qmaster) files=(/var/spool/gridengine/qmaster/qmaster.pid) ;;
        *) echo "unknown daemon $daemon" >&2; continue ;;
    esac
    for file in "${files[@]}"; do
        stop_by_pidfile "$daemon" "$file" 150
    done
done
exit 0
