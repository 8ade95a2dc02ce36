"""The M3ViT workload (edgemoe.md §1) as per-layer operators with Einsum-derived work counts.

Linear layers are the Einsum ``Y[n,p] = X[k,p] * W[k,n]`` (p tokens, k inputs, n outputs);
attention is the library cascade ``edgemoe-softmax`` whose S Einsum is Q·K and whose AV Einsum is
A·V. Work counts (MACs) are products of rank extents from :func:`einsum.rank_extents`.

MoE routing is a seeded model: each token picks its top-2 of ``experts`` distinct experts,
uniformly or from a supplied distribution of expert hits; what the schedule needs is the number
of tokens queued per expert (patch reordering) and the token-expert pairs (without it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np

import einsum

LINEAR_TEXT = """cascade linear
input X[k,p], W[k,n]
output Y[n,p]

Y[n,p] = X[k,p] * W[k,n]
"""


#: Most patches a workload may have: `route` draws each token's experts one by one (about a
#: second per 65,536 tokens and MoE layer), so a 4,096 x 4,096 image of 16 x 16 patches at most.
MAX_PATCHES = 2**16

#: Most layers: the schedule lists every call of every layer (about 1.5 ms a layer), so a
#: point of 1,024 layers takes seconds; deep ViTs have at most a few dozen.
MAX_LAYERS = 1024

#: Most (token, expert) pairs per image (tokens x top_k x MoE layers): without patch
#: reordering every pair is a call of its own (about 30 us each), so ~30 s a point at most;
#: the largest image (MAX_PATCHES) at M3ViT's top-2 over 6 MoE layers has 786,444.
MAX_EXPERT_PAIRS = 2**20


@dataclass(frozen=True, slots=True)
class ViTSpec:
    """M3ViT on a ViT-Tiny backbone (defaults: edgemoe.md §1)."""

    image_c: int = field(default=3, metadata={"min": 1})
    image_h: int = field(default=128, metadata={"min": 1})
    image_w: int = field(default=256, metadata={"min": 1})
    patch: int = field(default=16, metadata={"min": 1})
    d_model: int = field(default=192, metadata={"min": 1})
    heads: int = field(default=3, metadata={"min": 1})
    layers: int = field(default=12, metadata={"min": 1, "max": MAX_LAYERS})
    mlp_hidden: int = field(default=768, metadata={"min": 1})
    experts: int = field(default=16, metadata={"min": 1})
    expert_hidden: int = field(default=384, metadata={"min": 1})
    top_k: int = field(default=2, metadata={"min": 1})
    moe_every: int = field(default=2, metadata={"min": 1})

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field rules (reported by the design loader at the key's position)."""
        out = []
        if self.d_model % self.heads:
            out.append(("heads", f"must divide d_model {self.d_model}, not {self.heads}"))
        if self.top_k > self.experts:
            out.append(("top_k", f"must be <= experts {self.experts}, not {self.top_k}"))
        if self.image_h % self.patch or self.image_w % self.patch:
            out.append(("patch", f"must divide image_h and image_w, not {self.patch}"))
        elif self.patches > MAX_PATCHES:
            out.append(("patch", f"gives {self.patches:,} patches of {self.image_h} x "
                                 f"{self.image_w}; at most {MAX_PATCHES:,} (the routing model "
                                 f"draws every token's experts): use larger patches or a "
                                 f"smaller image"))
        elif self.expert_pairs > MAX_EXPERT_PAIRS:
            out.append(("top_k", f"gives {self.expert_pairs:,} (token, expert) pairs per image "
                                 f"({self.tokens:,} tokens x top_k {self.top_k} x "
                                 f"{self.moe_layers} MoE layers); at most "
                                 f"{MAX_EXPERT_PAIRS:,} (each is scheduled as a call)"))
        return out

    @property
    def moe_layers(self) -> int:
        """Layers with an MoE block instead of the dense MLP."""
        return sum(self.is_moe(layer) for layer in range(self.layers))

    @property
    def expert_pairs(self) -> int:
        """(token, expert) pairs of one image: tokens x top_k x MoE layers."""
        return self.tokens * self.top_k * self.moe_layers

    @property
    def patches(self) -> int:
        """Image patches (16x16 stride-16 convolution outputs)."""
        return (self.image_h // self.patch) * (self.image_w // self.patch)

    @property
    def tokens(self) -> int:
        """N: patches plus the class token."""
        return self.patches + 1

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def is_moe(self, layer: int) -> bool:
        """Odd layers (1, 3, ...) are MoE for moe_every = 2."""
        return layer % self.moe_every == self.moe_every - 1


@lru_cache(maxsize=1)
def linear_cascade() -> einsum.Cascade:
    """The one-Einsum linear layer cascade."""
    return einsum.parse(LINEAR_TEXT)


def linear_macs(tokens: int, k: int, n: int) -> int:
    """MACs of ``Y[n,p] = X[k,p] W[k,n]`` from the Einsum's rank extents."""
    extents = einsum.rank_extents(linear_cascade(), {"k": k, "p": tokens, "n": n})
    return math.prod(extents[r] for r in linear_cascade().einsums[0].ranks)


def attention_macs(spec: ViTSpec) -> tuple[int, int]:
    """(Q·K MACs, A·V MACs) of one layer, all heads, from the edgemoe-softmax cascade."""
    cascade = einsum.library.get("edgemoe-softmax")
    n, e = spec.tokens, spec.head_dim
    extents = einsum.rank_extents(cascade, {"e": e, "p": n, "m": n, "f": e})
    qk = math.prod(extents[r] for r in cascade.einsum("S").ranks)
    av = math.prod(extents[r] for r in cascade.einsum("AV", "final").ranks)
    return qk * spec.heads, av * spec.heads


def total_macs(spec: ViTSpec) -> int:
    """MACs per image: patch embedding, every linear layer, attention products, gates."""
    n, d = spec.tokens, spec.d_model
    embed = linear_macs(spec.patches, spec.image_c * spec.patch**2, d)
    per_layer = 4 * linear_macs(n, d, d) + sum(attention_macs(spec))
    moe_layers = sum(spec.is_moe(i) for i in range(spec.layers))
    dense = linear_macs(n, d, spec.mlp_hidden) + linear_macs(n, spec.mlp_hidden, d)
    pairs = n * spec.top_k
    moe = (linear_macs(pairs, d, spec.expert_hidden) + linear_macs(pairs, spec.expert_hidden, d)
           + linear_macs(n, d, spec.experts))
    return (embed + spec.layers * per_layer + moe_layers * moe
            + (spec.layers - moe_layers) * dense)


@dataclass(frozen=True, slots=True)
class Routing:
    """Seeded MoE routing model: ``hits`` is a distribution over experts or empty (uniform)."""

    seed: int = field(default=0, metadata={"min": 0})  # NumPy seeds are non-negative
    hits: tuple[float, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        if self.hits and not all(math.isfinite(h) and h >= 0 for h in self.hits):
            return [("hits", f"must be finite non-negative weights, not {list(self.hits)}")]
        if self.hits and not math.isfinite(sum(self.hits)):
            return [("hits", "must have a finite sum (scale the weights down)")]
        return []


@cache  # pure, drawn token by token: the sweep points of a workload share the draws
def route(spec: ViTSpec, routing: Routing, layer: int) -> tuple[int, ...]:
    """Tokens queued per expert in MoE ``layer``: each token draws top_k distinct experts.

    Deterministic in (seed, layer). With ``hits`` the draw is weighted by it (it must have
    ``experts`` entries, checked by the design loader); sum of the result = tokens * top_k.
    """
    rng = np.random.default_rng([routing.seed, layer])
    if routing.hits:
        weights = np.asarray(routing.hits, dtype=float)
    else:
        weights = np.ones(spec.experts)
    weights = weights / weights.sum()
    counts = np.zeros(spec.experts, dtype=np.int64)
    for _ in range(spec.tokens):
        chosen = rng.choice(spec.experts, size=spec.top_k, replace=False, p=weights)
        counts[chosen] += 1
    return tuple(int(c) for c in counts)


@dataclass(frozen=True, slots=True)
class LayerOp:
    """One operator of the workload.

    ``cascade`` names the Einsum cascade it is (``linear`` or ``edgemoe-softmax``) or is empty
    for the operators that are not Einsums (LayerNorm, top-2 selection, expert queues, residual
    add); ``extents`` are its rank extents and ``macs`` the multiply-accumulates it performs.
    """

    layer: int  # -1 for the patch embedding
    name: str
    cascade: str
    extents: tuple[tuple[str, int], ...]
    macs: int


def _linear_op(layer: int, name: str, tokens: int, k: int, n: int) -> LayerOp:
    return LayerOp(layer, name, "linear", (("p", tokens), ("k", k), ("n", n)),
                   linear_macs(tokens, k, n))


def _plain(layer: int, name: str, **extents: int) -> LayerOp:
    return LayerOp(layer, name, "", tuple(extents.items()), 0)


def layers(spec: ViTSpec, routing: Routing) -> tuple[LayerOp, ...]:
    """Every operator of one image in execution order (expert queues from :func:`route`).

    Patch embedding is the 16x16 stride-16 convolution written as the linear Einsum over
    unfolded patches; attention is the ``edgemoe-softmax`` cascade (Q·K and A·V MACs).
    """
    n, d = spec.tokens, spec.d_model
    ops = [_linear_op(-1, "patch_embed", spec.patches, spec.image_c * spec.patch**2, d)]
    qk, av = attention_macs(spec)
    for i in range(spec.layers):
        ops += [_plain(i, "layernorm1", p=n, d=d)]
        ops += [_linear_op(i, name, n, d, d) for name in ("q", "k", "v")]
        ops += [LayerOp(i, "attention", "edgemoe-softmax",
                        (("p", n), ("m", n), ("e", spec.head_dim), ("heads", spec.heads)), qk + av)]
        ops += [_linear_op(i, "proj", n, d, d), _plain(i, "add1", p=n, d=d),
                _plain(i, "layernorm2", p=n, d=d)]
        if spec.is_moe(i):
            ops += [_linear_op(i, "gate", n, d, spec.experts),
                    _plain(i, "top_k", p=n, experts=spec.experts, k=spec.top_k),
                    _plain(i, "expert_queues", experts=spec.experts)]
            for e, tokens in enumerate(route(spec, routing, i)):
                if tokens:
                    ops += [_linear_op(i, f"expert{e}_fc1", tokens, d, spec.expert_hidden),
                            _linear_op(i, f"expert{e}_fc2", tokens, spec.expert_hidden, d)]
        else:
            ops += [_linear_op(i, "fc1", n, d, spec.mlp_hidden),
                    _linear_op(i, "fc2", n, spec.mlp_hidden, d)]
        ops += [_plain(i, "add2", p=n, d=d)]
    return tuple(ops)
