#!/bin/sh
# update.sh re-fetches the vendored Apache ECharts build from the npm
# registry (never from a CDN) and records where it came from.
#
#   lenskit/view/assets/update.sh [version]     # default: the version in VERSION
#
# It needs only `npm` (for `npm pack`, which checks the registry's integrity
# hash) and `tar`. After an update, run `go test ./lenskit/view/` — the
# browser test renders a heatmap with the new build.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version=${1:-$(cat "$here/VERSION")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cd "$tmp"
tarball=$(npm pack --silent "echarts@$version")
tar xzf "$tarball"
test -s package/dist/echarts.min.js || { echo "update.sh: echarts@$version has no dist/echarts.min.js" >&2; exit 1; }

cp package/dist/echarts.min.js "$here/echarts.min.js"
cp package/LICENSE "$here/LICENSE"
cp package/NOTICE "$here/NOTICE"
cp package/licenses/LICENSE-d3 "$here/LICENSE-d3"
printf '%s\n' "$version" > "$here/VERSION"
(cd "$here" && sha256sum echarts.min.js > echarts.min.js.sha256)
echo "update.sh: vendored echarts@$version ($(wc -c < "$here/echarts.min.js") bytes) from $tarball"
