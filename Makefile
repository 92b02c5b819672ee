# pgshadow's build, test and lint entry points. `make test` is the test
# command the README and CI use.

PG ?= 15
CARGO ?= cargo

.PHONY: build test lint image

build:
	$(CARGO) build --release

# Unit tests and the Docker integration tests (they need a Docker engine and
# the local image; `make image` builds it). The integration tests share one
# engine, so they run one at a time.
test: image
	$(CARGO) test --all-targets -- --test-threads=1

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Builds pgshadow/postgres:$(PG) from Debian packages; skips when present.
image:
	bash fixtures/image/build.sh $(PG)
