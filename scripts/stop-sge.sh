#!/bin/bash
# Stop the single-node Grid Engine started by start-sge.sh, by the pids in its pid files.
# Usage: scripts/stop-sge.sh [execd|qmaster]...   (default: both)
daemons=("$@")
[ ${#daemons[@]} -eq 0 ] && daemons=(execd qmaster)
for daemon in "${daemons[@]}"; do
    case "$daemon" in
        execd) files=(/var/spool/gridengine/execd/*/execd.pid) ;;
        qmaster) files=(/var/spool/gridengine/qmaster/qmaster.pid) ;;
        *) echo "unknown daemon $daemon" >&2; continue ;;
    esac
    for file in "${files[@]}"; do
        [ -s "$file" ] || continue
        pid=$(cat "$file")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$daemon ($pid) ignored SIGTERM; sending SIGKILL"
            kill -9 "$pid"
        fi
    done
done
exit 0
