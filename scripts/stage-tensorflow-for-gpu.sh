#!/usr/bin/env bash
# Stage TensorFlow 2.21 (built for CUDA 12) for the lent GPU machine, which has Python 3.12, CUDA 13's libraries
# (torch's), a driver that runs CUDA 12 programs, and no registry. Run from the project's root; writes .gpu/tf1 ..
# .gpu/tfN (git-ignored), parts of at most $PART_MB MiB: a part and the working tree travel together under 64 MiB, so
# with docs/results moved out of the tree for those calls (the tree is then about 3 MB) parts can be 56 MiB.
#
# What travels, and what does not:
#   - TensorFlow's wheel unpacked without its C++ headers (tensorflow/include, unused at run time) and re-compressed
#     with xz (the wheel's deflate: 573 MB; this: about 60% of it);
#   - CUDA 12's runtime (nvidia-cuda-runtime-cu12, 3.5 MB), which TensorFlow loads as libcudart.so.12;
#   - tf2onnx (pure Python), so that `convbench export --sources keras` can run on that machine;
#   - TensorFlow's pure-Python dependencies, each installed only where the machine lacks it (protobuf where the
#     machine's is older than TensorFlow needs).
#   - NOT cuBLAS, cuFFT, cuSOLVER, cuSPARSE or cuDNN for CUDA 12 (about 2 GB). install.sh instead points TensorFlow's
#     CUDA 12 library names at the CUDA 13 builds torch brought (cuDNN 9 keeps one soname across CUDA versions;
#     TensorFlow resolves its cuBLAS, cuFFT, cuSOLVER and cuSPARSE entry points by name at run time). Convolutions run
#     in cuDNN; nothing convbench times calls cuFFT, cuSOLVER or cuSPARSE. CUPTI is not linked, so TensorFlow's
#     own profiler sees no GPU kernels there (convbench reads keras-tf's GPU kernels through torch's CUPTI instead).
#     Whether TensorFlow then lists the GPU is checked at the end of install.sh.
#
# On the GPU machine, from the project's root, carry .gpu/tfK in call K:
#   calls 1..N-1:  mkdir -p /tmp/tf-parts && cp .gpu/tfK/tfpart.* /tmp/tf-parts/
#   call N:        bash .gpu/tfN/install.sh     (joins, checks, unpacks into /tmp/site, writes /tmp/tf-env.sh)
#   then:          source /tmp/tf-env.sh        (PYTHONPATH and LD_LIBRARY_PATH for TensorFlow)
set -euo pipefail
PART_MB=${PART_MB:-56}
TF=${TF:-tensorflow==2.21.0}
CUDART=${CUDART:-nvidia-cuda-runtime-cu12==12.9.79}
TF2ONNX=${TF2ONNX:-tf2onnx==1.17.0}  # pyproject's pin: Keras's ONNX files can then be exported on that machine
DEPS="absl-py astunparse flatbuffers gast google-pasta opt-einsum termcolor wrapt six typing-extensions packaging
h5py protobuf requests charset-normalizer idna urllib3 certifi ml-dtypes $TF2ONNX"
root=$(git rev-parse --show-toplevel)
cd "$root"
source scripts/gpu-staging.sh
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
cache=${WHEEL_CACHE:-/tmp/tf-wheel-cache}  # not stage-wheels.sh's cache, which packs every wheel it holds
work=$(mktemp -d)
download_wheels "$cache" "$TF" "$CUDART"
# shellcheck disable=SC2086  # DEPS is a list of words
download_wheels "$work/depwheels" $DEPS
unpack_wheels "$work/tf/site" --skip tensorflow/include/ "$cache/tensorflow-${TF#*==}"-cp312-*.whl \
  "$cache/nvidia_cuda_runtime_cu12-${CUDART#*==}"-*.whl
unpack_wheels "$work/tf/deps" "$work"/depwheels/*.whl
pack_parts "$work/tf" tf "$PART_MB"
{
  install_header tf
  cat <<'INSTALL'
# TensorFlow into /tmp/site, its dependencies where the machine lacks them, CUDA 13's libraries named as TensorFlow
# asks for CUDA 12's (in /tmp/cu12), /tmp/tf-env.sh, and which GPUs TensorFlow sees.
mkdir -p /tmp/cu12
cp -r /tmp/tf-unpacked/site/. /tmp/site/
bring_missing /tmp/tf-unpacked/deps absl:absl astunparse:astunparse flatbuffers:flatbuffers gast:gast pasta:pasta \
  opt_einsum:opt_einsum termcolor:termcolor wrapt:wrapt six:six.py typing_extensions:typing_extensions.py \
  packaging:packaging h5py:h5py requests:requests charset_normalizer:charset_normalizer idna:idna urllib3:urllib3 \
  certifi:certifi ml_dtypes:ml_dtypes tf2onnx:tf2onnx
[ -d /tmp/tf-unpacked/deps/h5py.libs ] && [ -d /tmp/site/h5py ] && cp -r /tmp/tf-unpacked/deps/h5py.libs /tmp/site/
(cd / && python3 -c "
import google.protobuf as p, sys
sys.exit(0 if tuple(int(v) for v in p.__version__.split('.')[:2]) >= (6, 31) else 1)" 2>/dev/null) \
  || { cp -r /tmp/tf-unpacked/deps/google /tmp/site/ && echo "brought protobuf"; }  # google is a namespace package
# CUDA 12's names for the CUDA 13 libraries the machine has (torch's nvidia packages)
cu13=$(python3 -c "import glob, os, site; dirs = [d for p in site.getsitepackages() for d in glob.glob(p + '/nvidia/**/lib', recursive=True)]; print(':'.join(sorted(set(dirs))))")
find_lib() { for d in ${cu13//:/ }; do ls "$d"/$1 2>/dev/null; done | head -1 || true; }
link() { target=$(find_lib "$2"); [ -n "$target" ] && ln -sf "$target" "/tmp/cu12/$1" && echo "/tmp/cu12/$1 -> $target" || echo "no $2 for $1"; }
ln -sf /tmp/site/nvidia/cuda_runtime/lib/libcudart.so.12 /tmp/cu12/libcudart.so.12
link libcublas.so.12 'libcublas.so.1[3-9]'
link libcublasLt.so.12 'libcublasLt.so.1[3-9]'
link libcufft.so.11 'libcufft.so.1[2-9]'
link libcusolver.so.11 'libcusolver.so.1[2-9]'
link libcusparse.so.12 'libcusparse.so.1[2-9]'
link libcudnn.so.9 'libcudnn.so.9'
link libnvJitLink.so.12 'libnvJitLink.so.1[3-9]'
cat > /tmp/tf-env.sh <<ENV
export PYTHONPATH=/tmp/site:\${PYTHONPATH:-}
export LD_LIBRARY_PATH=/tmp/cu12:$cu13:\${LD_LIBRARY_PATH:-}
ENV
source /tmp/tf-env.sh
(cd / && python3 -c "import tensorflow as tf; print('tensorflow', tf.__version__, 'sees', tf.config.list_physical_devices('GPU'))")
INSTALL
} > ".gpu/tf$PARTS/install.sh"
chmod +x ".gpu/tf$PARTS/install.sh"
rm -rf "$work"
echo "staged TensorFlow in .gpu/tf1 .. .gpu/tf$PARTS (sha256 $PARTS_SHA); see this script's header for the calls"
du -sh .gpu/tf*
