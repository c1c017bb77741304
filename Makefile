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

# The main job: train the classic Keras ConvNet (examples/keras_convnet.json) on Fashion-MNIST
# (10 epochs, batch 128, Adam), print the test accuracy and save the model.
DEMO_EPOCHS ?= 10
demo: build
	./$(BUILD_DIR)/poolnet pool
	./$(BUILD_DIR)/poolnet train examples/keras_convnet.json --epochs $(DEMO_EPOCHS) --batch-size 128 \
	  --out $(BUILD_DIR)/keras_convnet.pnet

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
