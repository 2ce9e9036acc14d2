# KeyGate — the two commands a new user needs:
#   make run    set up and start the app (headless engine when there is no display)
#   make test   set up and run every check and test
# Builds go to a cache outside the clone, so a fresh clone reuses earlier work.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/keygate/target
export KEYGATE_BIN_DIR := $(CARGO_TARGET_DIR)/debug
CARGO ?= cargo

.PHONY: package bench bench-instructions bench-usage run test setup-run setup-test ui build lint test-ui test-rust test-python test-e2e clean-ui

run: setup-run build
	scripts/run.sh

test: setup-test build lint test-ui test-rust test-postgres test-python test-e2e
	@echo "make test: all checks passed"

setup-run:
	scripts/setup.sh run

setup-test:
	scripts/setup.sh test

ui:
	npm --prefix ui run build

build: ui
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npm --prefix ui run check

# The web UI's unit tests (vitest: money, CSV, formatting, budgets).
test-ui:
	npm --prefix ui test

# No background health probes in tests: they would call real providers for preset keys.
test-rust test-postgres test-python test-e2e: export KEYGATE_HEALTH_CHECKER = off

# Everything except the lock tests runs in one session; a lock test locks its session's
# keyring, so each gets a session of its own.
test-rust:
	tests/run-in-session.sh $(CARGO) test --workspace -- --skip a_locked_keyring_fails_clearly_and_writes_nothing
	KEYGATE_TEST_LOCKABLE=1 tests/run-in-session.sh $(CARGO) test -p keygate-tests --test keyring_cli a_locked_keyring_fails_clearly_and_writes_nothing
	KEYGATE_TEST_LOCKABLE=1 tests/run-in-session.sh $(CARGO) test -p keygate-tests --test reliability_keyring

# The team store: the store's tests and the integration tests again, every test world on a
# private PostgreSQL server of its own (tests/services/with-postgres.sh; no TCP port).
test-postgres:
	tests/services/with-postgres.sh tests/run-in-session.sh $(CARGO) test --workspace -- --skip a_locked_keyring_fails_clearly_and_writes_nothing --skip desktop_window

# The proxy driven by the official Python SDKs and the real tools pinned in tests/tools
# (tests/python; the venv and the tools from setup.sh).
test-python:
	KEYGATE_BIN=$(KEYGATE_BIN_DIR)/keygate FAKE_UPSTREAM_BIN=$(KEYGATE_BIN_DIR)/fake-upstream KEYGATE_TOOLS_BIN=$(CURDIR)/tests/tools/node_modules/.bin tests/.venv/bin/python -m pytest -q tests/python

test-e2e:
	KEYGATE_BIN=$(KEYGATE_BIN_DIR)/keygate tests/run-in-session.sh npm --prefix tests/e2e test

# Not part of make test: added latency and throughput over a fake upstream, release build.
bench: setup-run ui
	$(CARGO) build --release -p keygate-cli -p keygate-bench
	KEYGATE_BIN_DIR=$(CARGO_TARGET_DIR)/release $(CARGO_TARGET_DIR)/release/keygate-bench
	$(CARGO_TARGET_DIR)/release/keygate-bench-usage

# Not part of make test (valgrind makes it take a minute or two): instructions per proxied
# request under callgrind, against bench/instructions-baseline.json (fails at +3 % per row,
# +10 % per writer batch; `python3 bench/instructions.py --update` rewrites the baseline).
bench-instructions: setup-run ui
	python3 bench/instructions.py

# Only the usage benchmark: 1M request rows, report and rollup timings.
bench-usage:
	$(CARGO) build --release -p keygate-bench --bin keygate-bench-usage
	$(CARGO_TARGET_DIR)/release/keygate-bench-usage

# Desktop packages with the Tauri bundler (tauri-cli installed on first use); not part of make
# test. They land in $(CARGO_TARGET_DIR)/release/bundle/deb and .../appimage. The AppImage step
# downloads linuxdeploy from GitHub, so it needs a machine that can reach github.com.
package: setup-run ui
	command -v cargo-tauri >/dev/null 2>&1 || $(CARGO) install tauri-cli --version '^2' --locked
	cd src-tauri && $(CARGO) tauri build --bundles $(or $(BUNDLES),deb appimage)
	@ls -la $(CARGO_TARGET_DIR)/release/bundle/*/ 2>/dev/null || true
