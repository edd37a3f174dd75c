#!/usr/bin/env python3
"""maxrel.py A.safetensors B.safetensors [C …] — the largest relative difference between any
two of the files' tensors (per tensor |a − b| / max(1e-3, max|a|), as the EndToEnd tests'
ParameterDifference.maxRelative). Prints one number."""
import json, struct, sys
import numpy as np

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=np.float32).astype(np.float64)
    return out

def maxrel(a, b):
    if sorted(a) != sorted(b):
        return float("inf")
    worst = 0.0
    for name, x in a.items():
        y = b[name]
        scale = max(1e-3, float(np.abs(x).max()) if x.size else 0.0)
        worst = max(worst, float(np.abs(x - y).max()) / scale if x.size else 0.0)
    return worst

files = [load(p) for p in sys.argv[1:]]
print(max(maxrel(files[i], files[j]) for i in range(len(files)) for j in range(i + 1, len(files))))
