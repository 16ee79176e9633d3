# herald — the two commands a fresh machine needs:
#   make run    runs herald in development mode on :3000 (embedded SQLite store)
#   make test   runs every test: vet, unit, real-client interop and browser
#               tests, fuzzers (briefly) and benchmarks (briefly)

GO       ?= go
FUZZTIME ?= 30000x
NPM_DIRS := test/interop test/e2e test/browser clients/js web
# The browser suite drives Debian's chromium (/usr/bin/chromium); no npm
# package may download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test deps vet typecheck unit fuzz bench-smoke bench conformance

run:
	$(GO) run ./cmd/herald serve --dev

test: deps vet typecheck unit fuzz bench-smoke

# npm packages of the real-client tests (socket.io-client, browser driver).
deps:
	@for d in $(NPM_DIRS); do \
	  echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done

# vet also builds for macOS and vets for Windows: off Linux engineio serves
# every connection in blocking mode and the load tool is left out.
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The TypeScript of the client and the demo app. Their tests run under
# `go test` (TestClientJS: vitest, unit and live; TestBrowser; web's
# TestDistIsBuilt).
typecheck:
	cd clients/js && npx --no-install tsc --noEmit
	cd web && npx --no-install tsc --noEmit

unit:
	$(GO) test -race -count=1 ./...

# Every fuzz target of every package, FUZZTIME each. A count, not a duration:
# a time-bounded run can end with a spurious "context deadline exceeded".
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Micro-benchmarks, a few iterations each, so that they cannot rot.
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...

# Micro-benchmarks for real (see BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...
