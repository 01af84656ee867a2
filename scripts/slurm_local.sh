#!/usr/bin/env bash
# A single-node SLURM on this machine, from Debian's packages (slurm-wlm, munge), for trying sweeps with
# hydra/launcher=slurm_cpu. Needs root (apt-get, daemons). Idempotent.
#
#   scripts/slurm_local.sh start     # install if needed, write /etc/slurm/slurm.conf, start munged,
#                                    # slurmctld, slurmd; wait until `sinfo` shows the node idle
#   scripts/slurm_local.sh status
#   scripts/slurm_local.sh stop      # stop the three daemons (the packages and config stay)
#
# The node gets this host's name, CPUs = the cores of this machine, RealMemory = its memory less 1 GB,
# one partition `cpu` (the default). Jobs run as root (SlurmUser/SlurmdUser root). No cgroups, no
# accounting. Logs: /var/log/slurm/. Env: SLURM_LOCAL_WAIT (seconds to wait for idle, default 60).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
RUN=/run/slurm
LOG=/var/log/slurm
LIB=/var/lib/slurm
HOST=$(hostname -s)
WAIT=${SLURM_LOCAL_WAIT:-60}

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: $*" >&2; exit 1; }

running() {  # running NAME PIDFILE
    [[ -s $2 ]] && kill -0 "$(cat "$2")" 2>/dev/null
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    [[ $(id -u) == 0 ]] || die "needs root to install slurm-wlm and munge (apt-get)"
    say "installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
    local cpus mem tmp
    cpus=$(nproc --all)
    mem=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
    mkdir -p /etc/slurm "$RUN" "$LOG" "$LIB/slurmctld" "$LIB/slurmd"
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
# written by vae-cluster scripts/slurm_local.sh: a single-node cluster on $HOST
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$LIB/slurmctld
SlurmdSpoolDir=$LIB/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=30
MinJobAge=300
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    if ! cmp -s "$tmp" "$CONF"; then
        cp "$tmp" "$CONF"
        say "wrote $CONF (node $HOST, CPUs=$cpus, RealMemory=${mem} MB, partition cpu)"
    fi
    rm -f "$tmp"
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "creating the munge key"
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    if running munged /run/munge/munged.pid; then
        return
    fi
    runuser -u munge -- /usr/sbin/munged
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
    say "munged started"
}

start() {
    install
    write_conf
    start_munge
    if ! running slurmctld "$RUN/slurmctld.pid"; then
        /usr/sbin/slurmctld
        say "slurmctld started"
    fi
    if ! running slurmd "$RUN/slurmd.pid"; then
        /usr/sbin/slurmd
        say "slurmd started"
    fi
    local state=""
    for ((i = 0; i < WAIT; i++)); do
        state=$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -1 || true)
        case $state in
            idle|mix|alloc) say "node $HOST is $state"; sinfo; return 0 ;;
            down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    die "node $HOST not idle after ${WAIT}s (state '${state}'); see $LOG/slurmctld.log and $LOG/slurmd.log"
}

stop_one() {  # stop_one NAME PIDFILE
    if running "$1" "$2"; then
        local pid
        pid=$(cat "$2")
        kill "$pid"
        for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        say "$1 stopped"
    fi
    rm -f "$2"
}

stop() {
    stop_one slurmd "$RUN/slurmd.pid"
    stop_one slurmctld "$RUN/slurmctld.pid"
    stop_one munged /run/munge/munged.pid
}

status() {
    for d in "munged /run/munge/munged.pid" "slurmctld $RUN/slurmctld.pid" "slurmd $RUN/slurmd.pid"; do
        set -- $d
        if running "$1" "$2"; then echo "$1: running (pid $(cat "$2"))"; else echo "$1: stopped"; fi
    done
    if running slurmctld "$RUN/slurmctld.pid"; then sinfo; fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
