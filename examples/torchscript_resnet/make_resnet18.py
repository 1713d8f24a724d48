"""Writes torchvision's ResNet-18, adapted to 28x28 grey images, as a TorchScript file.

Random initialisation (nothing is downloaded). The stem is a 3x3 convolution of stride 2 on
one channel and the max-pool is dropped, so a 28x28 image gives 14x14 maps in layer1 and 2x2
in layer4. Usage:

    python make_resnet18.py OUT.pt [--classes 10] [--seed 0] [--trace]

torch.jit.script by default; --trace writes the traced module instead (same layers by path).
"""

import argparse
from pathlib import Path

import torch
import torchvision


def resnet18_28x28(classes: int) -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=classes)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=3, stride=2, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = resnet18_28x28(args.classes)
    if args.trace:
        module = torch.jit.trace(model.eval(), torch.zeros(2, 1, 28, 28)).train()
    else:
        module = torch.jit.script(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    module.save(str(args.out))
    print(f"wrote {args.out} ({sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    main()
