#!/usr/bin/env bash
# The GPU sweep of issue 41 (math modes, floors, the fastest configuration), one step per `device` call, on the lent
# GPU machine from the project's root. The run directory lives in /tmp there, so the calls go back to back on one warm
# machine (it keeps /tmp about 30 s after a call), and each bench step packs a checkpoint into $OUT/run.tgz.
#
# Here, before the calls (a call carries the working tree and the carried paths, at most 64 MiB together):
#   - wheels: `echo /.whl/ >> .git/info/exclude`, then pip download (see ../shared/gpu/README.md) the cuDNN frontend
#     (nvidia-cudnn-frontend 1.32.0, apache-tvm-ffi) into .whl/ for the floors;
#   - onnxruntime-gpu 1.31.1 (255 MB as a wheel): unzip it, `tar cf - onnxruntime onnxruntime_gpu-*.dist-info | xz -6`
#     (204 MB), `split -b 45M` into .gpu/o0/part.0 .. .gpu/o4/part.4, and its sha256 into .gpu/ort.sha;
#   - docs/results (58 MB of committed evidence) must not travel: `git rm -r -q --cached docs/results` and
#     `echo /docs/results/ >> .git/info/exclude` for the calls, then `git reset -q -- docs/results` and that line
#     removed again before any commit.
# The calls: `setup` (carry .whl, this script), then `part N` for each part (carry .gpu/oN, .gpu/ort.sha), then
# `install-ort`, then `fwd`, `train`, `ort` (each resumes the same run directory; LIMIT_S bounds one call).
set -uo pipefail
export PYTHONPATH=/tmp/site:${PYTHONPATH:-} PYTHONUNBUFFERED=1
A=/tmp/a R=/tmp/r/${RUN:-gpu-math-modes}
GRAPHS="torch-cuda-graph torch-channels-last-cuda-graph torch-cuda-graph-cudnn-benchmark torch-channels-last-cuda-graph-cudnn-benchmark"
EAGER="torch torch-cudnn-benchmark torch-channels-last torch-channels-last-cudnn-benchmark"
ORT="ort ort-iobinding ort-cuda-graph ort-cuda-nhwc ort-cuda-heuristic"
TIMING=${TIMING:-"--processes 2 --warmup-seconds 0.1 --sample-seconds 0.02 --budget-seconds 0.3 --min-samples 3"}
bench() {
  timeout -s INT "${LIMIT_S:-400}" convbench bench --device cuda --run-dir $R --artifacts $A $TIMING --channels 8 64 \
    "$@" 2>&1 | grep -v "^ *ok \|^ *skipped " | tail -"${TAIL:-30}"
  mkdir -p "$OUT" && tar czf "$OUT/run.tgz" -C /tmp/r "$(basename $R)"
}
case $1 in
  setup)
    awk 'BEGIN{RS="";} NR==1{print; exit}' /proc/cpuinfo > "$OUT/cpuinfo.txt"  # the host CPU, for the ceiling tests
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -1
    python3 -c "from convbench.ceilings import physical_cpu_peak, cpu_cache_mb; print(physical_cpu_peak(16), cpu_cache_mb())"
    [ -f $A/onnx/manifest.csv ] || convbench export --sources torch.onnx --channels 8 64 --dtype float32 float16 \
      --artifacts $A 2>&1 | tail -2 ;;
  part) mkdir -p /tmp/gpu-parts && cp .gpu/o"$2"/part.* /tmp/gpu-parts/ && ls /tmp/gpu-parts ;;
  install-ort)
    cat /tmp/gpu-parts/part.* > /tmp/ort.tar.xz && echo "$(cat .gpu/ort.sha)  /tmp/ort.tar.xz" | sha256sum -c - || exit 3
    tar xJf /tmp/ort.tar.xz -C /tmp/site && python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())" ;;
  fwd) bench --dtype float32 tf32 float16 --runtimes $EAGER $GRAPHS --sources torch --floor --profile ;;
  train) bench --dtype float32 tf32 --pass train --runtimes $EAGER $GRAPHS --sources torch --floor --profile ;;
  ort) bench --dtype float32 tf32 float16 --runtimes $ORT --sources torch.onnx --floor --profile ;;
  *) echo "unknown step $1: setup | part N | install-ort | fwd | train | ort" >&2; exit 2 ;;
esac
