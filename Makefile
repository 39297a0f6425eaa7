# The README's two commands are `make run` and `make test`.
GO        ?= go
BIN       := bin
TEST_PKGS := nginx apache2-utils slapd ldap-utils openssl ca-certificates postgresql prometheus caddy podman runc netavark systemd strace redis-server
# What `make bench` starts or drives: not test dependencies.
BENCH_PKGS := nginx apache2-utils slapd ldap-utils wrk redis-server
FUZZTIME  ?= 10s

.PHONY: all build run test deps vet bench gobench fuzz clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ ./cmd/... ./examples/demo-upstream

run: build
	./scripts/run-demo.sh

# deps installs what the integration tests start for real, when root and
# missing. Without root it only says what is missing; the tests then skip
# (or fail under CI=true).
deps:
	@./scripts/test-deps.sh $(TEST_PKGS)

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...

# bench prints one table: nginx and authreq (and the alternatives) under
# wrk on 127.0.0.1, about two minutes. Knobs: BENCH_DURATION=5s,
# BENCH_WARMUP=1s, BENCH_THREADS=2, BENCH_CONNS=32, BENCH_FLOOD_CONNS=64,
# BENCH_ONLY=noauth,always200,floor,bcrypt,ldap,token,microcache,cold,cold-redis,apr1,basic-bcrypt,flood.
bench: build
	@./scripts/test-deps.sh $(BENCH_PKGS)
	$(GO) test -c -o $(BIN)/bench.test ./internal/bench
	AUTHREQ_BENCH=1 AUTHREQ_BENCH_BIN=$(CURDIR)/$(BIN)/authreq $(BIN)/bench.test -test.run '^TestBenchTable$$' -test.timeout 15m

# gobench runs the Go benchmarks of the hot paths, with allocations.
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run "^$$" -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)

# image builds the container image of the Dockerfile with podman, or docker
# when there is no podman (ENGINE=... to choose).
IMAGE    ?= authreq:dev
ENGINE   ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: image image-context

image: image-context
	@[ -n "$(ENGINE)" ] || { echo "make image: neither podman nor docker found" >&2; exit 1; }
	$(ENGINE) build -f Dockerfile -t $(IMAGE) $(BIN)/image

# image-context fills the build context: a static authreq (scratch has no
# libc for a cgo build to link against) and the CA bundle for LDAPS.
image-context:
	@mkdir -p $(BIN)/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/image/authreq ./cmd/authreq
	@[ -r "$(CA_CERTS)" ] || { echo "make image: $(CA_CERTS) missing (Debian: apt-get install ca-certificates)" >&2; exit 1; }
	cp $(CA_CERTS) $(BIN)/image/ca-certificates.crt
	@# COPY keeps modes: under umask 077 uid 65532 could not run the binary.
	chmod 0755 $(BIN)/image/authreq && chmod 0644 $(BIN)/image/ca-certificates.crt

# config-doc regenerates docs/config.md from the config structs (a test
# fails while it is stale).
.PHONY: config-doc
config-doc:
	$(GO) generate ./authreq
