.PHONY: run test bench fuzz

# Run phxd with the example app and demo page on 127.0.0.1:4000 (npm ci
# installs the pinned phoenix.js the demo page serves).
run:
	cd compat_test && npm ci --no-audit --no-fund --loglevel=error
	go run ./cmd/phxd

# The whole test suite; installs what it needs (npm packages, Debian packages).
test:
	./.ci/test.sh

# Micro-benchmarks (serializer, netpoll, phx).
bench:
	go test -run='^$$' -bench=. -benchmem -count=6 ./serializer ./netpoll ./phx

# Run each fuzz target for FUZZTIME (default 3m).
FUZZTIME ?= 3m
fuzz:
	for f in $$(go test -list='^Fuzz' ./serializer | grep ^Fuzz); do \
		go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) ./serializer || exit 1; \
	done
