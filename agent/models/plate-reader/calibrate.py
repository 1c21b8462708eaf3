#!/usr/bin/env python3
"""Fits the plate reader's temperature on the seg_and_ocr validation split.

    calibrate.py --real DIR --weights best.pt

Prints, for temperatures from 1.0 to 3.0, the mean negative log-likelihood (CTC) of the
true text of the validation plate lines, and the temperature that minimises it: the
agent softens the reader's probabilities by it (PLATE_TEMPERATURE in
agent/src/alpr/ocr.rs) before scoring candidates jointly with the general recogniser.
"""
import argparse

import torch
import torch.nn.functional as F

import train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", required=True)
    ap.add_argument("--weights", required=True)
    a = ap.parse_args()
    net = train.PlateNet()
    net.load_state_dict(torch.load(a.weights, map_location="cpu"))
    net.eval()
    xs, labels, kinds = train.load_val(a.real)
    keep = [i for i, k in enumerate(kinds) if k == "plate"]
    with torch.no_grad():
        logits = net(xs[keep])
    targets = [torch.tensor(train.encode(labels[i])) for i in keep]
    best = None
    for i in range(0, 21):
        t = 1.0 + 0.1 * i
        lp = F.log_softmax(logits / t, 2).permute(1, 0, 2)
        nll = F.ctc_loss(lp, torch.cat(targets), torch.full((len(targets),), lp.shape[0]),
                         torch.tensor([len(x) for x in targets]), reduction="none",
                         zero_infinity=True).mean().item()
        print(f"temperature {t:.1f}: mean NLL {nll:.4f}")
        if best is None or nll < best[1]:
            best = (t, nll)
    print(f"best temperature {best[0]:.1f} (NLL {best[1]:.4f}) on {len(keep)} plate lines")


if __name__ == "__main__":
    main()
