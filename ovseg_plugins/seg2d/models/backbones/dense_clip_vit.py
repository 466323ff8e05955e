"""Dense CLIP ViT backbone with last-block attention surgery (stock open_clip)."""
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.deferred_weights import DeferredWeights
from ovseg_plugins.utils.open_clip_loader import (create_open_clip,
                                                  load_open_clip_weights,
                                                  resolve_open_clip_weights,
                                                  warn_random_clip)
from ovseg_plugins.utils.typing import OptConfigType, OptMultiConfig

ATTN_MODES = ('vanilla', 'maskclip', 'sclip', 'clearclip', 'segearth')


def surgery_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      mode: str) -> torch.Tensor:
    """Attention of the modified last block.

    Args:
        q, k, v (Tensor): ``(B, heads, L, head_dim)``.
        mode (str): ``vanilla`` softmax(qkᵀ); ``maskclip`` identity (out = v);
            ``sclip`` softmax(qqᵀ) + softmax(kkᵀ); ``clearclip`` softmax(qqᵀ);
            ``segearth`` softmax(qqᵀ) + softmax(kkᵀ) + softmax(vvᵀ) (summed,
            not averaged, for parity with the authors). Scale head_dim^-0.5.

    Returns:
        Tensor: ``(B, heads, L, head_dim)``.
    """
    if mode == 'maskclip':
        return v
    scale = q.shape[-1]**-0.5

    def sm(a, b):
        return torch.softmax((a * scale) @ b.transpose(-2, -1), dim=-1)

    if mode == 'vanilla':
        attn = sm(q, k)
    elif mode == 'clearclip':
        attn = sm(q, q)
    elif mode == 'sclip':
        attn = sm(q, q) + sm(k, k)
    elif mode == 'segearth':
        attn = sm(q, q) + sm(k, k) + sm(v, v)
    else:
        raise ValueError(f'attn_mode must be one of {ATTN_MODES}, got {mode!r}')
    return attn @ v


@MODELS.register_module()
class DenseCLIPViT(DeferredWeights, BaseModule):
    """open_clip ViT that returns dense patch features and the CLS token.

    Blocks 1..L-1 run unchanged. The last block is replaced by the modified
    attention of ``attn_mode`` computed on ``ln_1(x)``; with
    ``ignore_residual=True`` its output is only ``out_proj(A·V)`` (no residual,
    no FFN, no ``ln_2``), as in SegEarth-OV / ClearCLIP. The original last block
    is never run. ``ln_post`` and ``proj`` are applied to all tokens of that
    modified output: the returned CLS token comes from the same path.

    The positional embedding is interpolated (bicubic) to any patch grid.

    Weights (:class:`~ovseg_plugins.utils.deferred_weights.DeferredWeights`):
    the module is built with the architecture only; ``pretrained`` is
    resolved and loaded on first need (forward, :meth:`encode_text`,
    ``init_weights``) unless a checkpoint holding the backbone's tensors was
    loaded first (``tools/test.py CONFIG CKPT``, mmseg's ``init_model``,
    ``MMSegInferencer(weights=...)``): then it is never looked up.

    Args:
        model_name (str): open_clip architecture (``'ViT-B-16'``,
            ``'ViT-L-14'``, ``'ViT-B-32'``, ...). Defaults to ``'ViT-B-16'``.
        pretrained (str, optional): open_clip tag (``'openai'``) or local file
            (RemoteCLIP / GeoRSCLIP / SkyCLIP ``.pt``), loaded on first need
            unless a checkpoint supplied the weights. None = random weights
            (tests, plumbing checks). Defaults to None.
        model_cfg (dict, optional): Architecture dict registered with open_clip
            under ``model_name`` (for custom or tiny towers).
        attn_mode (str): One of :data:`ATTN_MODES`. Defaults to 'segearth'.
        ignore_residual (bool): Drop residual, FFN and ln_2 of the last block.
            Defaults to True.
        drop_ffn (bool, optional): With ``ignore_residual=False``, keep the
            residual but drop the FFN (SCLIP's last block). None = False.
        quick_gelu (bool, optional): Force QuickGELU (OpenAI-trained weights
            loaded from a file). None follows the tag. Defaults to None.
        allow_download (bool): Fetch a tag's weights if not cached. Defaults to
            False (offline: a clear ``WeightsNotFoundError``).
        keep_text (bool): Keep the text tower for :meth:`encode_text`.
        out_image (bool): Also return the input image as a third output,
            ``(patch, cls, image)``: in a stock mmseg ``EncoderDecoder``
            (which calls ``neck(backbone(inputs))``) a guided upsampler neck
            (SimFeatUp, JBUStack) finds its guidance there. Defaults to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 model_cfg: OptConfigType = None,
                 attn_mode: str = 'segearth',
                 ignore_residual: bool = True,
                 drop_ffn: Optional[bool] = None,
                 quick_gelu: Optional[bool] = None,
                 allow_download: bool = False,
                 keep_text: bool = True,
                 out_image: bool = False,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if attn_mode not in ATTN_MODES:
            raise ValueError(
                f'DenseCLIPViT.attn_mode must be one of {ATTN_MODES}, got '
                f'{attn_mode!r}.')
        self.model_name = model_name
        self.attn_mode = attn_mode
        self.ignore_residual = ignore_residual
        self.drop_ffn = bool(drop_ffn)
        self.out_image = bool(out_image)
        clip = create_open_clip(model_name, pretrained, model_cfg=model_cfg,
                                quick_gelu=quick_gelu)
        self.weights_id: Optional[str] = None
        visual = getattr(clip, 'visual', None)
        for attr in ('conv1', 'class_embedding', 'positional_embedding',
                     'ln_pre', 'transformer', 'ln_post', 'proj'):
            if not hasattr(visual, attr):
                raise TypeError(
                    f'DenseCLIPViT supports open_clip ViT towers; '
                    f'{model_name} has a {type(visual).__name__} visual tower '
                    f'without `{attr}`.')
        if getattr(visual, 'attn_pool', None) is not None:
            raise TypeError(f'{model_name}: attentional-pool towers are not '
                            'supported by DenseCLIPViT.')
        last = visual.transformer.resblocks[-1]
        if not isinstance(getattr(last, 'attn', None), nn.MultiheadAttention):
            raise TypeError(
                f'{model_name}: the last block has no nn.MultiheadAttention; '
                'only standard open_clip ViT blocks are supported.')
        self.visual = visual
        self.patch_size = int(visual.conv1.kernel_size[0])
        self.embed_dim = int(visual.proj.shape[1])
        self.width = int(visual.conv1.out_channels)
        self.num_heads = last.attn.num_heads
        self._pos_cache: Dict[Tuple[int, int, int], torch.Tensor] = {}
        if keep_text:
            import open_clip
            self.text_model = clip
            self._tokenizer = open_clip.get_tokenizer(model_name)
            clip.visual = None  # owned by self.visual; avoid a double module
        else:
            self.text_model = None
        self.requires_grad_(False)
        if pretrained is None:
            warn_random_clip(model_name)
        self.defer_weights(
            f'pretrained={pretrained!r}', None if pretrained is None else
            dict(pretrained=pretrained, model_cfg=model_cfg,
                 quick_gelu=quick_gelu, allow_download=allow_download))

    def load_named_weights(self, pretrained: str, model_cfg, quick_gelu,
                           allow_download: bool) -> None:
        """Resolve ``pretrained`` and load it into the visual (and text)
        tower (the named weights of :meth:`ensure_weights`)."""
        path, weights_id = resolve_open_clip_weights(
            self.model_name, pretrained, allow_download)
        if self.text_model is not None:
            clip = self.text_model
            clip.visual = self.visual  # the whole CLIP model, for its keys
            try:
                load_open_clip_weights(clip, self.model_name, path)
            finally:
                clip.visual = None
        else:
            clip = create_open_clip(self.model_name, pretrained, model_cfg,
                                    quick_gelu)
            load_open_clip_weights(clip, self.model_name, path)
            self.visual.load_state_dict(clip.visual.state_dict())
        self.weights_id = weights_id
        self._pos_cache.clear()

    def init_weights(self) -> None:
        """The named weights (``pretrained``), unless a checkpoint supplied
        them; never a random re-initialisation of the CLIP towers."""
        self.ensure_weights()

    # ------------------------------------------------------------ text side
    @torch.no_grad()
    def encode_text(self, prompts: List[str]) -> torch.Tensor:
        """Embed prompt strings with the CLIP text tower.

        Returns:
            Tensor: ``(n, D)`` un-normalised embeddings.
        """
        if self.text_model is None:
            raise RuntimeError('DenseCLIPViT was built with keep_text=False.')
        self.ensure_weights()
        device = self.visual.proj.device
        tokens = self._tokenizer(prompts).to(device)
        return self.text_model.encode_text(tokens)

    @property
    def model_id(self) -> str:
        """Identifies architecture + surgery (weights are keyed separately)."""
        return f'open_clip:{self.model_name}'

    # ------------------------------------------------------------ image side
    def interpolate_pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """Positional embedding ``(1 + gh*gw, C)`` for a ``gh×gw`` grid."""
        pos = self.visual.positional_embedding
        n0 = pos.shape[0] - 1
        s0 = int(round(math.sqrt(n0)))
        if (gh, gw) == (s0, s0):
            return pos
        key = (gh, gw, self.weights_version)
        cached = self._pos_cache.get(key)
        if cached is not None and cached.device == pos.device and \
                cached.dtype == pos.dtype and not self.training:
            return cached
        patch_pos = pos[1:].reshape(1, s0, s0, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(
            patch_pos.float(), size=(gh, gw), mode='bicubic',
            align_corners=False).to(pos.dtype)
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(gh * gw, -1)
        out = torch.cat([pos[:1], patch_pos], dim=0)
        self._pos_cache[key] = out.detach()
        return out

    def _last_block(self, blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
        attn: nn.MultiheadAttention = blk.attn
        B, L, C = x.shape
        h = self.num_heads
        y = blk.ln_1(x)
        qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.reshape(B, L, 3, h, C // h).permute(2, 0, 3, 1, 4)
        out = surgery_attention(q, k, v, self.attn_mode)
        out = out.transpose(1, 2).reshape(B, L, C)
        out = attn.out_proj(out)
        if self.ignore_residual:
            return out
        x = x + blk.ls_1(out)
        if self.drop_ffn:
            return x
        return x + blk.ls_2(blk.mlp(blk.ln_2(x)))

    def forward(self, x: torch.Tensor,
                skip_last_block: bool = False) -> Tuple[torch.Tensor, ...]:
        """Dense features.

        Args:
            x (Tensor): ``(B, 3, H, W)`` CLIP-normalised images; H and W must
                be multiples of the patch size.
            skip_last_block (bool): Bypass the last block entirely (the
                features SimFeatUp was trained on upstream). Default False:
                the modified last block.

        Returns:
            tuple: ``patch (B, D, H/p, W/p)`` and ``cls (B, D)`` in the joint
            image-text space (after ``ln_post`` and ``proj``), then the
            input ``image (B, 3, H, W)`` when ``out_image=True``.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f'DenseCLIPViT expects (B, 3, H, W) images, got '
                f'{tuple(x.shape)}; convert grey/RGBA/multispectral inputs to '
                '3 channels in the pipeline.')
        p = self.patch_size
        if x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(
                f'Input {tuple(x.shape[-2:])} is not a multiple of the patch '
                f'size {p}; pad it first (the segmentors do).')
        self.ensure_weights()
        image = x
        v = self.visual
        x = x.to(v.conv1.weight.dtype)
        x = v.conv1(x)
        B, C, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(B, 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.interpolate_pos_embed(gh, gw).to(x.dtype)
        x = v.ln_pre(x)
        blocks = v.transformer.resblocks
        batch_first = getattr(v.transformer, 'batch_first', True)
        if not batch_first:
            x = x.transpose(0, 1)
        for blk in blocks[:-1]:
            x = blk(x)
        if not batch_first:
            x = x.transpose(0, 1)
        if not skip_last_block:
            x = self._last_block(blocks[-1], x)
        x = v.ln_post(x) @ v.proj
        cls_tok = x[:, 0]
        patch = x[:, 1:].transpose(1, 2).reshape(B, -1, gh, gw)
        if self.out_image:
            return patch, cls_tok, image
        return patch, cls_tok
