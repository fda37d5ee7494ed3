"""The PyTorch equivalent of Shears's ResNets (Sources/PruneEngine/Models/ResNet.swift): He et
al. 2016's CIFAR networks with torchvision's module names and option-B (1x1 convolution and
BatchNorm) shortcuts, so that a Shears state dict loads with strict=True."""
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, channels, filters, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, filters, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.downsample = None
        if stride != 1 or channels != filters:
            self.downsample = nn.Sequential(nn.Conv2d(channels, filters, 1, stride, bias=False), nn.BatchNorm2d(filters))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, channels, stages, classes):
        super().__init__()
        width = stages[0][0]
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        for index, (filters, blocks) in enumerate(stages):
            layers = []
            for block in range(blocks):
                layers.append(BasicBlock(width, filters, 2 if index > 0 and block == 0 else 1))
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


def resnet20(channels=1, classes=10):
    return ResNet(channels, [(16, 3), (32, 3), (64, 3)], classes)
