#!/usr/bin/env bash
# On a GPU machine: data-parallel scaling of GPT-2 124M (bf16, mock data, micro-batch 16 x 1024 per
# GPU, one micro-batch per GPU per step) over 1..N GPUs, plus the NCCL all-reduce sweep up to 1 GiB.
# Usage: scripts/gpu-scaling.sh PRIMUS_BINARY OUT_DIR "1 2 4" [graphs]
# With "graphs": first the NCCL tests (test_dist_mpi beside PRIMUS_BINARY, --gtest_filter='Nccl*',
# on 2 ranks), then every GPU count with the CUDA graph on (the default) and off
# (backend.cuda_graphs=false), 30 steps each (mean of steps 6-30), a table of tokens/s per GPU
# against the one-GPU run with the graph, and the largest loss difference between the graph and
# the eager run of each count. The sweep is skipped in this mode.
set -uo pipefail
cd "$(dirname "$0")/.."
primus=$1; out=$2; counts=${3:-"1 2"}; mode=${4:-}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
root=$PWD
steps=12; first=3; graphs="default"
[ "$mode" = graphs ] && { steps=30; first=6; graphs="on off"; }
cat > "$out/scaling.yaml" <<YAML
extends: [$root/configs/models/gpt2-124m.yaml]
workspace: $out/runs
data: {mock: true}
train: {micro_batch_size: 16, global_batch_size: 16, seq_len: 1024, steps: $steps}
precision: {compute: bf16}
backend: {device: cuda}
checkpoint: {save_at_end: false}
logging: {every_steps: 1, progress: "off"}
YAML
mpi=(mpirun --allow-run-as-root --bind-to none)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee "$out/card.txt"
"$primus" --version 2>/dev/null | tee "$out/version.txt"
if [ "$mode" = graphs ]; then
  tests=$(dirname "$primus")/test_dist_mpi
  if [ -x "$tests" ]; then
    "${mpi[@]}" -np 2 "$tests" --gtest_filter='Nccl*' 2>&1 | tee "$out/nccl-tests.log" | grep -E '^\[( +OK|  FAILED|  PASSED|  SKIPPED) | x2: loss'
    echo "nccl tests exit ${PIPESTATUS[0]}"
  else
    echo "no $tests: NCCL tests not run"
  fi
fi
for n in $counts; do
  for g in $graphs; do
    name=dp$n; [ "$g" != default ] && name=dp$n-graph-$g
    set=(--set exp_name=$name --set train.global_batch_size=$((16 * n)))
    [ "$g" = off ] && set+=(--set backend.cuda_graphs=false)
    if [ "$n" = 1 ]; then
      "$primus" train -c "$out/scaling.yaml" "${set[@]}" > "$out/$name.log" 2>&1
    else
      "${mpi[@]}" -np "$n" "$primus" train -c "$out/scaling.yaml" "${set[@]}" > "$out/$name.log" 2>&1
    fi
    echo "$name exit $?"
    grep -m1 "CUDA graph" "$out/$name.log"
  done
done
python3 - "$out/runs" "$first" "$counts" "$graphs" <<'PY' | tee "$out/scaling.txt"
import json, os, sys
runs, first, counts, graphs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
def load(name):
    path = os.path.join(runs, name, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    return [json.loads(l) for l in open(path) if l.strip() and "tokens_per_s" in l]
def name(n, g):
    return f"dp{n}" if g == "default" else f"dp{n}-graph-{g}"
base = {g: load(name(1, g)) for g in graphs}
def mean_tps(rows):   # tokens/s per rank (one GPU) in metrics.jsonl
    rows = [r for r in rows if r["step"] >= first]
    return sum(r["tokens_per_s"] for r in rows) / len(rows), sum(r["step_s"] for r in rows) / len(rows)
ref = base.get("on") or base.get("default")
print(f"| GPUs | CUDA graph | step (ms) | tokens/s per GPU | tokens/s total | of 1 GPU with graph | of 1 GPU alike |")
print("|---|---|---|---|---|---|---|")
for n in counts:
    for g in graphs:
        rows = load(name(n, g))
        if not rows:
            print(f"| {n} | {g} | run failed | | | | |")
            continue
        tps, step = mean_tps(rows)
        r1 = mean_tps(ref)[0] if ref else float("nan")
        alike = mean_tps(base[g])[0] if base.get(g) else float("nan")
        print(f"| {n} | {g} | {step * 1e3:.1f} | {tps:,.0f} | {tps * int(n):,.0f} | {100 * tps / r1:.1f}% | {100 * tps / alike:.1f}% |")
if "on" in graphs:
    for n in counts:
        a, b = load(name(n, "on")), load(name(n, "off"))
        if a and b:
            d = max((abs(x["loss"] - y["loss"]) / abs(y["loss"]) if x["loss"] and y["loss"] else float("inf"))
                    for x, y in zip(a, b))
            print(f"{n} GPU(s): largest relative loss difference, graph vs eager, over {len(a)} steps: {d:.2e}")
PY
n=${counts##* }
[ "$mode" != graphs ] && [ "$n" -gt 1 ] && "${mpi[@]}" -np "$n" "$primus" benchmark collective --device cuda --ops all_reduce \
  --sizes 64M:1G:x4 2>&1 | tee "$out/collective.log" | tail -8
exit 0
