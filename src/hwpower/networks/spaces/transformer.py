"""Transformer operator graphs: vision (ViT), text encoder (BERT-like) and decoder (GPT-like).

Per network: variant, depth 2..24, heads 3..16, head width (hidden 192..1024), MLP ratio, and
for ViT the patch size and resolution (sequence = patches + class token), for text the sequence
length 64..512 and vocabulary. Attention is written out per operator: fused QKV linear, the
per-head tensors (batch, heads, tokens, head width) by view and permute, Q K^T and A V matmuls,
softmax (the 1/sqrt(d) scale folded into it; the decoder's causal mask a ``where``), the output
projection. Layer norms are separate operators; the MLP's GELU is fused into its first linear.
ViT-Ti/S/B/L and DeiT configurations are excluded; text vocabularies are multiples of 1000,
unlike BERT's or GPT-2's, so no zoo model is ever drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..builder import GraphBuilder
from ..graph import GraphNetwork
from .registry import graph_key, register_space
from .parts import NUM_CLASSES, pick

VARIANTS = ("vit", "encoder", "decoder")
MAX_POSITIONS = 512  # rows of the text models' learned position table

# (depth, hidden, heads, mlp ratio, patch, resolution) of ViT-Ti/S/B/L and DeiT at 224 px.
_ZOO_VIT = frozenset({
    (12, 192, 3, 4.0, 16, 224), (12, 384, 6, 4.0, 16, 224), (12, 768, 12, 4.0, 16, 224),
    (12, 768, 12, 4.0, 32, 224), (24, 1024, 16, 4.0, 16, 224), (24, 1024, 16, 4.0, 32, 224),
    (12, 768, 12, 4.0, 14, 224), (24, 1024, 16, 4.0, 14, 224),
})


@dataclass(frozen=True)
class Choices:
    variant: str
    depth: int
    heads: int
    head_dim: int
    mlp_ratio: float
    patch: int = 0  # vit only
    resolution: int = 0  # vit only
    seq: int = 0  # text only
    vocab: int = 0  # text only

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim

    def is_zoo(self) -> bool:
        return self.variant == "vit" and (self.depth, self.hidden, self.heads, self.mlp_ratio, self.patch,
                                          self.resolution) in _ZOO_VIT


@dataclass(frozen=True)
class TransformerSpace:
    name: str = "transformer"
    head_dims: tuple[int, ...] = (32, 48, 64, 64, 80, 96, 128)
    mlp_ratios: tuple[float, ...] = (1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.0)
    patches: tuple[int, ...] = (8, 14, 16, 16, 32)

    def draw(self, rng: np.random.Generator) -> Choices:
        variant = pick(rng, VARIANTS)
        while True:  # hidden = heads x head width within 192..1024
            heads, head_dim = int(rng.integers(3, 17)), pick(rng, self.head_dims)
            if 192 <= heads * head_dim <= 1024:
                break
        common = (variant, int(rng.integers(2, 25)), heads, head_dim, pick(rng, self.mlp_ratios))
        if variant != "vit":
            return Choices(*common, seq=int(rng.integers(1, 9)) * 64, vocab=int(rng.integers(8, 53)) * 1000)
        patch = pick(rng, self.patches)
        grids = [g for g in range(-(-128 // patch), 320 // patch + 1) if g * g <= 1024]
        return Choices(*common, patch=patch, resolution=pick(rng, grids) * patch)

    def sample(self, rng: np.random.Generator) -> tuple[str, GraphNetwork]:
        while True:
            choices = self.draw(rng)
            if not choices.is_zoo():
                net = build_transformer(choices)
                return graph_key(net), net


def attention(b: GraphBuilder, x: str, heads: int, causal: bool = False) -> str:
    """Multi-head self-attention of (batch, tokens, hidden), per operator."""
    n, length, dim = b.shape(x)
    d = dim // heads
    with b.scope("attn"):
        q, k, v = b.split(b.linear(x, 3 * dim), (dim, dim, dim), dim=-1)
        q = b.permute(b.view(q, (n, length, heads, d)), (0, 2, 1, 3))  # (n, heads, L, d)
        k = b.permute(b.view(k, (n, length, heads, d)), (0, 2, 3, 1))  # K^T: (n, heads, d, L)
        v = b.permute(b.view(v, (n, length, heads, d)), (0, 2, 1, 3))
        scores = b.matmul(q, k)  # (n, heads, L, L)
        if causal:
            scores = b.eltwise("where", scores)
        out = b.matmul(b.softmax(scores), v)  # (n, heads, L, d)
        out = b.view(b.permute(out, (0, 2, 1, 3)), (n, length, dim))
        return b.linear(out, dim)


def mlp(b: GraphBuilder, x: str, ratio: float) -> str:
    dim = b.shape(x)[-1]
    with b.scope("mlp"):
        return b.linear(b.linear(x, int(dim * ratio), act="gelu"), dim)


def encoder_block(b: GraphBuilder, x: str, c: Choices, pre_norm: bool) -> str:
    """Pre-norm (ViT, GPT) or post-norm (BERT) attention and MLP, each with a residual add."""
    causal = c.variant == "decoder"
    if pre_norm:
        x = b.add(x, attention(b, b.norm(x), c.heads, causal))
        return b.add(x, mlp(b, b.norm(x), c.mlp_ratio))
    x = b.norm(b.add(x, attention(b, x, c.heads, causal)))
    return b.norm(b.add(x, mlp(b, x, c.mlp_ratio)))


def _vit_stem(b: GraphBuilder, c: Choices) -> str:
    x = b.input((1, 3, c.resolution, c.resolution))
    with b.scope("embed"):
        x = b.conv(x, c.hidden, c.patch, stride=c.patch, padding=0, norm=False, act="none", bias=True)
        x = b.permute(b.view(x, (1, c.hidden, -1)), (0, 2, 1))  # (1, patches, hidden)
        x = b.concat([x], dim=1, params=c.hidden)  # the class token
        return b.add(x, params=b.shape(x)[1] * c.hidden)  # the position embedding


def _text_stem(b: GraphBuilder, c: Choices) -> str:
    ids = b.input((1, c.seq), name="ids")
    with b.scope("embed"):
        x = b.embedding(ids, c.vocab, c.hidden)
        x = b.add(x, params=MAX_POSITIONS * c.hidden)  # learned positions
        return b.norm(x) if c.variant == "encoder" else x


def build_transformer(c: Choices) -> GraphNetwork:
    b = GraphBuilder()
    x = _vit_stem(b, c) if c.variant == "vit" else _text_stem(b, c)
    for i in range(c.depth):
        with b.scope(f"blocks.{i}"):
            x = encoder_block(b, x, c, pre_norm=c.variant != "encoder")
    with b.scope("head"):
        if c.variant == "decoder":  # language-model head on every token
            b.linear(b.norm(x), c.vocab, bias=False)
        elif c.variant == "vit":  # classifier on the class token
            b.linear(b.view(b.slice(b.norm(x), 1, dim=1), (1, c.hidden)), NUM_CLASSES)
        else:  # BERT's pooler on the first token
            b.linear(b.view(b.slice(x, 1, dim=1), (1, c.hidden)), c.hidden, act="tanh")
    size = f"p{c.patch}-{c.resolution}" if c.variant == "vit" else f"L{c.seq}"
    return b.build(f"{c.variant}-d{c.depth}-h{c.heads}x{c.head_dim}-m{c.mlp_ratio:g}-{size}")


register_space(TransformerSpace())
