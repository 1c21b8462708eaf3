#!/usr/bin/env python3
"""Trains camplane's plate reader: a small CRNN (CNN + BiLSTM + CTC) that reads one
plate text line, as the product's detector cuts it, into A-Z0-9.

    train.py --real DIR --fonts DIR --out DIR [--steps N] [--device cuda]

Data (see README.md beside this file for the whole recipe):
* real: the seg_and_ocr crops cut by prepare.py (plate lines labelled with the ground
  truth, state and slogan lines labelled with the general recogniser's confident
  reading); only the "train" split is trained on, "val" is scored;
* synthetic: plate lines rendered on the fly with the fonts in --fonts (Debian
  packages fonts-dejavu-core, fonts-dejavu-extra, fonts-liberation, fonts-urw-base35),
  in US, European and Brazilian formats, with state lines above and below, borders,
  bolts, perspective, blur, noise, low resolution and JPEG artefacts.

The model's input is what the agent feeds it: the line's quadrilateral sampled to
128x32, BGR planes scaled to [-1, 1]; its output is [N, 32, 37] probabilities (blank
first, then 0-9 and A-Z), so the agent decodes it like PP-OCR's recogniser.
"""
import argparse
import copy
import glob
import json
import math
import os
import random
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
W, H = 128, 32
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

# The product's plate formats (agent/src/alpr/plate.rs), L letter, D digit.
US = ("DDDLLL LLLDDD LLLDDDD LLDDDD DDDDLL LLDDD LLLDDL DLLLDDD LDDDDDD DLLDDD LLDLDDD "
      "LDDDLL DDLLDD DDDDL DLDDDDL DDDDDL DDDLLD DLDDDD LLDLLLL LDDDDD LLLLLLD LDDDD DLLLDD "
      "LLDLDL LLLLLDD LDLLLLL LLDLL LLLLDLL LDLLLL DLLDDDD DLDDD").split()
EU = ("LLDDDLL DDDDLLL LLDDLLL DLLLDDD LLDDDD DDDDLL DDLLDD LLDDLL LLLLDD DDLLLL DDLLLD "
      "DLLLDD LLDDDL LDDDLL LLLDDL DLLDDD DDDLLD LLDDDDD LLLDDDD LLLDDLL LLLDDDL DLDDDDD "
      "DLLDDDD LLDDDDLL LLLDDD LLLLDDD LDDLLL LDDDLLL LDDDDLL LLDDDDDD LLDDDDD LLDDD "
      "LLLDD LLLLD LLDDDDD").split()
BR = ["LLLDDDD", "LLLDLDD"]
STATES = ("ALABAMA ALASKA ARIZONA CALIFORNIA COLORADO CONNECTICUT DELAWARE FLORIDA GEORGIA "
          "HAWAII IDAHO ILLINOIS INDIANA IOWA KANSAS KENTUCKY LOUISIANA MAINE MARYLAND "
          "MICHIGAN MINNESOTA MISSOURI MONTANA NEBRASKA NEVADA OHIO OKLAHOMA OREGON TEXAS "
          "UTAH VERMONT VIRGINIA WASHINGTON WISCONSIN WYOMING BRASIL DUBUQUE").split()
SLOGANS = ["LAND OF LINCOLN", "SUNSHINE STATE", "GARDEN STATE", "EMPIRE STATE",
           "GREAT LAKES", "FIELDS OF OPPORTUNITIES", "THE FIRST STATE", "COUNTY",
           "DONT MESS WITH TEXAS", "LIVE FREE OR DIE", "THE OCEAN STATE"]


# With --lookalikes (the second run, not shipped: see README.md), look-alikes are drawn
# more often, so the reader would learn O from 0, I from 1, D from 0, B from 8 in every
# font instead of guessing from how often each occurs on US plates.
CONFUSABLE_LETTERS = "OOOIIDDBBSZGQU"
CONFUSABLE_DIGITS = "000111885226"


def plate_text(rng, lookalikes=False):
    r = rng.random()
    if r < 0.15:  # any mix, 4-8
        n = rng.randint(4, 8)
        return "".join(rng.choice(ALPHABET) for _ in range(n))
    if not lookalikes:
        fmt = rng.choice(US if r < 0.6 else EU if r < 0.85 else BR)
        return "".join(rng.choice(LETTERS if c == "L" else DIGITS) for c in fmt)
    fmt = rng.choice(US if r < 0.55 else EU if r < 0.8 else BR)
    hard = rng.random() < 0.35
    letters = CONFUSABLE_LETTERS if hard else LETTERS
    digits = CONFUSABLE_DIGITS if hard else DIGITS
    return "".join(rng.choice(letters if c == "L" else digits) for c in fmt)


def rand_color(rng, lo, hi):
    return tuple(rng.randint(lo, hi) for _ in range(3))


class Synth:
    """Renders one plate text line with its surroundings and returns (image, quad)."""

    def __init__(self, fonts, stretch=False):
        self.fonts = fonts
        self.stretch = stretch
        self.cache = {}

    def font(self, path, size):
        key = (path, size)
        if key not in self.cache:
            self.cache[key] = ImageFont.truetype(path, size)
        return self.cache[key]

    def render(self, rng, text):
        ch = rng.randint(36, 60)  # character height in render pixels
        font = self.font(rng.choice(self.fonts), int(ch * 1.35))
        dark_on_light = rng.random() < 0.88
        if dark_on_light:
            bg = rand_color(rng, 170, 255)
            fg = rand_color(rng, 0, 90)
        else:
            bg = rand_color(rng, 0, 90)
            fg = rand_color(rng, 180, 255)
        spacing = rng.uniform(-0.02, 0.25) * ch
        # Split point for a gap, dash or emblem between character groups.
        split = rng.randint(2, len(text) - 2) if len(text) >= 5 and rng.random() < 0.4 else -1
        sep = rng.choice(["gap", "dash", "dot", "emblem"]) if split > 0 else None
        widths = [font.getbbox(c)[2] - font.getbbox(c)[0] for c in text]
        gap_w = {"gap": 0.5, "dash": 0.7, "dot": 0.5, "emblem": 1.1}.get(sep, 0) * ch
        text_w = sum(widths) + spacing * (len(text) - 1) + gap_w
        margin_x = rng.uniform(0.3, 1.2) * ch
        top_h = rng.uniform(0.5, 1.2) * ch
        bot_h = rng.uniform(0.4, 1.0) * ch
        pw, ph = int(text_w + 2 * margin_x), int(ch + top_h + bot_h)
        img = Image.new("RGB", (pw + 2 * ch, ph + 2 * ch), rand_color(rng, 0, 255))
        d = ImageDraw.Draw(img)
        ox, oy = ch, ch
        # Plate body, sometimes with a gradient band and a border.
        d.rectangle([ox, oy, ox + pw, oy + ph], fill=bg)
        if rng.random() < 0.3:
            band = rand_color(rng, 60, 255)
            y = oy + int(rng.uniform(0, 0.6) * ph)
            d.rectangle([ox, y, ox + pw, y + int(0.25 * ph)], fill=tuple(
                (a + b) // 2 for a, b in zip(band, bg)))
        if rng.random() < 0.5:
            d.rectangle([ox + 2, oy + 2, ox + pw - 2, oy + ph - 2],
                        outline=fg, width=max(1, int(ch * 0.06)))
        if rng.random() < 0.2:  # EU band on the left
            d.rectangle([ox, oy, ox + int(0.35 * ch), oy + ph], fill=(20, 40, 160))
        # Lines above and below the main text.
        for band_h, y0 in ((top_h, oy), (bot_h, oy + top_h + ch)):
            if rng.random() < 0.75:
                s = rng.choice(STATES + SLOGANS)
                sf = self.font(rng.choice(self.fonts), max(8, int(band_h * rng.uniform(0.45, 0.8))))
                bx = sf.getbbox(s)
                tx = ox + (pw - (bx[2] - bx[0])) / 2 + rng.uniform(-0.2, 0.2) * pw
                ty = y0 + (band_h - (bx[3] - bx[1])) / 2 - bx[1]
                col = fg if rng.random() < 0.6 else rand_color(rng, 0, 200)
                d.text((tx, ty), s, font=sf, fill=col)
        for _ in range(rng.randint(0, 2)):  # bolts
            bx = ox + rng.uniform(0.1, 0.9) * pw
            by = oy + rng.choice([0.15, 0.85]) * ph
            r = 0.08 * ch
            d.ellipse([bx - r, by - r, bx + r, by + r], fill=rand_color(rng, 80, 200))
        # Main text, character by character.
        x = ox + margin_x
        ty = oy + top_h
        for i, c in enumerate(text):
            if i == split:
                if sep == "dash":
                    d.rectangle([x + 0.15 * ch, ty + 0.45 * ch, x + 0.55 * ch, ty + 0.55 * ch], fill=fg)
                elif sep == "dot":
                    d.ellipse([x + 0.15 * ch, ty + 0.4 * ch, x + 0.35 * ch, ty + 0.6 * ch], fill=fg)
                elif sep == "emblem":
                    col = rand_color(rng, 0, 255)
                    d.ellipse([x + 0.1 * ch, ty + 0.2 * ch, x + 0.95 * ch, ty + 0.85 * ch], outline=col, width=3)
                x += gap_w
            bb = font.getbbox(c)
            # Scale each glyph's box to the character height: fonts differ in cap height.
            d.text((x - bb[0], ty - bb[1]), c, font=font, fill=fg)
            x += widths[i] + spacing
        # The text's box, as tight as the glyphs.
        cap = font.getbbox("H")
        text_box = (ox + margin_x, ty, x - spacing, ty + (cap[3] - cap[1]))
        arr = np.asarray(img)[:, :, ::-1].copy()
        if not self.stretch:
            return arr, text_box
        sx = rng.uniform(0.75, 1.3)  # narrower or wider lettering than the font's
        if abs(sx - 1.0) > 0.03:
            arr = cv2.resize(arr, (max(8, int(arr.shape[1] * sx)), arr.shape[0]),
                             interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
            x0, y0, x1, y1 = text_box
            text_box = (x0 * sx, y0, x1 * sx, y1)
        return arr, text_box


def jitter_quad(rng, quad, amount=1.0):
    """Moves a line's corners the way detector boxes vary: sides in and out, a shift,
    a little shear."""
    q = np.array(quad, dtype=np.float32)
    h = np.linalg.norm(q[3] - q[0])
    ux = (q[1] - q[0]) / max(np.linalg.norm(q[1] - q[0]), 1e-3)
    uy = (q[3] - q[0]) / max(h, 1e-3)
    a = amount
    left, right = rng.uniform(-0.1, 0.4) * h * a, rng.uniform(-0.1, 0.4) * h * a
    top, bot = rng.uniform(-0.08, 0.25) * h * a, rng.uniform(-0.08, 0.25) * h * a
    q[0] += -left * ux - top * uy
    q[1] += right * ux - top * uy
    q[2] += right * ux + bot * uy
    q[3] += -left * ux + bot * uy
    q += rng.uniform(-0.06, 0.06, size=(4, 2)).astype(np.float32) * h * a
    return q


def cut(img, quad, out_w=W, out_h=H):
    """Samples the quadrilateral to out_w x out_h (at twice the size, then area-averaged,
    like the agent's supersampling)."""
    dst = np.array([[0, 0], [2 * out_w, 0], [2 * out_w, 2 * out_h], [0, 2 * out_h]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(quad, np.float32), dst)
    big = cv2.warpPerspective(img, m, (2 * out_w, 2 * out_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, (out_w, out_h), interpolation=cv2.INTER_AREA)


def degrade(g, x):
    """Photometric damage on a 128x32 BGR line (g: a numpy Generator)."""
    if g.random() < 0.5:  # low resolution: the line was 8-28 pixels high
        lh = int(g.integers(8, 29))
        lw = max(8, int(W * lh / H))
        interp = cv2.INTER_LINEAR if g.random() < 0.5 else cv2.INTER_CUBIC
        x = cv2.resize(cv2.resize(x, (lw, lh), interpolation=cv2.INTER_AREA), (W, H),
                       interpolation=interp)
    if g.random() < 0.3:
        k = 3 if g.random() < 0.6 else 5
        x = cv2.GaussianBlur(x, (k, k), g.uniform(0.3, 1.5))
    if g.random() < 0.15:  # horizontal motion blur
        k = int(g.integers(3, 8))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        x = cv2.filter2D(x, -1, ker)
    x = x.astype(np.float32)
    if g.random() < 0.8:
        x = x * g.uniform(0.5, 1.4) + g.uniform(-50, 50)
    if g.random() < 0.3:  # colour cast
        x = x * g.uniform(0.8, 1.2, size=(1, 1, 3))
    if g.random() < 0.3:  # shadow or glare over part of the line
        x0 = int(g.integers(0, W))
        x[:, x0:x0 + int(g.integers(8, W))] *= g.uniform(0.4, 1.6)
    if g.random() < 0.5:
        x = x + g.normal(0, g.uniform(2, 14), size=x.shape)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if g.random() < 0.5:
        ok, enc = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(g.integers(15, 91))])
        if ok:
            x = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    if g.random() < 0.1:
        x = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return x


def to_tensor(x):
    return torch.from_numpy(((x.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1).copy())


def encode(label):
    return [ALPHABET.index(c) + 1 for c in label if c in ALPHABET]


class Data(torch.utils.data.IterableDataset):
    def __init__(self, real_dir, fonts, real_share, seed, lookalikes=False):
        self.real_dir = real_dir
        idx = json.load(open(os.path.join(real_dir, "real.json")))
        self.real = [r for r in idx if r["split"] == "train"]
        self.fonts = fonts
        self.real_share = real_share
        self.seed = seed
        self.lookalikes = lookalikes

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = random.Random(self.seed * 1000 + wid)
        nrng = np.random.default_rng(self.seed * 1000 + wid)
        synth = Synth(self.fonts, stretch=self.lookalikes)
        patches = {}
        while True:
            try:
                if rng.random() < self.real_share:
                    r = rng.choice(self.real)
                    if r["file"] not in patches:
                        patches[r["file"]] = cv2.imread(
                            os.path.join(self.real_dir, "patches", r["file"]), cv2.IMREAD_COLOR)
                    img = patches[r["file"]]
                    q = jitter_quad(nrng, r["quad"], amount=rng.uniform(0.3, 1.0))
                    label = r["label"]
                else:
                    label = plate_text(rng, self.lookalikes)
                    img, (x0, y0, x1, y1) = synth.render(rng, label)
                    # The detector's boxes hold the glyphs with a margin of about a
                    # fifth of their height.
                    m = 0.2 * (y1 - y0)
                    x0, y0, x1, y1 = x0 - m, y0 - 0.8 * m, x1 + m, y1 + 0.8 * m
                    q = jitter_quad(nrng, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
                    # Perspective and rotation of the whole plate.
                    c = q.mean(0)
                    ang = math.radians(rng.uniform(-6, 6))
                    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
                    q = (q - c) @ rot.T + c
                    q += nrng.normal(0, 0.04 * (y1 - y0), size=(4, 2)).astype(np.float32)
                x = degrade(nrng, cut(img, q))
                yield to_tensor(x), label
            except Exception:  # a bad render must not stop training
                continue


def collate(batch):
    xs = torch.stack([b[0] for b in batch])
    labels = [b[1] for b in batch]
    targets = torch.tensor([i for l in labels for i in encode(l)], dtype=torch.long)
    lengths = torch.tensor([len(encode(l)) for l in labels], dtype=torch.long)
    return xs, targets, lengths, labels


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(
            block(3, 32), nn.MaxPool2d(2),            # 16 x 64
            block(32, 64), nn.MaxPool2d(2),           # 8 x 32
            block(64, 96), block(96, 96), nn.MaxPool2d((2, 1)),    # 4 x 32
            block(96, 160), block(160, 160), nn.MaxPool2d((2, 1)),  # 2 x 32
            nn.Conv2d(160, 160, (2, 1), bias=False), nn.BatchNorm2d(160), nn.ReLU(inplace=True),  # 1 x 32
            nn.Dropout(0.1),
        )
        self.rnn = nn.LSTM(160, 96, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(192, len(ALPHABET) + 1)

    def forward(self, x):
        f = self.cnn(x).squeeze(2).permute(0, 2, 1)  # N, T, C
        f, _ = self.rnn(f)
        return self.fc(f)  # logits N, T, K


class Exported(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return F.softmax(self.net(x), dim=2)


def greedy(logits):
    out = []
    for row in logits.argmax(2).tolist():
        s, prev = [], 0
        for k in row:
            if k != 0 and k != prev:
                s.append(ALPHABET[k - 1])
            prev = k
        out.append("".join(s))
    return out


def load_val(real_dir):
    idx = json.load(open(os.path.join(real_dir, "real.json")))
    xs, labels, kinds = [], [], []
    for r in idx:
        if r["split"] != "val":
            continue
        img = cv2.imread(os.path.join(real_dir, "patches", r["file"]), cv2.IMREAD_COLOR)
        xs.append(to_tensor(cut(img, r["quad"])))
        labels.append(r["label"])
        kinds.append(r["kind"])
    return torch.stack(xs), labels, kinds


def evaluate(net, val, device):
    xs, labels, kinds = val
    net.eval()
    with torch.no_grad():
        pred = greedy(net(xs.to(device)).float().cpu())
    net.train()
    plate = [p == l for p, l, k in zip(pred, labels, kinds) if k == "plate"]
    text = [p == l for p, l, k in zip(pred, labels, kinds) if k == "text"]
    return sum(plate) / max(len(plate), 1), sum(text) / max(len(text), 1)


def export(net, path):
    net = copy.deepcopy(net).cpu().eval()
    torch.onnx.export(Exported(net), torch.zeros(1, 3, H, W), path, input_names=["x"],
                      output_names=["probs"], dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}},
                      opset_version=17, dynamo=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", required=True)
    ap.add_argument("--fonts", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--real-share", type=float, default=0.4)
    ap.add_argument("--max-minutes", type=float, default=1e9)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lookalikes", action="store_true",
                    help="draw O/0, I/1, D/0, B/8 ... more often and stretch lettering")
    ap.add_argument("--samples", type=int, default=0, help="write N sample inputs as PNG and stop")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    fonts = sorted(glob.glob(os.path.join(a.fonts, "*.[ot]tf")))
    data = Data(a.real, fonts, a.real_share, a.seed, a.lookalikes)
    if a.samples:
        it = iter(data)
        rows = []
        for i in range(a.samples):
            x, label = next(it)
            img = ((x.numpy().transpose(1, 2, 0) * 0.5 + 0.5) * 255).astype(np.uint8)
            rows.append(cv2.putText(np.vstack([img, np.zeros((14, W, 3), np.uint8)]), label, (2, 44),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1))
        grid = np.vstack([np.hstack(rows[i:i + 6]) for i in range(0, len(rows) - 5, 6)])
        cv2.imwrite(os.path.join(a.out, "samples.png"), grid)
        return
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, num_workers=a.workers,
                                         collate_fn=collate, persistent_workers=a.workers > 0,
                                         prefetch_factor=4 if a.workers > 0 else None)
    dev = torch.device(a.device)
    net = PlateNet().to(dev)
    print(f"parameters: {sum(p.numel() for p in net.parameters())}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.05)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    val = load_val(a.real)
    t0 = time.time()
    best = -1.0
    step = 0
    for xs, targets, lengths, _ in loader:
        xs = xs.to(dev, non_blocking=True)
        logits = net(xs)
        lp = F.log_softmax(logits.float(), 2).permute(1, 0, 2)  # T, N, K
        inl = torch.full((xs.shape[0],), lp.shape[0], dtype=torch.long)
        loss = ctc(lp, targets, inl, lengths)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        step += 1
        elapsed = (time.time() - t0) / 60
        last = step >= a.steps or elapsed > a.max_minutes
        if step % 500 == 0 or last:
            pa, ta = evaluate(net, val, dev)
            print(f"step {step} loss {loss.item():.4f} val plate {pa:.3f} text {ta:.3f} "
                  f"{elapsed:.1f} min", flush=True)
            if pa >= best and step >= a.steps // 2:
                best = pa
                torch.save(net.state_dict(), os.path.join(a.out, "best.pt"))
                export(net, os.path.join(a.out, "plate_reader.onnx"))
                net.to(dev).train()
        if last:
            break
    torch.save(net.state_dict(), os.path.join(a.out, "last.pt"))
    if os.path.exists(os.path.join(a.out, "best.pt")):
        net.load_state_dict(torch.load(os.path.join(a.out, "best.pt"), map_location=dev))
    pa, ta = evaluate(net, val, dev)
    print(f"final: val plate {pa:.3f} text {ta:.3f}", flush=True)
    export(net, os.path.join(a.out, "plate_reader.onnx"))
    print("exported", flush=True)


if __name__ == "__main__":
    main()
