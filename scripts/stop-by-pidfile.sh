#!/bin/bash
# Sourced by the stop-*.sh scripts. stop_by_pidfile NAME FILE TENTHS: SIGTERM the pid in FILE, wait up to
# TENTHS tenths of a second for it to go, then SIGKILL it.
stop_by_pidfile() {
    local name=$1 file=$2 tenths=$3 pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq "$tenths"); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$name ($pid) ignored SIGTERM; sending SIGKILL"
        kill -9 "$pid"
    fi
}
