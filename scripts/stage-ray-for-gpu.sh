#!/usr/bin/env bash
# Stage Ray (the cluster extra) for the lent GPU machine, which runs Python 3.12 and reaches no registry. Run from
# the project's root; writes .gpu/ray1 and .gpu/ray2 (git-ignored), parts of at most 16 MiB, so that a part and the
# working tree (about 40 MB) travel together under 64 MiB. On the GPU machine, with the parts carried in turn:
#   call 1 (carry .gpu/ray1):  mkdir -p /tmp/ray-parts && cp .gpu/ray1/raypart.* /tmp/ray-parts/
#   call 2 (carry .gpu/ray2):  bash .gpu/ray2/install.sh && export PYTHONPATH=/tmp/site:$PYTHONPATH
#   then:  python3 -m ray.scripts.scripts start --head --node-ip-address 127.0.0.1 --num-gpus 1 \
#            --resources '{"convbench": 1}' --include-dashboard=false --disable-usage-stats
# The Java jar (30 MB) and the dashboard's web client are left out: convbench uses neither.
set -euo pipefail
RAY=${RAY:-ray==2.60.0}
DEPS="click filelock jsonschema jsonschema-specifications referencing rpds-py msgpack attrs protobuf pyyaml requests
packaging charset-normalizer idna urllib3 certifi"
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
work=$(mktemp -d)
for w in $RAY $DEPS; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$work/wheels" "$w"
done
mkdir -p "$work/site"
python3 - "$work" <<'PY'
import glob, os, stat, sys, zipfile
work = sys.argv[1]
for wheel in glob.glob(f"{work}/wheels/*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(("ray/jars/", "ray/dashboard/client/")):
                continue
            path = z.extract(info, f"{work}/site")
            mode = info.external_attr >> 16  # zipfile drops the permission bits: the raylet must stay executable
            if mode & stat.S_IXUSR:
                os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
tar cf - -C "$work/site" . | xz -T0 -6 > "$work/site.tar.xz"
sha=$(sha256sum "$work/site.tar.xz" | cut -d' ' -f1)
rm -rf .gpu/ray1 .gpu/ray2 && mkdir -p .gpu/ray1 .gpu/ray2
( cd "$work" && split -b 16M -d -a 2 site.tar.xz raypart. )
mv "$work/raypart.00" .gpu/ray1/ && mv "$work"/raypart.0[1-9] .gpu/ray2/
cat > .gpu/ray2/install.sh <<INSTALL
#!/usr/bin/env bash
# Joins the parts, checks them, and unpacks Ray and those of its dependencies the machine lacks into /tmp/site.
set -euo pipefail
mkdir -p /tmp/ray-parts /tmp/site && cp .gpu/ray2/raypart.* /tmp/ray-parts/
cat /tmp/ray-parts/raypart.* > /tmp/raysite.tar.xz
echo "$sha  /tmp/raysite.tar.xz" | sha256sum -c - >/dev/null || { echo "ray parts incomplete: carry both" >&2; exit 3; }
rm -rf /tmp/raysite && mkdir -p /tmp/raysite && tar xJf /tmp/raysite.tar.xz -C /tmp/raysite
cp -r /tmp/raysite/ray /tmp/raysite/ray-*.dist-info /tmp/site/
for pair in click:click filelock:filelock jsonschema:jsonschema jsonschema_specifications:jsonschema_specifications \\
    referencing:referencing rpds:rpds msgpack:msgpack attr:attr attrs:attrs yaml:yaml _yaml:_yaml requests:requests \\
    packaging:packaging charset_normalizer:charset_normalizer idna:idna urllib3:urllib3 certifi:certifi \\
    google.protobuf:google; do
  module=\${pair%%:*}; folder=\${pair##*:}
  # checked from / (not from /tmp/raysite, whose own copies would import) against the machine's own packages
  (cd / && python3 -c "import \$module" 2>/dev/null) || { cp -r "/tmp/raysite/\$folder" /tmp/site/; echo "brought \$module"; }
done
(cd / && PYTHONPATH=/tmp/site python3 -c "import ray; print('ray', ray.__version__, 'in /tmp/site')")
INSTALL
chmod +x .gpu/ray2/install.sh
rm -rf "$work"
echo "staged Ray in .gpu/ray1 and .gpu/ray2 (sha256 $sha); see this script's header for the calls"
