"""The PyTorch equivalent of Shears's ResNets (Sources/PruneEngine/Models/ResNet.swift): He et
al. 2016's CIFAR networks with torchvision's module names and option-B (1x1 convolution and
BatchNorm) shortcuts, so that a Shears state dict loads with strict=True.

A stage is (width, blocks) when every convolution of its blocks has `width` filters, or
(width, [inner, ...]) when block b's first convolution has inner[b] filters around a residual
stream `width` channels wide (Shears' `--arch` stage item `W:I1,I2,...`)."""
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, channels, filters, stride, inner=None):
        super().__init__()
        inner = filters if inner is None else inner
        self.conv1 = nn.Conv2d(channels, inner, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(inner, filters, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.downsample = None
        if stride != 1 or channels != filters:
            self.downsample = nn.Sequential(nn.Conv2d(channels, filters, 1, stride, bias=False), nn.BatchNorm2d(filters))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def inner_widths(stage):
    """The inner width of each block of a (width, blocks) or (width, [inner, ...]) stage."""
    width, blocks = stage
    return [width] * blocks if isinstance(blocks, int) else list(blocks)


class ResNet(nn.Module):
    def __init__(self, channels, stages, classes):
        super().__init__()
        width = stages[0][0]
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        for index, stage in enumerate(stages):
            filters = stage[0]
            layers = []
            for block, inner in enumerate(inner_widths(stage)):
                layers.append(BasicBlock(width, filters, 2 if index > 0 and block == 0 else 1, inner))
                width = filters
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


RESNET20 = [(16, 3), (32, 3), (64, 3)]


def resnet20(channels=1, classes=10):
    return ResNet(channels, RESNET20, classes)


def parse_arch(text):
    """The input shape [C, H, W], stages and classes of a Shears ResNet `arch`: resnet20,
    resnet20:CxHxW or resnet:CxHxW-ITEM-...-N with items WxB and W:I1,I2,..."""
    if text == "resnet20":
        return [1, 28, 28], RESNET20, 10
    kind, _, rest = text.partition(":")
    fields = rest.split("-")
    shape = [int(v) for v in fields[0].split("x")]
    if kind == "resnet20":
        return shape, RESNET20, 10
    if kind != "resnet" or len(fields) < 3 or len(shape) != 3:
        raise ValueError(f"not a ResNet architecture: {text}")
    stages = []
    for item in fields[1:-1]:
        if ":" in item:
            width, inner = item.split(":")
            stages.append((int(width), [int(v) for v in inner.split(",")]))
        else:
            width, blocks = item.split("x")
            stages.append((int(width), int(blocks)))
    return shape, stages, int(fields[-1])


def from_arch(text):
    """The module of a Shears ResNet `arch` and its input shape [C, H, W]."""
    shape, stages, classes = parse_arch(text)
    return ResNet(shape[0], stages, classes), shape
