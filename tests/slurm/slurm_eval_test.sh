#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, started by this test in a temporary folder
# (munged with its own key and socket; slurmctld and slurmd as root with their own
# slurm.conf, ports, state and spool folders), runs a 2-shard `lmul eval` of 4 ARC-Easy
# questions through scripts/slurm/submit_eval.sh (job array + dependent merge job); the
# merged result must equal the unsharded run (results and examples). Every daemon is stopped
# (by its pid) and the folder removed on exit, also on failure; every wait is bounded.
# Usage: slurm_eval_test.sh path/to/lmul. Skips (77) unless root with slurm-wlm and munge
# installed, LMUL_MODEL set and the ARC-Easy data present.
set -uo pipefail
LMUL="$(realpath "$1")"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd)"
for b in munged slurmctld slurmd sbatch squeue sinfo scancel; do
  command -v "$b" >/dev/null || skip "$b not installed (scripts/setup.sh: slurm-wlm munge)"
done
[ -n "${LMUL_MODEL:-}" ] && [ -f "$LMUL_MODEL" ] || skip "LMUL_MODEL unset"
DATA="${LMUL_DATA:-$("$REPO/scripts/data_dir.sh" 2>/dev/null)}"
[ -f "$DATA/arc-easy/ARC-Easy-Test.jsonl" ] || skip "no ARC-Easy in $DATA"

T="$(mktemp -d /tmp/lmul-slurm.XXXXXX)"
chmod 755 "$T"
PIDS=()
cleanup() {
  if [ -f "$T/slurm.conf" ]; then
    SLURM_CONF="$T/slurm.conf" timeout 10 scancel --quiet --user=root 2>/dev/null
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  [ -n "${KEEP_SLURM_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  for f in "$T"/log/*.log "$T"/out/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$T/log" "$T/state" "$T/spool" "$T/munge" "$T/out" "$T/data/arc-easy"
chmod 700 "$T/munge"
# munge: a fresh key, its own socket (not the system's).
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --foreground --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/log/munged.log" --seed-file="$T/munge/seed" \
  &>"$T/log/munged.out" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.sock" ] || fail "munged did not start"

NODE="$(hostname -s)"
CPUS="$(nproc)"
cat > "$T/slurm.conf" <<CONF
ClusterName=lmultest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" &>"$T/log/slurmctld.out" &
PIDS+=($!)
slurmd -D -N "$NODE" -f "$SLURM_CONF" &>"$T/log/slurmd.out" &
PIDS+=($!)
state=""
for _ in $(seq 60); do
  state="$(timeout 5 sinfo -h -o %T 2>/dev/null | head -n 1)"
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || fail "the node did not become idle (state '$state')"
echo "ok   single-node Slurm up ($NODE, $CPUS CPUs)"

head -n 4 "$DATA/arc-easy/ARC-Easy-Test.jsonl" > "$T/data/arc-easy/ARC-Easy-Test.jsonl"
ARGS=(-m "$LMUL_MODEL" --tasks arc_easy --arith fp32,lmul-attn --data-dir "$T/data")
ids="$("$REPO/scripts/slurm/submit_eval.sh" 2 "$T/out" --lmul "$LMUL" --sbatch "--cpus-per-task=1" \
       -- "${ARGS[@]}")" || fail "submit_eval.sh failed"
read -r ARRAY MERGE <<<"$ids"
echo "ok   submitted array $ARRAY and merge $MERGE"
# Unsharded reference, meanwhile.
"$LMUL" eval "${ARGS[@]}" --threads 1 --quiet --json "$T/full.json" > "$T/full.txt" \
  || fail "unsharded lmul eval failed"
for _ in $(seq 300); do
  [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && echo "ok   jobs finished" || fail "jobs still queued after 300 s"
[ -f "$T/out/shard-0.json" ] && [ -f "$T/out/shard-1.json" ] || fail "shard files missing"
[ -f "$T/out/merged.json" ] || fail "merge job wrote no merged.json"
python3 - "$T/full.json" "$T/out/merged.json" <<'PY' || fail "merged != unsharded"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for k in ("results", "examples", "model", "arith", "tasks", "n_selected"):
    assert a[k] == b[k], f"{k} differs"
assert len(a["examples"]) == 4
print("ok   merged results and examples equal the unsharded run "
      f"({len(a['examples'])} questions, {len(a['arith'])} arithmetics)")
PY
diff <(grep -v -i "throughput\|tokens/s" "$T/full.txt") <(grep -v -i "throughput\|tokens/s" "$T/out/merged.txt") >/dev/null \
  && echo "ok   merged table equals the unsharded table" || fail "tables differ"
echo "PASS"
