#!/usr/bin/env python3
"""
Sorted Studio training job for PyTorch: the same SoFT / SortedNet / SFT run
the app's `sorted tune` makes, on one process or many (torchrun), with DDP or
FSDP. Everything it needs is in this folder (job.json, model/, data/); it
depends on PyTorch (>= 1.13) and NumPy only.

    python3 train.py                                   # one process
    torchrun --nproc_per_node 8 train.py               # one node, 8 processes
    torchrun --nnodes 2 --nproc_per_node 8 \\
        --rdzv-backend c10d --rdzv-endpoint HOST:29500 train.py   # several nodes

The math is the app's, step for step (see the app's engine/train):
  - sub-model e = the first e layers + the model's own final norm and LM head;
    its loss is the token cross-entropy of next-token prediction over the
    counted (label != -100) targets of the whole optimizer step;
  - soft: the objective is the mean of every configured exit's loss;
    sortednet: the full model plus ONE other exit drawn from (seed, step) with
    mulberry32, as the app draws it; sft: the full model only;
  - a step's rows are micro-batches step*gradAccum .. step*gradAccum+gradAccum-1
    of batchSize rows each, in file order (shuffle off) or in the app's seeded
    per-epoch permutation; the rows are shared out among the processes, and
    every row's targets are weighted equally, so any number of processes
    computes the same step;
  - AdamW (PyTorch's), no decay on norms and biases, the app's warmup + cosine
    or constant schedule, global-norm clipping;
  - bf16 autocast on GPUs (fp32 master weights and optimizer); fp32 on CPUs.

Outputs: output/ (a Hugging Face folder with sorted.json, history.jsonl and
validation.jsonl: Models -> Import in the app), checkpoints in checkpoints/
(--resume continues from the newest).
"""
import argparse
import contextlib
import json
import math
import os
import shutil
import struct
import sys
import time

JOB_FORMAT = "sorted-studio-job"
# The job.json layout this script reads; a job written for a later one is refused.
JOB_VERSION = 1
SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3")
HF_CLASSES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
IGNORE_INDEX = -100
MASK32 = 0xFFFFFFFF


class JobError(Exception):
    """A problem with the job folder or the command line: printed as one line, exit code 2."""


def say(message):
    sys.stderr.write("train.py: %s\n" % message)
    sys.stderr.flush()


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.distributed as dist
except ImportError as missing:  # pragma: no cover - depends on the machine
    say("PyTorch is not installed for %s (%s): install torch >= 1.13 (pip install torch, or Debian's python3-torch)." % (sys.executable, missing))
    sys.exit(2)


# --------------------------------------------------------------------------- the app's seeded randomness
# Exactly engine/data/random.ts: a checkpointed or exported run depends on the same order on both sides.

def imul(a, b):
    return (a * b) & MASK32


def mulberry32(seed):
    state = [seed & MASK32]

    def draw():
        state[0] = (state[0] + 0x6D2B79F5) & MASK32
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & MASK32)) & MASK32
        return ((t ^ (t >> 14)) & MASK32) / 4294967296.0

    return draw


def permutation(n, seed):
    order = list(range(n))
    random = mulberry32(seed)
    for i in range(n - 1, 0, -1):
        j = int(math.floor(random() * (i + 1)))
        order[i], order[j] = order[j], order[i]
    return order


def epoch_seed(run_seed, epoch):
    h = (imul(run_seed & MASK32, 0x9E3779B1) ^ (epoch & MASK32)) & MASK32
    h = imul(h ^ (h >> 16), 0x85EBCA6B)
    h = imul(h ^ (h >> 13), 0xC2B2AE35)
    return (h ^ (h >> 16)) & MASK32


def sortednet_draw(seed, step):
    """The uniform number the app's trainer draws for SortedNet at `step` (seed * 1000003 + step, as a uint32)."""
    return mulberry32((seed * 1000003 + step) & MASK32)()


def learning_rate(step, peak, warmup, total, kind):
    """engine/train/schedule.ts: `step` is the 0-based optimizer step."""
    if step < warmup:
        return peak * step / max(1, warmup)
    if kind == "constant":
        return peak
    progress = (step - warmup) / max(1, total - warmup)
    return peak * max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))


# --------------------------------------------------------------------------- the job folder

def read_json(path, what):
    if not os.path.isfile(path):
        raise JobError("%s: missing (%s)" % (path, what))
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:
        raise JobError("%s: not valid JSON (%s)" % (path, error))


def field(obj, path, kinds, file):
    at = obj
    for key in path.split("."):
        if not isinstance(at, dict) or key not in at:
            raise JobError('%s: field "%s": missing' % (file, path))
        at = at[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    # JSON's true/false are ints to Python: a boolean is accepted only where one is expected.
    if not isinstance(at, kinds) or (isinstance(at, bool) and bool not in kinds):
        raise JobError('%s: field "%s": %s has the wrong type' % (file, path, json.dumps(at)))
    return at


def read_job(job_dir):
    file = os.path.join(job_dir, "job.json")
    job = read_json(file, "not a Sorted Studio job folder: export one with `sorted export-job`")
    if not isinstance(job, dict) or job.get("format") != JOB_FORMAT:
        raise JobError('%s: field "format": expected "%s" (is this a Sorted Studio job folder?)' % (file, JOB_FORMAT))
    version = field(job, "version", int, file)
    if version > JOB_VERSION:
        app = job.get("app", {}).get("version", "a newer version")
        raise JobError(
            '%s: field "version": %d, but this train.py reads job format %d; the job was written by Sorted Studio %s. '
            "Run it with the train.py exported beside it, or export the job again with this app version." % (file, version, JOB_VERSION, app)
        )
    if version < 1:
        raise JobError('%s: field "version": %d is not a job format version' % (file, version))
    arch = field(job, "model.config.architecture", str, file)
    if arch not in SUPPORTED_ARCHITECTURES:
        raise JobError('%s: field "model.config.architecture": "%s" is not supported (supported: %s)' % (file, arch, ", ".join(SUPPORTED_ARCHITECTURES)))
    for key in ("vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim"):
        field(job, "model.config." + key, int, file)
    for key in ("mode", "schedule"):
        field(job, "training." + key, str, file)
    for key in ("batchSize", "gradAccum", "totalSteps", "warmupSteps", "seqLen", "seed", "evalEvery", "checkpointEvery"):
        field(job, "training." + key, int, file)
    for key in ("lr", "weightDecay", "maxGradNorm"):
        field(job, "training." + key, (int, float), file)
    field(job, "training.exits", list, file)
    field(job, "training.shuffle", bool, file)
    if job["training"]["mode"] not in ("soft", "sortednet", "sft"):
        raise JobError('%s: field "training.mode": "%s" is not soft, sortednet or sft' % (file, job["training"]["mode"]))
    model_dir = os.path.join(job_dir, field(job, "model.dir", str, file))
    config_file = os.path.join(model_dir, "config.json")
    config = read_json(config_file, "the model's config")
    names = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(names, list) and len(names) == 1 and names[0] != HF_CLASSES[arch]:
        supported = ", ".join(HF_CLASSES[a] for a in SUPPORTED_ARCHITECTURES)
        raise JobError('%s: field "architectures": %s does not match the job (%s); supported: %s' % (config_file, names[0], HF_CLASSES[arch], supported))
    return job


def read_records(job_dir, relative, vocab, seq_len):
    """data/*.jsonl: one {"input_ids": [...], "labels": [...]} per line, already tokenized by the app."""
    path = os.path.join(job_dir, relative)
    if not os.path.isfile(path):
        raise JobError("%s: missing (the job's tokenized data): export the job again" % path)
    records = []
    with open(path, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise JobError("%s:%d: not valid JSON (%s)" % (path, number, error))
            ids, labels = record.get("input_ids") if isinstance(record, dict) else None, record.get("labels") if isinstance(record, dict) else None
            if not isinstance(ids, list) or not isinstance(labels, list):
                raise JobError('%s:%d: field "input_ids" and "labels" must be lists of token ids' % (path, number))
            if len(ids) != len(labels) or not 1 <= len(ids) <= seq_len:
                raise JobError('%s:%d: field "labels": %d labels for %d ids (at most %d tokens)' % (path, number, len(labels), len(ids), seq_len))
            if any(not isinstance(t, int) or t < 0 or t >= vocab for t in ids):
                raise JobError('%s:%d: field "input_ids": a token id outside 0..%d' % (path, number, vocab - 1))
            if any(not isinstance(t, int) or (t != IGNORE_INDEX and not 0 <= t < vocab) for t in labels):
                raise JobError('%s:%d: field "labels": a label that is neither -100 nor a token id' % (path, number))
            records.append((ids, labels))
    return records


def counted_targets(labels):
    """Targets a mean divides by: labels != -100 at positions >= 1 (position t predicts label t)."""
    return sum(1 for t in labels[1:] if t != IGNORE_INDEX)


# --------------------------------------------------------------------------- weights (safetensors, no extra package)

SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def safetensors_header(path):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise JobError("%s: too short to be a safetensors file" % path)
        (length,) = struct.unpack("<Q", head)
        if length > 100 * 1024 * 1024:
            raise JobError("%s: header of %d bytes: not a safetensors file" % (path, length))
        try:
            header = json.loads(f.read(length))
        except ValueError as error:
            raise JobError("%s: header is not valid JSON (%s)" % (path, error))
    return header, 8 + length


def weight_files(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(index):
        weight_map = read_json(index, "the weight index").get("weight_map", {})
        return sorted(set(os.path.join(model_dir, name) for name in weight_map.values()))
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.isfile(single):
        return [single]
    shards = sorted(n for n in os.listdir(model_dir) if n.startswith("model-") and n.endswith(".safetensors"))
    if not shards:
        raise JobError("%s: no model.safetensors (or shards): export the job again" % model_dir)
    return [os.path.join(model_dir, n) for n in shards]


def load_weights(model, model_dir, tied):
    """Every parameter of `model` from the folder's safetensors files, as float32, checked by name and shape."""
    wanted = dict(model.named_parameters())
    found = {}
    for path in weight_files(model_dir):
        if not os.path.isfile(path):
            raise JobError("%s: missing (named by the weight index)" % path)
        header, base = safetensors_header(path)
        with open(path, "rb") as f:
            for name, info in header.items():
                if name == "__metadata__" or name.endswith("rotary_emb.inv_freq") or (tied and name == "lm_head.weight"):
                    continue
                if name not in wanted:
                    raise JobError('%s: tensor "%s": unexpected (this model has no such weight)' % (path, name))
                dtype = SAFETENSORS_DTYPES.get(info.get("dtype"))
                if dtype is None:
                    raise JobError('%s: tensor "%s": dtype %s is not F32, F16, BF16 or F64' % (path, name, info.get("dtype")))
                shape = tuple(info["shape"])
                if shape != tuple(wanted[name].shape):
                    raise JobError('%s: tensor "%s": shape %s, but the config implies %s' % (path, name, list(shape), list(wanted[name].shape)))
                begin, end = info["data_offsets"]
                f.seek(base + begin)
                data = bytearray(f.read(end - begin))
                found[name] = torch.frombuffer(data, dtype=dtype).reshape(shape).to(torch.float32)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise JobError('%s: tensor "%s": missing from the weights' % (model_dir, missing[0]))
    with torch.no_grad():
        for name, param in wanted.items():
            param.copy_(found[name])


def write_safetensors(path, tensors):
    """tensors: [(name, float32 CPU tensor)], written as F32 with `format: pt` metadata."""
    import numpy

    header, offset, arrays = {"__metadata__": {"format": "pt"}}, 0, []
    for name, tensor in tensors:
        array = numpy.ascontiguousarray(tensor.detach().to(torch.float32).cpu().numpy())
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for array in arrays:
            f.write(array.tobytes())


# --------------------------------------------------------------------------- the model (Llama, Mistral, Qwen2, Qwen3)

def inverse_frequencies(config, sequence_length):
    """engine/model/rope.ts: θ^(-2i/D) with the dynamic-NTK and Llama 3 scalings."""
    head_dim, scaling, base = config["headDim"], config.get("ropeScaling"), float(config["ropeTheta"])
    if scaling and scaling["type"] == "dynamic" and sequence_length > config["maxPositionEmbeddings"]:
        factor = scaling["factor"]
        base *= ((factor * sequence_length) / config["maxPositionEmbeddings"] - (factor - 1)) ** (head_dim / (head_dim - 2))
    inv = [1.0 / base ** ((2 * i) / head_dim) for i in range(head_dim // 2)]
    if scaling and scaling["type"] == "llama3":
        factor, low, high, old = scaling["factor"], scaling["lowFreqFactor"], scaling["highFreqFactor"], scaling["originalMaxPositionEmbeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        for i, f in enumerate(inv):
            wavelen = 2 * math.pi / f
            if wavelen > low_wavelen:
                inv[i] = f / factor
            elif wavelen >= high_wavelen:
                smooth = (old / wavelen - low) / (high - low)
                inv[i] = (1 - smooth) * (f / factor) + smooth * f
    return inv


def rope_tables(config, length, table_length, device):
    """cos, sin [length, D], computed in float64 and stored as float32, as the app does."""
    inv = torch.tensor(inverse_frequencies(config, table_length), dtype=torch.float64)
    scaling = config.get("ropeScaling")
    linear = scaling["factor"] if scaling and scaling["type"] == "linear" else 1.0
    positions = torch.arange(length, dtype=torch.float64) / linear
    angles = positions[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return torch.cos(angles).to(torch.float32).to(device), torch.sin(angles).to(torch.float32).to(device)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size, eps, device):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(size, device=device))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.to(torch.float32)).to(dtype)


class Attention(nn.Module):
    def __init__(self, c, device):
        super().__init__()
        d, heads, kv_heads, head_dim = c["hiddenSize"], c["numHeads"], c["numKvHeads"], c["headDim"]
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        bias = bool(c.get("attentionBias"))
        self.q_proj = nn.Linear(d, heads * head_dim, bias=bias, device=device)
        self.k_proj = nn.Linear(d, kv_heads * head_dim, bias=bias, device=device)
        self.v_proj = nn.Linear(d, kv_heads * head_dim, bias=bias, device=device)
        self.o_proj = nn.Linear(heads * head_dim, d, bias=False, device=device)
        if c.get("qkNorm"):
            self.q_norm = RMSNorm(head_dim, c["rmsNormEps"], device)
            self.k_norm = RMSNorm(head_dim, c["rmsNormEps"], device)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q = q * cos.to(q.dtype) + rotate_half(q) * sin.to(q.dtype)
        k = k * cos.to(k.dtype) + rotate_half(k) * sin.to(k.dtype)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if x.is_cuda and hasattr(F, "scaled_dot_product_attention"):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # The app's order of operations: (q·kᵀ)·(1/√D), causal mask, softmax, ·v.
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
            out = torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, c, device):
        super().__init__()
        d, inter = c["hiddenSize"], c["intermediateSize"]
        self.gate_proj = nn.Linear(d, inter, bias=False, device=device)
        self.up_proj = nn.Linear(d, inter, bias=False, device=device)
        self.down_proj = nn.Linear(inter, d, bias=False, device=device)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c, device):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hiddenSize"], c["rmsNormEps"], device)
        self.self_attn = Attention(c, device)
        self.post_attention_layernorm = RMSNorm(c["hiddenSize"], c["rmsNormEps"], device)
        self.mlp = MLP(c, device)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, c, device):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocabSize"], c["hiddenSize"], device=device)
        self.layers = nn.ModuleList(DecoderLayer(c, device) for _ in range(c["numLayers"]))
        self.norm = RMSNorm(c["hiddenSize"], c["rmsNormEps"], device)


class SortedModel(nn.Module):
    """Parameter names are the Hugging Face checkpoint's (model.layers.3.mlp.up_proj.weight, lm_head.weight)."""

    def __init__(self, c, table_length, device):
        super().__init__()
        self.config, self.table_length = c, table_length
        self.model = Backbone(c, device)
        self.tied = bool(c.get("tieWordEmbeddings"))
        if not self.tied:
            self.lm_head = nn.Linear(c["hiddenSize"], c["vocabSize"], bias=False, device=device)

    def forward(self, input_ids, labels, exits):
        """Summed token cross-entropy of each exit in `exits` (ascending) over the batch's counted targets: [len(exits)] float32."""
        t = input_ids.shape[1]
        cos, sin = rope_tables(self.config, t, self.table_length, input_ids.device)
        head = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        targets = labels[:, 1:].reshape(-1)
        hidden = self.model.embed_tokens(input_ids)
        sums = []
        for index in range(max(exits)):
            hidden = self.model.layers[index](hidden, cos, sin)
            if index + 1 in exits:
                normed = self.model.norm(hidden)[:, :-1].reshape(-1, hidden.shape[-1])
                logits = F.linear(normed, head.to(normed.dtype)).float()
                sums.append(F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum"))
        return torch.stack(sums)


def no_decay(name):
    """The app's rule (transformers Trainer's): norms and biases are not decayed."""
    return name.endswith("norm.weight") or name.endswith(".bias")


# --------------------------------------------------------------------------- batches

class Batches:
    """The app's batch plan: micro-batch k = epoch k // perEpoch, rows order[(index·B + j) mod n]."""

    def __init__(self, records, training):
        self.records, self.size = records, training["batchSize"]
        self.seed, self.shuffle = training["seed"], training["shuffle"]
        self.per_epoch = int(math.ceil(len(records) / self.size))
        self.counts = [counted_targets(labels) for _, labels in records]
        self._order = (None, None)

    def order(self, epoch):
        if not self.shuffle:
            return None
        if self._order[0] != epoch:
            self._order = (epoch, permutation(len(self.records), epoch_seed(self.seed, epoch)))
        return self._order[1]

    def micro_batch(self, k):
        epoch, index = divmod(k, self.per_epoch)
        order, n = self.order(epoch), len(self.records)
        slots = [(index * self.size + j) % n for j in range(self.size)]
        return slots if order is None else [order[s] for s in slots]


def share(rows, rank, world, micro):
    """This process's rows of `rows` (contiguous, padded with None so every process runs the same micro-batches), in micro-batches."""
    per_rank = int(math.ceil(len(rows) / world)) if rows else 0
    mine = rows[rank * per_rank:(rank + 1) * per_rank]
    count = max(1, int(math.ceil(per_rank / micro)))
    mine = mine + [None] * (count * micro - len(mine))
    return [mine[i * micro:(i + 1) * micro] for i in range(count)]


def tensors_of(records, rows, device):
    """Right-padded ids and labels (-100) to the longest row: exact for a causal model, like the app's padding to seqLen."""
    length = max([2] + [len(records[r][0]) for r in rows if r is not None])
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
    for i, r in enumerate(rows):
        if r is None:
            continue
        row_ids, row_labels = records[r]
        ids[i, : len(row_ids)] = torch.tensor(row_ids, dtype=torch.long)
        labels[i, : len(row_labels)] = torch.tensor(row_labels, dtype=torch.long)
    return ids.to(device), labels.to(device)


# --------------------------------------------------------------------------- the run

class Run:
    def __init__(self, args, job_dir, job):
        self.args, self.job_dir, self.job = args, job_dir, job
        self.training, self.config = job["training"], job["model"]["config"]
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.distributed = self.world > 1
        cuda = torch.cuda.is_available() and not args.cpu
        self.device = torch.device("cuda", self.local_rank) if cuda else torch.device("cpu")
        self.backend = "nccl" if cuda else "gloo"
        self.autocast = cuda and not args.fp32
        self.micro = args.micro_batch_size or self.training["batchSize"]
        self.output = os.path.join(job_dir, "output")
        self.checkpoints = os.path.join(job_dir, "checkpoints")
        layers = self.config["numLayers"]
        mode = self.training["mode"]
        self.exits = sorted(set(int(e) for e in self.training["exits"]))
        if not self.exits or self.exits[-1] != layers or self.exits[0] < 1:
            raise JobError('job.json: field "training.exits": %s must be layer counts ending with %d (the full model)' % (self.exits, layers))
        self.trained = [layers] if mode == "sft" else self.exits
        self.history, self.validation = [], []

    # -- what a step trains
    def exits_for_step(self, step):
        layers = self.config["numLayers"]
        if self.training["mode"] != "sortednet":
            return self.trained
        others = [e for e in self.exits if e != layers]
        if not others:
            return [layers]
        return [others[int(math.floor(sortednet_draw(self.training["seed"], step) * len(others)))], layers]

    def step_rows(self, step):
        g = self.training["gradAccum"]
        rows = []
        for a in range(g):
            rows.extend(self.batches.micro_batch(step * g + a))
        return rows

    def log(self, message):
        if self.rank == 0:
            say(message)

    # -- set-up
    def check_folders(self):
        if os.path.isdir(self.output) and os.listdir(self.output):
            raise JobError("%s: already holds a model (a finished run): move it away to train again" % self.output)
        if not self.args.resume and os.path.isdir(self.checkpoints) and any(n.startswith("step-") for n in os.listdir(self.checkpoints)):
            raise JobError("%s holds checkpoints of an earlier run: pass --resume to continue it, or remove the folder" % self.checkpoints)

    def load(self):
        t = self.training
        vocab, seq_len = self.config["vocabSize"], t["seqLen"]
        self.train_records = read_records(self.job_dir, self.job["data"]["train"], vocab, seq_len)
        if not self.train_records:
            raise JobError("%s: no records to train on" % os.path.join(self.job_dir, self.job["data"]["train"]))
        validation = self.job["data"].get("validation")
        self.validation_records = read_records(self.job_dir, validation, vocab, seq_len) if validation else []
        self.batches = Batches(self.train_records, t)
        if self.args.fsdp:
            self.fsdp = fsdp_api()
        model_dir = os.path.join(self.job_dir, self.job["model"]["dir"])
        # Built without initialising (meta), then given memory and the checkpoint's weights.
        # With FSDP only rank 0 reads the weights; the others receive their shards from it.
        model = SortedModel(self.config, seq_len, torch.device("meta"))
        if self.args.fsdp and self.rank != 0:
            self.model_cpu = model
        else:
            model = model.to_empty(device=torch.device("cpu"))
            load_weights(model, model_dir, model.tied)
            self.model_cpu = model

    def setup(self):
        if self.distributed:
            dist.init_process_group(backend=self.backend)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        model = self.model_cpu
        if self.args.fsdp:
            api = self.fsdp
            policy = api["wrap_policy"](transformer_layer_cls={DecoderLayer})
            init = (lambda m: m.to_empty(device=self.device, recurse=False)) if self.rank != 0 else None
            # use_orig_params: the optimizer sees each parameter under its own name, so norms and biases
            # stay out of weight decay as in the app (flat parameters would hide the names).
            self.model = api["FSDP"](
                model,
                auto_wrap_policy=policy,
                device_id=self.device if self.device.type == "cuda" else None,
                sync_module_states=self.distributed,
                param_init_fn=init,
                use_orig_params=True,
            )
            self.inner = self.model
        else:
            model = model.to(self.device)
            self.inner = model
            self.model = nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None) if self.distributed else model
        named = list(self.model.named_parameters())
        decay = [p for n, p in named if not no_decay(clean_name(n))]
        keep = [p for n, p in named if no_decay(clean_name(n))]
        t = self.training
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": t["weightDecay"]}, {"params": keep, "weight_decay": 0.0}],
            lr=t["lr"], betas=(0.9, 0.999), eps=1e-8,
        )
        self.parameters = [p for _, p in named]

    # -- one optimizer step
    def run_step(self, step):
        t = self.training
        exits = self.exits_for_step(step)
        lr = learning_rate(step, t["lr"], t["warmupSteps"], t["totalSteps"], t["schedule"])
        rows = self.step_rows(step)
        total = sum(self.batches.counts[r] for r in rows)
        # The app's objective: mean over the step's exits of (Σ token CE / counted targets of the whole step).
        # DDP averages the processes' gradients, hence the factor `world`.
        scale = self.world / total / len(exits) if total else 0.0
        chunks = share(rows, self.rank, self.world, self.micro)
        sums = torch.zeros(len(exits), dtype=torch.float64, device=self.device)
        started = time.time()
        for i, chunk in enumerate(chunks):
            ids, labels = tensors_of(self.train_records, chunk, self.device)
            last = i == len(chunks) - 1
            quiet = self.model.no_sync() if self.distributed and not last else contextlib.nullcontext()
            with quiet:
                with self.autocast_context():
                    per_exit = self.model(ids, labels, tuple(exits))
                (per_exit.sum() * scale).backward()
            sums += per_exit.detach().to(torch.float64)
        if self.distributed:
            dist.all_reduce(sums)
        threshold = t["maxGradNorm"] if t["maxGradNorm"] > 0 else float("inf")
        if self.args.fsdp:
            grad_norm = self.model.clip_grad_norm_(threshold)
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, threshold)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        losses = {str(e): (float(sums[i]) / total if total else 0.0) for i, e in enumerate(exits)}
        seconds = max(time.time() - started, 1e-9)
        processed = t["batchSize"] * t["seqLen"] * t["gradAccum"]
        return {"step": step + 1, "loss": losses, "lr": lr, "gradNorm": float(grad_norm), "tokens": total, "tokensPerSecond": processed / seconds}

    def autocast_context(self):
        if self.autocast:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- validation: Σ token CE / counted targets over the whole validation set, per exit
    def evaluate(self, step):
        if not self.validation_records:
            return None
        rows = list(range(len(self.validation_records)))
        sums = torch.zeros(len(self.trained), dtype=torch.float64, device=self.device)
        count = 0
        # DDP's own forward would broadcast buffers; its module computes the same without communicating.
        model = self.model if self.args.fsdp else self.inner
        with torch.no_grad():
            for chunk in share(rows, self.rank, self.world, self.micro):
                ids, labels = tensors_of(self.validation_records, chunk, self.device)
                with self.autocast_context():
                    sums += model(ids, labels, tuple(self.trained)).to(torch.float64)
                count += sum(counted_targets(self.validation_records[r][1]) for r in chunk if r is not None)
        counts = torch.tensor([float(count)], dtype=torch.float64, device=self.device)
        if self.distributed:
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        total = float(counts[0])
        loss = {str(e): (float(sums[i]) / total if total else 0.0) for i, e in enumerate(self.trained)}
        return {"step": step, "loss": loss, "perplexity": {e: safe_exp(v) for e, v in loss.items()}}

    # -- checkpoints: rank 0 writes one file (DDP); with FSDP every rank writes its shard
    def checkpoint(self, step):
        state = {"step": step, "history": self.history, "validation": self.validation, "training": self.training, "world": self.world, "fsdp": bool(self.args.fsdp)}
        name = "step-%08d" % step
        if self.args.fsdp:
            api = self.fsdp
            with api["FSDP"].state_dict_type(self.model, api["StateDictType"].SHARDED_STATE_DICT):
                state["model"] = self.model.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
            folder = os.path.join(self.checkpoints, name + ".shards")
            os.makedirs(folder, exist_ok=True)
            atomic_save(state, os.path.join(folder, "rank-%05d.pt" % self.rank))
            self.barrier()
            if self.rank == 0:
                atomic_save({"step": step, "world": self.world, "fsdp": True}, os.path.join(self.checkpoints, name + ".pt"))
        elif self.rank == 0:
            state["model"] = self.inner.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
            os.makedirs(self.checkpoints, exist_ok=True)
            atomic_save(state, os.path.join(self.checkpoints, name + ".pt"))
        self.barrier()
        if self.rank == 0:
            prune_checkpoints(self.checkpoints, keep=2)
        self.log("checkpoint at step %d: %s" % (step, os.path.join(self.checkpoints, name + ".pt")))

    def resume(self):
        if not os.path.isdir(self.checkpoints):
            self.log("no checkpoint to resume from: starting at step 0")
            return 0
        names = sorted(n for n in os.listdir(self.checkpoints) if n.startswith("step-") and n.endswith(".pt"))
        if not names:
            self.log("no checkpoint to resume from: starting at step 0")
            return 0
        path = os.path.join(self.checkpoints, names[-1])
        meta = torch.load(path, map_location="cpu")
        if bool(meta.get("fsdp")) != bool(self.args.fsdp):
            raise JobError("%s was written %s FSDP: resume %s --fsdp" % (path, "with" if meta.get("fsdp") else "without", "with" if meta.get("fsdp") else "without"))
        if self.args.fsdp:
            if meta["world"] != self.world:
                raise JobError("%s was written by %d processes (FSDP shards): resume with --nproc_per_node/--nnodes giving %d" % (path, meta["world"], meta["world"]))
            state = torch.load(os.path.join(self.checkpoints, names[-1][:-3] + ".shards", "rank-%05d.pt" % self.rank), map_location="cpu")
        else:
            state = meta
        changed = [k for k in sorted(set(state["training"]) | set(self.training)) if state["training"].get(k) != self.training.get(k)]
        if changed:
            key = changed[0]
            raise JobError("%s was made with other settings (%s: %s, now %s): resume only the job it came from" % (path, key, state["training"].get(key), self.training.get(key)))
        if self.args.fsdp:
            api = self.fsdp
            with api["FSDP"].state_dict_type(self.model, api["StateDictType"].SHARDED_STATE_DICT):
                self.model.load_state_dict(state["model"])
        else:
            self.inner.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        self.history = [r for r in state["history"] if r["step"] <= step]
        self.validation = [r for r in state["validation"] if r["step"] <= step]
        self.log("resuming at step %d" % step)
        return step

    def barrier(self):
        if self.distributed:
            dist.barrier()

    # -- the tuned model
    def full_state(self):
        if self.args.fsdp:
            api = self.fsdp
            config = api["FullStateDictConfig"](offload_to_cpu=True, rank0_only=True)
            with api["FSDP"].state_dict_type(self.model, api["StateDictType"].FULL_STATE_DICT, config):
                return self.model.state_dict()
        return self.inner.state_dict()

    def write_output(self, step):
        state = self.full_state()
        if self.rank != 0:
            return
        staging = "%s.tmp-%d" % (self.output, os.getpid())
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        model_dir = os.path.join(self.job_dir, self.job["model"]["dir"])
        with open(os.path.join(model_dir, "config.json"), "r", encoding="utf-8") as f:
            config = json.load(f)
        config["torch_dtype"] = "float32"
        if "dtype" in config:
            config["dtype"] = "float32"
        write_json(os.path.join(staging, "config.json"), config)
        names = [n for n, _ in self.inner.named_parameters()] if not self.args.fsdp else list(state.keys())
        write_safetensors(os.path.join(staging, "model.safetensors"), [(clean_name(n), state[n]) for n in names if clean_name(n) in expected_names(self.config)])
        for name in self.job["model"].get("tokenizerFiles", []):
            source = os.path.join(model_dir, name)
            if os.path.isfile(source):
                shutil.copyfile(source, os.path.join(staging, name))
        final = self.validation[-1] if self.validation else None
        results = {str(e): ({"val_loss": final["loss"][str(e)], "perplexity": final["perplexity"][str(e)]} if final else {}) for e in self.trained}
        sorted_json = {
            "exits": self.trained,
            "results": results,
            "mode": self.training["mode"],
            "seed": self.training["seed"],
            "base_model": self.job["model"].get("source"),
            "data": self.job["data"].get("source"),
            "train": self.training,
            "job": {
                "format": JOB_FORMAT,
                "version": JOB_VERSION,
                "steps": step,
                "processes": self.world,
                "backend": self.backend if self.distributed else "single",
                "fsdp": bool(self.args.fsdp),
                "torch": torch.__version__,
            },
        }
        write_json(os.path.join(staging, "sorted.json"), sorted_json)
        with open(os.path.join(staging, "history.jsonl"), "w", encoding="utf-8") as f:
            for record in self.history:
                f.write(json.dumps(record) + "\n")
        with open(os.path.join(staging, "validation.jsonl"), "w", encoding="utf-8") as f:
            for record in self.validation:
                f.write(json.dumps(record) + "\n")
        if os.path.isdir(self.output):
            os.rmdir(self.output)  # empty (checked at the start)
        os.replace(staging, self.output)
        say("wrote %s" % self.output)

    def train(self):
        t = self.training
        total = t["totalSteps"]
        step = self.resume() if self.args.resume else 0
        if step > total:
            raise JobError("the checkpoints are at step %d, past the job's %d steps" % (step, total))
        self.log(
            "%s on exits %s, %d steps, %d process%s (%s%s), %d train / %d validation records"
            % (t["mode"], ",".join(map(str, self.exits)), total, self.world, "" if self.world == 1 else "es", self.device.type,
               ", FSDP" if self.args.fsdp else (", DDP" if self.distributed else ""), len(self.train_records), len(self.validation_records))
        )
        started = time.time()
        first = step
        while step < total:
            record = self.run_step(step)
            step += 1
            bad = [e for e, v in record["loss"].items() if not math.isfinite(v)]
            if bad or not math.isfinite(record["gradNorm"]):
                what = ("the loss of exit %s is %s" % (bad[0], record["loss"][bad[0]])) if bad else ("the gradient norm is %s" % record["gradNorm"])
                raise TrainingDiverged("training diverged at step %d: %s (learning rate %s); lower the learning rate and start again" % (step, what, t["lr"]))
            self.history.append(record)
            eta = (time.time() - started) / (step - first) * (total - step)
            self.log("step %d/%d  loss %s  lr %.2e  ETA %.0f s" % (step, total, " ".join("%s=%.4f" % kv for kv in record["loss"].items()), record["lr"], eta))
            if t["evalEvery"] > 0 and step % t["evalEvery"] == 0 and step < total:
                self.record_validation(step)
            if t["checkpointEvery"] > 0 and step % t["checkpointEvery"] == 0 and step < total:
                self.checkpoint(step)
        if not self.validation or self.validation[-1]["step"] != step:
            self.record_validation(step)
        self.checkpoint(step)
        self.write_output(step)
        self.barrier()

    def record_validation(self, step):
        result = self.evaluate(step)
        if result:
            self.validation.append(result)
            self.log("validation @%d: %s" % (step, " ".join("%s=%.4f" % kv for kv in result["loss"].items())))


class TrainingDiverged(Exception):
    pass


def expected_names(config):
    names = {"model.embed_tokens.weight", "model.norm.weight"}
    if not config.get("tieWordEmbeddings"):
        names.add("lm_head.weight")
    for i in range(config["numLayers"]):
        p = "model.layers.%d." % i
        for s in ("input_layernorm", "post_attention_layernorm"):
            names.add(p + s + ".weight")
        for s in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.add(p + "self_attn." + s + ".weight")
        if config.get("attentionBias"):
            for s in ("q_proj", "k_proj", "v_proj"):
                names.add(p + "self_attn." + s + ".bias")
        if config.get("qkNorm"):
            names.add(p + "self_attn.q_norm.weight")
            names.add(p + "self_attn.k_norm.weight")
        for s in ("gate_proj", "up_proj", "down_proj"):
            names.add(p + "mlp." + s + ".weight")
    return names


def clean_name(name):
    """A parameter's checkpoint name, without the wrappers' prefixes (DDP's module., FSDP's _fsdp_wrapped_module.)."""
    for prefix in ("module.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module."):
        name = name.replace(prefix, "")
    return name


def safe_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def atomic_save(state, path):
    temporary = "%s.tmp-%d" % (path, os.getpid())
    torch.save(state, temporary)
    os.replace(temporary, path)


def prune_checkpoints(folder, keep):
    names = sorted(n for n in os.listdir(folder) if n.startswith("step-") and n.endswith(".pt"))
    for name in names[:-keep]:
        os.remove(os.path.join(folder, name))
        shutil.rmtree(os.path.join(folder, name[:-3] + ".shards"), ignore_errors=True)


def fsdp_api():
    """FSDP's classes, or a JobError saying why this PyTorch cannot shard (Debian's 1.13 on Python 3.11 cannot even import it)."""
    try:
        import inspect
        from torch.distributed.fsdp import FullyShardedDataParallel, StateDictType, FullStateDictConfig
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

        if "use_orig_params" not in inspect.signature(FullyShardedDataParallel.__init__).parameters:
            raise ImportError("FSDP without use_orig_params (PyTorch < 2.0)")
    except Exception as error:  # ImportError, or the dataclass ValueError of torch 1.13 on Python 3.11
        raise JobError(
            "--fsdp: this PyTorch (%s on Python %s) cannot import FSDP (%s: %s); run without --fsdp (DDP), or with a PyTorch >= 2.0"
            % (torch.__version__, sys.version.split()[0], type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        )
    import functools

    return {
        "FSDP": FullyShardedDataParallel,
        "StateDictType": StateDictType,
        "FullStateDictConfig": FullStateDictConfig,
        "wrap_policy": lambda transformer_layer_cls: functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=transformer_layer_cls),
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a Sorted Studio training job with PyTorch (one process, or many under torchrun).")
    parser.add_argument("--job", default=os.path.dirname(os.path.abspath(__file__)), help="the job folder (default: this script's)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in JOB/checkpoints")
    parser.add_argument("--fsdp", action="store_true", help="shard parameters, gradients and optimizer state with FSDP (GPUs; PyTorch >= 2.0)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where CUDA is available")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on GPUs")
    parser.add_argument("--micro-batch-size", type=int, default=0, help="rows per forward pass on each process (default: the job's batch size); the step is the same")
    args = parser.parse_args(argv)
    if args.micro_batch_size < 0:
        raise JobError("--micro-batch-size must be a positive whole number")
    return args


def main(argv=None):
    rank = int(os.environ.get("RANK", "0"))
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        job_dir = os.path.abspath(args.job)
        job = read_job(job_dir)
        run = Run(args, job_dir, job)
        run.check_folders()
        run.load()
        run.setup()
        run.train()
    except JobError as error:
        if rank == 0:
            say(str(error))
        return 2
    except TrainingDiverged as error:
        if rank == 0:
            say(str(error))
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
