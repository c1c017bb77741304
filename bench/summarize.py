#!/usr/bin/env python3
"""Summarize a `poolnet-bench --json FILE` run against the targets of issue #5.

Usage: python3 bench/summarize.py FILE

Per row: poolnet GB/s, its fraction of the same run's copy bandwidth, oneDNN time / poolnet time,
and for channels_first forward rows poolnet's channels_first time / its channels_last time.
"""
import json
import sys


def main(path):
    rows = json.load(open(path))
    copy = next(r for r in rows if r["system"] == "copy")
    key = lambda r: (r["op"], r["shape"], r["data_format"], r["direction"])
    ours = {key(r): r for r in rows if r["system"] == "poolnet"}
    onednn = {key(r): r for r in rows if r["system"] == "onednn"}
    print(f"copy {copy['gbps']:.1f} GB/s, threads {copy['threads']}")
    print(f"{'op':<18} {'shape':<17} {'format':<15} {'dir':<16} {'ms':>8} {'GB/s':>6} "
          f"{'copy%':>6} {'dnnl/us':>7} {'cf/cl':>6}")
    for k, r in ours.items():
        o = onednn.get(k)
        ratio = o["median_ms"] / r["median_ms"] if o else float("nan")
        cf_cl = ""
        if k[2] == "channels_first":
            cl = ours.get((k[0], k[1], "channels_last", k[3]))
            if cl:
                cf_cl = f"{r['median_ms'] / cl['median_ms']:.2f}"
        print(f"{k[0]:<18} {k[1]:<17} {k[2]:<15} {k[3]:<16} {r['median_ms']:8.3f} {r['gbps']:6.1f} "
              f"{100 * r['gbps'] / copy['gbps']:5.0f}% {ratio:7.2f} {cf_cl:>6}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
