#!/usr/bin/env python3
"""Writes tests/data/model/dtypes.safetensors, a safetensors file produced independently of
disa (plain struct/numpy, bf16 bits by truncating exactly representable float32 values)
with known values, read back by test_model_weights. Run from anywhere:
.venv/bin/python tests/data/model/make_fixtures.py
"""
import json
import os
import struct

import numpy as np

tensors = {
    "f32": ("F32", [2, 3], np.arange(6, dtype="<f4") * 0.5 - 1.0),
    "f16": ("F16", [3], np.array([1.5, -2.25, 65504.0], dtype="<f2")),
    "bf16": ("BF16", [2, 2],
             (np.array([1.0, -3.5, 0.0078125, 256.0], dtype="<f4").view("<u4") >> 16).astype("<u2")),
    "i64": ("I64", [4], np.array([0, -1, 2**40, 7], dtype="<i8")),
}
header = {"__metadata__": {"format": "pt", "writer": "make_fixtures.py"}}
blobs = []
offset = 0
for name, (dt, shape, arr) in tensors.items():
    raw = arr.tobytes()
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
text = json.dumps(header).encode()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dtypes.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for b in blobs:
        f.write(b)
print("wrote", out)
