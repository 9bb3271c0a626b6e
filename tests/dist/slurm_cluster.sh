#!/usr/bin/env bash
# Starts a private one-node Slurm cluster (munged, slurmctld, slurmd from Debian's slurm-wlm and
# munge; state, sockets and logs under a temporary folder, non-default ports), submits a tiny
# 2-task training through `primus slurm`, waits for it, and checks that it finished and wrote its
# checkpoint. Needs root. Usage: slurm_cluster.sh PRIMUS_EXE WORK_DIR
set -euo pipefail
exe=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
D=$work/cluster
mkdir -p "$D"/{state,spool,log}
host=$(hostname -s)
port=$((17000 + RANDOM % 2000))

cleanup() {
  for pid in "$D"/slurmd.pid "$D"/slurmctld.pid "$D"/munged.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
}
trap cleanup EXIT

dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 status=none
chmod 600 "$D/munge.key"
munged --force --key-file="$D/munge.key" --socket="$D/munge.sock" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munge.seed"

cat > "$D/slurm.conf" <<CONF
ClusterName=primustest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
export SLURM_CONF=$D/slurm.conf
slurmctld
slurmd
for _ in $(seq 1 50); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 0.2
done
sinfo

corpus=/usr/share/games/fortunes/art
cd "$work"
"$exe" data train-tokenizer --input $corpus --vocab-size 400 --output tok.json >/dev/null
"$exe" data prepare --input $corpus --tokenizer tok.json --output art --doc-boundary blank-line \
  --split 90,10,0 --progress off >/dev/null
cat > exp.yaml <<YAML
workspace: runs
exp_name: slurm
model: {preset: gpt2-tiny}
data: {train: art/train, valid: art/valid, tokenizer: tok.json}
train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 5}
backend: {threads: 1}
YAML
out=$("$exe" slurm -c exp.yaml --nodes 1 --ntasks-per-node 2 --time 00:05:00)
echo "$out"
job=$(echo "$out" | sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p')
[ -n "$job" ] || { echo "no job id"; exit 1; }
for _ in $(seq 1 300); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 0.2
done
echo "--- job output"; cat runs/slurm/logs/slurm-"$job".out runs/slurm/logs/slurm-"$job".err || true
test -d runs/slurm/checkpoints/step_00000005 || { echo "no checkpoint"; tail -20 "$D"/log/*.log; exit 1; }
test -f runs/slurm/logs/rank1.log || { echo "rank 1 did not run"; exit 1; }
grep -q "done: step 5 of 5" runs/slurm/logs/slurm-"$job".err runs/slurm/logs/slurm-"$job".out
echo "slurm: job $job finished and wrote its checkpoint"
