#!/usr/bin/python3
"""Epoch time of the example ConvNet: poolnet against PyTorch, back to back on this machine.

Builds examples/keras_convnet.json in PyTorch from the JSON itself (so the two architectures
cannot drift), trains it on the same Fashion-MNIST IDX files poolnet reads (Adam with Keras's
defaults, batch 128, channels_last, N threads), then runs `build/poolnet train` and
`build/poolnet evaluate` with the same settings, and prints one table: epoch times, the time to
predict the 10,000 test images at batch 1000, test accuracy, CPU use, and the ratio
poolnet / PyTorch.

  /usr/bin/python3 bench/train_compare.py --epochs 3 --threads 2          # ~3 min
  /usr/bin/python3 bench/train_compare.py --epochs 1 --limit 6400         # a quick check
  /usr/bin/python3 bench/train_compare.py --json /tmp/train_compare.json
  /usr/bin/python3 bench/train_compare.py --epochs 3 --interleave  # a loaded, shared machine

Run with Debian's python3 (/usr/bin/python3, which has python3-torch 1.13).
"""

import argparse
import gzip
import json
import os
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"  # poolnet's kDefaultFashionMnistDir
MODEL = os.path.join(ROOT, "examples", "keras_convnet.json")
POOLNET = os.path.join(ROOT, "build", "poolnet")


# ---- data: the IDX files poolnet reads ------------------------------------------------------

def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: expected an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{directory}: no {stem}[.gz] (install dataset-fashion-mnist)")


def load_split(directory, prefix):
    images = read_idx(find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(directory, f"{prefix}-labels-idx1-ubyte"))
    # As poolnet: (n, 28, 28, 1) values / 255; here NCHW with channels_last memory format.
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x.contiguous(memory_format=torch.channels_last), torch.from_numpy(labels.astype(np.int64))


# ---- the model, from the Keras JSON -----------------------------------------------------------

class ChannelsLastFlatten(nn.Module):
    """Keras's Flatten of an NHWC tensor: (n, h, w, c) order. Free on channels_last storage."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def activation(name, is_last):
    if name in (None, "linear"):
        return []
    if name == "relu":
        return [nn.ReLU()]
    if name == "softmax":
        # The last layer's softmax is folded into CrossEntropyLoss (the same function as
        # softmax + sparse categorical crossentropy); predict applies it explicitly.
        if is_last:
            return []
        return [nn.Softmax(dim=-1)]
    raise SystemExit(f"train_compare.py: activation {name!r} is not mirrored")


def torch_model(config):
    layers = config["config"]["layers"]
    shape = None  # (h, w, c)
    modules = []
    flat = None
    for i, layer in enumerate(layers):
        kind, c = layer["class_name"], layer["config"]
        last = i == len(layers) - 1
        if c.get("data_format", "channels_last") not in (None, "channels_last"):
            raise SystemExit("train_compare.py: only channels_last models are mirrored")
        if kind == "InputLayer":
            shape = tuple(c["batch_shape"][1:])
        elif kind == "Conv2D":
            k, s, d = pair(c["kernel_size"]), pair(c.get("strides", 1)), pair(c.get("dilation_rate", 1))
            padding = c.get("padding", "valid")
            if padding not in ("valid", "same") or (padding == "same" and s != (1, 1)):
                raise SystemExit(f"train_compare.py: Conv2D padding {padding!r} with strides {s} is not mirrored")
            modules.append(nn.Conv2d(shape[2], c["filters"], k, stride=s, dilation=d, padding=padding,
                                     bias=c.get("use_bias", True)))
            if padding == "valid":
                h = (shape[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
                w = (shape[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
            else:
                h, w = shape[0], shape[1]
            shape = (h, w, c["filters"])
            modules += activation(c.get("activation"), last)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            p = pair(c.get("pool_size", 2))
            s = pair(c["strides"]) if c.get("strides") is not None else p
            if c.get("padding", "valid") != "valid":
                raise SystemExit("train_compare.py: only 'valid' pooling is mirrored")
            pool = nn.MaxPool2d if kind == "MaxPooling2D" else nn.AvgPool2d
            modules.append(pool(p, s))
            shape = ((shape[0] - p[0]) // s[0] + 1, (shape[1] - p[1]) // s[1] + 1, shape[2])
        elif kind == "Dropout":
            modules.append(nn.Dropout(c["rate"]))
        elif kind == "Flatten":
            modules.append(ChannelsLastFlatten())
            flat = shape[0] * shape[1] * shape[2]
        elif kind == "Dense":
            if flat is None:
                raise SystemExit("train_compare.py: Dense before Flatten is not mirrored")
            modules.append(nn.Linear(flat, c["units"], bias=c.get("use_bias", True)))
            flat = c["units"]
            modules += activation(c.get("activation"), last)
        else:
            raise SystemExit(f"train_compare.py: layer {kind} is not mirrored")
    if layers[-1]["class_name"] != "Dense" or layers[-1]["config"].get("activation") != "softmax":
        raise SystemExit("train_compare.py: the model must end in Dense(softmax)")
    return nn.Sequential(*modules)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ---- PyTorch ---------------------------------------------------------------------------------

def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_torch(args, model_json, after_epoch=lambda: None):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "t10k")
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    model = torch_model(model_json).to(memory_format=torch.channels_last)
    params = count_params(model)
    # Keras's Adam defaults (PyTorch's eps default is 1e-8).
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    n = x_train.shape[0]
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n)
        start, cpu0 = time.perf_counter(), cpu_seconds()
        for b in range(0, n, args.batch_size):
            index = order[b:b + args.batch_size]
            xb = x_train[index].contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), y_train[index])
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        epochs.append({"seconds": seconds, "cpu_percent": 100.0 * (cpu_seconds() - cpu0) / seconds})
        print(f"  torch epoch {epoch + 1}/{args.epochs}: {seconds:.2f} s "
              f"({epochs[-1]['cpu_percent']:.0f}% CPU)", flush=True)
        after_epoch()
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        probabilities = torch.cat([torch.softmax(model(x_test[b:b + 1000]), dim=1)
                                   for b in range(0, x_test.shape[0], 1000)])
        predict_seconds = time.perf_counter() - start
    accuracy = (probabilities.argmax(1) == y_test).double().mean().item()
    return {"epochs": epochs, "predict_seconds": predict_seconds, "test_accuracy": accuracy,
            "params": params, "torch_version": torch.__version__}


# ---- poolnet ---------------------------------------------------------------------------------

def run_poolnet(args, epochs=None):
    epochs_wanted = args.epochs if epochs is None else epochs
    if not os.access(POOLNET, os.X_OK):
        raise SystemExit(f"{POOLNET} is missing: build it first (make build)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "model.pnet")
        command = [POOLNET, "train", MODEL, "--epochs", str(epochs_wanted), "--batch-size",
                   str(args.batch_size), "--threads", str(args.threads), "--seed", str(args.seed),
                   "--data-dir", args.data_dir, "--out", out]
        if args.limit:
            command += ["--limit", str(args.limit)]
        print("  $ " + " ".join(command), flush=True)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall0 = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - wall0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"poolnet train failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        text = proc.stdout
        # "Epoch 3/10 - 469/469 - 25s 54.2ms/step - accuracy: ..." (one line per epoch on a pipe)
        epochs = []
        for steps, per_step, unit in re.findall(r"Epoch \d+/\d+ - (\d+)/\d+ - \S+ ([\d.]+)(ms|s)/step", text):
            seconds = int(steps) * float(per_step) * (0.001 if unit == "ms" else 1.0)
            epochs.append({"seconds": seconds})
        total = re.search(r"training took ([\d.]+) s", text)
        if len(epochs) != epochs_wanted or total is None:
            raise SystemExit("cannot read poolnet's epoch times from:\n" + text)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        train_accuracy = float(re.search(r"Test: loss [\d.]+ - accuracy ([\d.]+)", text).group(1))

        command = [POOLNET, "evaluate", out, "--data-dir", args.data_dir]
        print(f"  $ OMP_NUM_THREADS={args.threads} " + " ".join(command), flush=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"poolnet evaluate failed:\n{proc.stdout}\n{proc.stderr}")
        m = re.search(r"Test accuracy: ([\d.]+).*evaluated in ([\d.]+) s", proc.stdout, re.S)
        if m is None:
            raise SystemExit("cannot read poolnet evaluate's output:\n" + proc.stdout)
    return {"epochs": epochs, "train_seconds": float(total.group(1)), "process_seconds": wall,
            "cpu_percent": 100.0 * cpu / wall, "test_accuracy": float(m.group(1)),
            "train_test_accuracy": train_accuracy, "predict_seconds": float(m.group(2))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--skip-torch", action="store_true", help="poolnet only")
    parser.add_argument("--skip-poolnet", action="store_true", help="PyTorch only")
    parser.add_argument("--interleave", action="store_true",
                        help="after each PyTorch epoch, time one poolnet epoch (a fresh 1-epoch run), "
                             "so that both see the same load on a shared machine; poolnet's test "
                             "accuracy is then that of a 1-epoch run")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.epochs <= 0 or args.threads <= 0 or args.batch_size <= 0 or args.limit < 0:
        raise SystemExit("--epochs, --threads and --batch-size must be > 0, --limit >= 0")

    with open(MODEL) as f:
        model_json = json.load(f)
    results = {"model": os.path.relpath(MODEL, ROOT), "epochs": args.epochs, "threads": args.threads,
               "batch_size": args.batch_size, "limit": args.limit or None,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                            if l.startswith("model name")), "?"),
               "cores": os.cpu_count()}
    if not args.skip_torch:
        print(f"PyTorch {torch.__version__}: {args.epochs} epochs, batch {args.batch_size}, "
              f"{args.threads} threads, channels_last, Adam(1e-3, eps 1e-7)", flush=True)
        rounds = []
        after = (lambda: rounds.append(run_poolnet(args, epochs=1))) if args.interleave else (lambda: None)
        results["torch"] = run_torch(args, model_json, after)
        if rounds:
            results["poolnet"] = {
                "epochs": [r["epochs"][0] for r in rounds],
                "cpu_percent": float(np.mean([r["cpu_percent"] for r in rounds])),
                "test_accuracy": rounds[-1]["test_accuracy"],
                "predict_seconds": float(np.median([r["predict_seconds"] for r in rounds])),
                "interleaved_one_epoch_runs": rounds}
        if results["torch"]["params"] != 431242 and os.path.basename(MODEL) == "keras_convnet.json":
            raise SystemExit(f"the PyTorch mirror has {results['torch']['params']} parameters, "
                             "poolnet's summary says 431,242")
    if not args.skip_poolnet and "poolnet" not in results:
        print("poolnet:", flush=True)
        results["poolnet"] = run_poolnet(args)

    def summary(r):
        times = [e["seconds"] for e in r["epochs"]]
        # The first epoch includes warm-up (page faults, thread start): report the rest when
        # there is one (interleaved poolnet epochs are each a fresh run's only epoch: all count).
        steady = times if "interleaved_one_epoch_runs" in r else (times[1:] or times)
        return min(steady), sorted(steady)[len(steady) // 2], max(steady)

    rows = []
    for name in ("torch", "poolnet"):
        if name in results:
            r = results[name]
            lo, med, hi = summary(r)
            cpu = r.get("cpu_percent") or np.mean([e["cpu_percent"] for e in r["epochs"]])
            rows.append((name, lo, med, hi, r["predict_seconds"], r["test_accuracy"], cpu))
            r["epoch_seconds_median"] = med
    print()
    print(f"{'':8} {'epoch s (min/median/max)':>26} {'predict 10k s':>14} {'test acc':>9} {'CPU %':>6}")
    for name, lo, med, hi, pred, acc, cpu in rows:
        print(f"{name:8} {lo:8.2f} {med:8.2f} {hi:8.2f} {pred:14.3f} {acc:9.4f} {cpu:6.0f}")
    if "torch" in results and "poolnet" in results:
        ratio = results["poolnet"]["epoch_seconds_median"] / results["torch"]["epoch_seconds_median"]
        predict_ratio = results["poolnet"]["predict_seconds"] / results["torch"]["predict_seconds"]
        results["ratio_epoch"] = ratio
        results["ratio_predict"] = predict_ratio
        print(f"poolnet / PyTorch: epoch {ratio:.2f}x (target <= 0.80), predict {predict_ratio:.2f}x")
        if args.interleave:
            print(f"(interleaved: poolnet's test accuracy is after 1 epoch, PyTorch's after {args.epochs})")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
