#!/usr/bin/env python3
"""RapidOCR baseline for the ALPR benchmark (agent/benches/alpr.rs runs it).

What a user would run today: RapidOCR 1.4.4 (PP-OCRv4 det + rec, ONNX Runtime, one
thread) on the whole image, keeping texts of 4-8 letters and digits with at least one
of each. Prints one JSON line per image in `camplane-agent alpr read --json` form.
usage: alpr_baseline.py IMAGE...
"""
import json, re, sys, time
from rapidocr_onnxruntime import RapidOCR

engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
for path in sys.argv[1:]:
    t = time.perf_counter()
    try:
        result, _ = engine(path)
    except Exception as e:  # noqa: BLE001 - a bad image is one error line
        print(json.dumps({"image": path, "plates": [], "error": str(e), "elapsed_ms": 0}))
        continue
    ms = (time.perf_counter() - t) * 1e3
    plates = []
    for box, text, conf in result or []:
        s = re.sub(r"[^A-Z0-9]", "", text.upper())
        if 4 <= len(s) <= 8 and re.search(r"[A-Z]", s) and re.search(r"[0-9]", s):
            xs = [p[0] for p in box]
            ys = [p[1] for p in box]
            x0, y0 = int(min(xs)), int(min(ys))
            plates.append({"text": s, "confidence": float(conf),
                           "box": [x0, y0, int(max(xs)) - x0 + 1, int(max(ys)) - y0 + 1]})
    plates.sort(key=lambda p: -p["confidence"])
    print(json.dumps({"image": path, "plates": plates, "elapsed_ms": round(ms, 1)}), flush=True)
