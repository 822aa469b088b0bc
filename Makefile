# classgate — one Makefile for humans and CI.
#   make build   binaries in bin/ (plugins built and embedded first)
#   make run     dev gateway on 127.0.0.1:8080, in-memory store, page at /
#   make test    every test with the race detector (installs redis/chromium when missing)
#   make lint    gofmt, go vet, pinned staticcheck
#   make fuzz    every Go fuzz target, 60s each (FUZZTIME=); make test runs each 3s
#   make web-screenshots  regenerate adapters/web/docs/*.png (the classroom at 1366x768 and 390x844) from the browser test
#   make bench   Go benchmarks + a standard load generator run
#   make chaos   2 nodes on Redis under load through store and node faults; 0 acked messages lost (docs/RELIABILITY.md)
#   make token   print a dev token (NAME=, ROLE=, ROOMS=)
#   make lambda  bootstrap zips for AWS Lambda (provided.al2023, arm64) in bin/lambda
#   make run-lambda  the Lambda deployment locally: API Gateway emulator + real binaries + redis
#   make image   container image localhost/classgate:latest with podman (IMAGE=, ARCH=; Containerfile)
#   make cost    monthly cost, Lambda vs containers vs the replaced system (CLASSROOMS=, HOURS=, ...; docs/LAMBDA.md)

GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEV_SECRET  ?= dev-secret-dev-secret-dev-secret-0123
LISTEN      ?= 127.0.0.1:8080
NAME        ?= Ann
ROLE        ?= teacher
ROOMS       ?= *
TEST_TIMEOUT ?= 15m

CMDS := $(notdir $(wildcard cmd/*))

.PHONY: all build plugins run test test-short lint bench token clean deps lambda run-lambda fuzz chaos image cost

all: build

plugins:
	@if [ -x plugins/build.sh ]; then plugins/build.sh; fi

build: plugins
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	@echo "classgate dev gateway on http://$(LISTEN)/  (dev token: make token, or the form on the page)"
	CLASSGATE_AUTH__HS256_SECRET=$(DEV_SECRET) CLASSGATE_SERVER__LISTEN=$(LISTEN) \
		$(BIN)/gateway -config configs/dev.yaml

token: build
	@$(BIN)/classgate-token -secret $(DEV_SECRET) -name "$(NAME)" -role $(ROLE) -rooms "$(ROOMS)"

deps:
	@scripts/install-redis.sh
	@scripts/install-chromium.sh || echo "chromium unavailable: browser tests will skip"
	@scripts/install-podman.sh >/dev/null || echo "podman unavailable: the container image test will skip"
	@scripts/install-typescript.sh >/dev/null || echo "TypeScript unavailable: the web client's type check will skip (no node/npm) or fail"

test: plugins deps
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=3s scripts/fuzz.sh

fuzz: plugins
	FUZZTIME=$${FUZZTIME:-60s} scripts/fuzz.sh

.PHONY: web-screenshots
WEB_SHOTS := adapters/web/testdata/artifacts
web-screenshots: plugins deps
	CLASSGATE_ARTIFACTS=$(CURDIR)/$(WEB_SHOTS) $(GO) test -count=1 -run 'TestClassroomInBrowser$$' ./adapters/web/
	cp $(WEB_SHOTS)/teacher-doc-classroom-1366x768.png adapters/web/docs/classroom-1366x768.png
	cp $(WEB_SHOTS)/student-doc-classroom-390x844.png adapters/web/docs/classroom-390x844.png
	cp $(WEB_SHOTS)/student-doc-classroom-390x844-chat.png adapters/web/docs/classroom-390x844-chat.png

test-short: plugins
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: build
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else $(GO) test -run '^$$' -bench . -benchmem ./...; fi

lambda: plugins
	configs/sam/build.sh

run-lambda: plugins
	@scripts/install-redis.sh
	configs/sam/run-local.sh

# Not part of make test (a few minutes); flags: $(BIN)/chaos -h.
chaos: build
	@scripts/install-redis.sh
	$(BIN)/chaos -bin $(BIN)

image: plugins
	scripts/image.sh

cost:
	@configs/sam/cost.sh

clean:
	rm -rf $(BIN)
