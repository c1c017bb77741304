#!/usr/bin/python3
"""poolnet's pooling kernels against PyTorch's, row by row, in one run.

For every row of poolnet-bench's suite (same shapes, ops, layouts, directions and threads) this
script times PyTorch's pooling in BOTH of its layouts (contiguous NCHW and channels_last), then
runs `poolnet-bench` on the same row (which also times oneDNN and a streaming copy), so that the
systems are measured seconds apart on the same machine. It prints a table with the ratio
PyTorch-best-layout time / poolnet time (the issue's target: >= 1.5 on every row) and can write
all rows as JSON (same keys as poolnet-bench's --json: system, op, shape, data_format,
direction, threads, median_ms, gbps).

Method, as in poolnet-bench: one untimed run, then --reps timed runs, median reported; inputs
rotate among enough buffers to exceed twice the L3 cache. Bytes: forward = input read + output
written (forward_training: + poolnet's 1-byte argmax); backward = grad_output read + grad_input
written (+ input read for max, as poolnet counts it). Backward times only the backward kernel (aten's *_backward ops, with the indices
from a forward done before timing), not the forward, and writes grad_input into preallocated
buffers that rotate like poolnet-bench's (--fresh-grad-input: a new tensor per call instead).
Forward outputs are PyTorch's own fresh tensors (its max_pool2d has no out= form without
indices); they come back from the allocator warm, which favours PyTorch. Each system's timing
starts --settle seconds (default 1) after the previous one ended: right after PyTorch frees its
row's buffers (gigabytes), the next process ran 1.5x slower for a second or two on this 2-core
machine (channels_last 26x26 average backward: 0.97 ms right after, 0.64-0.66 ms after 1-3 s,
0.65-0.69 ms alone), and both systems get the same pause.

Needs Debian's python3-torch (run with /usr/bin/python3) and a built build/poolnet-bench.
"""
import argparse
import json
import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

def l3_bytes():
    """This machine's last-level cache (as poolnet-bench reads it; 32 MiB when unknown)."""
    try:
        n = os.sysconf("SC_LEVEL3_CACHE_SIZE")
        if n > 0:
            return n
    except (ValueError, OSError):
        pass
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        return 32 << 20


L3_BYTES = l3_bytes()
SHAPES_FULL = [(32, 112, 112, 64), (128, 26, 26, 32), (256, 11, 11, 64), (64, 4096, 64),
               (8, 32, 56, 56, 32)]
SHAPES_QUICK = [(128, 26, 26, 32)]
# (op, pool, stride, padding, direction) exactly as poolnet-bench's default_configs().
# forward_training: the forward that keeps the argmax for the backward (PyTorch's
# return_indices=True, int64 indices; poolnet's 1-byte argmax).
OPS = [("max", 2, 2, "valid", "forward"), ("max", 3, 2, "same", "forward"), ("avg", 2, 2, "valid", "forward"),
       ("global_max", 1, 1, "valid", "forward"), ("global_avg", 1, 1, "valid", "forward"),
       ("max", 2, 2, "valid", "forward_training"),
       ("max", 2, 2, "valid", "backward"), ("avg", 2, 2, "valid", "backward")]


def op_label(op, pool, stride, padding, rank):
    if op.startswith("global"):
        return op
    return f"{op}_{'x'.join([str(pool)] * rank)}/{stride}_{padding}"


def shape_label(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


def torch_padding(n, k, s, padding):
    """TF/Keras padding for one axis as PyTorch (padding, ceil_mode), or None if inexpressible.

    'same' pads max(0, (out-1)*s + k - n) cells, the extra one AFTER the input. PyTorch pads
    symmetrically; an extra cell after is what ceil_mode adds (a last, clipped window)."""
    if padding == "valid":
        return 0, False, (n - k) // s + 1
    out = -(-n // s)
    total = max(0, (out - 1) * s + k - n)
    before, after = total // 2, total - total // 2
    if before > k // 2:
        return None
    for ceil_mode in (False, True):
        span = n + 2 * before - k
        got = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (got - 1) * s >= n + before:  # PyTorch drops a window starting in the pad
            got -= 1
        if got == out and (after == before or ceil_mode):
            return before, ceil_mode, out
    return None


class TorchRow:
    """One configuration in one PyTorch layout: builds buffers and a timed callable."""

    def __init__(self, torch, cfg, layout, fresh_grad_input=False):
        self.torch = torch
        F = torch.nn.functional
        shape, op, pool, stride, padding, direction = cfg
        backward, training = direction == "backward", direction == "forward_training"
        rank = len(shape) - 2
        n, c, spatial = shape[0], shape[-1], list(shape[1:-1])
        self.unsupported = None
        pads = [torch_padding(x, pool, stride, padding) for x in spatial]
        if not op.startswith("global") and any(p is None for p in pads):
            self.unsupported = "'same' padding not expressible in PyTorch"
            return
        # Padding may differ per axis; ceil_mode is one flag for all axes.
        pad_per_axis = [0] * rank if op.startswith("global") else [p[0] for p in pads]
        ceil_modes = {False} if op.startswith("global") else {p[1] for p in pads}
        if len(ceil_modes) > 1:
            self.unsupported = "'same' padding needs ceil_mode on some axes only"
            return
        ceil_mode = ceil_modes.pop()

        def make_input():
            if layout == "channels_last":
                # Memory laid out as N, spatial..., C; the tensor is the NC... view PyTorch takes.
                t = torch.empty([n] + spatial + [c])
                t.uniform_(-1, 1)
                return t.permute([0, rank + 1] + list(range(1, rank + 1)))
            return torch.empty([n, c] + spatial).uniform_(-1, 1)

        if op.startswith("global"):
            out_spatial = [1] * rank
        else:
            out_spatial = [p[2] for p in pads]
        in_elems = n * c * math.prod(spatial)
        out_elems = n * c * math.prod(out_spatial)
        per_set = (in_elems + out_elems) * 4 * (2 if backward else 1)
        sets = max(2, math.ceil(2 * L3_BYTES / per_set) + 1)
        self.bytes = (in_elems + out_elems) * 4
        if backward and op == "max":
            self.bytes += in_elems * 4
        if training:
            self.bytes += out_elems  # as poolnet-bench counts it: poolnet's argmax, 1 byte per output
        self.inputs = [make_input() for _ in range(sets)]
        k1 = [pool] * rank
        s1 = [stride] * rank
        p1 = pad_per_axis
        # PyTorch's 1D pooling runs its 2D kernels on (N, C, 1, L); call those directly.
        two_d = rank == 1

        def as2d(t):
            return t.unsqueeze(2) if two_d else t

        k2, s2, p2 = ([1] + k1, [1] + s1, [0] + p1) if two_d else (k1, s1, p1)
        r = 2 if two_d else rank
        aten = torch.ops.aten
        if not backward:
            if op == "max":
                fn = {2: F.max_pool2d, 3: F.max_pool3d}[r]
                self.run = lambda i: fn(as2d(self.inputs[i]), k2, s2, p2, ceil_mode=ceil_mode,
                                        return_indices=training)
            elif op == "avg":
                fn = {2: F.avg_pool2d, 3: F.avg_pool3d}[r]
                self.run = lambda i: fn(as2d(self.inputs[i]), k2, s2, p2, ceil_mode=ceil_mode,
                                        count_include_pad=False)
            elif op == "global_max":
                fn = {2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[r]
                self.run = lambda i: fn(as2d(self.inputs[i]), 1)
            else:
                fn = {2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[r]
                self.run = lambda i: fn(as2d(self.inputs[i]), 1)
            out = self.run(0)
            if training:
                out = out[0]
            want = [n, c] + ([1] if two_d else []) + out_spatial
            if list(out.shape) != want:
                raise RuntimeError(f"PyTorch output {list(out.shape)} != expected {want} for {cfg}")
            return
        # Backward: forward once per buffer (indices for max), time only the backward op.
        self.grads, self.indices = [], []
        for x in self.inputs:
            x2 = as2d(x)
            if op == "max":
                fwd = {2: F.max_pool2d, 3: F.max_pool3d}[r]
                y, idx = fwd(x2, k2, s2, p2, ceil_mode=ceil_mode, return_indices=True)
                self.indices.append(idx)
            else:
                fwd = {2: F.avg_pool2d, 3: F.avg_pool3d}[r]
                y = fwd(x2, k2, s2, p2, ceil_mode=ceil_mode, count_include_pad=False)
            self.grads.append(torch.empty_like(y).uniform_(-1, 1))
        # grad_input: by default written into one preallocated buffer per set (aten's .grad_input
        # overloads), rotating like poolnet-bench's; a fresh tensor per call (what autograd does)
        # would come back from the allocator still in cache, which measures the cache instead.
        if op == "max":
            bwd = {2: aten.max_pool2d_with_indices_backward, 3: aten.max_pool3d_with_indices_backward}[r]
            args = lambda i: (self.grads[i], as2d(self.inputs[i]), k2, s2, p2, [1] * r, ceil_mode, self.indices[i])
        else:
            bwd = {2: aten.avg_pool2d_backward, 3: aten.avg_pool3d_backward}[r]
            args = lambda i: (self.grads[i], as2d(self.inputs[i]), k2, s2, p2, ceil_mode, False, None)
        fresh = bwd.default(*args(0))
        if list(fresh.shape) != list(as2d(self.inputs[0]).shape):
            raise RuntimeError(f"PyTorch grad_input shape {list(fresh.shape)} for {cfg}")
        if fresh_grad_input:
            self.run = lambda i: bwd.default(*args(i))
            return
        # The layout PyTorch itself gives grad_input (1.13's 3D max pooling answers channels_last
        # inputs with a contiguous grad_input, and its .grad_input overload writes a channels_last
        # buffer wrongly).
        self.grad_inputs = [torch.empty_strided(fresh.shape, fresh.stride()) for _ in self.inputs]
        self.run = lambda i: bwd.grad_input(*args(i), grad_input=self.grad_inputs[i])
        self.run(0)
        if not torch.equal(self.grad_inputs[0], fresh):
            raise RuntimeError(f"PyTorch's grad_input= overload disagrees with its default for {cfg}")

    def time(self, reps):
        """Median milliseconds over reps, rotating buffers."""
        self.run(0)
        times = []
        for r in range(reps):
            i = (r + 1) % len(self.inputs)
            t0 = time.perf_counter()
            self.run(i)
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def run_poolnet(bench, cfg, fmt, threads, reps):
    shape, op, pool, stride, padding, direction = cfg
    rank = len(shape) - 2
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "row.json")
        cmd = [bench, "--op", op, "--rank", str(rank), "--shape", ",".join(map(str, shape)),
               "--data-format", fmt, "--direction", direction,
               "--threads", str(threads), "--reps", str(reps), "--json", out]
        if not op.startswith("global"):
            cmd += ["--pool", str(pool), "--strides", str(stride), "--padding", padding]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        with open(out) as f:
            return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every system")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per system and row")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds of pause before timing each system (the previous one's buffers are freed)")
    ap.add_argument("--quick", action="store_true", help="only the (128,26,26,32) shape")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                    "build", "poolnet-bench"),
                    help="path of the poolnet-bench binary")
    ap.add_argument("--json", help="write all rows (poolnet, onednn, copy, pytorch) to FILE")
    ap.add_argument("--torch-only", action="store_true", help="do not run poolnet-bench")
    ap.add_argument("--fresh-grad-input", action="store_true",
                    help="backward: let PyTorch allocate grad_input per call (autograd's way; the "
                         "allocator hands back memory still in cache) instead of rotating buffers")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("error: PyTorch not found; install Debian's python3-torch and run with /usr/bin/python3")
    if not args.torch_only and not os.access(args.bench, os.X_OK):
        sys.exit(f"error: {args.bench} not found or not executable; build it with `make build`")
    if args.threads < 1 or args.reps < 1:
        sys.exit("error: --threads and --reps must be positive")
    if not math.isfinite(args.settle) or args.settle < 0:
        sys.exit("error: --settle must be a finite number of seconds, 0 or more")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    rows, table = [], []
    configs = [(s,) + o for s in (SHAPES_QUICK if args.quick else SHAPES_FULL) for o in OPS]
    total = len(configs) * 2
    done = 0
    for cfg in configs:
        shape, op, pool, stride, padding, direction = cfg
        backward = direction == "backward"
        rank = len(shape) - 2
        label = op_label(op, pool, stride, padding, rank)
        # PyTorch in both of its layouts; its best is the reference for both of poolnet's rows.
        torch_ms = {}
        for layout in ("channels_first", "channels_last"):
            row = TorchRow(torch, cfg, layout, args.fresh_grad_input)
            if row.unsupported:
                print(f"  skip PyTorch {layout} {label} {shape_label(shape)}: {row.unsupported}", file=sys.stderr)
                continue
            time.sleep(args.settle)
            ms = row.time(args.reps)
            torch_ms[layout] = ms
            rows.append({"system": "pytorch", "op": label, "shape": shape_label(shape), "data_format": layout,
                         "direction": direction, "threads": args.threads, "median_ms": ms,
                         "gbps": row.bytes / (ms * 1e6),
                         "grad_input": None if not backward else ("fresh" if args.fresh_grad_input else "rotated")})
            del row
            gc.collect()  # its buffers (over twice the L3 each row) sit in reference cycles until collected
        best_torch = min(torch_ms.values()) if torch_ms else None
        for fmt in ("channels_last", "channels_first"):
            done += 1
            if sys.stderr.isatty():  # a progress line updated in place; silent in logs
                print(f"\r[{done}/{total}] {label} {shape_label(shape)} {fmt} {direction}        ",
                      end="", file=sys.stderr, flush=True)
            pn_ms = None
            if not args.torch_only:
                time.sleep(args.settle)
                bench_rows = run_poolnet(args.bench, cfg, fmt, args.threads, args.reps)
                for b in bench_rows:
                    b = dict(b)
                    rows.append(b)
                    if b["system"] == "poolnet":
                        pn_ms = b["median_ms"]
            table.append((label, shape_label(shape), fmt, direction, pn_ms, torch_ms.get(fmt), best_torch))
    if sys.stderr.isatty():
        print("", file=sys.stderr)

    head = ("op", "shape", "data_format", "direction", "poolnet_ms", "pytorch_same_layout_ms",
            "pytorch_best_ms", "pytorch_best/poolnet")
    cells = [head]
    ratios = []
    for label, shape, fmt, direction, pn, same, best in table:
        ratio = best / pn if (pn and best) else None
        if ratio is not None:
            ratios.append(ratio)
        f = lambda v: "-" if v is None else f"{v:.3f}"
        cells.append((label, shape, fmt, direction, f(pn), f(same), f(best), "-" if ratio is None else f"{ratio:.2f}"))
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if ratios:
        met = sum(r >= 1.5 for r in ratios)
        print(f"\npoolnet is >= 1.5x faster than PyTorch's best layout on {met} of {len(ratios)} rows "
              f"(ratios {min(ratios):.2f} .. {max(ratios):.2f}, threads {args.threads}, torch {torch.__version__})")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rows, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
