# Shared by the scripts that stage software for the lent GPU machine (Python 3.12, no registry; see
# ../shared/gpu/README.md): source it from the project's root. It downloads cp312 wheels, unpacks them keeping their
# exec bits, packs a folder with xz into parts that fit one call each, and writes the install step's helper that
# copies a dependency only where the machine lacks it.

# download_wheels DEST SPEC...   cp312 manylinux (or pure-Python) wheels of SPEC..., without their dependencies
download_wheels() {
  local dest=$1 spec
  shift
  mkdir -p "$dest"
  for spec in "$@"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform any -d "$dest" "$spec"
  done
}

# unpack_wheels INTO [--skip PREFIX]... WHEEL...   unzip wheels into INTO, leaving out members under each PREFIX
unpack_wheels() {
  python3 - "$@" <<'PY'
import os, stat, sys, zipfile
into, args, skip, wheels = sys.argv[1], sys.argv[2:], [], []
while args:
    arg = args.pop(0)
    (skip.append(args.pop(0)) if arg == "--skip" else wheels.append(arg))
os.makedirs(into, exist_ok=True)
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(tuple(skip)):
                continue
            path = z.extract(info, into)
            if (info.external_attr >> 16) & stat.S_IXUSR:  # zipfile drops the permission bits (a raylet, a .so)
                os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
}

# pack_parts FOLDER NAME PART_MB   tar FOLDER's contents, xz them, and split them into .gpu/NAME1 .. .gpu/NAMEn
# (parts NAMEpart.00 ..., one per folder, at most PART_MB MiB each); sets PARTS (n) and PARTS_SHA (the archive's).
pack_parts() {
  local folder=$1 name=$2 part_mb=$3 archive p
  archive=$(mktemp -d)/"$name".tar.xz
  tar cf - -C "$folder" . | xz -T0 -9 > "$archive"
  PARTS_SHA=$(sha256sum "$archive" | cut -d' ' -f1)
  rm -rf ".gpu/$name"[0-9]*
  ( cd "$(dirname "$archive")" && split -b "${part_mb}M" -d -a 2 "$name.tar.xz" "${name}part." && rm "$name.tar.xz" )
  PARTS=0
  for p in "$(dirname "$archive")/${name}part."*; do
    PARTS=$((PARTS + 1)); mkdir -p ".gpu/$name$PARTS"; mv "$p" ".gpu/$name$PARTS/"
  done
  rmdir "$(dirname "$archive")"
}

# install_header NAME   the first lines of .gpu/NAMEn/install.sh: gather the parts carried so far into
# /tmp/NAME-parts, check the archive against PARTS_SHA, unpack it into /tmp/NAME-unpacked, and define
# bring_missing (copy module:path pairs from a folder to /tmp/site where the machine cannot import the module).
install_header() {
  local name=$1
  cat <<HEADER
#!/usr/bin/env bash
set -euo pipefail
mkdir -p /tmp/$name-parts /tmp/site && cp .gpu/$name$PARTS/${name}part.* /tmp/$name-parts/
cat /tmp/$name-parts/${name}part.* > /tmp/$name.tar.xz
echo "$PARTS_SHA  /tmp/$name.tar.xz" | sha256sum -c - >/dev/null || { echo "$name parts incomplete: carry all $PARTS" >&2; exit 3; }
rm -rf /tmp/$name-unpacked && mkdir -p /tmp/$name-unpacked && tar xJf /tmp/$name.tar.xz -C /tmp/$name-unpacked
rm /tmp/$name.tar.xz
# bring_missing FROM MODULE:PATH...  checked from / (not from FROM, whose own copies would import)
bring_missing() {
  local from=\$1 pair module path
  shift
  for pair in "\$@"; do
    module=\${pair%%:*}; path=\${pair##*:}
    (cd / && python3 -c "import \$module" 2>/dev/null) || { cp -r "\$from/\$path" /tmp/site/; echo "brought \$module"; }
  done
}
HEADER
}
