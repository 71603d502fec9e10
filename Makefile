# Developer entry points (see README.md). `make` alone builds.
SHELL := /bin/bash
JOBS := $(shell nproc)

# Any sanitizer report fails the run that produced it.
export ASAN_OPTIONS := halt_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

# Seconds each libFuzzer target runs: in `make test` (a bounded smoke run) and in `make fuzz`.
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-fuzz test fuzz run bench format clean
# Prerequisites run in the order written (deps before build).
.NOTPARALLEL:

all: build

deps:
	scripts/install-deps.sh

# Warnings are errors in the builds the tests use; a plain cmake build leaves them warnings.
build:
	cmake -S . -B build -DPOOLER_WERROR=ON
	cmake --build build -j$(JOBS)

build-asan:
	cmake -S . -B build-asan -DPOOLER_SANITIZE=ON -DPOOLER_WERROR=ON
	cmake --build build-asan -j$(JOBS)

# The libFuzzer targets, with clang, ASan and UBSan (fuzz/README.md).
build-fuzz:
	cmake -S . -B build-fuzz -DPOOLER_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DPOOLER_WERROR=ON \
	  -DPOOLER_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build build-fuzz -j$(JOBS)

# Every suite runs even when an earlier one fails; the target fails if any does.
test: deps build build-asan build-fuzz
	status=0; \
	ctest --test-dir build --output-on-failure -j2 || status=1; \
	ctest --test-dir build-asan --output-on-failure || status=1; \
	ctest --test-dir build-fuzz --output-on-failure -j2 || status=1; \
	exit $$status

# Fuzzes every target for FUZZ_SECONDS (e.g. make fuzz FUZZ_SECONDS=600), continuing the corpus
# earlier runs grew in build-fuzz/fuzz/<target>/corpus.
fuzz: deps build-fuzz
	ctest --test-dir build-fuzz --output-on-failure -j$(JOBS)

run: deps build
	scripts/run-demo.sh

bench: deps build
	bench/run.sh
	bench/idle_memory.sh

format:
	find src include tests -name '*.cpp' -o -name '*.h' -o -name '*.hpp' | xargs -r clang-format -i

clean:
	rm -rf build build-asan build-fuzz
