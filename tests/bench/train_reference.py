"""PyTorch reference for the train bench: the same SFT step on the same shape.

A plain-PyTorch LLaMA decoder stack (RMSNorm, rotary embedding, causal
attention with grouped-query heads, SwiGLU MLP, untied LM head; fp32), full
fine-tuning: token cross-entropy on the shifted labels, backward, gradient
clipping at 1, AdamW. The first step is warm-up; the mean of the timed steps
is printed as one JSON line. tests/bench/train.bench.ts runs it as a child
(when `import torch` works) so both sides are measured in the same run.

Usage: python3 train_reference.py '{"layers":4,"d":1024,"heads":16,"kvHeads":4,
  "ffn":2816,"vocab":32000,"batch":4,"seq":256,"threads":2,"steps":2}'
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(nn.Module):
    def __init__(self, d, heads, kv_heads, ffn):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, d // heads
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.q = nn.Linear(d, heads * self.head_dim, bias=False)
        self.k = nn.Linear(d, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(d, kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(heads * self.head_dim, d, bias=False)
        self.gate = nn.Linear(d, ffn, bias=False)
        self.up = nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        repeats = self.heads // self.kv_heads
        k = k.repeat_interleave(repeats, dim=1)
        v = v.repeat_interleave(repeats, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim) + mask
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o(attended)
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embed = nn.Embedding(s["vocab"], s["d"])
        self.layers = nn.ModuleList(Block(s["d"], s["heads"], s["kvHeads"], s["ffn"]) for _ in range(s["layers"]))
        self.norm = RMSNorm(s["d"])
        self.head = nn.Linear(s["d"], s["vocab"], bias=False)
        head_dim, t = s["d"] // s["heads"], s["seq"]
        inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(t).float(), inv)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.register_buffer("mask", torch.full((t, t), -1e9).triu(1), persistent=False)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.head(self.norm(x))


def main():
    s = json.loads(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(s["threads"])
    model = Llama(s)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    tokens = s["batch"] * s["seq"]
    ids = (torch.arange(tokens) * 7919 % s["vocab"]).view(s["batch"], s["seq"])
    times = []
    for step in range(s["steps"] + 1):
        started = time.perf_counter()
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, s["vocab"]), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step > 0:  # step 0 is warm-up
            times.append(time.perf_counter() - started)
    seconds = sum(times) / len(times)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "step_seconds": seconds, "tokens_per_s": tokens / seconds}))


if __name__ == "__main__":
    main()
