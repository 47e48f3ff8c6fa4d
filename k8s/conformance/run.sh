#!/usr/bin/env bash
# Runs the upstream Gateway API conformance suite, MESH-HTTP profile, against Petrel on a kind
# cluster, and writes the suite's ConformanceReport. Needs docker, kind, kubectl, go and git, and
# internet access (the Gateway API CRDs, the suite's sources and its echo images come from upstream).
#
#   k8s/conformance/run.sh                      # from anywhere in the repository
#   GATEWAY_API_VERSION=v1.4.1 KEEP_CLUSTER=1 k8s/conformance/run.sh
#
# Settings (environment):
#   GATEWAY_API_VERSION  the suite and the CRDs (standard channel)        default v1.4.1
#   CLUSTER              the kind cluster's name (created unless it exists) default petrel-conformance
#   IMAGE                the Petrel image built here and loaded into kind  default ghcr.io/petrel-mesh/petrel:0.1.0
#                        (k8s/ runs that tag, and the injector injects it)
#   REPORT               where the ConformanceReport goes (absolute path)  default k8s/conformance/report-<version>.yaml
#   TIMEOUT              go test's timeout                                  default 60m
#   KEEP_CLUSTER         1: leave the cluster up afterwards (default: delete it, when this script created it)
#
# What Petrel claims is SUPPORTED_FEATURES below; README.md ("Conformance: MESH-HTTP") lists the
# tests expected to pass and those expected to fail, and why.
set -euo pipefail

GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.4.1}"
CLUSTER="${CLUSTER:-petrel-conformance}"
IMAGE="${IMAGE:-ghcr.io/petrel-mesh/petrel:0.1.0}"
TIMEOUT="${TIMEOUT:-60m}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REPORT="${REPORT:-$REPO/k8s/conformance/report-$GATEWAY_API_VERSION.yaml}"
VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$REPO/package.json" | head -n 1)"

# The features Petrel implements for mesh routes (pkg/features in the suite). Left out on purpose:
# MeshConsumerRoute (routes in another namespace than their Service are refused),
# MeshHTTPRouteBackendRequestHeaderModification (backendRef filters are refused), WebSockets and
# H2C backend protocols, CORS and destination-port matching (not implemented).
SUPPORTED_FEATURES=(
  Mesh
  MeshClusterIPMatching
  HTTPRoute
  HTTPRouteParentRefPort
  HTTPRouteResponseHeaderModification
  HTTPRouteQueryParamMatching
  HTTPRouteMethodMatching
  HTTPRoutePortRedirect
  HTTPRouteSchemeRedirect
  HTTPRoutePathRedirect
  HTTPRouteHostRewrite
  HTTPRoutePathRewrite
  HTTPRouteRequestMirror
  HTTPRouteRequestMultipleMirrors
  HTTPRouteRequestPercentageMirror
  HTTPRouteRequestTimeout
  HTTPRouteBackendTimeout
  HTTPRouteNamedRouteRule
  MeshHTTPRouteRewritePath
  MeshHTTPRouteSchemeRedirect
  MeshHTTPRouteRedirectPort
  MeshHTTPRouteRedirectPath
  MeshHTTPRouteQueryParamMatching
  MeshHTTPRouteNamedRouteRule
)

# The suite's namespaces with mesh workloads (conformance/mesh/manifests.yaml).
MESH_NAMESPACES=(gateway-conformance-mesh gateway-conformance-mesh-consumer)
# The echo servers there declare no containerPort: Petrel's injector then cannot tell which port the
# inbound sidecar forwards to, so their pod templates get the petrel.dev/app-port annotation (the
# echo's HTTP port) as soon as the suite creates them.
ECHO_HTTP_PORT=8080

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl go git; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (not found in PATH)"
done
[[ -n "$VERSION" ]] || die "could not read the version from $REPO/package.json"

WORK="$(mktemp -d)"
CREATED_CLUSTER=0
ANNOTATOR_PID=""
# shellcheck disable=SC2317  # reached through the EXIT trap, which shellcheck 0.9 does not follow
cleanup() {
  if [[ -n "$ANNOTATOR_PID" ]]; then kill "$ANNOTATOR_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  if [[ "$CREATED_CLUSTER" == 1 && "$KEEP_CLUSTER" != 1 ]]; then
    say "deleting kind cluster $CLUSTER (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$CLUSTER" || true
  fi
}
trap cleanup EXIT

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "using the existing kind cluster $CLUSTER"
else
  say "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
  CREATED_CLUSTER=1
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

say "installing the Gateway API $GATEWAY_API_VERSION standard CRDs"
kubectl apply --server-side -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml"
kubectl wait --for condition=Established --timeout=60s crd/httproutes.gateway.networking.k8s.io crd/grpcroutes.gateway.networking.k8s.io

say "building $IMAGE and loading it into kind"
docker build -t "$IMAGE" "$REPO"
kind load docker-image "$IMAGE" --name "$CLUSTER"

say "installing Petrel (kubectl apply -k k8s/)"
kubectl apply -k "$REPO/k8s"
kubectl -n petrel-system rollout status deployment/petrel-control --timeout=180s
# The injector must answer before the suite creates pods, or they start without sidecars.
kubectl wait --for=jsonpath='{.webhooks[0].clientConfig.caBundle}' --timeout=120s mutatingwebhookconfiguration/petrel-injector >/dev/null 2>&1 \
  || say "the injector's caBundle is not set yet; pods created before it is will run without a sidecar"

# Annotates the echo Deployments the suite creates (see ECHO_HTTP_PORT), once each; the change of
# pod template rolls them out again with a sidecar that forwards to the echo's HTTP port.
annotate_echo_workloads() {
  local patch="{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"petrel.dev/app-port\":\"$ECHO_HTTP_PORT\"}}}}}"
  while true; do
    for ns in "${MESH_NAMESPACES[@]}"; do
      kubectl -n "$ns" get deployments -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.template.metadata.annotations.petrel\.dev/app-port}{"\n"}{end}' 2>/dev/null \
        | while IFS=$'\t' read -r name port; do
            if [[ -n "$name" && -z "$port" ]]; then
              kubectl -n "$ns" patch deployment "$name" --type merge -p "$patch" >/dev/null 2>&1 || true
            fi
          done
    done
    sleep 2
  done
}

say "fetching the conformance suite $GATEWAY_API_VERSION"
git clone --quiet --depth 1 --branch "$GATEWAY_API_VERSION" https://github.com/kubernetes-sigs/gateway-api.git "$WORK/gateway-api"

annotate_echo_workloads &
ANNOTATOR_PID=$!

features="$(IFS=,; echo "${SUPPORTED_FEATURES[*]}")"
say "running the suite: MESH-HTTP, features $features"
mkdir -p "$(dirname "$REPORT")"
status=0
(
  cd "$WORK/gateway-api"
  # --namespace-labels: the suite labels its namespaces so that Petrel's injector adds sidecars.
  go test ./conformance -run TestConformance -timeout "$TIMEOUT" -v -args \
    --conformance-profiles=MESH-HTTP \
    --supported-features="$features" \
    --namespace-labels=petrel.dev/inject=enabled \
    --organization=petrel-mesh \
    --project=petrel \
    --url=https://github.com/petrel-mesh/petrel \
    --version="$VERSION" \
    --contact=https://github.com/petrel-mesh/petrel/issues \
    --mode=default \
    --report-output="$REPORT"
) || status=$?

if [[ -s "$REPORT" ]]; then
  say "report: $REPORT"
else
  say "no report was written (the suite failed before it could write one)"
fi
exit "$status"
