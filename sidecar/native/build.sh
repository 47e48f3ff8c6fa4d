#!/bin/sh
# Builds the SO_ORIGINAL_DST addon against Node-API headers from the npm registry (node-api-headers),
# so it needs a C compiler but no Node source tree or download. Node-API is ABI-stable: the one binary
# loads in every Node version. Only Linux has SO_ORIGINAL_DST; elsewhere the sidecar runs without it.
set -eu
here=$(dirname "$0")
root=$(cd "$here/../.." && pwd)
out="$root/dist/native/original-dst.node"
if [ "$(uname -s)" != Linux ]; then
  echo "sidecar/native: not Linux, skipping the SO_ORIGINAL_DST addon" >&2
  exit 0
fi
headers="$root/node_modules/node-api-headers/include"
mkdir -p "$(dirname "$out")"
if [ "$out" -nt "$here/original-dst.c" ] && [ -f "$out" ]; then exit 0; fi
${CC:-cc} -O2 -Wall -Wextra -Werror -fPIC -shared -I"$headers" -o "$out" "$here/original-dst.c"
