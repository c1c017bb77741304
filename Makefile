# The front door. `make test` and `make demo` each set up everything from a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build test demo bench bench-train bench-pytorch clean build-asan test-sanitize test-tsan fuzz

all: build

deps:
	bash scripts/setup-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPOOLNET_WERROR=ON

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job: `poolnet study` trains the pooling variants in examples/study on Fashion-MNIST
# (quick profile: minutes on 2 cores) and writes a report answering "max or average pooling, and
# does a global pooling head work?". A re-run reuses the finished variants in $(STUDY_OUT).
STUDY_OUT ?= $(BUILD_DIR)/study
STUDY_PROFILE ?= quick
demo: build
	./$(BUILD_DIR)/poolnet pool
	./$(BUILD_DIR)/poolnet study --profile $(STUDY_PROFILE) --out $(STUDY_OUT)
	@echo "Open $(STUDY_OUT)/report.html (or read $(STUDY_OUT)/report.md)"

# Pooling benchmark: poolnet's kernels vs oneDNN's pooling primitive vs a memcpy roofline.
bench: build
	./$(BUILD_DIR)/poolnet-bench

# Robustness (docs: README "Guarantees"). One clang build, build-asan/, serves two checks:
# test-sanitize runs the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (any
# report fails), and fuzz runs every libFuzzer target in fuzz/ for FUZZ_SECONDS each from the seed
# corpora in fuzz/corpus/ (the library carries libFuzzer's coverage instrumentation, which costs
# the tests little and saves a second sanitizer build). test-tsan: the threaded code (pooling
# kernels, convolutions, training, concurrent predict) under ThreadSanitizer, built with clang and
# LLVM's libomp, whose Archer tool tells TSan about OpenMP's synchronisation (GCC's libgomp is
# not instrumented and would report false races). In both clang builds OpenBLAS (built for
# libgomp) runs one thread: nested in a libomp parallel region, its GEMM threads can spin forever.
SAN_CMAKE = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DPOOLNET_BUILD_BENCH=OFF -DPOOLNET_WERROR=ON -DCMAKE_CXX_COMPILER=clang++-14
ASAN_FLAGS = -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS = -fno-omit-frame-pointer -fsanitize=thread
TSAN_TESTS ?= *FastKernels*:Conv*:Dense*:Sequential*:ConcurrentPredict*
FUZZ_SECONDS ?= 30

build-asan: deps
	cmake -S . -B build-asan $(SAN_CMAKE) -DPOOLNET_FUZZ=ON \
	  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link $(ASAN_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(ASAN_FLAGS)"
	cmake --build build-asan -j $(JOBS)

test-sanitize: build-asan
	cd build-asan && OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	cmake -S . -B build-tsan $(SAN_CMAKE) -DCMAKE_CXX_FLAGS="$(TSAN_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(TSAN_FLAGS)"
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && OPENBLAS_NUM_THREADS=1 OMP_TOOL_LIBRARIES=$$(ls /usr/lib/llvm-14/lib/libarcher.so) TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/scripts/tsan-suppressions.txt" \
	  ./tests/poolnet_tests --gtest_filter='$(TSAN_TESTS)'

fuzz: build-asan
	bash scripts/run-fuzz.sh build-asan $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan

# Training speed: the example ConvNet's epoch time, poolnet vs PyTorch (Debian python3-torch),
# back to back on this machine. TRAIN_EPOCHS / TRAIN_THREADS override the defaults.
TRAIN_EPOCHS ?= 2
TRAIN_THREADS ?= 2
bench-train: build
	bash scripts/setup-deps.sh --bench
	/usr/bin/python3 bench/train_compare.py --epochs $(TRAIN_EPOCHS) --threads $(TRAIN_THREADS)

# Pooling kernels against PyTorch's (both layouts), row by row with poolnet-bench in one run.
bench-pytorch: build
	bash scripts/setup-deps.sh --bench
	/usr/bin/python3 bench/pytorch_compare.py --threads $(TRAIN_THREADS)
