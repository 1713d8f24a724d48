"""Writes torchvision's ResNet-18, adapted to 28x28 grey images, as a TorchScript file.

Random initialisation (nothing is downloaded). Adapted as is common for small images (CIFAR-style
ResNets): the stem is a 3x3 convolution of stride 1 on one channel and the max-pool is dropped,
so a 28x28 image gives 28x28 maps in layer1 and 4x4 in layer4 (--stem-stride 2: 14x14 and 2x2,
about 4x less compute, too coarse for Grad-CAM). --width scales the channels (64 is ResNet-18's:
64, 128, 256, 512 in layer1..4); any width keeps the topology and the module paths. Usage:

    python make_resnet18.py OUT.pt [--classes 10] [--width 64] [--stem-stride 1] [--seed 0] [--trace]

torch.jit.script by default; --trace writes the traced module instead (same layers by path).
"""

import argparse
from pathlib import Path

import torch
import torchvision
from torchvision.models.resnet import BasicBlock


def resnet18_28x28(classes: int, width: int = 64, stem_stride: int = 1) -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=classes)
    model.conv1 = torch.nn.Conv2d(1, width, kernel_size=3, stride=stem_stride, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    if width != 64:
        # torchvision's own stage builder, with every stage's planes scaled.
        model.inplanes = width
        model.bn1 = torch.nn.BatchNorm2d(width)
        model.layer1 = model._make_layer(BasicBlock, width, 2)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
        model.fc = torch.nn.Linear(8 * width, classes)
    for m in model.modules():  # torchvision's initialisation, for the replaced modules too
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--width", type=int, default=64, help="channels of layer1 (ResNet-18: 64)")
    parser.add_argument("--stem-stride", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.width < 1:
        parser.error(f"--width {args.width}: must be at least 1")
    torch.manual_seed(args.seed)
    model = resnet18_28x28(args.classes, args.width, args.stem_stride)
    if args.trace:
        module = torch.jit.trace(model.eval(), torch.zeros(2, 1, 28, 28)).train()
    else:
        module = torch.jit.script(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    module.save(str(args.out))
    print(f"wrote {args.out} ({sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    main()
