# The front door. `make test` and `make demo` each set up everything from a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build test demo bench bench-train clean

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

clean:
	rm -rf $(BUILD_DIR)

# Training speed: the example ConvNet's epoch time, poolnet vs PyTorch (Debian python3-torch),
# back to back on this machine. TRAIN_EPOCHS / TRAIN_THREADS override the defaults.
TRAIN_EPOCHS ?= 2
TRAIN_THREADS ?= 2
bench-train: build
	/usr/bin/python3 bench/train_compare.py --epochs $(TRAIN_EPOCHS) --threads $(TRAIN_THREADS)
