# Flowscape. `make help` lists the targets and the variables you can set,
# e.g. `make screenshot SCREENSHOT_TABS="flow sources"`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

BIN             ?= flowscape## the binary built from the repository root
ARGS            ?=## arguments for make run, e.g. ARGS="--tab sources"
PKGS            ?= ./...## packages for vet, test-go, bench
GOTEST_FLAGS    ?= -race -shuffle=on -count=1## flags for go test in make test
GOTEST_TIMEOUT  ?= 15m## go test -timeout
BENCH           ?= .## benchmark name pattern
BENCHTIME       ?= 1s## go test -benchtime
FUZZTIME        ?= 10s## time for each fuzz target
SCREENSHOT_TABS ?= flow callgraph landscape landscape@demo syscalls sources## tabs to screenshot, each with ./flowscape --tab NAME (NAME@L: and --landscape L)
SCREENSHOT_SETTLE ?= 6## seconds to wait after the window appears
SCREENSHOT_WAIT ?= 60## seconds to wait for the window to appear
SCREENSHOT_CHECK_FLAGS ?= -race## go build flags for the binary screenshot-check runs
STATICCHECK_VERSION ?= v0.8.2## honnef.co/go/tools version (or latest)
TESTCLOUD_DIR   ?= /tmp/flowscape-testcloud## state, logs and openrc of make testcloud's OpenStack

# Debian packages, installed by `make deps` only when one is missing.
BUILD_PKGS := gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev \
	libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
SCREENSHOT_PKGS := xvfb xauth x11-utils imagemagick libgl1-mesa-dri
TEST_PKGS := xdg-utils gdb strace python3 python3-dev graphviz bpftrace iproute2 valgrind prometheus prometheus-node-exporter \
	chromium

# npm packages of scripts/viewer-check (speedscope, playwright-core), which
# app/viewer_check_test.go drives; make test runs npm ci when node_modules is
# missing or older than package-lock.json.
VIEWER_CHECK := scripts/viewer-check
VIEWER_CHECK_NPM := $(VIEWER_CHECK)/node_modules/.package-lock.json

GOBIN := $(shell go env GOPATH 2>/dev/null)/bin
STATICCHECK := $(GOBIN)/staticcheck

export SCREENSHOT_SETTLE SCREENSHOT_WAIT

.PHONY: help deps build run test test-go vet fmt fmt-check staticcheck lint \
	bench fuzz screenshot screenshot-check clean testcloud testcloud-down e2e-openstack

help: ## list the targets and variables
	@awk 'BEGIN { FS = ":.*## " } \
		/^[a-zA-Z0-9_-]+:.*## / { printf "  make %-17s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables (make TARGET NAME=value):"
	@awk 'BEGIN { FS = " *\\?= *|## " } \
		/^[A-Z_]+ *\?=.*## / { printf "  %-22s %-27s %s\n", $$1, ($$2 == "" ? "(empty)" : $$2), $$3 }' $(MAKEFILE_LIST)

deps: ## install missing Debian packages (build, screenshots, tests)
	@scripts/deps.sh $(BUILD_PKGS) $(SCREENSHOT_PKGS) $(TEST_PKGS)

build: deps ## build ./flowscape
	go build -o $(BIN) .

# Fyne logs an error for an unset, C or POSIX locale: use en_US.UTF-8 then.
run: build ## build and run the app (ARGS=... are passed on)
	@lang=$${LANG:-}; case $$lang in "" | C | C.* | POSIX) lang=en_US.UTF-8 ;; esac; \
		echo "LANG=$$lang ./$(BIN) $(ARGS)"; LANG=$$lang ./$(BIN) $(ARGS)

test: deps $(VIEWER_CHECK_NPM) ## what CI runs: vet, fmt-check, staticcheck, test-go, screenshot-check
	@MAKE="$(MAKE)" scripts/test.sh

$(VIEWER_CHECK_NPM): $(VIEWER_CHECK)/package-lock.json
	@command -v npm >/dev/null 2>&1 || scripts/deps.sh npm
	@echo "cd $(VIEWER_CHECK) && npm ci"
	@(cd $(VIEWER_CHECK) && npm ci --no-audit --no-fund) && touch $@

test-go: ## go test with GOTEST_FLAGS over PKGS
	@GOTEST_COUNTS="$(GOTEST_COUNTS)" scripts/gotest.sh $(GOTEST_FLAGS) -timeout $(GOTEST_TIMEOUT) $(PKGS)

vet: ## go vet
	go vet $(PKGS)

fmt: ## rewrite Go files with gofmt
	@scripts/gofmt.sh -w

fmt-check: ## fail listing the Go files gofmt would change
	@scripts/gofmt.sh

staticcheck: ## staticcheck (installed into GOPATH/bin if missing)
	@if ! "$(STATICCHECK)" -version 2>/dev/null | grep -qF "$(STATICCHECK_VERSION:v%=%)"; then \
		echo "go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; \
		GOBIN="$(GOBIN)" go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi
	"$(STATICCHECK)" $(PKGS)

lint: vet fmt-check staticcheck ## go vet, gofmt check and staticcheck

bench: ## run the benchmarks (BENCH pattern, BENCHTIME each)
	go test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) -timeout 10m $(PKGS)

fuzz: ## run every Fuzz target for FUZZTIME each
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

screenshot: build ## screenshots/NAME.png of the real window under Xvfb, for each SCREENSHOT_TABS
	@scripts/screenshot.sh ./$(BIN) $(SCREENSHOT_TABS)

# The check binary lives in build/, where Fyne finds no FyneApp.toml: without
# the fyneDo migration Fyne's thread checks are on and log misplaced UI calls.
screenshot-check: deps ## screenshot a SCREENSHOT_CHECK_FLAGS build; fail if blank or the log has errors
	go build $(SCREENSHOT_CHECK_FLAGS) -o build/$(BIN)-check .
	@scripts/screenshot.sh --check build/$(BIN)-check $(SCREENSHOT_TABS)

# A real, minimal OpenStack (Keystone, Glance, Placement, Nova with the fake
# driver, Neutron, Cinder) from Debian's packages on 127.0.0.1: ≈ 3 min to
# install, ≈ 90 s to start, ≈ 110 s to create its resources, 3.8 GiB of RAM;
# ports 3306 5000 5672 8774 8776 8778 9292 9696 must be free. Not part of
# make test: see README.
testcloud: ## start the test OpenStack on 127.0.0.1 (TESTCLOUD_DIR; root: installs packages)
	TESTCLOUD_DIR=$(TESTCLOUD_DIR) sources/openstack/testcloud/up.sh

testcloud-down: ## stop the test OpenStack (TESTCLOUD_PURGE=1 also deletes its state)
	TESTCLOUD_DIR=$(TESTCLOUD_DIR) sources/openstack/testcloud/down.sh $(if $(TESTCLOUD_PURGE),--purge)

e2e-openstack: ## start the test OpenStack, run the OpenStack tests against it, stop it
	@$(MAKE) --no-print-directory testcloud; \
		status=0; TESTCLOUD_DIR=$(TESTCLOUD_DIR) TESTCLOUD_REQUIRED=1 go test -race -count=1 -timeout 15m \
			-run 'OpenStack|TestCloud' ./sources/openstack/ ./app/ || status=$$?; \
		$(MAKE) --no-print-directory testcloud-down; exit $$status

clean: ## remove the binary, build/ and screenshots/ (Go caches are kept)
	rm -rf $(BIN) build screenshots
