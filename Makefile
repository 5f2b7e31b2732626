# One Makefile for everything: `sam build` calls the build-<LogicalId> targets
# (BuildMethod: makefile) with ARTIFACTS_DIR set; everything else runs here
# with Go, python3 (moto, cfn-lint) and the tools `make tools` installs.

SHELL := /bin/bash
.DEFAULT_GOAL := test

GO          ?= go
BIN         := $(CURDIR)/bin
BUILD_DIR   ?= $(CURDIR)/build
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE         := $(BIN)/aws-lambda-rie
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck
FUNCTIONS   := rotate-secret receive-secret expiry-alert watchdog
LAMBDA_ENV  := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
SEEDS       ?= 200
FUZZTIME    ?= 10s

# sam build: one target per function in template.yaml.
build-RotateSecretFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/rotate-secret
build-ReceiveSecretFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/receive-secret
build-ExpiryAlertFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/expiry-alert
build-WatchdogFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/watchdog

## build: the four bootstraps as deployed (linux/arm64) into build/<function>/bootstrap
build:
	@for f in $(FUNCTIONS); do \
	  echo "build $$f"; \
	  $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(BUILD_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

## tools: pinned Go tools into ./bin
tools: $(RIE) $(STATICCHECK)
$(RIE):
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## lint: formatting, vet, staticcheck, template
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cfn-lint template.yaml

## test: everything CI runs
test: tools lint build
	E2E=1 $(GO) test -race -count=1 -timeout 30m ./...
	PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s deploy -p '*_test.py'
	$(MAKE) fuzz FUZZTIME=20000x

## fuzz: every fuzz target for FUZZTIME each (a duration, default 10s, or a count such as 20000x)
# Go 1.26's fuzz coordinator can fail a duration-bounded run with a bare
# "context deadline exceeded" when the deadline races a worker (golang/go#75804,
# fixed in Go 1.27); no input is at fault and none is written. Such a stop is
# told apart from a finding (which always writes "Failing input written") and
# answered by replaying the target's corpus. A count has no deadline to race,
# which is why `make test` fuzzes by count.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee "$$log"; \
	    [ "$${PIPESTATUS[0]}" -eq 0 ] && continue; \
	    if grep -A1 -- "^--- FAIL: $$target " "$$log" | grep -qx '    context deadline exceeded' && \
	       ! grep -q 'Failing input written' "$$log"; then \
	      echo "fuzz $$target: stopped by the fuzz coordinator's deadline race, no failing input; replaying its corpus"; \
	      $(GO) test -count=1 -run "^$$target$$" $$pkg; \
	    else \
	      exit 1; \
	    fi; \
	  done; \
	done

## demo: the whole system on this machine (moto, aws-lambda-rie, the SP-API simulator)
demo: tools
	$(GO) run ./test/demo

## bench: benchmarks, written to BENCHMARKS.md, then lwa-rotation status over 100 secrets
bench: tools
	$(GO) run ./test/bench -out BENCHMARKS.md
	E2E=1 $(GO) test -count=1 -run '^TestCLIStatusFleet$$' -bench '^BenchmarkCLIStatus100$$' -benchtime 3x ./test/e2e

## chaos: SEEDS seeded fault schedules (default 200)
chaos:
	$(GO) test -count=1 -run '^TestChaos$$' ./test/chaos -seeds $(SEEDS) -v

## deploy: sam build and sam deploy (needs the sam CLI and an AWS account)
deploy:
	sam build
	sam deploy

clean:
	rm -rf $(BUILD_DIR) .aws-sam

.PHONY: build tools lint test fuzz demo bench chaos deploy clean \
	build-RotateSecretFunction build-ReceiveSecretFunction build-ExpiryAlertFunction build-WatchdogFunction
