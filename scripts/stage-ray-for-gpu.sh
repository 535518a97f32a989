#!/usr/bin/env bash
# Stage Ray (the cluster extra) for the lent GPU machine, which runs Python 3.12 and reaches no registry. Run from
# the project's root; writes .gpu/ray1 .. .gpu/rayN (git-ignored), parts of at most $PART_MB MiB, so that a part and
# the working tree (about 40 MB) travel together under 64 MiB. On the GPU machine, carry .gpu/rayK in call K:
#   calls 1..N-1:  mkdir -p /tmp/ray-parts && cp .gpu/rayK/raypart.* /tmp/ray-parts/
#   call N:        bash .gpu/rayN/install.sh && export PYTHONPATH=/tmp/site:$PYTHONPATH
#   then:  python3 -m ray.scripts.scripts start --head --node-ip-address 127.0.0.1 --num-gpus 1 \
#            --resources '{"convbench": 1}' --include-dashboard=false --disable-usage-stats
# The Java jar (30 MB) and the dashboard's web client are left out: convbench uses neither.
set -euo pipefail
PART_MB=${PART_MB:-16}
RAY=${RAY:-ray==2.60.0}
DEPS="click filelock jsonschema jsonschema-specifications referencing rpds-py msgpack attrs protobuf pyyaml requests
packaging charset-normalizer idna urllib3 certifi"
root=$(git rev-parse --show-toplevel)
cd "$root"
source scripts/gpu-staging.sh
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
work=$(mktemp -d)
# shellcheck disable=SC2086  # DEPS is a list of words
download_wheels "$work/wheels" "$RAY" $DEPS
unpack_wheels "$work/site" --skip ray/jars/ --skip ray/dashboard/client/ "$work"/wheels/*.whl
pack_parts "$work/site" ray "$PART_MB"
{
  install_header ray
  cat <<'INSTALL'
# Ray itself, and those of its dependencies the machine lacks, into /tmp/site
cp -r /tmp/ray-unpacked/ray /tmp/ray-unpacked/ray-*.dist-info /tmp/site/
bring_missing /tmp/ray-unpacked click:click filelock:filelock jsonschema:jsonschema \
  jsonschema_specifications:jsonschema_specifications referencing:referencing rpds:rpds msgpack:msgpack attr:attr \
  attrs:attrs yaml:yaml _yaml:_yaml requests:requests packaging:packaging charset_normalizer:charset_normalizer \
  idna:idna urllib3:urllib3 certifi:certifi google.protobuf:google
(cd / && PYTHONPATH=/tmp/site python3 -c "import ray; print('ray', ray.__version__, 'in /tmp/site')")
INSTALL
} > ".gpu/ray$PARTS/install.sh"
chmod +x ".gpu/ray$PARTS/install.sh"
rm -rf "$work"
echo "staged Ray in .gpu/ray1 .. .gpu/ray$PARTS (sha256 $PARTS_SHA); see this script's header for the calls"
