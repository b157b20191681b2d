"""A faster evaluation of SAM2's mask decoder, on Meta's own weights.

SAM2's ``MaskDecoder`` copies the image embedding and its positional encoding once per prompt,
projects the whole 64 x 64 x 256 image in every attention of every prompt, and upsamples through
two transposed convolutions with channel-first layout changes in between. On a CPU most of its
time goes to memory traffic on those per-prompt copies. :class:`FastMaskDecoder` computes the
same function with the same modules' parameters (``model.sam_mask_decoder``), reorganised:

* **Work that depends only on the image is done once per image**: the image tokens plus the
  no-mask embedding, the positional encoding, and in the first transformer layer (where every
  prompt still sees the same image tokens) the key/value projections of the token-to-image
  attention and the query projection of the image-to-token attention.
* **No per-prompt copies** of the image: shared tensors broadcast against the batch.
* **Low-rank attention on image-sized tensors.** A prompt has only ``n`` tokens (8 for one click:
  object, IoU and 4 mask tokens, the point, a padding point), fewer than a head's width (16), so
  the image-side projections are folded into the token side (associativity of matrix products):
  the token-to-image scores are ``(Q_h W_k,h)(keys + pe)^T`` (the key bias adds a constant per
  query row, which softmax ignores), its values ``(A_h keys) W_v,h^T + b_v``; the image-to-token
  scores ``(keys + pe)(W_q,h^T K_h^T) + b_q,h K_h^T`` and its output ``A (V W_o^T) + b_o``. Each
  image-sized product then costs ``h * n`` instead of the internal width 128, and no head
  reshapes of image-sized tensors are made.
* **Optional bf16 upscaling** (``dtype``): the upscaling and hypernetwork product, most of the
  decoder's time, on bf16 copies of their weights and of the high-resolution features (about
  1.6x faster per prompt on CPUs with AVX512-BF16 or AMX; mask IoU to fp32 0.99 on average with
  idseg's small SAM2). The two-way transformer stays float32: in bf16 it would save another
  1.6x, but its rounding moves the masks of a weak model (mean IoU 0.97, some 0.8).
* **Transposed convolutions as matrix products** in a sub-pixel layout: a 2x2, stride-2
  transposed convolution maps each input pixel independently to a 2x2 block, so it is one matrix
  product on channel-last tokens; the high-resolution features are rearranged into that layout
  once per image, so the layer norm, GELU and hypernetwork product run without layout changes and
  only the final ``B x 4 x 256 x 256`` logits are put back into image order.

The result equals Meta's decoder up to floating-point rounding (about 1e-5 on the logits; the
tests and ``benchmarks/everything_speed.py`` compare masks). Decoders other than SAM2's standard
one (kernel 2, stride 2 upscaling) are run by Meta's module unchanged.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

    from idseg.sam.transforms import ImageEmbedding

logger = logging.getLogger(__name__)

#: Prompt sets decoded together: per-prompt tensors of a few MB stay in the CPU's caches and
#: allocator (on a 2-core CPU, 1-4 prompts at a time run about 2x faster per prompt than 64).
CHUNK = 4


@dataclass
class _ImageContext:
    """Per-image tensors of the fast decoder (token layout ``1 x L x C``)."""

    source: ImageEmbedding
    image: torch.Tensor  # image embedding tokens, without the no-mask embedding
    src: torch.Tensor  # image tokens + no-mask embedding (what every prompt without a mask sees)
    pe: torch.Tensor  # positional encoding tokens
    k0: torch.Tensor  # layer 0 token-to-image keys, heads: h x L x dh
    v0: torch.Tensor  # layer 0 token-to-image values, heads: h x L x dh
    q0: torch.Tensor  # layer 0 image-to-token queries, heads: h x L x dh
    feat_s1: torch.Tensor | None  # 1 x (s*s) x 4 x C1, sub-pixel layout of the first upsampling
    feat_s0: torch.Tensor | None  # 1 x (s*s) x 16 x C0, sub-pixel layout of the second


def default_chunk(model: SAM2Base) -> int:
    """Prompt sets per chunk: :data:`CHUNK` at 1024 input, more for smaller models.

    A prompt's tensors scale with the low-resolution mask area, ``(image_size / 4) ** 2``; small
    models decode more prompts per chunk so that per-call overhead does not dominate (a 256-input
    model: 64 at a time).

    Example:
        >>> default_chunk(model)  # doctest: +SKIP
        4
    """
    side = int(getattr(model, "image_size", 1024)) // 4
    return int(min(64, max(CHUNK, CHUNK * (256 * 256) // max(1, side * side))))


def supports_fast_decoder(model: SAM2Base) -> bool:
    """Whether ``model``'s mask decoder has the standard layout :class:`FastMaskDecoder` needs.

    Example:
        >>> supports_fast_decoder(model)  # doctest: +SKIP
        True
    """
    dec = getattr(model, "sam_mask_decoder", None)
    if dec is None or not hasattr(dec, "output_upscaling"):
        return False
    ups = list(dec.output_upscaling)
    if len(ups) != 5:
        return False
    convs = (ups[0], ups[3])
    return all(
        isinstance(c, nn.ConvTranspose2d)
        and tuple(c.kernel_size) == (2, 2)
        and tuple(c.stride) == (2, 2)
        and tuple(c.padding) == (0, 0)
        and tuple(c.output_padding) == (0, 0)
        and c.groups == 1
        and tuple(c.dilation) == (1, 1)
        for c in convs
    ) and all(getattr(layer, "cross_attn_token_to_image", None) for layer in dec.transformer.layers)


def _heads(x: torch.Tensor, h: int) -> torch.Tensor:
    """``B x N x C`` -> ``B x h x N x C/h``."""
    b, n, c = x.shape
    return x.reshape(b, n, h, c // h).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``B x h x N x d`` -> ``B x N x h*d``."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def _mlp_step(layer: Any, queries: torch.Tensor) -> torch.Tensor:
    """The MLP block of a two-way attention layer, with its residual (before ``norm3``)."""
    return queries + layer.mlp(queries)


def _conv_t_matrix(conv: nn.ConvTranspose2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2x2 stride-2 transposed convolution as ``C_in x (4 * C_out)`` weights and their bias."""
    w = conv.weight  # C_in x C_out x 2 x 2
    c_in, c_out = int(w.shape[0]), int(w.shape[1])
    mat = w.permute(0, 2, 3, 1).reshape(c_in, 4 * c_out)  # columns ordered (i, j, out)
    bias = conv.bias if conv.bias is not None else w.new_zeros(c_out)
    return mat, bias.repeat(4)


class FastMaskDecoder:
    """SAM2's mask decoder evaluated with shared per-image work and low-rank attention.

    Args:
        model: A SAM2 model (its ``sam_prompt_encoder`` and ``sam_mask_decoder`` are used, not
            changed).
        chunk: Prompt sets decoded together; default :func:`default_chunk`.
        dtype: Precision of the upscaling and hypernetwork product (``torch.bfloat16`` works
            on a copy of those weights taken now).
        transformer_dtype: Precision of the two-way transformer and IoU head (``float32``
            default; ``bfloat16`` on a copy, as SAM2 runs on GPUs under autocast).

    Example:
        >>> fast = FastMaskDecoder(model)  # doctest: +SKIP
        >>> low_res, iou = fast.decode(embedding, sparse, None, multimask_output=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: SAM2Base,
        chunk: int | None = None,
        dtype: torch.dtype = torch.float32,
        transformer_dtype: torch.dtype = torch.float32,
    ) -> None:
        self.model = model
        self.dtype, self.transformer_dtype = dtype, transformer_dtype
        copies: dict[torch.dtype, Any] = {torch.float32: model.sam_mask_decoder}
        for dt in (dtype, transformer_dtype):
            if dt not in copies:
                copies[dt] = copy.deepcopy(model.sam_mask_decoder).to(dt)
        self.decoder: Any = copies[transformer_dtype]  # transformer and IoU head
        self.up_decoder: Any = copies[dtype]  # upscaling and hypernetworks
        self.chunk = max(1, int(chunk)) if chunk is not None else default_chunk(model)
        self._ctx: _ImageContext | None = None

    def _context(self, emb: ImageEmbedding) -> _ImageContext:
        """The per-image tensors of ``emb`` (the last image's are kept)."""
        if self._ctx is not None and self._ctx.source is emb:
            return self._ctx
        dec, pe_mod, dt = self.decoder, self.model.sam_prompt_encoder, self.dtype
        tt = self.transformer_dtype
        image = emb.image_embed.to(tt).flatten(2).transpose(1, 2)  # 1 x L x C
        pe = pe_mod.get_dense_pe().to(tt).flatten(2).transpose(1, 2)
        src = image + pe_mod.no_mask_embed.weight.to(tt).reshape(1, 1, -1)
        layer0 = dec.transformer.layers[0]
        t2i, i2t = layer0.cross_attn_token_to_image, layer0.cross_attn_image_to_token
        kpe = src + pe
        k0 = _heads(t2i.k_proj(kpe), t2i.num_heads)[0]
        v0 = _heads(t2i.v_proj(src), t2i.num_heads)[0]
        q0 = _heads(i2t.q_proj(kpe), i2t.num_heads)[0]
        feat_s0 = feat_s1 = None
        if dec.use_high_res_features:
            s = int(emb.image_embed.shape[-1])
            f0, f1 = emb.high_res_feats[0].to(dt), emb.high_res_feats[1].to(dt)
            # f1[c, 2y+i, 2x+j] -> [y, x, (i, j), c]; f0[c, 4y+2i+k, 4x+2j+l] -> [y, x, (i, j, k, l), c]
            c1, c0 = int(f1.shape[1]), int(f0.shape[1])
            feat_s1 = f1.reshape(c1, s, 2, s, 2).permute(1, 3, 2, 4, 0).reshape(1, s * s, 4, c1)
            feat_s0 = (
                f0.reshape(c0, s, 2, 2, s, 2, 2)
                .permute(1, 4, 2, 5, 3, 6, 0)
                .reshape(1, s * s, 16, c0)
                .contiguous()
            )
            feat_s1 = feat_s1.contiguous()
        self._ctx = _ImageContext(emb, image, src, pe, k0, v0, q0, feat_s1, feat_s0)
        return self._ctx

    @torch.inference_mode()
    def decode(
        self,
        emb: ImageEmbedding,
        sparse: torch.Tensor,
        dense: torch.Tensor | None,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks for a batch of prompt sets, as ``sam_mask_decoder`` (image prediction) returns them.

        Args:
            emb: The image embedding.
            sparse: ``B x N x C`` sparse prompt embeddings (SAM2's prompt encoder).
            dense: ``B x C x s x s`` dense embeddings of mask inputs, or ``None`` without.
            multimask_output: Three candidates per prompt set instead of one.

        Returns:
            ``(low_res_logits B x K x 4s x 4s, iou_predictions B x K)``.
        """
        ctx = self._context(emb)
        if len(sparse) > self.chunk:
            parts = [
                self.decode(
                    emb,
                    sparse[i : i + self.chunk],
                    None if dense is None else dense[i : i + self.chunk],
                    multimask_output,
                )
                for i in range(0, len(sparse), self.chunk)
            ]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        dec = self.decoder
        if sparse.dtype != self.transformer_dtype:
            low, iou = self.decode(
                emb,
                sparse.to(self.transformer_dtype),
                None if dense is None else dense.to(self.transformer_dtype),
                multimask_output,
            )
            return low, iou.float()
        s = 1 if dec.pred_obj_scores else 0
        weights = [dec.iou_token.weight, dec.mask_tokens.weight]
        if dec.pred_obj_scores:
            weights.insert(0, dec.obj_score_token.weight)
        out_tokens = torch.cat(weights, dim=0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(len(sparse), -1, -1), sparse], dim=1)
        keys = ctx.src if dense is None else ctx.image + dense.flatten(2).transpose(1, 2)
        queries, keys = self._transformer(ctx, tokens, keys, shared=dense is None)
        mask_tokens = queries[:, s + 1 : s + 1 + dec.num_mask_tokens]
        masks = self._upscale_and_predict(ctx, keys.to(self.dtype), mask_tokens.to(self.dtype))
        masks = masks.float()
        iou_pred = dec.iou_prediction_head(queries[:, s])
        if multimask_output:
            return masks[:, 1:], iou_pred[:, 1:]
        if dec.dynamic_multimask_via_stability and not dec.training:
            return dec._dynamic_multimask_via_stability(masks, iou_pred)
        return masks[:, 0:1], iou_pred[:, 0:1]

    def _transformer(
        self, ctx: _ImageContext, tokens: torch.Tensor, keys: torch.Tensor, shared: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM2's two-way transformer; ``keys`` is ``1 x L x C`` (shared) or ``B x L x C``."""
        tr = self.decoder.transformer
        queries, qpe, pe = tokens, tokens, ctx.pe
        for idx, layer in enumerate(tr.layers):
            if layer.skip_first_layer_pe:
                queries = layer.self_attn(q=queries, k=queries, v=queries)
            else:
                q = queries + qpe
                queries = queries + layer.self_attn(q=q, k=q, v=queries)
            queries = layer.norm1(queries)
            t2i, i2t = layer.cross_attn_token_to_image, layer.cross_attn_image_to_token
            if shared and idx == 0:  # every prompt sees the same image tokens
                attn_out = self._t2i_shared(t2i, queries + qpe, ctx.k0, ctx.v0)
                queries = layer.norm3(_mlp_step(layer, layer.norm2(queries + attn_out)))
                keys = self._i2t_shared(i2t, ctx.q0, queries + qpe, queries, keys)
            else:
                kpe = keys + pe
                attn_out = self._t2i_lowrank(t2i, queries + qpe, kpe, keys)
                queries = layer.norm3(_mlp_step(layer, layer.norm2(queries + attn_out)))
                keys = self._i2t_lowrank(i2t, kpe, queries + qpe, queries, keys)
            keys = layer.norm4(keys)
        final = tr.final_attn_token_to_image
        queries = queries + self._t2i_lowrank(final, queries + qpe, keys + pe, keys)
        return tr.norm_final_attn(queries), keys

    @staticmethod
    def _t2i_shared(attn: Any, q: torch.Tensor, k0: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
        """Tokens attend to the shared image: ``k0``/``v0`` are ``h x L x dh`` projections."""
        h = attn.num_heads
        b, n, _ = q.shape
        qh = _heads(attn.q_proj(q), h)  # B x h x n x dh
        qh = qh.transpose(0, 1).reshape(h, b * n, -1)  # h x (B n) x dh
        scores = torch.bmm(qh, k0.transpose(1, 2)) * (1 / math.sqrt(qh.shape[-1]))
        out = torch.bmm(scores.softmax(dim=-1), v0)  # h x (B n) x dh
        out = out.reshape(h, b, n, -1).permute(1, 2, 0, 3).reshape(b, n, -1)
        return attn.out_proj(out)

    @staticmethod
    def _t2i_lowrank(
        attn: Any, q: torch.Tensor, kpe: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        """Tokens attend to per-prompt (or broadcast) image tokens ``kpe`` (keys) and ``v``."""
        h = attn.num_heads
        b, n, _ = q.shape
        qh = _heads(attn.q_proj(q), h)  # B x h x n x dh
        dh = qh.shape[-1]
        w_k = attn.k_proj.weight.reshape(h, dh, -1)  # h x dh x C
        qk = torch.einsum("bhnd,hdc->bhnc", qh, w_k).reshape(b, h * n, -1)  # B x hn x C
        scores = torch.matmul(qk, kpe.transpose(1, 2)) * (1 / math.sqrt(dh))  # B x hn x L
        av = torch.matmul(scores.softmax(dim=-1), v).reshape(b, h, n, -1)  # B x h x n x C
        w_v = attn.v_proj.weight.reshape(h, dh, -1)
        out = torch.einsum("bhnc,hdc->bhnd", av, w_v) + attn.v_proj.bias.reshape(1, h, 1, dh)
        return attn.out_proj(_merge_heads(out))

    @staticmethod
    def _i2t_shared(
        attn: Any, q0: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keys: torch.Tensor
    ) -> torch.Tensor:
        """``keys`` plus the shared image's attention (queries ``q0``, ``h x L x dh``) to each prompt."""
        h = attn.num_heads
        b, n, _ = k.shape
        kh = _heads(attn.k_proj(k), h)  # B x h x n x dh
        dh = kh.shape[-1]
        kt = kh.transpose(0, 1).reshape(h, b * n, dh)  # h x (B n) x dh
        scores = torch.bmm(kt, q0.transpose(1, 2)) * (1 / math.sqrt(dh))  # h x (B n) x L
        # softmax over a prompt's n tokens: a middle dimension, vectorised along L
        probs = scores.reshape(h, b, n, -1).softmax(dim=2).transpose(0, 1).reshape(b, h * n, -1)
        return FastMaskDecoder._i2t_output(attn, probs, v, keys, inplace=False)

    @staticmethod
    def _i2t_lowrank(
        attn: Any, kpe: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keys: torch.Tensor
    ) -> torch.Tensor:
        """``keys`` plus the attention of per-prompt image tokens ``kpe`` to each prompt's tokens."""
        h = attn.num_heads
        b, n, _ = k.shape
        kh = _heads(attn.k_proj(k), h)  # B x h x n x dh
        dh = kh.shape[-1]
        w_q = attn.q_proj.weight.reshape(h, dh, -1)  # h x dh x C
        m = torch.einsum("hdc,bhnd->bhnc", w_q, kh).reshape(b, h * n, -1)  # B x hn x C
        bias = torch.einsum("hd,bhnd->bhn", attn.q_proj.bias.reshape(h, dh), kh)
        scale = 1 / math.sqrt(dh)
        # scores transposed (B x hn x L): the softmax runs over n, a middle dimension
        scores = torch.baddbmm(bias.reshape(b, h * n, 1), m, kpe.transpose(1, 2)).mul_(scale)
        probs = scores.reshape(b, h, n, -1).softmax(dim=2).reshape(b, h * n, -1)
        return FastMaskDecoder._i2t_output(attn, probs, v, keys, inplace=True)

    @staticmethod
    def _i2t_output(
        attn: Any, probs: torch.Tensor, v: torch.Tensor, keys: torch.Tensor, inplace: bool
    ) -> torch.Tensor:
        """``keys + A (V W_o,h^T) + b_o`` for ``probs`` ``A`` (``B x hn x L``) in one product.

        Each head's probabilities sum to 1 over its tokens, so adding ``b_o / h`` to every row of
        ``V W_o,h^T`` adds ``b_o`` once to the output.
        """
        h = attn.num_heads
        b, n, _ = v.shape
        vh = _heads(attn.v_proj(v), h)  # B x h x n x dh
        dh = vh.shape[-1]
        w_o = attn.out_proj.weight.reshape(-1, h, dh)  # C x h x dh
        vw = torch.einsum("bhnd,chd->bhnc", vh, w_o) + attn.out_proj.bias / h
        vw = vw.reshape(b, h * n, -1)  # B x hn x C
        if inplace:
            return keys.baddbmm_(probs.transpose(1, 2), vw)
        return torch.baddbmm(keys, probs.transpose(1, 2), vw)

    def _upscale_and_predict(
        self, ctx: _ImageContext, keys: torch.Tensor, mask_tokens: torch.Tensor
    ) -> torch.Tensor:
        """Upsample the image tokens 4x (sub-pixel layout) and apply the hypernetworks."""
        dec = self.up_decoder
        dc1, ln1, act1, dc2, act2 = dec.output_upscaling
        b, length, _ = keys.shape
        side = math.isqrt(length)
        w1, b1 = _conv_t_matrix(dc1)
        x = torch.addmm(b1, keys.reshape(b * length, -1), w1).reshape(b, length, 4, -1)
        if ctx.feat_s1 is not None:
            x = x + ctx.feat_s1
        x = act1(F.layer_norm(x, (x.shape[-1],), ln1.weight, ln1.bias, ln1.eps))
        w2, b2 = _conv_t_matrix(dc2)
        x = torch.addmm(b2, x.reshape(b * length * 4, -1), w2).reshape(b, length, 16, -1)
        if ctx.feat_s0 is not None:
            x = x + ctx.feat_s0
        x = act2(x)
        hyper = torch.stack(
            [mlp(mask_tokens[:, i]) for i, mlp in enumerate(dec.output_hypernetworks_mlps)], dim=1
        )  # B x K x C0
        k = hyper.shape[1]
        masks = torch.bmm(x.reshape(b, length * 16, -1), hyper.transpose(1, 2))  # B x (L*16) x K
        # (y, x, i, j, k, l) -> rows 4y + 2i + k, columns 4x + 2j + l
        masks = masks.reshape(b, side, side, 2, 2, 2, 2, k).permute(0, 7, 1, 3, 5, 2, 4, 6)
        return masks.reshape(b, k, 4 * side, 4 * side)
