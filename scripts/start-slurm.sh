#!/bin/bash
# Bring up a throwaway single-node Slurm (munged + slurmctld + slurmd) on loopback, as root.
# Usage: [SLURM_CPUS=N] [FAKE_GPUS=N] scripts/start-slurm.sh SCRATCH_DIR
# Everything lives under SCRATCH_DIR; clients need `SLURM_CONF=SCRATCH_DIR/slurm.conf`.
# SLURM_CPUS lets a 2-core test machine advertise more CPUs (jobs in tests mostly sleep).
set -euo pipefail
S=${1:?usage: start-slurm.sh SCRATCH_DIR}
mkdir -p "$S"/munge "$S"/state "$S"/spool "$S"/log
chmod 755 "$S/munge"            # other users must reach the socket; the key itself stays 0600
NODE=localhost
CPUS=${SLURM_CPUS:-$(nproc)}
started=$(date +%s%N)

if [ ! -f "$S/munge/munge.key" ]; then
    mungekey --create --keyfile="$S/munge/munge.key"
fi
chmod 600 "$S/munge/munge.key"
# restarting Slurm alone (stop-slurm.sh SCRATCH slurmd slurmctld) leaves munged running: keep that one
if ! { [ -s "$S/munge/munged.pid" ] && kill -0 "$(cat "$S/munge/munged.pid")" 2>/dev/null; }; then
    munged --force --key-file="$S/munge/munge.key" --socket="$S/munge/munge.socket" \
        --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed"
fi

gres_types=""; node_gres=""
if [ -n "${FAKE_GPUS:-}" ]; then
    # gres/gpu ignores GPUs without a device file: character devices with /dev/null's numbers stand in.
    gres_types="GresTypes=gpu"; node_gres="Gres=gpu:$FAKE_GPUS"
    mkdir -p "$S/dev"
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
        [ -e "$S/dev/fakegpu$i" ] || mknod "$S/dev/fakegpu$i" c 1 3
    done
    echo "NodeName=$NODE Name=gpu File=$S/dev/fakegpu[0-$((FAKE_GPUS - 1))]" >"$S/gres.conf"
fi
overrides=""
if [ "$CPUS" != "$(nproc)" ]; then
    overrides="SlurmdParameters=config_overrides"
fi

cat >"$S/slurm.conf" <<CONF
ClusterName=jobtui
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.socket
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=${SLURM_MIN_JOB_AGE:-600}
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
$overrides
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=4096 $node_gres State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$S/slurm.conf"
# sacct -c opens the job completion file for appending even to read it: let every user write it.
touch "$S/log/jobcomp.txt"
chmod 666 "$S/log/jobcomp.txt"
slurmctld -f "$S/slurm.conf"
slurmd -f "$S/slurm.conf" -N "$NODE"
state=""
for _ in $(seq 150); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    squeue -h >/dev/null 2>&1 || state="$state (squeue not answering)"
    case "$state" in
        idle|mixed|allocated|completing)
            echo "slurm up in $((($(date +%s%N) - started) / 1000000)) ms: node $state"
            exit 0 ;;
    esac
    sleep 0.2
done
echo "slurm did not come up (node state: ${state:-none}); see $S/log" >&2
exit 1
