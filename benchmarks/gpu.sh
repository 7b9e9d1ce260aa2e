#!/usr/bin/env bash
# The prepared script for a lent GPU session; every number it prints goes into docs/benchmarks.md with the card's name.
#   1. `interinv world pretrain` variants side by side on the GPU (seeded; the first is world v3's config);
#   2. benchmarks/step.py on the SD1.5-shaped model (bf16, 512 px, batch 1 and 8);
#   3. `interinv world bench` on the tuning interaction at several learning rates, on the first variant's weights.
# Usage: OUT=/some/folder bash benchmarks/gpu.sh   (DEVICE=cpu QUICK=1 runs it as a smoke test on a CPU)
# Optional: a folder .whl with wheels (installed into /tmp/site) and .whl/clip-tokenizer (the offline tokenizer files).
set -u
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT" /tmp/gpu-work
if ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$ROOT"/.whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
if [ ! -d "$ROOT/.whl/clip-tokenizer" ] && [ -f "$ROOT/.whl/clip-tokenizer.tgz" ]; then
  tar -C "$ROOT/.whl" -xzf "$ROOT/.whl/clip-tokenizer.tgz"
fi
if [ -d "$ROOT/.whl/clip-tokenizer" ]; then
  mkdir -p /tmp/gpu-work/cache && cp -r "$ROOT/.whl/clip-tokenizer" /tmp/gpu-work/cache/ && export INTERINV_CACHE=/tmp/gpu-work/cache
fi
export PYTHONPATH="$ROOT/extension${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"; "$PY" -c 'import torch, diffusers, transformers; print("torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__)') | tee "$OUT/machine.txt"

# 2. (started first) the SD1.5-shaped step benchmark, beside the pretraining (a/b and c/a are interleaved, so shared load hits both)
if [ -z "$QUICK" ]; then
  (timeout "${STEP_TIMEOUT:-200}" "$PY" benchmarks/step.py --model sd15 --cuda --batch 1 8 --steps 9 --rounds 3 \
     >"$OUT/step_sd15.jsonl" 2>/tmp/gpu-work/step_sd15.err; tail -3 /tmp/gpu-work/step_sd15.err) &
fi

# 1. pretraining variants, in parallel: one per line, a name then PretrainConfig settings
# (the question world v3 leaves, docs/world.md R1: does a longer denoiser lift the scorer agreement to 90%? Both
# variants are PretrainConfig's defaults, world v3, at two lengths; each trains its own VAE and scorers on the GPU)
VARIANTS=${WORLD_VARIANTS:-"v3 unet_steps=3000
v3_4500 unet_steps=4500"}
QUICKFLAG=${QUICK:+--quick}
FIRST=$(echo "$VARIANTS" | head -1 | awk '{print $1}')
while read -r name settings; do
  args=()
  for s in $settings; do
    [ -n "$QUICK" ] && [[ $s =~ ^(unet_steps|single_scenes|pair_scenes)= ]] && continue  # a smoke test keeps its sizes
    args+=(--set "$s")
  done
  (timeout "${PRETRAIN_TIMEOUT:-420}" "$PY" -m interinv.cli world pretrain $QUICKFLAG --device "$DEVICE" --threads 3 \
     --out "/tmp/gpu-work/world_$name" "${args[@]}" >"/tmp/gpu-work/pretrain_$name.log" 2>&1
   echo "$name exit $?" >>"/tmp/gpu-work/pretrain_status.txt") &
done <<<"$VARIANTS"
wait
cat /tmp/gpu-work/pretrain_status.txt
"$PY" - <<'EOF' | tee "$OUT/pretrain_metrics.json"
import glob, json, os
rows = {}
for path in sorted(glob.glob("/tmp/gpu-work/world_*/metrics.json")):
    m = json.load(open(path))
    rows[os.path.basename(os.path.dirname(path))[6:]] = {k: m[k] for k in ("sanity_gate", "scorers_on_renders",
        "scorers_on_vae_reconstructions", "vae_psnr_db", "timings_s", "device")} | {"unet_channels": m["config"]["unet_channels"],
        "unet_steps": m["config"]["unet_steps"], "vae_kl_weight": m["config"]["vae_kl_weight"],
        "style": m["config"].get("style"), "held_out": m["config"].get("held_out"), "check": m.get("check", {}).get("targets")}
print(json.dumps(rows, indent=1))
EOF
tar -C /tmp/gpu-work -czf "$OUT/pretrain_logs.tgz" $(cd /tmp/gpu-work && ls pretrain_*.log)


# 3. a tuning bench on the first variant's weights (back_to_back is held out but not in the table)
for lr in ${BENCH_LRS-0.005 0.02 0.05}; do
  (timeout "${BENCH_TIMEOUT:-120}" "$PY" -m interinv.cli world bench $QUICKFLAG --device "$DEVICE" --weights "/tmp/gpu-work/world_$FIRST" \
     --interactions back_to_back --methods prompt ti ours --lr "$lr" --out "/tmp/gpu-work/bench_$lr" \
     >"/tmp/gpu-work/bench_$lr.log" 2>&1; echo "lr $lr exit $?") &
done
wait
for lr in ${BENCH_LRS-0.005 0.02 0.05}; do echo "== lr $lr"; cat "/tmp/gpu-work/bench_$lr/table.md" 2>/dev/null | head -6; done | tee "$OUT/bench_tuning.md"
tar -C /tmp/gpu-work -czf "$OUT/bench_logs.tgz" $(cd /tmp/gpu-work && ls -d bench_*.log bench_*/results.json 2>/dev/null)

# the first variant's weights, in parts small enough to come back from a device session
tar -C /tmp/gpu-work -czf /tmp/gpu-work/world.tgz "world_$FIRST" && split -b 15M /tmp/gpu-work/world.tgz "$OUT/world.tgz."
