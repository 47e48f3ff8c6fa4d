# Petrel: every set-up step is here, and each is idempotent.
#   make install   npm packages (including Node 24 from the npm registry), the build, apt packages the tests need
#   make demo      the main job: a local mesh on loopback, explained as it runs
#   make test      type-check, build and every test
#   make bench     the benchmark against direct, nginx and a bare undici forwarder, HTTP/1.1, HTTP/2 and gRPC
#                  (installs nginx, wrk and h2load)
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
# chromium: the web view test drives it headless (puppeteer-core from npm never downloads a browser).
APT_TEST_PACKAGES := iproute2 iptables util-linux prometheus tcpdump openssl chromium
APT_BENCH_PACKAGES := nginx wrk nghttp2-client util-linux

.PHONY: install deps build apt-test apt-bench demo test bench clean

install: deps build apt-test

# npm ci only when the lockfile changed since the last install.
deps: node_modules/.petrel-installed
node_modules/.petrel-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@$(NODE_BIN)/node -e 'const [m]=process.versions.node.split(".").map(Number); if (m < 24) { console.error("node_modules/.bin/node is " + process.version + ", expected 24+"); process.exit(1) }'
	touch $@

build: deps
	npm run build --silent

apt-test:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

apt-bench:
	@missing=""; for p in $(APT_BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

demo: install
	npx --no-install petrel demo

test: deps apt-test
	npm test

bench: install apt-bench
	set -o pipefail; $(NODE_BIN)/node dist/bench/run.js | tee BENCHMARKS.latest.md

clean:
	rm -rf dist node_modules .bench BENCHMARKS.latest.md
