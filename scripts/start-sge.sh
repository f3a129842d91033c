#!/bin/bash
# Bring up a throwaway single-node Grid Engine (sge_qmaster + sge_execd), as root.
# Usage: scripts/start-sge.sh WORK_DIR [--reinit]
# SGE keeps its state in fixed system paths (/var/lib/gridengine, /var/spool/gridengine, ports 6444/6445),
# so only one can run per machine. WORK_DIR holds the generated config files and logs.
# The test cluster lets root submit (min_uid 0), schedules every second and writes accounting at once.
set -euo pipefail
W=${1:?usage: start-sge.sh WORK_DIR [--reinit]}
mkdir -p "$W"
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
SPOOL=/var/spool/gridengine
CELL=$SGE_ROOT/$SGE_CELL
HOST=$(hostname)
SLOTS=${SGE_SLOTS:-$(nproc)}
started=$(date +%s%N)

init_cell() {  # what the Debian postinst scripts do on first configuration
    rm -rf "$SPOOL/qmaster" "$SPOOL/spooldb" "$SPOOL/execd" "$CELL"
    mkdir -p "$CELL/common" "$SPOOL/qmaster/job_scripts" "$SPOOL/spooldb" "$SPOOL/execd"
    chown sgeadmin:sgeadmin "$SGE_ROOT" "$CELL" "$CELL/common" "$SPOOL/qmaster" "$SPOOL/qmaster/job_scripts" \
        "$SPOOL/spooldb" "$SPOOL/execd"
    install -m0644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$CELL/common/bootstrap"
    su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL $SPOOL/spooldb sgeadmin" \
        sgeadmin >"$W/init_cluster.log"
}

configure_once() {  # the queue, a fast scheduler and immediate accounting; skipped when all.q exists
    qconf -sql 2>/dev/null | grep -qx all.q && return 0
    sed -e "s/@HOST@/$HOST/" -e "s/@SLOTS@/$SLOTS/" "$(dirname "$0")/sge-queue.conf" >"$W/queue.conf"
    qconf -Aq "$W/queue.conf" >/dev/null
    qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' >"$W/sched.conf"
    qconf -Msconf "$W/sched.conf" >/dev/null
    # qconf prints long attributes across backslash-continued lines: join them before editing
    qconf -sconf global | sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' \
        | sed -e 's/^reporting_params .*/reporting_params accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00/' \
              -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' >"$W/global"
    qconf -Mconf "$W/global" >/dev/null  # the file name is the configuration's name
}

if [ "${2:-}" = --reinit ] || [ ! -e "$SPOOL/spooldb/sge" ]; then
    init_cell
fi
echo "$HOST" >"$CELL/common/act_qmaster"
chown sgeadmin: "$CELL/common/act_qmaster"
# 127.0.0.1 reverse-resolves to "localhost", not to the hostname: declare them one host
echo "$HOST localhost" >"$CELL/common/host_aliases"
mkdir -p /var/run/gridengine
chown sgeadmin:sgeadmin /var/run/gridengine
running() {  # is the daemon whose pid file is $1 alive? (restarting one daemon leaves the other up)
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
wait_until() {  # wait_until SECONDS WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds, or fail
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$(($(date +%s) + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "sge: $what did not happen within ${seconds} s; see $SPOOL/qmaster/messages" >&2
            exit 1
        fi
        sleep 0.2
    done
}
execd_reports_load() {  # the queue instance shows a load value: execd has registered with this qmaster
    qstat -f -q all.q 2>/dev/null | awk '$1 ~ /^all.q@/ && $4 != "-NA-" {up=1} END {exit !up}'
}
running "$SPOOL/qmaster/qmaster.pid" || /usr/sbin/sge_qmaster
wait_until 60 "the qmaster answering queries (qconf -sh)" qconf -sh
if ! qconf -sel 2>/dev/null | grep -qx "$HOST"; then
    printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' \
        "$HOST" >"$W/exechost.conf"
    qconf -Ae "$W/exechost.conf" >/dev/null
fi
qconf -ss 2>/dev/null | grep -qx "$HOST" || qconf -as "$HOST" >/dev/null
# configured before sge_execd starts: an execd reads the global configuration (min_uid/min_gid 0, so that root may
# run jobs) when it starts, and one started first may run the first jobs with the defaults (min_gid 1000: they fail
# and put the queue in error)
configure_once
running "$SPOOL/execd/localhost/execd.pid" || /usr/sbin/sge_execd
# ready once the qmaster lists jobs and the queue instance reports a load value (execd registered)
wait_until 60 "the qmaster listing jobs (qstat -u '*')" qstat -u '*'
wait_until 60 "sge_execd registering with the qmaster" execd_reports_load
echo "sge up in $((($(date +%s%N) - started) / 1000000)) ms"
