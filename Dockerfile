# One image for the petrel CLI: control plane, sidecar and the iptables init container.
# Build: docker build -t ghcr.io/petrel-mesh/petrel:0.1.0 .
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build below runs once the sources are here (tsc and the SO_ORIGINAL_DST addon).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
# iptables (nft and legacy) for `petrel iptables` in the init container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The image's own Node runs petrel; the npm "node" devDependency is pruned above.
ENV NODE_ENV=production
# uid 1337 is the proxy uid the iptables rules exclude. Nothing is written to the root filesystem:
# the sidecar's snapshot cache goes to an emptyDir the injector mounts.
USER 1337:1337
ENTRYPOINT ["node", "/app/dist/bin/petrel.js"]
