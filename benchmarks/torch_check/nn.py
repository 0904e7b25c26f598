"""Torch check: MLP forecasters against the production LightGBM on the same backtest rows.

Reads ``rows.npz`` (written by ``export.py``, see README.md here). Same protocol as the
project's backtest: the scored quarter is cut in 30-day blocks, each forecast by models trained
on the rows whose target hour lies before the block; early stopping on the last 10 % of the
training rows (by time). Two inputs: ``mlp_gbmfeats`` (the production features) and
``mlp_all`` (those plus 168 h of the community series and 24 h of every home). Each is the
mean of 3 seeds; ``blend_*`` averages it with LightGBM. Prints and writes ``nn_results.json``
(into $OUT when set). ``--dry``: ridge regression instead of torch, to test the plumbing on a
machine without torch. Needs only numpy and torch, no project code.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DRY = "--dry" in sys.argv
SEEDS = 1 if DRY else 3
BATCH = 512
if not DRY:
    import torch
    from torch import nn

    DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def wape(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.abs(y - p).sum() / np.abs(y).sum())


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int,
                hidden: tuple[int, ...] = (256, 128), epochs: int = 150, patience: int = 20
                ) -> np.ndarray:
    """Median (L1) MLP fitted on the training rows; forecasts of the test rows."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-3
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    if DRY:
        a = np.c_[x_train, np.ones(len(x_train))]
        w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ y_train)
        return np.c_[x_test, np.ones(len(x_test))] @ w
    torch.manual_seed(seed)
    n = len(x_train)
    n_val = max(200, n // 10)
    xt = torch.tensor(x_train[: n - n_val], device=DEVICE)
    yt = torch.tensor(y_train[: n - n_val], device=DEVICE)
    xv = torch.tensor(x_train[n - n_val:], device=DEVICE)
    yv = torch.tensor(y_train[n - n_val:], device=DEVICE)
    layers: list[nn.Module] = []
    width = x_train.shape[1]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(0.1)]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 1)).to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator(device=DEVICE)
    gen.manual_seed(seed)
    best, best_state, bad = np.inf, None, 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), device=DEVICE, generator=gen)
        for i in range(0, len(xt), BATCH):
            b = perm[i:i + BATCH]
            loss = (model(xt[b]).squeeze(1) - yt[b]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = (model(xv).squeeze(1) - yv).abs().mean().item()
        if val < best - 1e-5:
            best, bad = val, 0
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor(x_test, device=DEVICE)).squeeze(1).cpu().numpy()


def main() -> None:
    z = np.load(Path(__file__).with_name("rows.npz"))
    results = {}
    t0 = time.time()
    for mode in ("val", "test"):
        for horizon in ("DA", "H1"):
            k = f"{mode}_{horizon}"
            x, y = z[f"{k}_X"].astype(np.float32), z[f"{k}_y"]
            t, o = z[f"{k}_t"], z[f"{k}_o"]
            start, end = int(z[f"{k}_start"]), int(z[f"{k}_end"])
            edges = [*range(start, end, 30 * 24), end]
            scored = np.flatnonzero(o >= start)
            variants = {"mlp_all": slice(None), "mlp_gbmfeats": slice(0, int(z[f"{k}_nfeat"]))}
            preds = {v: np.zeros(len(scored), np.float32) for v in variants}
            for lo, hi in itertools.pairwise(edges):
                train, test = t < lo, (o >= lo) & (o < hi)
                if not test.any():
                    continue
                pos = np.searchsorted(scored, np.flatnonzero(test))
                for v, cols in variants.items():
                    runs = [fit_predict(x[train][:, cols], y[train], x[test][:, cols], s)
                            for s in range(SEEDS)]
                    preds[v][pos] = np.mean(runs, axis=0)
                print(f"{k}: block from hour {lo} done, {time.time() - t0:.0f} s", flush=True)
            truth, gbm = y[scored], z[f"{k}_gbm"]
            row = {"n": len(scored), "lightgbm": wape(truth, gbm),
                   "seasonal_naive": wape(truth, z[f"{k}_sn"])}
            for v in variants:
                row[v] = wape(truth, preds[v])
                row[f"blend_{v}_lightgbm"] = wape(truth, 0.5 * preds[v] + 0.5 * gbm)
            results[k] = {a: round(b, 4) for a, b in row.items()}
            print(k, json.dumps(results[k]), flush=True)
    out = Path(os.environ.get("OUT", Path(__file__).parent))
    summary = {"device": "dry-run (ridge)" if DRY else str(DEVICE), "results": results,
               "seconds": round(time.time() - t0, 1)}
    (out / "nn_results.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
