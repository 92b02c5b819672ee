# pgshadow's build, test and lint entry points. `make test` is the test
# command the README and CI use.

PG ?= 15
CARGO ?= cargo

.PHONY: build test lint image demo

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
