"""Writes the vision transformer of the Fashion-MNIST study (bench/study.ts --onnx) as PyTorch 1.13 exports it.

A timm-style pre-norm ViT, batch first, written by hand (torchvision's VisionTransformer uses nn.MultiheadAttention,
which cbp refuses): a 28×28×1 image, patch embedding by a 4×4 stride-4 convolution (49 tokens), a class token and a
learned position embedding (50 tokens), DEPTH blocks of LayerNorm → multi-head attention (qkv Linear, q, k, v by
unbind(0), q·kᵀ scaled by a Mul, softmax, ·v, proj) → residual, LayerNorm → Linear, GELU, Linear → residual; a final
LayerNorm and the head on the class token. No batch norms, no dropout. Weights as timm initialises them (truncated
normal, std 0.02, for the Linear layers, the class token and the position embedding; zero biases), seeded.

  /usr/bin/python3 bench/make_vit.py --out vit.onnx [--width 128] [--depth 4] [--heads 4] [--mlp-ratio 2] [--seed 0]

Opset 13, training mode PRESERVE on an eval() module, a dynamic batch axis; the input is `input` [N, 1, 28, 28], the
output `logits` [N, 10]. The file is made when a study starts (it is not committed): at width 128, depth 4 it is ~2 MB.

The study's size (a ViT of 4–6 layers and width 128–192 that a 2-core CPU trains in hours): the defaults, width 128, depth 4, 4 heads, MLP ×2
(540,170 parameters; CBP constrains the 16 qkv, proj, fc1 and fc2 layers, 524,288 weights; patch embedding and head
stay float). One Fashion-MNIST epoch of it on the ONNX Runtime engine (batch 256, 235 steps and the 10,000-image test
pass) took 434 s of CPU time (429 user, 5 system) — 1,596 s of wall time at 26% of a core, the machine shared — so
about 3.6 min of both cores. The whole study, 3 seeds × (10 float epochs + 2 constraints × 2 methods × 3 epochs) =
66 epochs, is about 28,600 CPU-seconds: 4.0 hours of both cores, inside the 3–5 the issue allows. This is the
smallest of that range; depth 6 or width 192 costs 1.5× or more per epoch, 6+ hours at these epochs. Ten float
epochs (the learning rate ×0.1 after the 8th) are a judgement, not a measured plateau: a ViT trained from scratch
learns slowly (62.9% top-1 after the first epoch at lr 0.05), and fewer would leave the float baseline far from what
the model can reach; 3 epochs per constrained run, as the LeNet-5 study's default, start from that float model.

  /usr/bin/python3 bench/make_vit.py --out study/vit-w128-d4.onnx
  nice -n 19 node dist/bench/study.js --onnx study/vit-w128-d4.onnx --data fashion-mnist --seeds 1,2,3 \
    --float-epochs 10 --float-lr-drops 8 --epochs 3 --quants ter,bin --methods round,ste,cbp --out study/vit-fmnist
"""
import argparse

import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        n, t, c = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(n, t, c))


class Mlp(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, mlp_ratio * width)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, side=28, patch=4, channels=1, width=128, depth=4, heads=4, mlp_ratio=2, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(channels, width, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, (side // patch) ** 2 + 1, width))
        self.blocks = nn.Sequential(*[Block(width, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, img):
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--depth', type=int, default=4)
    p.add_argument('--heads', type=int, default=4)
    p.add_argument('--mlp-ratio', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.width % a.heads != 0:
        p.error(f'--width {a.width}: must divide into --heads {a.heads}')
    torch.manual_seed(a.seed)
    model = ViT(width=a.width, depth=a.depth, heads=a.heads, mlp_ratio=a.mlp_ratio).eval()
    torch.onnx.export(model, torch.randn(1, 1, 28, 28), a.out, training=torch.onnx.TrainingMode.PRESERVE, opset_version=13,
                      input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
    params = sum(t.numel() for t in model.parameters())
    print(f'{a.out}: ViT width {a.width}, depth {a.depth}, heads {a.heads}, MLP ×{a.mlp_ratio}, {params} parameters, seed {a.seed}')


if __name__ == '__main__':
    main()
