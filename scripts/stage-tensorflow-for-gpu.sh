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
#   - TensorFlow's pure-Python dependencies, each installed only where the machine lacks it (protobuf where the
#     machine's is older than TensorFlow needs).
#   - NOT cuBLAS, cuFFT, cuSOLVER, cuSPARSE or cuDNN for CUDA 12 (about 2 GB). install.sh instead points TensorFlow's
#     CUDA 12 library names at the CUDA 13 builds torch brought (cuDNN 9 keeps one soname across CUDA versions;
#     TensorFlow resolves its cuBLAS, cuFFT, cuSOLVER and cuSPARSE entry points by name at run time). Convolutions run
#     in cuDNN; nothing convbench times calls cuFFT, cuSOLVER or cuSPARSE. CUPTI is not linked, so TensorFlow's
#     profiler sees no GPU kernels there. Whether TensorFlow then lists the GPU is checked at the end of install.sh.
#
# On the GPU machine, from the project's root, carry .gpu/tfK in call K:
#   calls 1..N-1:  mkdir -p /tmp/tf-parts && cp .gpu/tfK/tfpart.* /tmp/tf-parts/
#   call N:        bash .gpu/tfN/install.sh     (joins, checks, unpacks into /tmp/site, writes /tmp/tf-env.sh)
#   then:          source /tmp/tf-env.sh        (PYTHONPATH and LD_LIBRARY_PATH for TensorFlow)
set -euo pipefail
PART_MB=${PART_MB:-56}
TF=${TF:-tensorflow==2.21.0}
CUDART=${CUDART:-nvidia-cuda-runtime-cu12==12.9.79}
DEPS="absl-py astunparse flatbuffers gast google-pasta opt-einsum termcolor wrapt six typing-extensions packaging
h5py protobuf requests charset-normalizer idna urllib3 certifi ml-dtypes"
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
cache=${WHEEL_CACHE:-/tmp/tf-wheel-cache}  # not stage-wheels.sh's cache, which packs every wheel it holds
work=$(mktemp -d)
mkdir -p "$cache" "$work/site" "$work/deps"
for w in $TF $CUDART; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$cache" "$w"
done
for w in $DEPS; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$work/depwheels" "$w"
done
python3 - "$work" "$cache" "${TF#*==}" "${CUDART#*==}" <<'PY'
import glob, os, stat, sys, zipfile
work, cache, tf_version, cudart_version = sys.argv[1:]
def unpack(wheel, into, skip=()):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(skip):
                continue
            path = z.extract(info, into)
            if (info.external_attr >> 16) & stat.S_IXUSR:  # zipfile drops the permission bits
                os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
unpack(glob.glob(f"{cache}/tensorflow-{tf_version}-cp312-*.whl")[0], f"{work}/site", skip=("tensorflow/include/",))
unpack(glob.glob(f"{cache}/nvidia_cuda_runtime_cu12-{cudart_version}-*.whl")[0], f"{work}/site")
for wheel in glob.glob(f"{work}/depwheels/*.whl"):
    unpack(wheel, f"{work}/deps")
PY
tar cf - -C "$work" site deps | xz -T0 -9 > "$work/tf.tar.xz"
sha=$(sha256sum "$work/tf.tar.xz" | cut -d' ' -f1)
rm -rf .gpu/tf[0-9]*
( cd "$work" && split -b "${PART_MB}M" -d -a 2 tf.tar.xz tfpart. )
n=0
for p in "$work"/tfpart.*; do n=$((n+1)); mkdir -p ".gpu/tf$n"; mv "$p" ".gpu/tf$n/"; done
cat > ".gpu/tf$n/install.sh" <<INSTALL
#!/usr/bin/env bash
# Joins the parts, checks them, unpacks TensorFlow into /tmp/site, names CUDA 13's libraries as TensorFlow asks for
# CUDA 12's (in /tmp/cu12), writes /tmp/tf-env.sh, and asks TensorFlow which GPUs it sees.
set -euo pipefail
mkdir -p /tmp/tf-parts /tmp/site /tmp/cu12 && cp .gpu/tf$n/tfpart.* /tmp/tf-parts/
cat /tmp/tf-parts/tfpart.* > /tmp/tf.tar.xz
echo "$sha  /tmp/tf.tar.xz" | sha256sum -c - >/dev/null || { echo "tensorflow parts incomplete: carry all $n" >&2; exit 3; }
rm -rf /tmp/tfsite && mkdir -p /tmp/tfsite && tar xJf /tmp/tf.tar.xz -C /tmp/tfsite && rm /tmp/tf.tar.xz
cp -r /tmp/tfsite/site/. /tmp/site/
for pair in absl:absl astunparse:astunparse flatbuffers:flatbuffers gast:gast pasta:pasta opt_einsum:opt_einsum \\
    termcolor:termcolor wrapt:wrapt six:six.py typing_extensions:typing_extensions.py packaging:packaging h5py:h5py \\
    requests:requests charset_normalizer:charset_normalizer idna:idna urllib3:urllib3 certifi:certifi \\
    ml_dtypes:ml_dtypes; do
  module=\${pair%%:*}; path=\${pair##*:}
  (cd / && python3 -c "import \$module" 2>/dev/null) || { cp -r "/tmp/tfsite/deps/\$path" /tmp/site/; echo "brought \$module"; }
done
[ -d /tmp/tfsite/deps/h5py.libs ] && [ -d /tmp/site/h5py ] && cp -r /tmp/tfsite/deps/h5py.libs /tmp/site/
(cd / && python3 -c "
import google.protobuf as p, sys
sys.exit(0 if tuple(int(v) for v in p.__version__.split('.')[:2]) >= (6, 31) else 1)" 2>/dev/null) \\
  || { cp -r /tmp/tfsite/deps/google /tmp/site/ && echo "brought protobuf"; }  # google is a namespace package
# CUDA 12's names for the CUDA 13 libraries the machine has (torch's nvidia packages)
cu13=\$(python3 -c "import glob, os, site; dirs = [d for p in site.getsitepackages() for d in glob.glob(p + '/nvidia/**/lib', recursive=True)]; print(':'.join(sorted(set(dirs))))")
find_lib() { for d in \${cu13//:/ }; do ls "\$d"/\$1 2>/dev/null; done | head -1 || true; }
link() { target=\$(find_lib "\$2"); [ -n "\$target" ] && ln -sf "\$target" "/tmp/cu12/\$1" && echo "/tmp/cu12/\$1 -> \$target" || echo "no \$2 for \$1"; }
ln -sf /tmp/site/nvidia/cuda_runtime/lib/libcudart.so.12 /tmp/cu12/libcudart.so.12
link libcublas.so.12 'libcublas.so.1[3-9]'
link libcublasLt.so.12 'libcublasLt.so.1[3-9]'
link libcufft.so.11 'libcufft.so.1[2-9]'
link libcusolver.so.11 'libcusolver.so.1[2-9]'
link libcusparse.so.12 'libcusparse.so.1[2-9]'
link libcudnn.so.9 'libcudnn.so.9'
link libnvJitLink.so.12 'libnvJitLink.so.1[3-9]'
cat > /tmp/tf-env.sh <<ENV
export PYTHONPATH=/tmp/site:\\\${PYTHONPATH:-}
export LD_LIBRARY_PATH=/tmp/cu12:\$cu13:\\\${LD_LIBRARY_PATH:-}
ENV
source /tmp/tf-env.sh
(cd / && python3 -c "import tensorflow as tf; print('tensorflow', tf.__version__, 'sees', tf.config.list_physical_devices('GPU'))")
INSTALL
chmod +x ".gpu/tf$n/install.sh"
rm -rf "$work"
echo "staged TensorFlow in .gpu/tf1 .. .gpu/tf$n (sha256 $sha); see this script's header for the calls"
du -sh .gpu/tf*
