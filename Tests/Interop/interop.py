"""PyTorch side of Shears' interop tests (Tests/ShearsCLITests/InteropTests.swift and
ResNetInteropTests.swift).

Each command prints one JSON object on stdout; files are written where the Swift test asks.

  train DATA OUT               train nn.Sequential(784-32-16-10) on DATA's training images for a
                               few hundred steps (seed 0), save its state_dict with
                               safetensors.torch.save_file, report test accuracy and loss
  train-lenet5 DATA TEST OUT   the same for LeNet-5 (`lenet5()`), tested on TEST's test images;
                               also counts the near ties: images whose two largest logits are
                               within 1e-4, where another float summation order may flip argmax
  predict MODEL DATA LOGITS N  load a Shears checkpoint into nn.Sequential(Linear, ReLU, ...), or
          [COMPACT]            `lenet5()` when its first weight is a convolution, with
                               load_state_dict(strict=False), save the logits of the first N test
                               images; with COMPACT, rebuild the weights from Shears' compact
                               export (bitmask or CSR) and compare them with MODEL's
  prune OUT                    prune a fresh 784-32-10 model with prune.l1_unstructured and save
                               the state_dict (weight_orig, weight_mask)
  masks MODEL OUT [RECIPE...]  the masks torch.nn.utils.prune computes on MODEL's weights (Linear
                               and Conv2d layers), for the same steps the Swift test runs in
                               Shears, and the masks each recipe's own "python" function gives
  resnet-state CHANNELS N      names, shapes and dtypes of resnet.py's ResNet-20 state dict
  resnet-train DATA ARCH OUT   train resnet.py's module of a Shears ResNet ARCH (variable
          LOGITS N             widths too) 40 SGD steps on 512 of DATA's training images,
                               save its state_dict with save_file (no metadata) and the
                               eval-mode logits of the first N test images
  resnet-predict MODEL DATA    load a Shears ResNet checkpoint into resnet.py's module built
          LOGITS N STATE       from its arch metadata with strict=True (masks set aside), save
                               the logits of the first N test images and torch's state dict
  npz FOLDER                   write one 3-channel dataset with numpy itself, np.savez and
                               np.savez_compressed, uint8 and float32 (x / 255), int64 labels;
                               report the files and a few test values with their NHWC indices
"""

import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import prune

torch.set_num_threads(1)


def idx(folder, name):
    """The array of an IDX file (optionally .gz): uint8 images [n, rows, cols] or labels [n]."""
    path = os.path.join(folder, name)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def split(folder, prefix, image_shape=None):
    """Pixels as floats [n, 784] (or [n, *image_shape]) and labels [n]."""
    images = idx(folder, prefix + "-images-idx3-ubyte")
    labels = idx(folder, prefix + "-labels-idx1-ubyte")
    # Shears feeds pixels as Float(x) / 255, a true division in float32.
    x = torch.from_numpy(images.reshape(len(images), -1).copy()).float() / 255
    if image_shape:
        x = x.reshape(len(images), *image_shape)
    return x, torch.from_numpy(labels.astype(np.int64))


def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(widths[i], widths[i + 1]))
    return nn.Sequential(*layers)


def lenet5():
    """LeNet-5 as Shears' `--arch lenet5` describes it, with the same module indices."""
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def is_convolutional(state):
    first = state.get("0.weight", state.get("0.weight_orig"))
    return first is not None and first.dim() == 4


def weighted_modules(state):
    """An nn.Linear or nn.Conv2d for each i.weight (or i.weight_orig) of a state dict, holding
    its weight and bias, in an nn.ModuleDict named by index ("0", "3", ...) as nn.Sequential names
    them: what torch.nn.utils.prune and a recipe's function work on, without a forward pass."""
    modules = nn.ModuleDict()
    names = sorted({int(k.split(".")[0]) for k in state if k.split(".")[0].isdigit()})
    for i in names:
        weight = state.get(f"{i}.weight", state.get(f"{i}.weight_orig"))
        if weight.dim() == 4:
            module = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]))
        else:
            module = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(state[f"{i}.bias"])
        modules[str(i)] = module
    return modules


def near_ties(logits, tolerance=1e-4):
    """Images whose two largest logits are within tolerance."""
    top = logits.topk(2, dim=1).values
    return int(((top[:, 0] - top[:, 1]) <= tolerance).sum())


def widths_of(state):
    """The MLP widths of a state dict's chain of i.weight (or i.weight_orig) shapes."""
    weights = []
    i = 0
    while f"{i}.weight" in state or f"{i}.weight_orig" in state:
        weights.append(state.get(f"{i}.weight", state.get(f"{i}.weight_orig")))
        i += 2
    return [weights[0].shape[1]] + [w.shape[0] for w in weights]


def fit(model, x, y, tx, ty, steps, lr, out):
    """Trains with Adam on seeded random batches of 64, saves the state dict to `out` and
    returns the test figures Shears is compared with."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = torch.randint(0, len(x), (64,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(tx)
    correct = int((logits.argmax(1) == ty).sum())
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    return {
        "accuracy": correct / len(ty),
        "correct": correct,
        "samples": len(ty),
        "loss": float(nn.functional.cross_entropy(logits.double(), ty)),
        "near_ties": near_ties(logits),
    }


def train(data, out):
    torch.manual_seed(0)
    x, y = split(data, "train")
    tx, ty = split(data, "t10k")
    return fit(mlp([784, 32, 16, 10]), x, y, tx, ty, steps=400, lr=2e-3, out=out)


def train_lenet5(data, test, out):
    torch.manual_seed(0)
    x, y = split(data, "train", (1, 28, 28))
    tx, ty = split(test, "t10k", (1, 28, 28))
    return fit(lenet5(), x, y, tx, ty, steps=200, lr=1e-3, out=out)


def compact_state(path):
    """Dense weights and biases rebuilt from Shears' compact form, with numpy only."""
    tensors = load_numpy(path)
    from safetensors import safe_open

    with safe_open(path, "np") as f:
        metadata = f.metadata()
    state = {}
    for key, encoding in metadata.items():
        if not key.endswith(".weight.encoding"):
            continue
        name = key[: -len(".encoding")]
        shape = [int(v) for v in metadata[name + ".shape"].split(",")]
        rows, cols = shape[0], int(np.prod(shape[1:]))
        if encoding == "dense":
            state[name] = tensors[name]
            continue
        values = tensors[name + ".values"]
        if encoding == "bitmask":
            mask = np.unpackbits(tensors[name + ".bitmask"], bitorder="little")[: rows * cols].astype(bool)
        else:
            indptr, indices = tensors[name + ".indptr"].astype(np.int64), tensors[name + ".indices"].astype(np.int64)
            mask = np.zeros(rows * cols, dtype=bool)
            for row in range(rows):
                mask[row * cols + indices[indptr[row] : indptr[row + 1]]] = True
        dense = np.zeros(rows * cols, dtype=np.float32)
        dense[mask] = values
        state[name] = dense.reshape(shape)
    for key, value in tensors.items():
        if key.endswith(".bias"):
            state[key] = value
    return state


def predict(model_path, data, logits_path, count, compact=None):
    state = load_file(model_path)
    convolutional = is_convolutional(state)
    model = lenet5() if convolutional else mlp(widths_of(state))
    result = model.load_state_dict(state, strict=False)
    tx, _ = split(data, "t10k", (1, 28, 28) if convolutional else None)
    with torch.no_grad():
        logits = model(tx[:count])
    save_file({"logits": logits.contiguous()}, logits_path)
    report = {"missing_keys": result.missing_keys, "unexpected_keys": sorted(result.unexpected_keys)}
    if compact:
        rebuilt = compact_state(compact)
        dense = {k: v.numpy() for k, v in model.state_dict().items()}
        report["compact_keys"] = sorted(rebuilt)
        report["compact_matches"] = sorted(rebuilt) == sorted(dense) and all(
            np.array_equal(rebuilt[k], dense[k]) for k in dense
        )
    return report


def prune_torch(out):
    torch.manual_seed(1)
    model = mlp([784, 32, 10])
    prune.l1_unstructured(model[0], "weight", amount=0.6)
    prune.l1_unstructured(model[2], "weight", amount=0.3)
    state = model.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, out)
    return {
        "keys": sorted(state),
        "kept": [int(model[i].weight_mask.sum()) for i in (0, 2)],
        "params": [model[i].weight.numel() for i in (0, 2)],
    }


def masks(model_path, out, recipes):
    """Masks after each step, named like 'layer.1/0' (scope, step, module index)."""
    state = load_file(model_path)
    layers = sorted(int(i) for i in weighted_modules(state))
    hidden = layers[:-1]  # Shears never removes output neurons: they are the classes
    convolutions = [i for i in layers if state[f"{i}.weight"].dim() == 4]
    found = {}

    def record(name, model):
        for i in layers:
            module = model[str(i)]
            mask = getattr(module, "weight_mask", torch.ones_like(module.weight))
            found[f"{name}/{i}"] = mask.contiguous().float()

    model = weighted_modules(state)
    for step, amount in enumerate([0.3, 0.5]):
        for i in layers:
            prune.l1_unstructured(model[str(i)], "weight", amount=amount)
        record(f"layer.{step}", model)

    model = weighted_modules(state)
    for step, amount in enumerate([0.4, 0.5]):
        prune.global_unstructured(
            [(model[str(i)], "weight") for i in layers], pruning_method=prune.L1Unstructured, amount=amount)
        record(f"global.{step}", model)

    model = weighted_modules(state)
    for step, amount in enumerate([0.25, 0.5]):
        for i in hidden:
            prune.ln_structured(model[str(i)], "weight", amount=amount, n=2, dim=0)
        record(f"neuron.{step}", model)

    # Li et al. 2017: filters ranked by the L1 norm, on the convolutions only.
    model = weighted_modules(state)
    for step, amount in enumerate([0.25, 0.5]):
        for i in convolutions:
            prune.ln_structured(model[str(i)], "weight", amount=amount, n=1, dim=0)
        record(f"filter.{step}", model)

    for number, path in enumerate(recipes):
        with open(path) as f:
            recipe = json.load(f)
        namespace = {}
        exec(recipe["python"], namespace)
        model = namespace["apply_shears_recipe"](weighted_modules(state), path)
        record(f"recipe.{number}", model)

    save_file(found, out)
    return {"masks": sorted(found)}


def npz(folder):
    """Writes the same easy 3-class dataset four ways, images [n, 8, 8, 3] channels last: class
    c lights channel c in its own band of rows."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 3, n).astype(np.int64)
        x = rng.integers(0, 70, (n, 8, 8, 3)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, label * 8 // 3 : (label + 1) * 8 // 3, :, label] += 150
        return x, y

    x_train, y_train = split(192)
    x_test, y_test = split(64)
    files = {}
    for kind in ("uint8", "float32"):
        # Shears scales bytes as Float(x) / 255; float images are used as stored.
        cast = (lambda a: a) if kind == "uint8" else (lambda a: a.astype(np.float32) / np.float32(255))
        for save in (np.savez, np.savez_compressed):
            path = os.path.join(folder, f"{kind}-{save.__name__}.npz")
            save(path, x_train=cast(x_train), y_train=y_train, x_test=cast(x_test), y_test=y_test)
            files[f"{kind}-{save.__name__}"] = path
    probes = [[n, y, x, c, int(x_test[n, y, x, c])] for n, y, x, c in [(0, 0, 0, 0), (5, 3, 7, 2), (63, 7, 1, 1)]]
    return {"files": files, "probes": probes}


def resnet_state(channels, classes):
    """Names, shapes and dtypes of the state dict of the PyTorch ResNet-20 (resnet.py)."""
    from resnet import resnet20
    state = resnet20(int(channels), int(classes)).state_dict()
    return {"state": [[name, list(tensor.shape), str(tensor.dtype)] for name, tensor in state.items()],
            "parameters": sum(p.numel() for p in resnet20(int(channels), int(classes)).parameters())}


def resnet_recipe(dense_path, recipe_path, out):
    """Applies a Shears recipe to the unpruned ResNet-20 in PyTorch with the recipe's own
    function; writes every mask torch.nn.utils.prune made, named as Shears names them."""
    from resnet import resnet20
    state = load_file(dense_path)
    model = resnet20(state["conv1.weight"].shape[1], state["fc.weight"].shape[0])
    model.load_state_dict(state, strict=True)
    with open(recipe_path) as f:
        recipe = json.load(f)
    namespace = {}
    exec(recipe["python"], namespace)
    namespace["apply_shears_recipe"](model, recipe_path)
    found = {name: buffer.contiguous().float() for name, buffer in model.named_buffers() if name.endswith("_mask")}
    save_file(found, out)
    return {"masks": sorted(found)}
def resnet_train(data, arch, out, logits_path, count):
    """Trains the ResNet of a Shears `arch` (resnet.py's module) for a few SGD steps on DATA's
    first 512 training images (seed 0, BatchNorm in training mode, so its running statistics
    move), saves the state dict with save_file and no metadata, and the eval-mode logits of the
    first COUNT test images."""
    from resnet import from_arch

    torch.manual_seed(0)
    model, shape = from_arch(arch)
    x, y = split(data, "train", tuple(shape))
    x, y = x[:512], y[:512]
    tx, ty = split(data, "t10k", tuple(shape))
    tx, ty = tx[:count], ty[:count]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    model.train()
    steps = 40
    for step in range(steps):
        batch = torch.randint(0, len(x), (32,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(tx)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    save_file({"logits": logits.contiguous()}, logits_path)
    correct = int((logits.argmax(1) == ty).sum())
    return {"correct": correct, "samples": len(ty), "near_ties": near_ties(logits), "steps": steps,
            "parameters": sum(p.numel() for p in model.parameters())}


def resnet_predict(model_path, data, logits_path, count, state_out):
    """Loads a Shears ResNet checkpoint into resnet.py's module built from its `arch` metadata,
    with load_state_dict(strict=True) once the masks (`*.weight_mask`) are set aside: Shears
    stores the masked weights as zeros, which is checked. Saves the eval-mode logits of the
    first COUNT test images and the module's state dict as torch holds it after loading."""
    from safetensors import safe_open
    from resnet import from_arch

    with safe_open(model_path, "pt") as f:
        arch = f.metadata()["arch"]
    state = load_file(model_path)
    masks = {k: v for k, v in state.items() if k.endswith("_mask")}
    masked_zero = all(bool((state[k[: -len("_mask")]][v == 0] == 0).all()) for k, v in masks.items())
    weights = {k: v for k, v in state.items() if not k.endswith("_mask") and not k.startswith("rewind.")}
    model, shape = from_arch(arch)
    model.load_state_dict(weights, strict=True)
    model.eval()
    tx, _ = split(data, "t10k", tuple(shape))
    with torch.no_grad():
        logits = model(tx[:count])
    save_file({"logits": logits.contiguous()}, logits_path)
    loaded = model.state_dict()
    save_file({k: v.contiguous() for k, v in loaded.items()}, state_out)
    return {
        "arch": arch,
        "masks": sorted(masks),
        "masked_weights_zero": masked_zero,
        "dtypes": {k: str(v.dtype) for k, v in weights.items() if k.endswith("num_batches_tracked")},
        "unchanged": sorted(loaded) == sorted(weights)
        and all(loaded[k].dtype == weights[k].dtype and torch.equal(loaded[k], weights[k]) for k in weights),
    }


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "train":
        result = train(*args)
    elif command == "train-lenet5":
        result = train_lenet5(*args)
    elif command == "predict":
        result = predict(args[0], args[1], args[2], int(args[3]), args[4] if len(args) > 4 else None)
    elif command == "prune":
        result = prune_torch(*args)
    elif command == "masks":
        result = masks(args[0], args[1], args[2:])
    elif command == "npz":
        result = npz(*args)
    elif command == "resnet-state":
        result = resnet_state(*args)
    elif command == "resnet-recipe":
        result = resnet_recipe(*args)
    elif command == "resnet-train":
        result = resnet_train(args[0], args[1], args[2], args[3], int(args[4]))
    elif command == "resnet-predict":
        result = resnet_predict(args[0], args[1], args[2], int(args[3]), args[4])
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
