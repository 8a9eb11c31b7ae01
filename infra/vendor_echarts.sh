#!/usr/bin/env bash
# Refresh the vendored Apache ECharts (chalicelib/web/static/echarts.min.js and its licences)
# from the npm registry: a pinned version, its tarball checked against the pinned integrity.
# No CDN: pages and reports load ECharts from our own /static route or inline it.
#
#   infra/vendor_echarts.sh            # re-vendor the pinned version (idempotent)
#
# To move to another version: set the versions below, run `npm view echarts@X dist.integrity`
# and `npm view zrender@Y dist.integrity` (Y = echarts' package.json dependency), paste both,
# run this script, and update static/vendor/echarts/README.md.
set -euo pipefail

ECHARTS_VERSION=5.6.0
ECHARTS_INTEGRITY=sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA==
ZRENDER_VERSION=5.6.1   # bundled inside echarts.min.js; only its LICENSE is copied
ZRENDER_INTEGRITY=sha512-OFXkDJKcrlx5su2XbzJvj/34Q3m6PvyCZkVPHGYpcCJ52ek4U/ymZyfuV1nKE23AyBJ51E/6Yr0mhZ7xGTO4ag==

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATIC="$ROOT/chalicelib/web/static"
DEST="$STATIC/vendor/echarts"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fetch() {  # fetch NAME VERSION INTEGRITY -> unpacks into $WORK/NAME/package
  local name=$1 version=$2 integrity=$3 tgz actual
  (cd "$WORK" && npm pack "$name@$version" --silent >/dev/null)
  tgz="$WORK/$name-$version.tgz"
  actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 | tr -d '\n')"
  if [ "$actual" != "$integrity" ]; then
    echo "integrity mismatch for $name@$version: got $actual" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name" && tar xzf "$tgz" -C "$WORK/$name"
}

fetch echarts "$ECHARTS_VERSION" "$ECHARTS_INTEGRITY"
fetch zrender "$ZRENDER_VERSION" "$ZRENDER_INTEGRITY"

mkdir -p "$DEST"
cp "$WORK/echarts/package/dist/echarts.min.js" "$STATIC/echarts.min.js"
cp "$WORK/echarts/package/LICENSE" "$WORK/echarts/package/NOTICE" "$DEST/"
cp "$WORK/echarts/package/licenses/LICENSE-d3" "$DEST/LICENSE-d3"
cp "$WORK/zrender/package/LICENSE" "$DEST/LICENSE-zrender"
echo "vendored echarts@$ECHARTS_VERSION ($(wc -c <"$STATIC/echarts.min.js") bytes) into $STATIC"
