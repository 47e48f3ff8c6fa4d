#!/bin/sh
# Part of `npm run build`: the mesh web view into dist/web, with the graph library copied from
# node_modules (served by the control plane itself: nothing loads from a CDN).
set -e
cd "$(dirname "$0")/.."
mkdir -p dist/web/vendor
cp web/index.html web/style.css web/*.js dist/web/
cp node_modules/cytoscape/dist/cytoscape.esm.min.mjs dist/web/vendor/
