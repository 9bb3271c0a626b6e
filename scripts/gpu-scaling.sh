#!/usr/bin/env bash
# On a GPU machine: data-parallel scaling of GPT-2 124M (bf16, mock data, micro-batch 16 x 1024 per
# GPU, one micro-batch per GPU per step) over 1..N GPUs, plus the NCCL all-reduce sweep up to 1 GiB.
# Usage: scripts/gpu-scaling.sh PRIMUS_BINARY OUT_DIR "1 2 4"
set -uo pipefail
cd "$(dirname "$0")/.."
primus=$1; out=$2; counts=${3:-"1 2"}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
root=$PWD
cat > "$out/scaling.yaml" <<YAML
extends: [$root/configs/models/gpt2-124m.yaml]
workspace: $out/runs
data: {mock: true}
train: {micro_batch_size: 16, global_batch_size: 16, seq_len: 1024, steps: 12}
precision: {compute: bf16}
backend: {device: cuda}
checkpoint: {save_at_end: false}
logging: {every_steps: 1, progress: "off"}
YAML
mpi=(mpirun --allow-run-as-root --bind-to none)
for n in $counts; do
  gb=$((16 * n))
  if [ "$n" = 1 ]; then
    "$primus" train -c "$out/scaling.yaml" --set exp_name=dp1 --set train.global_batch_size=$gb > "$out/dp1.log" 2>&1
  else
    "${mpi[@]}" -np "$n" "$primus" train -c "$out/scaling.yaml" --set exp_name=dp$n \
      --set train.global_batch_size=$gb > "$out/dp$n.log" 2>&1
  fi
  echo "dp$n exit $?"
  python3 - "$out/runs/dp$n/metrics.jsonl" "$n" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("step", 0) >= 3 and "tokens_per_s" in r]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
n = int(sys.argv[2])
print(f"GPUs {n}: {tps:,.0f} tokens/s, {tps / n:,.0f} per GPU, step {sum(r['step_s'] for r in rows) / len(rows) * 1e3:.1f} ms, loss {rows[-1]['loss']:.3f}, mem {rows[-1].get('mem_bytes', 0) / 2**30:.2f} GiB")
PY
done
n=${counts##* }
[ "$n" -gt 1 ] && "${mpi[@]}" -np "$n" "$primus" benchmark collective --device cuda --ops all_reduce \
  --sizes 64M:1G:x4 2>&1 | tee "$out/collective.log" | tail -8
