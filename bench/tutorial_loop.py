#!/usr/bin/env python3
"""The Python side of the GPU speed table (scripts/gpu_check.sh): PyTorch's TensorBoard tutorial
training loop ("Visualizing Models, Data, and Training with TensorBoard", its training section:
`running_loss += loss.item()` every step, SummaryWriter.add_scalar every N steps) on the data,
model and batch size of examples/fashion_mnist_cnn.

Same as `trainscope run examples/configs/fashion_mnist.toml` with scalars, histograms and images:
  data   Fashion-MNIST from the IDX files (the Debian package's folder), scaled to [0, 1] and
         normalised with mean 0.2860, std 0.3530 (trainscope's fashion_mnist normalisation),
         shuffled each epoch, batch 64, last partial batch kept;
  model  the tutorial's Net (conv 1->6 k5, pool, conv 6->16 k5, pool, fc 256-120-84-10), which is
         trainscope's simple_cnn;
  optim  Adam lr 0.002, cosine schedule per epoch (CosineAnnealingLR, T_max = epochs).
The loader is the tutorial's: torch.utils.data.DataLoader over an in-memory dataset (pinned
memory and non-blocking copies on CUDA). Logging, as the tutorial does it plus per-epoch summaries
comparable to trainscope's scalars / histograms / images plugins: every --log-every steps the
mean loss (one add_scalar); at each epoch's end the epoch's mean loss, a histogram of every
parameter and of its gradient, and a grid of 16 inputs.

Prints one line per epoch and, last, `RESULT samples_per_sec=<training samples/s of the last
epoch> device=<device>`: the time of an epoch's training loop (data, steps, logging), after a
CUDA synchronise, without evaluation (the tutorial has none in its loop).

  python3 bench/tutorial_loop.py --data DIR --device cuda --epochs 2 --log-dir /tmp/tut
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

MEAN, STD = 0.2860, 0.3530


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or raw) as a numpy array of its stated shape (uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"{folder}/{stem}[.gz] not found (apt install dataset-fashion-mnist, or --data DIR)")


class Net(nn.Module):
    """The tutorial's network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder of the IDX files")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="fashion_mnist_cnn's batch size")
    ap.add_argument("--train-limit", type=int, default=0, help="first N training images (0: all)")
    ap.add_argument("--log-every", type=int, default=100, help="steps per logged running loss")
    ap.add_argument("--log-dir", default="runs/tutorial_loop")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    folder = Path(args.data)
    images = read_idx(find(folder, "train-images-idx3-ubyte"))
    labels = read_idx(find(folder, "train-labels-idx1-ubyte"))
    if args.train_limit:
        images, labels = images[: args.train_limit], labels[: args.train_limit]
    x = (torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1) - MEAN) / STD
    y = torch.from_numpy(labels.astype(np.int64))
    cuda = device.type == "cuda"
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, pin_memory=cuda,
                        generator=torch.Generator().manual_seed(args.seed))

    net = Net().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.002)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    writer = SummaryWriter(args.log_dir)
    print(f"tutorial_loop: {len(x)} samples, batch {args.batch_size}, {args.epochs} epochs on {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    step, rate = 0, 0.0
    for epoch in range(args.epochs):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        running_loss, epoch_loss, n_batches = 0.0, 0.0, 0
        for i, (inputs, targets) in enumerate(loader):
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            step += 1
            value = loss.item()  # the tutorial's running loss: one device-to-host read per step
            running_loss += value
            epoch_loss += value
            n_batches += 1
            if (i + 1) % args.log_every == 0:
                writer.add_scalar("training loss", running_loss / args.log_every, step)
                running_loss = 0.0
        writer.add_scalar("epoch/loss", epoch_loss / max(n_batches, 1), step)
        for name, p in net.named_parameters():
            writer.add_histogram(f"weights/{name}", p, step)
            if p.grad is not None:
                writer.add_histogram(f"grads/{name}", p.grad, step)
        writer.add_images("inputs", (inputs[:16] * STD + MEAN).clamp(0, 1), step)
        scheduler.step()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        rate = len(x) / seconds
        print(f"tutorial_loop: epoch {epoch + 1}/{args.epochs}: {n_batches} steps, {len(x)} samples in "
              f"{seconds:.2f} s, {rate:.0f} samples/s, mean loss {epoch_loss / max(n_batches, 1):.4f}", flush=True)
    writer.close()
    print(f"RESULT samples_per_sec={rate:.1f} device={device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
