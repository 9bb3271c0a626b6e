#!/usr/bin/env bash
# On a GPU machine of 4 or 8 GPUs: the Llama 3.1 8B preset (bf16, fp32 master weights, mock data,
# seq_len 8192, micro-batch 1, no activation recompute unless RECOMPUTE is set) under tensor parallelism with sequence
# parallelism, reporting tokens/s per GPU, MFU and peak memory per rank from metrics.jsonl.
# Usage: scripts/gpu-llama8b.sh PRIMUS_BINARY OUT_DIR LAYOUT...
#   LAYOUT: tpN (tensor N, data 1) or tpNdpM (tensor N x data M, ZeRO-1 over the data ranks).
set -uo pipefail
cd "$(dirname "$0")/.."
primus=$1; out=$2; shift 2
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
root=$PWD
seq_len=${SEQ_LEN:-8192}; steps=${STEPS:-8}
model=${MODEL:-llama3.1-8b}; device=${DEVICE:-cuda}  # MODEL=llama-tiny DEVICE=cpu: a dry run of the script
cat > "$out/llama8b.yaml" <<YAML
extends: [$root/configs/models/$model.yaml]
workspace: $out/runs
data: {mock: true}
train: {micro_batch_size: 1, global_batch_size: 1, seq_len: $seq_len, steps: $steps}
precision: {compute: ${COMPUTE:-bf16}, master_weights: fp32}
backend: {device: $device, recompute: ${RECOMPUTE:-none}}
parallel: {sequence_parallel: true}
checkpoint: {save_at_end: false}
logging: {every_steps: 1, progress: "off"}
YAML
for layout in "$@"; do
  tp=${layout#tp}; tp=${tp%%dp*}; dp=1; zero=0
  case $layout in *dp*) dp=${layout##*dp}; zero=1 ;; esac
  n=$((tp * dp))
  mpirun --allow-run-as-root --bind-to none ${MPI_EXTRA:-} -x NCCL_NVLS_ENABLE -x LD_LIBRARY_PATH -np "$n" \
    "$primus" train -c "$out/llama8b.yaml" --force --set exp_name="$layout" --set parallel.tensor="$tp" \
    --set parallel.zero=$zero --set train.global_batch_size="$dp" > "$out/$layout.log" 2>&1
  echo "$layout (tensor $tp x data $dp, zero $zero, $n GPUs) exit $?"
  python3 - "$out/runs/$layout/metrics.jsonl" <<'PY' || tail -5 "$out/$layout.log"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("step", 0) >= 3 and "tokens_per_s" in r]
avg = lambda k: sum(r[k] for r in rows) / len(rows)
print(f"  {avg('tokens_per_s'):,.0f} tokens/s per GPU, {avg('tflops'):.0f} TFLOP/s, MFU {100 * avg('mfu'):.1f}%, "
      f"step {avg('step_s') * 1e3:.0f} ms, loss {rows[-1]['loss']:.3f}, peak mem {rows[-1].get('mem_bytes', 0) / 2**30:.2f} GiB "
      f"(steps 3..{rows[-1]['step']})")
PY
done
