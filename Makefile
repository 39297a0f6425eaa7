# The README's two commands are `make run` and `make test`.
GO        ?= go
BIN       := bin
TEST_PKGS := nginx apache2-utils slapd ldap-utils openssl ca-certificates postgresql redis-server
FUZZTIME  ?= 10s

.PHONY: all build run test deps vet bench fuzz clean

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

bench: build
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
