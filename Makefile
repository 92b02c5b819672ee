# pgshadow's build, test and lint entry points. `make test` is the test
# command the README and CI use.

PG ?= 15
CARGO ?= cargo

.PHONY: build test lint image demo bench

build:
	$(CARGO) build --release

# Unit tests and the Docker integration tests (they need a Docker engine and
# the local image; `make image` builds it). The integration tests share one
# engine, so they run one at a time.
test: image
	$(CARGO) test --all-targets --no-fail-fast -- --test-threads=1

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Builds pgshadow/postgres:$(PG) from Debian packages; skips when present.
image:
	bash fixtures/image/build.sh $(PG)

# A local primary with a streaming standby: the official image when it can
# be pulled, else the local one built from Debian packages.
demo: build
	docker image inspect postgres:17 >/dev/null 2>&1 || docker pull postgres:17 \
	  || $(MAKE) image PG=15
	./target/release/pgshadow lab up

# Side-by-side benchmarks (docs/BENCHMARKS.md, about fifteen minutes; `python3
# bench/run.py --only remote` runs item 7 alone, in about four). Needs
# root and Docker; installs the few Debian tools it uses when missing.
BENCH_TOOLS = /usr/bin/time:time /usr/sbin/tc:iproute2 /usr/bin/nsenter:util-linux \
  /usr/bin/zstd:zstd
bench: image
	@missing=""; for tool in $(BENCH_TOOLS); do \
	  test -x "$${tool%%:*}" || missing="$$missing $${tool##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi
	$(CARGO) build --release --bin pgshadow --example chown_walk
	python3 bench/run.py
