.PHONY: run test bench bench-suite fuzz

# Run phxd with the example app and demo page on 127.0.0.1:4000 (npm ci
# installs the pinned phoenix.js the demo page serves), saying what each step
# does: the first build downloads modules and is silent for a while.
# PHXD_FLAGS are passed to phxd, e.g. make run PHXD_FLAGS='-addr 127.0.0.1:4001'.
PHXD_FLAGS ?=
run:
	@echo "==> npm ci in compat_test: installing the pinned phoenix.js the demo page serves…"
	cd compat_test && npm ci --no-audit --no-fund --loglevel=error
	@echo "==> building phxd (the first build downloads modules and takes a minute or two)…"
	mkdir -p out
	go build -o out/phxd ./cmd/phxd
	@echo "==> starting phxd: open the URL it logs (Ctrl-C stops it)"
	out/phxd $(PHXD_FLAGS)

# The whole test suite; installs what it needs (npm packages, Debian packages,
# waiting for another apt to finish), then gofmt, go vet, go test -race, and
# the allocation and memory tests again without -race (see .ci/test.sh).
test:
	./.ci/test.sh

# Micro-benchmarks (serializer, netpoll, phx).
bench:
	go test -run='^$$' -bench=. -benchmem -count=6 ./serializer ./netpoll ./phx

# Run each fuzz target for FUZZTIME (default 3m).
FUZZTIME ?= 3m
fuzz:
	for pkg in ./serializer ./netpoll ./phx/etf ./phx/token ./phx/phxredis; do \
		for f in $$(go test -list='^Fuzz' $$pkg | grep ^Fuzz); do \
			go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The performance suite (phxd under phxbench load): rewrites the tables in
# cmd/phxbench/BENCHMARKS.md and cmd/phxbench/benchmarks-growth.svg; per-run
# JSON/HTML reports go to out/bench/. About 5 minutes.
bench-suite:
	mkdir -p out/bench
	go build -buildvcs=true -o out/bench/phxd ./cmd/phxd
	go build -o out/bench/phxbench ./cmd/phxbench
	out/bench/phxbench -suite -phxd out/bench/phxd -dir out/bench \
		-svg cmd/phxbench/benchmarks-growth.svg -doc cmd/phxbench/BENCHMARKS.md

# The soak: every attack of issue 10 at once against one phxd for
# SOAK_DURATION (default 3m) while phoenix.js clients chat; prints the table
# (see cmd/phxsoak/README.md), writes out/soak/report.json, and fails when a
# bound is exceeded. phxd is killed if its RSS passes 1 GB.
SOAK_DURATION ?= 3m
.PHONY: soak
soak:
	test -f compat_test/node_modules/phoenix/package.json || \
		(cd compat_test && npm ci --no-audit --no-fund --loglevel=error)
	mkdir -p out/soak
	go build -o out/soak/phxd ./cmd/phxd
	go build -o out/soak/phxsoak ./cmd/phxsoak
	out/soak/phxsoak -phxd out/soak/phxd -duration $(SOAK_DURATION) -json out/soak/report.json

# The per-hole figures: every attack alone, each against a fresh phxd with
# default flags, for SOAK_EACH_DURATION (default 10s); one table.
SOAK_EACH_DURATION ?= 10s
.PHONY: soak-each
soak-each:
	mkdir -p out/soak
	go build -o out/soak/phxd ./cmd/phxd
	go build -o out/soak/phxsoak ./cmd/phxsoak
	out/soak/phxsoak -phxd out/soak/phxd -each -duration $(SOAK_EACH_DURATION) -json out/soak/each.json

# The cluster figures of issue 11 (phxd nodes on one private redis-server,
# started and stopped by phxbench; needs Debian's redis-server): fan-out over
# three nodes beside one node, a killed node's presences, RSS per idle socket
# with -redis and without. Rewrites the cluster tables in
# cmd/phxbench/CLUSTER.md; per-run files go to out/bench-cluster/. About
# 5 minutes.
.PHONY: bench-cluster
bench-cluster:
	mkdir -p out/bench-cluster
	go build -buildvcs=true -o out/bench-cluster/phxd ./cmd/phxd
	go build -o out/bench-cluster/phxbench ./cmd/phxbench
	out/bench-cluster/phxbench -suite -cluster -phxd out/bench-cluster/phxd -dir out/bench-cluster \
		-doc cmd/phxbench/CLUSTER.md
