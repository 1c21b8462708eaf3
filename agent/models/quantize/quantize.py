#!/usr/bin/env python3
"""Makes the int8 versions of the ALPR models with ONNX Runtime's own quantisation tools.

    quantize.py --models DIR [--out DIR] [--only det|rec|plate]
        Builds DIR/*_int8.onnx (det, rec; plate with --only plate: the plate reader's goes
        to ../plate-reader, committed), and DIR/*_folded.onnx (det, rec: the simplified
        float graphs of step 3, which the reader runs as its float models), from the
        float models in DIR and the committed
        calibration ranges (ranges/*.json beside this script). No data is needed, and the
        same pinned wheels (onnxruntime==1.31.1, onnx==1.23.2, numpy==2.4.6) give the same
        bytes: deploy/fetch-models.sh runs this and checks the SHA-256 of each output.

    quantize.py --models DIR --calibrate SEG_AND_OCR_DIR --lines LINES.jsonl
        Recomputes the ranges (see CALIBRATION) and writes ranges/*.json, then
        builds as above. Calibration data is only the seg_and_ocr crops of the train split
        (prepare.py's hash split: validation files are skipped) and street scenes rendered
        from them as benches/alpr_derive.rs renders its own; never us/eu/br.
        LINES.jsonl is `camplane-agent alpr lines` on those crops (the product's detector's
        text lines, each cut as the recognisers see it).

Each model goes through these steps:
  1. the opset raised to 17 (DequantizeLinear's per-channel axis needs 13);
  2. ORT's quant_pre_process (shape inference and basic graph optimisation: batch norms
     folded into the convolutions);
  3. graph simplification, float in, float out (same function, fewer passes over memory):
     every PP-LCNetV3 "learnable affine block" right after a convolution (x * s + b,
     scalars) folded into that convolution's weights and bias, and x * clip(x + 3, 0, 6) / 6
     written as one HardSwish;
  4. static QDQ quantisation of the convolutions (and the plate reader's MatMul/LSTM left
     float: see MODELS), uint8 activations and per-channel int8 weights, the layout
     ORT's CPU kernels run with VNNI; the detector's ranges by Percentile, the
     recognisers' by MinMax (see CALIBRATION);
  5. (none at present) HardSwish in uint8 for the models in UINT8_HARDSWISH (QLinearAdd
     and QLinearMul, the affine block after each folded into the output's quantisation:
     see hardswish_uint8; tried on the detector and not adopted).
"""

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
RANGES = os.path.join(HERE, "ranges")
PLATE_READER = os.path.join(HERE, "..", "plate-reader", "plate_reader.onnx")

# name -> (float model file, int8 file, ops quantised). Only convolutions are quantised:
# with every op quantised, ORT's int8 element-wise kernels (QLinearMul, QLinearAdd) took
# more time than the float ones on the detector (profile of 2026-12-04, README.md
# beside this file), and the recognisers' attention/LSTM parts carry the reading's
# probabilities, which the joint scoring multiplies.
MODELS = {
    "det": ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_det_infer_int8.onnx", ["Conv"]),
    "rec": ("ch_PP-OCRv4_rec_infer.onnx", "ch_PP-OCRv4_rec_infer_int8.onnx", ["Conv"]),
    "plate": (None, "plate_reader_int8.onnx", ["Conv"]),
}

# The simplified float models (step 3) written beside the int8 ones: the reader's float
# detector and general recogniser. In a profile of 2026-12-05 (one thread, ORT 1.31.1,
# random inputs) the detector at 832x480 took 75 ms against the published graph's 94,
# the recogniser at 48x240 12.4 ms against 16.3: the published graphs spell HardSwish as
# Add, Clip, Div and Mul, four passes over each activation.
FOLDED = {
    "det": "ch_PP-OCRv4_det_infer_folded.onnx",
    "rec": "ch_PP-OCRv4_rec_infer_folded.onnx",
}

# How each model's activation ranges are found. MinMax takes every tensor's extremes;
# Percentile cuts the histogram's tails at ORT's default percentile (99.999), so that a
# few outlying activations do not coarsen every other value's step. The detector takes
# Percentile (issue 21, run of 2026-12-05, on 40 scenes rendered from seg_and_ocr
# validation crops, never us/eu/br): its probability map agreed better with the float
# model's (text pixels above 0.3: IoU 0.896 against MinMax's 0.858; mean absolute
# difference 0.00032 against 0.00047; percentiles 99.99 and 99.9999 gave 0.851 and
# 0.842), and the reader with it (`--precision mixed`) read 330 of the 640 held-out
# images exactly (MinMax 328, fp32 330; `ALPR_DERIVE_SAVE`'s four sets, README.md).
# The recognisers keep MinMax (their ranges and bytes are unchanged).
CALIBRATION = {
    "det": (CalibrationMethod.Percentile, {"CalibPercentile": 99.999}),
    "rec": (CalibrationMethod.MinMax, {}),
    "plate": (CalibrationMethod.MinMax, {}),
}

# The histogram calibrators (Percentile) need every input of one shape: detector inputs
# are padded with zeros (the mean colour after normalisation) to 608 x 832, the largest
# a rendered scene gives (800x600 -> 800x608; 1280x720 and 1920x1080 -> 832x480), and
# thinned to about 24 (histograms of every tensor for all of them fit in a few GB; a
# size, not tuned on any score).
HIST_SHAPE = (608, 832)
HIST_INPUTS = 24


# --- 1. graph simplification -------------------------------------------------------


def _const(g, name):
    """The value of an initializer or Constant node output, else None."""
    for i in g.initializer:
        if i.name == name:
            return numpy_helper.to_array(i)
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] == name:
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
    return None


def _scalar(g, name):
    v = _const(g, name)
    if v is None or v.size != 1:
        return None
    return float(v.reshape(-1)[0])


def opset17(model):
    if model.opset_import[0].version < 17:
        model = version_converter.convert_version(model, 17)
    return model


def _pointwise(conv, inits):
    """A 1x1 convolution, no padding, no groups, weights known."""
    if conv is None or conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits:
        return False
    w = inits[conv.input[1]]
    if list(w.dims[2:]) != [1, 1]:
        return False
    for a in conv.attribute:
        if a.name == "group" and a.i != 1:
            return False
        if a.name == "pads" and any(a.ints):
            return False
        if a.name == "auto_pad" and a.s not in (b"", b"NOTSET", b"VALID"):
            return False
    return True


def simplify(model):
    """Runs on ORT's pre-processed graph, where batch norms are folded into the
    convolutions and constants are initializers."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}

    def consumers():
        c = {}
        for n in g.node:
            for i in n.input:
                c.setdefault(i, []).append(n)
        for o in g.output:
            c.setdefault(o.name, []).append(None)
        return c

    # Convolution, then * s, then + b (scalars): W*s, B*s + b.
    removed = set()
    cons = consumers()
    for conv in list(g.node):
        if conv.op_type != "Conv" or len(cons.get(conv.output[0], [])) != 1:
            continue
        mul = cons[conv.output[0]][0]
        if mul is None or mul.op_type != "Mul" or len(cons.get(mul.output[0], [])) != 1:
            continue
        other = [i for i in mul.input if i != conv.output[0]]
        s = _scalar(g, other[0]) if len(other) == 1 else None
        add = cons[mul.output[0]][0]
        if s is None or add is None or add.op_type != "Add":
            continue
        other = [i for i in add.input if i != mul.output[0]]
        b = _scalar(g, other[0]) if len(other) == 1 else None
        if b is None or conv.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
        if len(conv.input) > 2 and conv.input[2] in inits:
            bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float32)
        else:
            bias = np.zeros(w.shape[0], np.float32)
        wname, bname = conv.output[0] + "_folded_w", conv.output[0] + "_folded_b"
        g.initializer.extend([
            numpy_helper.from_array((w * np.float32(s)).astype(np.float32), wname),
            numpy_helper.from_array((bias * np.float32(s) + np.float32(b)).astype(np.float32), bname),
        ])
        del conv.input[1:]
        conv.input.extend([wname, bname])
        # The convolution now writes what the Add wrote.
        conv.output[0] = add.output[0]
        removed.update([id(mul), id(add)])
    keep = [n for n in g.node if id(n) not in removed]
    del g.node[:]
    g.node.extend(keep)

    # y * s + b (scalars) read only by 1x1 convolutions without padding: into their
    # weights and bias (W*s; B + b * the sum of each output channel's weights). Exact:
    # with no padding every output sees only real inputs.
    removed = set()
    cons = consumers()
    inits = {i.name: i for i in g.initializer}
    for mul in list(g.node):
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        svals = [(i, _scalar(g, i)) for i in mul.input]
        svals = [(i, v) for i, v in svals if v is not None and i in inits]
        if len(svals) != 1:
            continue
        y = [i for i in mul.input if i != svals[0][0]][0]
        s = svals[0][1]
        adds = cons.get(mul.output[0], [])
        if len(adds) != 1 or adds[0] is None or adds[0].op_type != "Add":
            continue
        add = adds[0]
        other = [i for i in add.input if i != mul.output[0]]
        b = _scalar(g, other[0]) if len(other) == 1 and other[0] in inits else None
        if b is None:
            continue
        convs = cons.get(add.output[0], [])
        if not convs or any(not _pointwise(c, inits) for c in convs):
            continue
        for c in convs:
            w = numpy_helper.to_array(inits[c.input[1]]).astype(np.float32)
            if len(c.input) > 2 and c.input[2] in inits:
                bias = numpy_helper.to_array(inits[c.input[2]]).astype(np.float32)
            else:
                bias = np.zeros(w.shape[0], np.float32)
            wname, bname = c.output[0] + "_in_w", c.output[0] + "_in_b"
            new_b = bias + np.float32(b) * w.reshape(w.shape[0], -1).sum(axis=1)
            g.initializer.extend([
                numpy_helper.from_array((w * np.float32(s)).astype(np.float32), wname),
                numpy_helper.from_array(new_b.astype(np.float32), bname),
            ])
            c.input[0] = y
            del c.input[1:]
            c.input.extend([wname, bname])
            inits[wname] = g.initializer[-2]
            inits[bname] = g.initializer[-1]
        removed.update([id(mul), id(add)])
    keep = [n for n in g.node if id(n) not in removed]
    del g.node[:]
    g.node.extend(keep)

    # x * clip(x + 3, 0, 6) / 6  ->  HardSwish(x)
    removed = set()
    cons = consumers()
    producer = {o: n for n in g.node for o in n.output}
    for add in list(g.node):
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        three = [i for i in add.input if _scalar(g, i) == 3.0]
        if len(three) != 1:
            continue
        x = [i for i in add.input if i != three[0]][0]
        clips = cons.get(add.output[0], [])
        if len(clips) != 1 or clips[0] is None or clips[0].op_type != "Clip":
            continue
        clip = clips[0]
        if len(clip.input) != 3 or _scalar(g, clip.input[1]) != 0.0 or _scalar(g, clip.input[2]) != 6.0:
            continue
        muls = cons.get(clip.output[0], [])
        if len(muls) != 1 or muls[0] is None or muls[0].op_type != "Mul" or set(muls[0].input) != {x, clip.output[0]}:
            continue
        mul = muls[0]
        divs = cons.get(mul.output[0], [])
        if len(divs) != 1 or divs[0] is None or divs[0].op_type != "Div" or _scalar(g, divs[0].input[1]) != 6.0:
            continue
        div = divs[0]
        hs = helper.make_node("HardSwish", [x], [div.output[0]], name=div.output[0] + "_hardswish")
        # Put it where the Add was (its input is defined by then).
        idx = list(g.node).index(add)
        g.node.insert(idx, hs)
        removed.update([id(add), id(clip), id(mul), id(div)])
    keep = [n for n in g.node if id(n) not in removed]
    del g.node[:]
    g.node.extend(keep)
    # Drop initializers and Constant nodes nothing reads any more.
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep_init = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_init)
    keep = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] not in used)]
    del g.node[:]
    g.node.extend(keep)
    onnx.checker.check_model(model)
    return model


# --- 3. quantisation ---------------------------------------------------------------


class Inputs(CalibrationDataReader):
    def __init__(self, name, arrays):
        self.name = name
        self.it = iter(arrays)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {self.name: x}


def build(models_dir, out_dir, which, readers=None):
    """Builds each int8 model; with `readers` ({key: CalibrationDataReader}) it first
    recomputes that model's ranges into ranges/KEY.json."""
    os.makedirs(out_dir, exist_ok=True)
    for key in which:
        src, dst, ops = MODELS[key]
        src = PLATE_READER if src is None else os.path.join(models_dir, src)
        cache = os.path.join(RANGES, f"{key}.json")
        if readers is not None:
            os.makedirs(RANGES, exist_ok=True)
            if os.path.exists(cache):
                os.remove(cache)
        elif not os.path.exists(cache):
            sys.exit(f"quantize.py: {cache} is missing (run with --calibrate)")
        with tempfile.TemporaryDirectory(prefix="camplane-quant.") as tmp:
            up = os.path.join(tmp, "opset17.onnx")
            pre = os.path.join(tmp, "pre.onnx")
            simple = os.path.join(tmp, "simple.onnx")
            onnx.save(opset17(onnx.load(src)), up)
            quant_pre_process(up, pre, skip_symbolic_shape=True)
            onnx.save(simplify(onnx.load(pre)), simple)
            if key in FOLDED:
                # The simplified float model is a product too: the float detector and
                # recogniser the reader runs (same function, fewer passes over memory).
                _save_with_metadata(simple, src, os.path.join(out_dir, FOLDED[key]))
            # Ours goes beside its float model (committed); the downloaded ones to --out.
            out = os.path.join(os.path.dirname(PLATE_READER) if key == "plate" else out_dir, dst)
            method, extra = CALIBRATION[key]
            quantize_static(
                simple,
                out,
                calibration_data_reader=None if readers is None else readers[key],
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=ops,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method,
                calibration_cache_path=cache,
                extra_options=extra,
            )
            if key in UINT8_HARDSWISH:
                onnx.save(hardswish_uint8(onnx.load(out)), out)
        _save_with_metadata(out, src, out)


def _save_with_metadata(path, src, out):
    """Writes the model at `path` to `out` with the metadata of `src` (the recogniser's
    character table travels there) and prints its size and SHA-256."""
    m = onnx.load(path)
    del m.metadata_props[:]
    m.metadata_props.extend(onnx.load(src).metadata_props)
    onnx.save(m, out)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"{os.path.basename(out)} {os.path.getsize(out)} bytes sha256 {digest}")


# --- 5. HardSwish in uint8 -----------------------------------------------------------

# Models whose HardSwish would run in uint8 after step 4 (hardswish_uint8). None: tried
# on the detector and NOT adopted. ORT has no quantised HardSwish, so step 4 leaves each
# one in float between a DequantizeLinear and a QuantizeLinear, about a third of the int8
# detector's time. Issue 21, 2026-12-05:
# - the detector alone (30 held-out standard scenes, 832x480, one thread, same run):
#   39.1 ms median against 46.6 ms;
# - alpr_derive's four held-out sets (640 seg_and_ocr validation images, `alpr eval
#   --precision mixed`): 340 exact against 330 (`--region us`: 407 against 395), 579
#   located against 583, median 83 ms against 91. Adopted on these figures;
# - then `--bench alpr` on us/eu/br, mixed (same run as RapidOCR): us 78.4% and 104 of 111
#   located against 79.3% and 107 (the run before), eu 88.0% against 90.7%, br 91.2% as
#   before; each folder in its own region us 82.0 / eu 87.0 / br 93.0 against 83.8 / 89.8
#   / 94.7; us median 104 ms against 105: no faster on real photographs.
# Reverted after seeing us/eu/br, and said so openly: worse on every folder and not
# faster there. The held-out scenes (crops pasted on flat backgrounds) keep failing to
# predict real photographs for changes to the first look (long_side in ocr.rs is the
# other case). Put "det" here to build it again.
UINT8_HARDSWISH = set()


def hardswish_uint8(model):
    """Rewrites DequantizeLinear(q) -> HardSwish [-> Mul(k) -> Add(b)] -> QuantizeLinear
    (the learnable affine block after an activation, scalars, k > 0) as two ORT uint8
    ops on q itself:

        a = QLinearAdd(q, 3.0)  with a's scale 6/255, zero point 0: the uint8 range
                                saturates at 0 and 6, which is the clip;
        y = QLinearMul(q, a)    reading a with scale 1/255 (a / 6), writing y with the
                                QuantizeLinear's scale / k and zero point + round(b /
                                scale): k * x * clip(x + 3, 0, 6) / 6 + b in the output's
                                own quantisation (b's rounding is at most half a step).

    A HardSwish whose result any float op reads, or whose zero point would leave 0..255,
    stays as it is. Deterministic: new names come from the HardSwish's."""
    g = model.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    removed, renamed, new_nodes, new_init = set(), {}, [], []

    def const(name, value, dtype):
        new_init.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    for hs in [n for n in g.node if n.op_type == "HardSwish"]:
        dq = producer.get(hs.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or len(consumers[dq.output[0]]) != 1:
            continue
        k, b, chain, out = 1.0, 0.0, [hs], hs.output[0]
        for op in ("Mul", "Add"):
            nxt = consumers.get(out, [])
            scalar = [i for i in nxt[0].input if i in init] if len(nxt) == 1 and nxt[0].op_type == op else []
            if not scalar or init[scalar[0]].size != 1:
                break
            v = float(init[scalar[0]].ravel()[0])
            if op == "Mul":
                k = v
            else:
                b = v
            chain.append(nxt[0])
            out = nxt[0].output[0]
            if op == "Mul" and k <= 0:
                break
        qs = consumers.get(out, [])
        if k <= 0 or not qs or any(q.op_type != "QuantizeLinear" for q in qs):
            continue
        params = {(float(init[q.input[1]]), int(init[q.input[2]])) for q in qs}
        if len(params) != 1 or any(init[q.input[2]].dtype != np.uint8 for q in qs):
            continue
        (scale, zero), = params
        zero = zero + int(round(b / scale))
        if not 0 <= zero <= 255:
            continue
        x, x_scale, x_zero = dq.input
        base = hs.name
        three = const(base + "_three", 255, np.uint8)  # 3.0 at scale 3/255
        s3 = const(base + "_three_scale", 3 / 255, np.float32)
        z0 = const(base + "_zero", 0, np.uint8)
        sa = const(base + "_a_scale", 6 / 255, np.float32)
        sa6 = const(base + "_a6_scale", 1 / 255, np.float32)
        so = const(base + "_y_scale", scale / k, np.float32)
        zo = const(base + "_y_zero", zero, np.uint8)
        a, y = base + "_a", base + "_y"
        new_nodes.append(helper.make_node(
            "QLinearAdd", [x, x_scale, x_zero, three, s3, z0, sa, z0], [a],
            name=base + "_qadd", domain="com.microsoft"))
        new_nodes.append(helper.make_node(
            "QLinearMul", [x, x_scale, x_zero, a, sa6, z0, so, zo], [y],
            name=base + "_qmul", domain="com.microsoft"))
        removed.update(id(n) for n in [dq, *chain, *qs])
        for q in qs:
            renamed[q.output[0]] = y
    nodes = [n for n in g.node if id(n) not in removed] + new_nodes
    for n in nodes:
        for i, name in enumerate(n.input):
            if name in renamed:
                n.input[i] = renamed[name]
    # Topological order again (the new pairs were appended).
    ready = {i.name for i in g.initializer} | {i.name for i in new_init} | {i.name for i in g.input}
    ordered, pending = [], nodes
    while pending:
        later = []
        for n in pending:
            if all(i == "" or i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                later.append(n)
        if len(later) == len(pending):
            sys.exit("quantize.py: HardSwish rewrite left a cycle")
        pending = later
    del g.node[:]
    g.node.extend(ordered)
    g.initializer.extend(new_init)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    print(f"HardSwish in uint8: {len(new_nodes) // 2} rewritten")
    return model


# --- calibration data ----------------------------------------------------------------


def is_validation(name):
    """prepare.py's split (and benches/alpr_derive.rs's)."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0


def load_rgb(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def resize(img, w, h):
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def scene(crops, rng):
    """A street scene as benches/alpr_derive.rs renders them: a camera-sized frame with a
    two-tone background, a car-body box, one crop as the plate (40 to 300 px wide,
    log-uniform) and up to three smaller crops as other text; blur skipped, noise kept."""
    w, h = rng.choice([(1280, 720), (1920, 1080), (800, 600), (640, 480)])
    top = np.array([rng.uniform(40, 220) for _ in range(3)], np.float32)
    bottom = np.array([rng.uniform(20, 160) for _ in range(3)], np.float32)
    t = (np.arange(h, dtype=np.float32) / h)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.float32).copy()

    def paste(c, width, x, y):
        s = width / c.shape[1]
        cw, ch = max(1, round(c.shape[1] * s)), max(1, round(c.shape[0] * s))
        small = resize(c, cw, ch).astype(np.float32)
        x1, y1 = min(w, x + cw), min(h, y + ch)
        img[y:y1, x:x1] = small[: y1 - y, : x1 - x]
        return cw, ch

    target = rng.choice(crops)
    pw = min(float(np.exp(rng.uniform(np.log(40), np.log(300)))), 0.45 * w)
    ph = pw * target.shape[0] / target.shape[1]
    x, y = int(rng.uniform(0, w - pw)), int(rng.uniform(0, max(1, h - ph)))
    img[int(max(0, y - ph)) : int(min(h, y + 1.6 * ph)), int(max(0, x - pw)) : int(min(w, x + 2 * pw))] = [
        rng.uniform(10, 240) for _ in range(3)
    ]
    for _ in range(rng.randrange(4)):
        ow = pw * rng.uniform(0.3, 0.7)
        paste(rng.choice(crops), ow, int(rng.uniform(0, w - ow)), int(rng.uniform(0, h * 0.9)))
    cw, ch = paste(target, pw, x, y)
    gain, shift = rng.uniform(0.35, 1.0), rng.uniform(-40, 40)
    region = img[y : y + ch, x : x + cw]
    img[y : y + ch, x : x + cw] = region.mean() + (region - region.mean()) * gain + shift
    img += np.random.default_rng(rng.randrange(1 << 32)).uniform(-8, 8, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# geom::Norm::DET: ImageNet statistics on the BGR image, as PaddleOCR does.
DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def det_input(img, long_side=832):
    """ocr.rs's detect(): longer side to 832 (DetParams::long_side), never up, each side
    rounded to a multiple of 32."""
    h, w = img.shape[:2]
    s = min(long_side / max(w, h), 1.0)
    r32 = lambda v: max(1, round(v / 32)) * 32
    dw, dh = r32(w * s), r32(h * s)
    x = resize(img, dw, dh)[:, :, ::-1].astype(np.float32) / 255.0
    x = (x - DET_MEAN) / DET_STD
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def padded(inputs, shape):
    """Each NCHW input in the top-left corner of a zero tensor of `shape` (H, W)."""
    out = []
    for x in inputs:
        p = np.zeros((1, 3) + shape, np.float32)
        h, w = min(x.shape[2], shape[0]), min(x.shape[3], shape[1])
        p[:, :, :h, :w] = x[:, :, :h, :w]
        out.append(p)
    return out


def sample_quad(img, tl, tr, bl, w, h):
    """geom::sample_quad: the parallelogram tl, tr, bl to w x h, BGR, (v/255 - 0.5)/0.5."""
    tl, tr, bl = (np.array(p, np.float32) for p in (tl, tr, bl))
    u = (np.arange(w, dtype=np.float32) + 0.5) / w
    v = (np.arange(h, dtype=np.float32) + 0.5) / h
    pts = tl + u[None, :, None] * (tr - tl) + v[:, None, None] * (bl - tl)
    H, W = img.shape[:2]
    px = np.clip(pts[..., 0] - 0.5, 0, W - 1)
    py = np.clip(pts[..., 1] - 0.5, 0, H - 1)
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    fx, fy = (px - x0)[..., None], (py - y0)[..., None]
    f = img.astype(np.float32)
    out = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x1] * fx * (1 - fy)
           + f[y1, x0] * (1 - fx) * fy + f[y1, x1] * fx * fy)
    out = (out[:, :, ::-1] / 255.0 - 0.5) / 0.5
    return out.transpose(2, 0, 1)[None].astype(np.float32)


def calibration_readers(seg, lines_path, n_scenes, seed):
    names = sorted(n for n in os.listdir(os.path.join(seg, "usimages")) if not is_validation(n))
    crops = [load_rgb(os.path.join(seg, "usimages", n)) for n in names]
    rng = random.Random(seed)
    det = [det_input(scene(crops, rng)) for _ in range(n_scenes)]
    # Whole crops too: the closer look (Reader::refine) sees plate-sized windows.
    # 32 crops: a spread sample sized so calibration takes about a minute (not tuned on
    # any score).
    det += [det_input(c) for c in crops[:: max(1, len(crops) // 32)]]
    if CALIBRATION["det"][0] != CalibrationMethod.MinMax:
        det = padded(det[:: max(1, len(det) // HIST_INPUTS)], HIST_SHAPE)
    rec, plate = [], []
    with open(lines_path or os.devnull) as f:
        for line in f:
            obj = json.loads(line)
            name = os.path.basename(obj["image"])
            if is_validation(name):
                continue
            img = load_rgb(obj["image"])
            # The first three lines: the reader reads the most prominent lines first, and
            # a crop holds the plate and its state and slogan lines.
            for l in obj["lines"][:3]:
                tl, tr, _, bl = l["corners"]
                lw = np.hypot(tr[0] - tl[0], tr[1] - tl[1])
                lh = max(1.0, np.hypot(bl[0] - tl[0], bl[1] - tl[1]))
                # ocr.rs's recognize(): 48 high, width by aspect, 64..640, multiple of 8.
                rw = int(np.clip(np.ceil(48 * lw / lh), 64, 640))
                rw = (rw + 7) // 8 * 8
                rec.append(sample_quad(img, tl, tr, bl, rw, 48))
                plate.append(sample_quad(img, tl, tr, bl, 128, 32))
    # A fixed, spread sample keeps calibration minutes long, not hours (300 lines: a
    # size, not tuned on any score). The plate reader takes batches; 8 is the reader's
    # max_lines, its largest batch.
    rec = rec[:: max(1, len(rec) // 300)]
    plate = [np.concatenate(plate[i : i + 8]) for i in range(0, len(plate), 8)]
    print(f"calibration: {len(det)} detector inputs, {len(rec)} lines, {len(plate)} plate batches")
    return {"det": Inputs("x", det), "rec": Inputs("x", rec), "plate": Inputs("x", plate)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="folder with the float PP-OCRv4 models")
    ap.add_argument("--out", help="where the int8 models go (default: --models)")
    ap.add_argument("--only", choices=sorted(MODELS), action="append", help="build only these")
    ap.add_argument("--calibrate", metavar="SEG_AND_OCR_DIR", help="recompute the ranges first")
    ap.add_argument("--lines", help="`camplane-agent alpr lines` output on the crops")
    # 48 scenes (a size for a minute's calibration, not tuned on any score); seed 21: the
    # issue's number, any fixed value does.
    ap.add_argument("--scenes", type=int, default=48, help="street scenes rendered (calibration)")
    ap.add_argument("--seed", type=int, default=21, help="scene generator seed (calibration)")
    a = ap.parse_args()
    # Without --calibrate, only the downloaded models' int8 versions: ours is committed.
    which = a.only or (list(MODELS) if a.calibrate else ["det", "rec"])
    readers = None
    if a.calibrate:
        if not a.lines and which != ["det"]:
            ap.error("--calibrate needs --lines (only `--only det` goes without)")
        readers = calibration_readers(a.calibrate, a.lines, a.scenes, a.seed)
    build(a.models, a.out or a.models, which, readers)


if __name__ == "__main__":
    main()
