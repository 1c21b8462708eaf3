#!/usr/bin/env python3
"""Cuts the real training examples of the plate reader out of the seg_and_ocr crops.

    camplane-agent alpr lines SEG/usimages/*.png > lines.jsonl
    prepare.py SEG lines.jsonl OUT_DIR

For every crop of ../shared/data/alpr/openalpr-benchmarks/seg_and_ocr (the only real
images we may train on), `alpr lines` gives the text lines the product's own detector
finds, with their corners and the general (PP-OCRv4) recogniser's text. Here:

* the line whose text is closest to the labelled plate (edit distance <= 2, or 3 when
  the line is not shorter than the plate) becomes a plate example, labelled with the
  ground truth;
* other lines the general recogniser reads with confidence >= 0.95 as 3 to 12 letters
  and digits (state names, slogans) become text examples, labelled with that reading:
  they teach the reader what a state line looks like, so the product can tell it from
  the plate's main line.

Each example is saved as a context patch (the line with a margin of its height around
it, scaled so the line is at most 48 pixels high) plus the line's corners in the patch,
so training can jitter the crop the way the detector's boxes vary. Files are split into
train and validation by a hash of the file name (20% validation), never by content.
"""
import csv
import hashlib
import json
import os
import re
import sys

import cv2
import numpy as np


def edit(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        p = d[:]
        d[0] = i
        for j, cb in enumerate(b, 1):
            d[j] = min(p[j] + 1, d[j - 1] + 1, p[j - 1] + (ca != cb))
    return d[-1]


def norm(t):
    return re.sub("[^A-Z0-9]", "", t.upper())


def split_of(name):
    return "val" if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0 else "train"


def main():
    seg, lines_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    gt = {}
    with open(os.path.join(seg, "groundtruth.csv")) as f:
        for row in csv.reader(f):
            if len(row) >= 3:
                gt[row[0]] = norm(row[2])
    os.makedirs(os.path.join(out, "patches"), exist_ok=True)
    index = []
    counts = {"plate": 0, "text": 0, "skipped": 0}
    for line in open(lines_path):
        o = json.loads(line)
        name = os.path.basename(o["image"])
        if name not in gt or "lines" not in o:
            continue
        truth = gt[name]
        img = cv2.imread(os.path.join(seg, "usimages", name), cv2.IMREAD_COLOR)
        if img is None:
            continue
        scored = sorted(
            ((edit(norm(l["text"]), truth), k) for k, l in enumerate(o["lines"])),
        )
        plate_k = None
        if scored:
            d, k = scored[0]
            if d <= 2 or (d == 3 and len(norm(o["lines"][k]["text"])) >= len(truth)):
                plate_k = k
        if plate_k is None:
            counts["skipped"] += 1
        for k, l in enumerate(o["lines"]):
            if k == plate_k:
                label, kind = truth, "plate"
            else:
                t = norm(l["text"])
                if l["confidence"] < 0.95 or not 3 <= len(t) <= 12:
                    continue
                if edit(t, truth) <= 3:  # a piece of the plate, not another line
                    continue
                label, kind = t, "text"
            q = np.array(l["corners"], dtype=np.float32)
            h = float(np.linalg.norm(q[3] - q[0]))
            if h < 4:
                continue
            x0, y0 = np.floor(q.min(0) - h).astype(int)
            x1, y1 = np.ceil(q.max(0) + h).astype(int)
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
            patch = img[y0:y1, x0:x1]
            s = min(1.0, 48.0 / h)
            if s < 1.0:
                patch = cv2.resize(patch, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            pq = ((q - [x0, y0]) * s).round(2).tolist()
            fname = f"{os.path.splitext(name)[0]}_{k}.jpg"
            cv2.imwrite(os.path.join(out, "patches", fname), patch, [cv2.IMWRITE_JPEG_QUALITY, 92])
            index.append(
                {"file": fname, "quad": pq, "label": label, "kind": kind, "split": split_of(name)}
            )
            counts[kind] += 1
    with open(os.path.join(out, "real.json"), "w") as f:
        json.dump(index, f, indent=0)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
