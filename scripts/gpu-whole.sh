#!/usr/bin/env bash
# The GPU run of issue 42 (whole networks, memory, energy), one step per `device` call, on the lent GPU machine from
# the project's root. The run directory and the artifacts live in /tmp there, so the calls go back to back on one warm
# machine (it keeps /tmp about 30 s after a call); each bench step packs a checkpoint into $OUT/run.tgz.
#
# Here, before the calls (a call carries the working tree and the carried paths, at most 64 MiB together):
#   - onnxruntime-gpu 1.31.1 in xz parts .gpu/o0 .. .gpu/o4 with .gpu/ort.sha (scripts/gpu-math-modes.sh says how);
#   - keras, namex, optree wheels (cp312) in .gpu/kwheels, for Keras' JAX and torch backends;
#   - the Keras side, which needs TensorFlow (not on that machine), exported here:
#     `convbench export --models mobilenet_v2 resnet50 efficientnet_b0 --sources tf2onnx --dtype float32
#     --artifacts /tmp/kart`, then `tar cf - -C /tmp/kart onnx reference | xz -1 | split -b 44M - .gpu/k/part.`
#     and its sha256 in .gpu/k.sha; each part travels as `.gpu/kN` (a folder holding that one part);
#   - docs/results must not travel (see scripts/gpu-math-modes.sh).
# The calls: `setup` (carry .gpu/kwheels), `restore` (carry .gpu/run.tgz: e.g. `tar czf .gpu/run.tgz -C docs/results
# h100-whole-2026-12-07`), `ort-part N`, `keras-part N`, `install-ort`, `install-keras`, then the
# bench steps, each resuming the same run directory (LIMIT_S bounds one call; no plotly there: report here).
# Every resume runs what its run still lacks of every sweep it recorded, then profiles the ok rows not yet profiled.
# A runtime asked for before it is installed gets skipped rows, which a resume keeps: install onnxruntime before
# any step that names it.
#
# The first run (docs/results/h100-whole-2026-12-07: RUN=gpu-whole, TIMING without --energy-seconds, which read the
# energy around the throughput samples): setup, the parts, torch32, train, ort32, keras.
# The second (docs/results/h100-whole-modes-2026-12-07, the default RUN): the tf32 and float16 forward, the conv-only
# cases and keras-jax, needing no Keras ONNX file, only Keras' reference outputs (`kref`, carry .gpu/kref.tgz, made
# here with `tar czf .gpu/kref.tgz -C /tmp/kart reference`): setup + kref + energy-test, ort-part 0..4, modes-torch,
# keras-jax32, networks-torch, keras-torch-modes, install-ort, modes-ort, networks-ort.
set -uo pipefail
export PYTHONPATH=/tmp/site:${PYTHONPATH:-} PYTHONUNBUFFERED=1
A=/tmp/a R=/tmp/r/${RUN:-gpu-whole-modes}
MODELS="--models mobilenet_v2 resnet50 efficientnet_b0"
TORCH="torch torch-channels-last torch-cudnn-benchmark torch-channels-last-cudnn-benchmark torch-cuda-graph torch-channels-last-cuda-graph"
ORT="ort ort-iobinding ort-cuda-graph ort-cuda-nhwc ort-cuda-heuristic"
TIMING=${TIMING:-"--processes 2 --warmup-seconds 0.1 --sample-seconds 0.02 --budget-seconds 0.3 --min-samples 3 \
  --energy-seconds 0.5"}
NETWORKS="--networks mobilenet_v2 resnet50 efficientnet_b0 --batch 1 32"
MODES_TORCH="torch torch-cuda-graph torch-channels-last-cuda-graph"
MODES_ORT="ort-iobinding ort-cuda-graph"
bench() {
  timeout -s INT "${LIMIT_S:-400}" convbench bench --device cuda --run-dir $R --artifacts $A $TIMING $MODELS --profile \
    "$@" 2>&1 | grep -v "^ *ok \|^ *skipped " | tail -"${TAIL:-25}"
  mkdir -p "$OUT" && tar czf "$OUT/run.tgz" -C /tmp/r "$(basename $R)"
}
case $1 in
  setup)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/kwheels/*.whl
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -1
    KERAS_BACKEND=jax python3 -c "import keras, jax; print('keras', keras.__version__, jax.devices())"
    [ -f $A/onnx/manifest.csv ] || timeout 500 convbench export $MODELS --sources torch.onnx --dtype float32 float16 \
      --artifacts $A 2>&1 | tail -3 ;;
  restore)  # a run directory committed from an earlier session (carried as .gpu/run.tgz) resumed on a fresh machine
    mkdir -p /tmp/r && tar xzf .gpu/run.tgz -C /tmp/r && mv /tmp/r/"$(tar tzf .gpu/run.tgz | head -1 | cut -d/ -f1)" $R \
      && ls $R ;;
  kref)  # Keras' reference outputs (TensorFlow's, made here) for keras-jax and keras-torch
    mkdir -p $A/reference && tar xzf .gpu/kref.tgz -C $A && ls $A/reference | grep -c keras ;;
  energy-test) python3 -m pytest -q -p no:cacheprovider tests/convbench/test_energy.py 2>&1 | tail -3 ;;
  export-networks)
    [ -f $A/onnx/torch/resnet50-b32-i224.onnx ] || timeout 300 convbench export $NETWORKS --sources torch.onnx \
      --dtype float32 --artifacts $A 2>&1 | tail -2 ;;
  modes-torch) bench --dtype float32 tf32 float16 --runtimes $MODES_TORCH ;;
  modes-ort) bench --dtype float32 tf32 float16 --runtimes $MODES_ORT --sources torch.onnx ;;
  keras-jax32) bench --dtype float32 --runtimes keras-jax ;;
  keras-torch-modes) bench --dtype tf32 float16 --runtimes keras-torch ;;
  networks-torch) MODELS=$NETWORKS bench --dtype float32 --runtimes torch torch-channels-last-cuda-graph ;;
  networks-ort) MODELS=$NETWORKS bench --dtype float32 --runtimes ort-iobinding --sources torch.onnx ;;
  ort-part) mkdir -p /tmp/gpu-parts && cp .gpu/o"$2"/part.* /tmp/gpu-parts/ && ls /tmp/gpu-parts ;;
  keras-part) mkdir -p /tmp/keras-parts && cp .gpu/k"$2"/part.* /tmp/keras-parts/ && ls /tmp/keras-parts ;;
  install-ort)
    cat /tmp/gpu-parts/part.* > /tmp/ort.tar.xz && echo "$(cat .gpu/ort.sha)  /tmp/ort.tar.xz" | sha256sum -c - || exit 3
    tar xJf /tmp/ort.tar.xz -C /tmp/site && python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())" ;;
  install-keras)  # the Keras exports and references beside the torch ones, their manifest rows added to the manifest
    cat /tmp/keras-parts/part.* > /tmp/keras.tar.xz && echo "$(cat .gpu/k.sha)  /tmp/keras.tar.xz" | sha256sum -c - || exit 3
    mkdir -p /tmp/kart && tar xJf /tmp/keras.tar.xz -C /tmp/kart && cp -r /tmp/kart/onnx/keras $A/onnx/ \
      && cp /tmp/kart/reference/*.keras.npy $A/reference/ && python3 -c "
from pathlib import Path
from convbench.exporters.manifest import read_manifest, upsert
rows = read_manifest(Path('/tmp/kart/onnx/manifest.csv')).to_dict('records')
for row in rows:
    upsert(Path('$A/onnx/manifest.csv'), row)
print(len(rows), 'Keras manifest rows added')" ;;
  torch32) bench --dtype float32 --runtimes $TORCH ;;
  keras) bench --dtype float32 tf32 float16 --runtimes keras-jax keras-torch ;;
  ort32) bench --dtype float32 --runtimes $ORT ;;
  modes) bench --dtype tf32 float16 --runtimes torch torch-channels-last-cuda-graph ort-iobinding ort-cuda-nhwc ;;
  networks)  # the conv-only `--networks` cases of the same networks, beside the whole ones (the report's conv-only column)
    [ -f $A/onnx/torch/resnet50-b32-i224.onnx ] || timeout 300 convbench export --networks mobilenet_v2 resnet50 \
      efficientnet_b0 --batch 1 32 --sources torch.onnx --dtype float32 --artifacts $A 2>&1 | tail -2
    MODELS="--networks mobilenet_v2 resnet50 efficientnet_b0 --batch 1 32" bench --dtype float32 \
      --runtimes torch torch-channels-last-cuda-graph ort-iobinding ;;
  train) bench --dtype float32 tf32 --pass train --runtimes torch torch-channels-last torch-cuda-graph \
    torch-channels-last-cuda-graph ;;
  *) echo "unknown step $1: setup | restore | kref | energy-test | export-networks | ort-part N | keras-part N |" \
       "install-ort | install-keras | torch32 | keras | ort32 | modes | networks | train | modes-torch | modes-ort |" \
       "keras-jax32 | keras-torch-modes | networks-torch | networks-ort" >&2
     exit 2 ;;
esac
