#!/usr/bin/python3
"""Writes the fuzzing seed corpora (fuzz/corpus/<target>/) and the bad-input corpus
(tests/data/bad_inputs/: malformed files, the good files they are run with, manifest.json).

    /usr/bin/python3 scripts/make_test_files.py build/poolnet

The program is used once, to train a tiny model for the .pnet and checkpoint files (fixed seed
and one thread, so the files are the same on every run). Everything else is written here, byte
by byte, so that each malformed file differs from a good one in exactly the way its name says.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(ROOT, "fuzz", "corpus")
BAD = os.path.join(ROOT, "tests", "data", "bad_inputs")


# ---------------------------------------------------------------------------------------------
# Writers

def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def gz(data):
    # mtime 0: the same bytes on every run.
    return gzip.compress(data, mtime=0)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, rows, color_type=0, bit_depth=8, interlace=0, extra=b""):
    """rows: raw scanlines (without filter bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def adam7_png(width, height, rows):
    """An interlaced 8-bit gray PNG (Adam7 passes, filter 0)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        if x0 >= width or y0 >= height:
            continue
        for y in range(y0, height, dy):
            raw += b"\x00" + bytes(rows[y][x] for x in range(x0, width, dx))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) +
            png_chunk(b"IEND", b""))


def pnet_fix_crc(data):
    """A .pnet file with its trailing CRC-32 recomputed (after an edit)."""
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def pnet_with_header(data, edit):
    """The .pnet file `data` with its header JSON replaced by edit(header) (a dict -> dict, or a
    str -> str when edit takes text), the CRC recomputed."""
    (length,) = struct.unpack("<I", data[12:16])
    header = json.loads(data[16:16 + length])
    new = edit(header)
    text = new.encode() if isinstance(new, str) else json.dumps(new, separators=(",", ":")).encode()
    return pnet_fix_crc(data[:12] + struct.pack("<I", len(text)) + text + data[16 + length:])


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------------------------------------
# Good files

TINY_MODEL = {
    "class_name": "Sequential",
    "config": {"name": "tiny", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 1], "dtype": "float32", "name": "input_layer"}},
        {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 2, "kernel_size": [3, 3], "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "softmax"}},
    ]},
}


def tiny_images(n, seed):
    """n 6x6 ubyte images and labels (class = the row of a bright bar)."""
    images, labels = bytearray(), bytearray()
    state = seed
    for i in range(n):
        label = i % 3
        labels.append(label)
        for r in range(6):
            for c in range(6):
                state = (state * 1103515245 + 12345) & 0x7FFFFFFF
                images.append(200 + state % 50 if r // 2 == label else state % 40)
    return bytes(images), bytes(labels)


def write_tiny_mnist(directory):
    for prefix, n, seed in (("train", 24, 1), ("t10k", 9, 2)):
        images, labels = tiny_images(n, seed)
        write(os.path.join(directory, prefix + "-images-idx3-ubyte"), idx(0x08, [n, 6, 6], images))
        write(os.path.join(directory, prefix + "-labels-idx1-ubyte"), idx(0x08, [n], labels))


def train_tiny(poolnet, work):
    """tiny.pnet and a checkpoint of it, from the program."""
    data = os.path.join(work, "data")
    write_tiny_mnist(data)
    model_json = os.path.join(work, "tiny.json")
    write(model_json, json.dumps(TINY_MODEL))
    # Relative paths: the checkpoint records its settings, and the files must not depend on `work`.
    subprocess.run([poolnet, "train", "tiny.json", "--data-dir", "data", "--epochs", "1", "--batch-size", "8",
                    "--seed", "1", "--threads", "1", "--checkpoint", "ckpt", "--out", "tiny.pnet"],
                   check=True, stdout=subprocess.DEVNULL, cwd=work)
    with open(os.path.join(work, "tiny.pnet"), "rb") as f:
        model = f.read()
    with open(os.path.join(work, "ckpt", "checkpoint.pnet"), "rb") as f:
        checkpoint = f.read()
    return model, checkpoint


GOOD_PGM = b"P2\n6 6\n255\n" + b"\n".join(b" ".join(b"%d" % (40 * ((r + c) % 6)) for c in range(6)) for r in range(6)) + b"\n"
GOOD_PNG = png(6, 6, [bytes(40 * ((r + c) % 6) for c in range(6)) for r in range(6)])
GOOD_CSV = "1, 3, 2, 4\n5, 6, 1, 2\n7, 2, 9, 0\n3, 8, 4, 1\n"


def good_case_line():
    with open(os.path.join(ROOT, "tests", "conformance", "public.jsonl")) as f:
        return f.readline().strip()


# ---------------------------------------------------------------------------------------------
# Seed corpora

def write_seeds(model, checkpoint):
    shutil.rmtree(FUZZ, ignore_errors=True)
    seeds = {}
    images, labels = tiny_images(4, 7)
    seeds["idx"] = {
        "labels.idx1": idx(0x08, [4], labels),
        "images.idx3": idx(0x08, [4, 6, 6], images),
        "images.idx3.gz": gz(idx(0x08, [4, 6, 6], images)),
        "sbyte.idx": idx(0x09, [3], b"\x01\xff\x7f"),
        "int16.idx": idx(0x0B, [2, 2], struct.pack(">4h", 1, -2, 300, -400)),
        "int32.idx": idx(0x0C, [2], struct.pack(">2i", 70000, -5)),
        "float32.idx": idx(0x0D, [3], struct.pack(">3f", 0.5, -1.25, 3e38)),
        "float64.idx": idx(0x0E, [2], struct.pack(">2d", 0.5, -2.0)),
        "rank5.idx": idx(0x08, [1, 1, 2, 1, 2], b"\x01\x02\x03\x04"),
        "two_members.gz": gz(idx(0x08, [2], b"\x01\x02")[:-1]) + gz(b"\x02"),
    }
    seeds["model_file"] = {"tiny.pnet": model, "checkpoint.pnet": checkpoint}
    with open(os.path.join(ROOT, "examples", "keras_convnet.json")) as f:
        convnet = f.read()
    seeds["model_json"] = {"tiny.json": json.dumps(TINY_MODEL), "keras_convnet.json": convnet,
                           "compiled.json": json.dumps(dict(TINY_MODEL, compile_config={
                               "optimizer": "sgd", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}))}
    # keras_layer: first byte picks the class (index into the sorted class list), the rest is the config.
    configs = [
        {"pool_size": [2, 2], "strides": 1, "padding": "same"},
        {"pool_size": 3, "data_format": "channels_first"},
        {"keepdims": True},
        {"filters": 2, "kernel_size": 2, "activation": "relu", "padding": "same"},
        {"units": 3, "activation": "softmax", "use_bias": False},
        {"rate": 0.5},
        {"activation": "tanh"},
        {},
    ]
    seeds["keras_layer"] = {"config%02d.bin" % i: bytes([i * 3 % 256]) + json.dumps(c).encode()
                            for i, c in enumerate(configs * 3)}
    with open(os.path.join(ROOT, "tests", "conformance", "public.jsonl")) as f:
        lines = [l for l in f.read().splitlines() if l]
    picks = lines[:2] + [l for l in lines if '"error"' in l][:2] + [l for l in lines if "3D" in l and len(l) < 3000][:2]
    seeds["conformance"] = {"case%d.jsonl" % i: l + "\n" for i, l in enumerate(picks)}
    seeds["csv"] = {"demo.csv": GOOD_CSV, "special.csv": "# comment\nnan, inf, -inf\n1e-3, -2.5E+2, 0\n",
                    "one.csv": "7\n"}
    gray_rows = [bytes(40 * ((r + c) % 6) for c in range(6)) for r in range(6)]
    seeds["png"] = {
        "gray8.png": GOOD_PNG,
        "gray1.png": png(6, 2, [b"\xa4", b"\x5c"], 0, 1),
        "gray16.png": png(2, 2, [b"\x01\x00\xff\xff", b"\x00\x10\x80\x00"], 0, 16),
        "rgb.png": png(2, 2, [b"\xff\x00\x00\x00\xff\x00", b"\x00\x00\xff\x80\x80\x80"], 2, 8),
        "rgba.png": png(2, 1, [b"\xff\x00\x00\x80\x00\xff\x00\xff"], 6, 8),
        "palette.png": png(2, 2, [b"\x00\x01", b"\x01\x00"], 3, 8, extra=png_chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")),
        "gray_alpha.png": png(1, 2, [b"\x80\xff", b"\x10\x00"], 4, 8),
        "interlaced.png": adam7_png(6, 6, gray_rows),
        "gamma.png": png(2, 1, [b"\x10\x20\x30\x40\x50\x60"], 2, 8, extra=png_chunk(b"gAMA", struct.pack(">I", 45455))),
    }
    seeds["pgm"] = {
        "p2.pgm": GOOD_PGM,
        "p5.pgm": b"P5\n# comment\n4 2\n255\n" + bytes(range(0, 256, 32)),
        "p5_16.pgm": b"P5 2 1 65535\n\x01\x02\xff\xff",
        "p2_1000.pgm": b"P2 2 2 1000 0 1000 500 999\n",
    }
    for target, files in seeds.items():
        for name, data in files.items():
            write(os.path.join(FUZZ, target, name), data)
    return {t: len(f) for t, f in seeds.items()}


# ---------------------------------------------------------------------------------------------
# The bad-input corpus

TRAIN_OUT = "--epochs 1 --batch-size 8 --threads 1 --out {out}/model.pnet --checkpoint {out}/ckpt"
COMMANDS = {
    # An MNIST directory ({data}: the good one with {file} in place of data_file).
    "idx": "train {good}/tiny.json --data-dir {data} " + TRAIN_OUT,
    "model": "train {file} --data-dir {good}/data " + TRAIN_OUT,
    "summary": "summary {file}",
    # {file} is copied to {out}/ckpt/checkpoint.pnet first.
    "checkpoint": "train --resume {out}/ckpt",
    "jsonl": "conform {file}",
    "csv": "pool --input {file}",
    "image": "predict {good}/tiny.pnet {file}",
}


def bad_cases(model, checkpoint):
    """(file name, use, data_file or None, exit status, message substring, bytes)."""
    cases = []

    def add(name, use, status, message, data, data_file=None):
        cases.append((name, use, data_file, status, message, data))

    images, labels = tiny_images(24, 1)
    good_labels = idx(0x08, [24], labels)
    good_images = idx(0x08, [24, 6, 6], images)
    L, I = "train-labels-idx1-ubyte", "train-images-idx3-ubyte"
    add("idx/empty", "idx", 2, "is empty (expected an IDX header", b"", L)
    add("idx/header_cut_short", "idx", 2, "header cut short: the file holds 3 bytes", b"\x00\x00\x08", L)
    add("idx/bad_magic", "idx", 2, "bad magic: the file starts 0x50 0x4b", b"PK\x03\x04" + good_labels[4:], L)
    add("idx/bad_type_byte", "idx", 2, "bad type byte 0x07 in the magic number", b"\x00\x00\x07\x01" + good_labels[4:], L)
    add("idx/rank_zero", "idx", 2, "bad rank 0 in the magic number", b"\x00\x00\x08\x00" + good_labels[4:], L)
    add("idx/rank_six", "idx", 2, "bad rank 6 in the magic number", b"\x00\x00\x08\x06" + b"\x00\x00\x00\x01" * 6, L)
    add("idx/dims_cut_short", "idx", 2, "rank 3 needs a header of 16 bytes, the file holds 10", good_images[:10], I)
    add("idx/claims_10e12_elements", "idx", 2, "hold more than 2147483648 elements",
        idx(0x08, [1000000, 1000000, 1], b"\x00" * 16), I)
    add("idx/dimension_above_int32", "idx", 2, "dimension 0 is 4294967295, more than an IDX dimension can be",
        idx(0x08, [0xFFFFFFFF], b""), L)
    add("idx/data_truncated", "idx", 2, "header says 24 items of 1 byte (ubyte), the file holds 20 bytes after the header",
        good_labels[:-4], L)
    add("idx/trailing_bytes", "idx", 2, "(3 trailing bytes after the data)", good_labels + b"xyz", L)
    add("idx/gzip_truncated", "idx", 2, "gzip stream is truncated", gz(good_images)[:60], I)
    corrupt = bytearray(gz(good_images))
    corrupt[20] ^= 0xFF
    add("idx/gzip_corrupt", "idx", 2, "corrupt gzip data (zlib:", bytes(corrupt), I)
    add("idx/gzip_trailing_garbage", "idx", 2, "unexpected bytes after the end of the gzip stream", gz(good_labels) + b"junk", L)
    add("idx/gzip_claims_more_than_it_holds", "idx", 2, "header says (100000, 100, 100) = 1000000000 items",
        gz(idx(0x08, [100000, 100, 100], b"\x00" * 1000)), I)
    add("idx/images_rank_2", "idx", 2, "train images must be a rank 3 ubyte (0x08) array",
        idx(0x08, [24, 36], images), I)
    add("idx/labels_float32", "idx", 2, "train labels must be a rank 1 integer (ubyte) array",
        idx(0x0D, [24], b"\x00" * 96), L)
    add("idx/label_count_differs", "idx", 2, "train image and label counts differ", idx(0x08, [23], labels[:23]), L)
    add("idx/float64_out_of_float32_range", "idx", 2, "float64 element 1 (", idx(0x0E, [2], struct.pack(">2d", 1.0, 1e300)), L)

    # Saved models.
    add("pnet/empty.pnet", "model", 2, "empty.pnet: neither a poolnet model file (it would start with the magic \"PNMODEL\") nor a Keras JSON model", b"")
    add("pnet/too_short.pnet", "model", 2, "too short for a poolnet model file (10 bytes)", model[:10])
    add("pnet/bad_magic.pnet", "model", 2, "bad_magic.pnet: neither a poolnet model file", b"PNMODEX\x00" + model[8:])
    add("pnet/version_2.pnet", "model", 2, "model file format version 2 is not supported (this poolnet reads version 1)",
        pnet_fix_crc(model[:8] + struct.pack("<I", 2) + model[12:]))
    add("pnet/header_length_past_end.pnet", "model", 2, "header length 4294967295 runs past the end",
        model[:12] + b"\xff\xff\xff\xff" + model[16:])
    add("pnet/truncated.pnet", "model", 2, "runs past the end of the 1437-byte file (truncated?)", model[:len(model) // 2])
    add("pnet/truncated_in_weights.pnet", "model", 2, "checksum mismatch (file is corrupt or truncated)", model[:-8])
    flipped = bytearray(model)
    flipped[len(model) - 20] ^= 0x01
    add("pnet/flipped_bit.pnet", "model", 2, "checksum mismatch", bytes(flipped))
    add("pnet/header_not_json.pnet", "model", 2, "header: not valid JSON", pnet_with_header(model, lambda h: '{"model": [1, 2'))
    add("pnet/header_nested_1e5_deep.pnet", "model", 2, "header:1:101: JSON nesting deeper than 100 levels",
        pnet_with_header(model, lambda h: "[" * 100000 + "]" * 100000))
    add("pnet/header_lacks_weights.pnet", "model", 2, "header lacks \"model\", \"weights\" or \"data_bytes\"",
        pnet_with_header(model, lambda h: {k: v for k, v in h.items() if k != "weights"}))
    add("pnet/data_bytes_wrong.pnet", "model", 2, "bytes of weights, the file holds",
        pnet_with_header(model, lambda h: dict(h, data_bytes=h["data_bytes"] + 4)))
    add("pnet/dtype_float16.pnet", "model", 2, "only float32 little-endian weights are supported",
        pnet_with_header(model, lambda h: dict(h, dtype="float16")))

    def edit_weight(h, **changes):
        h = json.loads(json.dumps(h))
        h["weights"][0].update(changes)
        return h
    add("pnet/weight_shape_wrong.pnet", "model", 2, "weight 'conv2d/kernel' has shape [3,3,1,3], the architecture needs (3, 3, 1, 2)",
        pnet_with_header(model, lambda h: edit_weight(h, shape=[3, 3, 1, 3])))
    add("pnet/weight_unknown.pnet", "model", 2, "weight 'conv2d/gamma' matches no layer weight of the model",
        pnet_with_header(model, lambda h: edit_weight(h, name="gamma")))
    add("pnet/weight_offset_past_end.pnet", "model", 2, "weight 'conv2d/kernel' runs past the end of the weight data",
        pnet_with_header(model, lambda h: edit_weight(h, offset=2 ** 40)))
    add("pnet/weight_entry_malformed.pnet", "model", 2, "malformed weight entry",
        pnet_with_header(model, lambda h: edit_weight(h, offset=-1)))
    (hl,) = struct.unpack("<I", model[12:16])
    nan = bytearray(model)
    nan[16 + hl:16 + hl + 4] = struct.pack("<f", float("nan"))
    add("pnet/weight_nan.pnet", "model", 2, "weight 'conv2d/kernel' holds a non-finite value", pnet_fix_crc(bytes(nan)))

    def edit_layer(h, index, **changes):
        h = json.loads(json.dumps(h))
        h["model"]["config"]["layers"][index]["config"].update(changes)
        return h
    add("pnet/architecture_huge_dense.pnet", "model", 2, "architecture_huge_dense.pnet: architecture: tiny: layer 'dense' (Dense, 4 of 4), input (None, 8): Dense: kernel of shape (8, 1000000000000) would have",
        pnet_with_header(model, lambda h: edit_layer(h, 4, units=10 ** 12)))
    add("pnet/architecture_unknown_key.pnet", "model", 2, "architecture: model JSON: layer 3 (MaxPooling2D): MaxPooling2D: unknown config key 'pool_sise'",
        pnet_with_header(model, lambda h: edit_layer(h, 2, pool_sise=[2, 2])))

    # Checkpoints (`train --resume`).
    add("checkpoint/model_not_checkpoint.pnet", "checkpoint", 2, "not a checkpoint (no optimizer state)", model)
    add("checkpoint/truncated.pnet", "checkpoint", 2, "checksum mismatch", checkpoint[:-100])
    add("checkpoint/slot_count_wrong.pnet", "checkpoint", 2, "optimizer slots, adam needs",
        pnet_with_header(checkpoint, lambda h: dict(h, optimizer=dict(h["optimizer"], slots=h["optimizer"]["slots"][:-1]))))
    add("checkpoint/optimizer_malformed.pnet", "checkpoint", 2, "malformed checkpoint section",
        pnet_with_header(checkpoint, lambda h: dict(h, optimizer=dict(h["optimizer"], iterations="many"))))
    def edit_slot(h, **changes):
        h = json.loads(json.dumps(h))
        h["optimizer"]["slots"][0].update(changes)
        return h
    add("checkpoint/slot_shape_wrong.pnet", "checkpoint", 2, "optimizer slot 0 has shape (3, 3, 1, 1), the model needs (3, 3, 1, 2)",
        pnet_with_header(checkpoint, lambda h: edit_slot(h, shape=[3, 3, 1, 1])))
    add("checkpoint/settings_incomplete.pnet", "checkpoint", 2, "checkpoint settings are incomplete",
        pnet_with_header(checkpoint, lambda h: dict(h, training=dict(h["training"], settings={"seed": 1}))))

    # Keras model JSON.
    add("json/empty.json", "model", 2, "empty.json: neither a poolnet model file", b"")
    add("json/truncated.json", "model", 2, "truncated.json: not valid JSON: [json.exception.parse_error.101] parse error at line 1, column 101", json.dumps(TINY_MODEL)[:100])
    add("json/nested_1e6_deep.json", "summary", 2, "nested_1e6_deep.json:1:105: JSON nesting deeper than 100 levels",
        '{"a":' + "[" * 999999)
    add("json/not_sequential.json", "summary", 2, "only Sequential models are supported, got class_name 'Functional'",
        json.dumps(dict(TINY_MODEL, class_name="Functional")))

    def tiny_with(index, **changes):
        m = json.loads(json.dumps(TINY_MODEL))
        m["config"]["layers"][index]["config"].update(changes)
        return json.dumps(m)

    def tiny_with_class(index, name):
        m = json.loads(json.dumps(TINY_MODEL))
        m["config"]["layers"][index]["class_name"] = name
        return json.dumps(m)
    add("json/unknown_layer.json", "summary", 2, "unknown layer type 'Conv2DTranspose'", tiny_with_class(1, "Conv2DTranspose"))
    add("json/unknown_key.json", "summary", 2, "MaxPooling2D: unknown config key 'pool_sise'", tiny_with(2, pool_sise=2))
    add("json/pool_size_zero.json", "summary", 2, "pool_size must be > 0 in every dimension, got (0, 2)", tiny_with(2, pool_size=[0, 2]))
    add("json/input_shape_overflows.json", "summary", 2, "shape (1, 1099511627776, 1099511627776, 1048576): element count overflows",
        tiny_with(0, batch_shape=[None, 2 ** 40, 2 ** 40, 2 ** 20]))
    add("json/dense_1e12_units.json", "model", 2, "Dense: kernel of shape (8, 1000000000000) would have 8000000000000 elements, more than the limit of 134217728",
        tiny_with(4, units=10 ** 12))
    # Found by fuzzing: this number made nlohmann throw out_of_range, which poolnet did not catch.
    add("json/number_out_of_range.json", "summary", 2, "number_out_of_range.json: not valid JSON: [json.exception.out_of_range.406] number overflow parsing '1e99999'",
        json.dumps(TINY_MODEL).replace('"units": 3', '"units": 1e99999'))
    add("json/dense_units_string.json", "summary", 2, 'Dense: units must be an int, got "three"',
        tiny_with(4, units="three"))

    # Conformance case files (the runner reports a failure per bad line: exit status 1).
    good = good_case_line()
    add("jsonl/not_json.jsonl", "jsonl", 1, "FAIL line 1 ?: error: malformed case: not valid JSON", "{\"id\": \"x\", \n")
    add("jsonl/nested_1e5_deep.jsonl", "jsonl", 1, "FAIL line 1 ?: error: malformed case:1:101: JSON nesting deeper than 100 levels",
        "[" * 100000 + "\n")
    add("jsonl/empty.jsonl", "jsonl", 1, "no cases: the file holds no case lines", "")
    case = json.loads(good)
    add("jsonl/input_shape_overflows.jsonl", "jsonl", 1, "element count overflows",
        json.dumps(dict(case, input_shape=[2 ** 40, 2 ** 40, 2 ** 40])) + "\n")
    add("jsonl/layer_not_string.jsonl", "jsonl", 1, "'layer' must be a string", json.dumps(dict(case, layer=7)) + "\n")
    add("jsonl/input_not_numbers.jsonl", "jsonl", 1, 'input[0]: expected a number or "nan"',
        json.dumps(dict(case, input=[True] + case["input"][1:])) + "\n")

    # CSV feature maps (`poolnet pool --input`).
    add("csv/not_a_number.csv", "csv", 2, "not_a_number.csv:2:3: 'x' is not a number", "1, 2, 3\n4, 5, x\n")
    add("csv/ragged.csv", "csv", 2, "ragged.csv:2: row has 2 values, earlier rows have 3", "1, 2, 3\n4, 5\n")
    add("csv/empty.csv", "csv", 2, "no data (expected rows of comma-separated numbers)", "# nothing here\n\n")
    add("csv/hex_float.csv", "csv", 2, "'0x1p3' is not a number", "1, 0x1p3\n")
    add("csv/out_of_range.csv", "csv", 2, "'1e39' is out of float32 range", "1e39, 1\n")

    # Images (`poolnet predict`).
    add("image/not_an_image.png", "image", 2, "not a PNG or PGM image", "GIF89a....")
    add("image/empty.png", "image", 2, "file is empty, expected a PNG or PGM image", b"")
    add("image/truncated.png", "image", 2, "(the file is truncated)", GOOD_PNG[:50])
    bad_crc = bytearray(GOOD_PNG)
    bad_crc[29] ^= 0xFF  # the IHDR chunk's CRC
    add("image/ihdr_crc_wrong.png", "image", 2, "invalid PNG: IHDR: CRC error", bytes(bad_crc))
    add("image/claims_1e10_pixels.png", "image", 2, "image is 100000x100000 = 10000000000 pixels, more than the limit of 67108864",
        png(100000, 100000, [b"\x00"]))
    add("image/claims_more_than_it_holds.png", "image", 2, "more than a PNG file of",
        png(8000, 8000, [b"\x00" * 8]))
    # Found by fuzzing: the product of these IHDR fields overflowed int64 in the size check.
    add("image/ihdr_dims_above_2_31.png", "image", 2, "image is 2880154368x4038762695 = 11632260017319701760 pixels, more than the limit",
        png(2880154368, 4038762695, [b"\x00"]))
    add("image/zero_width.png", "image", 2, "image is 0x6, expected at least 1x1", png(0, 6, []))
    add("image/p3_color.pgm", "image", 2, "netpbm format P3 is not supported, only gray PGM", "P3\n1 1\n255\n1 2 3\n")
    add("image/negative_width.pgm", "image", 2, "negative width", "P2\n-6 6\n255\n")
    add("image/p5_truncated.pgm", "image", 2, "pixel data truncated: expected 36 bytes, the file holds 5", b"P5 6 6 255\n" + b"\x01" * 5)
    add("image/p5_claims_8192x8192.pgm", "image", 2, "pixel data truncated: expected 67108864 bytes, the file holds 1",
        b"P5 8192 8192 255\n\x00")
    add("image/p2_above_maxval.pgm", "image", 2, "pixel value 300 at row 0, column 1 is above maxval 255", "P2 2 1 255\n1 300\n")
    add("image/maxval_zero.pgm", "image", 2, "maxval 0 is out of range, expected 1 to 65535", "P2 1 1 0\n0\n")
    add("image/p2_word.pgm", "image", 2, "expected pixel value (pixel 1) (a decimal number), found 'x'", "P2 2 1 255\n1 x\n")
    add("image/huge.pgm", "image", 2, "more than the limit of 67108864", "P2 100000 100000 255\n1\n")
    return cases


def write_bad_corpus(model, checkpoint, work):
    shutil.rmtree(BAD, ignore_errors=True)
    good = os.path.join(BAD, "good")
    write_tiny_mnist(os.path.join(good, "data"))
    write(os.path.join(good, "tiny.json"), json.dumps(TINY_MODEL, indent=1) + "\n")
    write(os.path.join(good, "tiny.pnet"), model)
    manifest = []
    for name, use, data_file, status, message, data in bad_cases(model, checkpoint):
        write(os.path.join(BAD, name), data)
        entry = {"file": name, "command": COMMANDS[use], "exit": status, "message": message}
        if data_file:
            entry["data_file"] = data_file
        if use == "checkpoint":
            entry["checkpoint"] = True
        manifest.append(entry)
    with open(os.path.join(BAD, "manifest.json"), "w") as f:
        json.dump({"note": "Generated by scripts/make_test_files.py; run by tests/cli/bad_inputs_test.cpp. "
                           "{file}: the bad file; {good}: tests/data/bad_inputs/good; {out}: an empty "
                           "directory that must hold no file afterwards; {data}: {good}/data with {file} "
                           "as data_file; checkpoint: {file} is copied to {out}/ckpt/checkpoint.pnet.",
                   "cases": manifest}, f, indent=1)
        f.write("\n")
    return len(manifest)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 scripts/make_test_files.py build/poolnet")
    poolnet = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        model, checkpoint = train_tiny(poolnet, work)
        seeds = write_seeds(model, checkpoint)
        count = write_bad_corpus(model, checkpoint, work)
    print("seed corpora:", ", ".join("%s %d" % kv for kv in seeds.items()))
    print("bad inputs:", count)


if __name__ == "__main__":
    main()
