"""CLS-token-removal head: SegEarth-OV's global bias alleviation."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from ovseg_plugins.text import (TextEmbeddingCache, Vocabulary, encode_queries,
                                get_templates, text_cache_key)
from ovseg_plugins.utils.checkpoint import load_torch_file
from ovseg_plugins.utils.typing import ConfigType, OptConfigType, OptMultiConfig
from ovseg_plugins.utils.validation import load_npy


@MODELS.register_module()
class CLSRemovalHead(BaseDecodeHead):
    """Cosine logits with the CLS token's bias removed.

    ``logit_q(x) = cos(f_x, t_q) + λ · cos(c, t_q)`` with f the (upsampled)
    patch feature, c the CLS token of the same modified path and t_q the unit
    text embedding of query q. A negative λ (default −0.3) subtracts the
    global bias; λ = 0 turns it off (SegEarth-OV's xBD setting). It is applied
    after upsampling, with no renormalisation.

    Two ways in:

    * inside :class:`OVCLIPSegmentor` (which owns the vocabulary):
      ``head(feats, cls_token, text)`` returns the query logits;
    * in the ``decode_head`` slot of a stock mmseg ``EncoderDecoder``: an
      mmseg :class:`BaseDecodeHead` (``num_classes``, ``out_channels``,
      ``align_corners``, ``predict``, ``loss``/``loss_by_feat``) that owns
      its vocabulary (``class_names``) and text embeddings (``text_encoder``
      or ``text_embeddings``). ``forward(inputs)`` takes the backbone/neck
      tuple ``(patch (B, D, H, W), cls (B, D), ...)`` of
      :class:`DenseCLIPViT` and returns per-class log-probabilities
      ``(B, C, H, W)``: ``log max_{q ∈ class} softmax_q(logit_scale ·
      logit_q)`` (SegEarth-OV's post-processing per forward; pixels whose
      winning probability is below ``prob_thd`` go to ``bg_idx``). The
      segmentor's argmax then gives SegEarth-OV's labels, ``softmax`` of
      ``seg_logits`` the class probabilities, and the inherited
      ``loss_by_feat`` a cross-entropy through which a trainable neck
      (SimFeatUp) can be fine-tuned.

    Args:
        cls_token_lambda (float): λ. Defaults to -0.3.
        class_names (str | list, optional): Vocabulary (file, inline
            ``"a,b;c"`` string or list; synonyms by commas). Required in a
            stock segmentor, unused inside OVCLIPSegmentor.
        text_encoder (dict, optional): open_clip tower that embeds
            ``templates × class names``: ``dict(model_name='ViT-B-16',
            pretrained='openai', model_cfg=None, quick_gelu=None)`` — the
            same CLIP model as the backbone.
        text_embeddings (str, optional): ``(Q, D)`` ``.pt``/``.npy`` file of
            unit query embeddings instead of ``text_encoder``.
        templates (str | list[str]): Prompt templates. Defaults to the 80
            OpenAI ImageNet templates.
        logit_scale (float): Defaults to 50.
        prob_thd (float): Below this winning probability -> ``bg_idx``.
        bg_idx (int): Background class. Defaults to 0.
        in_channels (int): Feature channels D (informative). Defaults to -1.
        in_index (int): Index of the dense features in the input tuple.
            Defaults to 0.
        cls_index (int): Index of the CLS token. Defaults to 1.
        text_cache_dir (str, optional): Text-embedding cache folder.
        loss_decode (dict): Loss of :meth:`loss_by_feat`.
        ignore_index (int): Label ignored by the loss. Defaults to 255.
        align_corners (bool): Defaults to False.
    """

    def __init__(self,
                 cls_token_lambda: float = -0.3,
                 class_names: Optional[Union[str, Sequence]] = None,
                 text_encoder: OptConfigType = None,
                 text_embeddings: Optional[str] = None,
                 templates: Union[str, Sequence[str]] = 'openai_imagenet',
                 logit_scale: float = 50.,
                 prob_thd: float = 0.,
                 bg_idx: int = 0,
                 in_channels: int = -1,
                 in_index: int = 0,
                 cls_index: int = 1,
                 text_cache_dir: Optional[str] = None,
                 loss_decode: ConfigType = dict(
                     type='CrossEntropyLoss', use_sigmoid=False,
                     loss_weight=1.0, avg_non_ignore=True),
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 init_cfg: OptMultiConfig = None):
        # BaseDecodeHead.__init__ would add a 1x1 ``conv_seg`` classifier:
        # this head classifies by cosine with text, so it sets the same
        # attributes itself and has no parameters.
        BaseModule.__init__(self, init_cfg=init_cfg)
        self._init_inputs(in_channels, in_index, None)
        self.cls_token_lambda = float(cls_token_lambda)
        self.cls_index = int(cls_index)
        self.channels = in_channels
        self.dropout_ratio = 0.
        self.dropout = None
        self.conv_cfg = self.norm_cfg = self.act_cfg = None
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.sampler = None
        self.threshold = None
        if isinstance(loss_decode, dict):
            self.loss_decode = MODELS.build(loss_decode)
        else:
            self.loss_decode = nn.ModuleList(
                MODELS.build(cfg) for cfg in loss_decode)
        self.logit_scale = float(logit_scale)
        self.prob_thd = float(prob_thd)
        self.bg_idx = int(bg_idx)
        self.templates = get_templates(templates)
        self.text_encoder_cfg = dict(text_encoder) if text_encoder else None
        self.text_embeddings_file = text_embeddings
        self.text_cache = TextEmbeddingCache(text_cache_dir)
        self.vocabulary = None
        self.num_classes = None
        self.out_channels = None
        if class_names is not None:
            self.set_vocabulary(class_names)
        elif text_encoder is not None or text_embeddings is not None:
            raise ValueError('CLSRemovalHead: text_encoder/text_embeddings '
                             'given without class_names; set class_names.')

    # ------------------------------------------------------------ text
    def set_vocabulary(self, class_names: Union[str, Sequence]) -> None:
        """(Re)build the head's own text classifier (stock segmentors)."""
        vocab = Vocabulary.build(class_names)
        if vocab.num_classes < 2:
            raise ValueError(
                f'CLSRemovalHead: the vocabulary {vocab.source} has one class; '
                'open-vocabulary labels need at least two (add a '
                "'background' class).")
        if not 0 <= self.bg_idx < vocab.num_classes:
            raise ValueError(
                f'CLSRemovalHead: bg_idx={self.bg_idx} is outside the '
                f'{vocab.num_classes} classes of {vocab.source}.')
        text = self._text_embeddings(vocab)
        self.vocabulary = vocab
        self.num_classes = vocab.num_classes
        self.out_channels = vocab.num_classes
        self.register_buffer('text_embeds', text, persistent=False)
        self.register_buffer('query_to_class',
                             torch.as_tensor(vocab.query_to_class,
                                             device=text.device),
                             persistent=False)

    def _text_embeddings(self, vocab: Vocabulary) -> torch.Tensor:
        queries = vocab.queries
        if self.text_embeddings_file is not None:
            path = self.text_embeddings_file
            if path.endswith('.npy'):
                import os.path as osp
                if not osp.isfile(path):
                    raise FileNotFoundError(
                        f'text embeddings not found: {path!r}')
                emb = torch.from_numpy(load_npy(path, 'text embeddings'))
            else:
                emb = load_torch_file(path, 'text embeddings')
                if isinstance(emb, dict):
                    emb = emb.get('text_embeds', emb)
            if not isinstance(emb, torch.Tensor) or emb.dim() != 2 or \
                    emb.shape[0] != len(queries):
                raise ValueError(
                    f'text embeddings {path!r}: expected a ({len(queries)}, '
                    f'D) tensor (one row per query of {vocab.source}), got '
                    f'{getattr(emb, "shape", type(emb).__name__)}.')
            return F.normalize(emb.float(), dim=-1)
        if self.text_encoder_cfg is None:
            raise ValueError(
                'CLSRemovalHead with class_names needs text_encoder=dict('
                "model_name=..., pretrained=...) (the backbone's CLIP model) "
                'or text_embeddings=<file>.')
        from ovseg_plugins.utils.open_clip_loader import build_open_clip
        cfg = dict(self.text_encoder_cfg)
        name = cfg.pop('model_name')
        clip, weights_id = build_open_clip(name, **cfg)
        import open_clip
        tokenizer = open_clip.get_tokenizer(name)

        @torch.no_grad()
        def compute():
            return encode_queries(lambda p: clip.encode_text(tokenizer(p)),
                                  queries, self.templates)

        if weights_id is None:  # random weights: never cache
            return compute().float()
        key = text_cache_key(f'open_clip:{name}', weights_id, queries,
                             self.templates)
        return self.text_cache.get_or_compute(key, compute).float()

    # ------------------------------------------------------------ math
    def query_logits(self, feats: torch.Tensor, cls_token: torch.Tensor,
                     text: torch.Tensor) -> torch.Tensor:
        """Compute query logits.

        Args:
            feats (Tensor): ``(B, D, H, W)`` dense features.
            cls_token (Tensor): ``(B, D)`` CLS features.
            text (Tensor): ``(Q, D)`` unit text embeddings.

        Returns:
            Tensor: ``(B, Q, H, W)`` logits (cosine scale, before logit_scale).
        """
        if feats.shape[1] != text.shape[1]:
            raise ValueError(
                f'CLSRemovalHead: feature dim {feats.shape[1]} != text dim '
                f'{text.shape[1]}; the backbone and text encoder must come from '
                'the same CLIP model.')
        text = text.to(feats.dtype)
        logits = torch.einsum('bchw,qc->bqhw', F.normalize(feats, dim=1), text)
        if self.cls_token_lambda != 0:
            cls_logits = F.normalize(cls_token, dim=-1).to(text.dtype) @ text.t()
            logits = logits + self.cls_token_lambda * cls_logits[..., None,
                                                                  None]
        return logits

    def class_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, Q, H, W)`` query logits -> ``(B, C, H, W)`` log-probabilities
        (softmax over queries, max over each class's synonyms, ``prob_thd``
        pixels to ``bg_idx``)."""
        probs = torch.softmax(logits.float() * self.logit_scale, dim=1)
        B, Q, H, W = probs.shape
        C = self.num_classes
        if Q != C:
            idx = self.query_to_class.view(1, -1, 1, 1).expand_as(probs)
            probs = probs.new_zeros((B, C, H, W)).scatter_reduce(
                1, idx, probs, reduce='amax', include_self=False)
        out = probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
        if self.prob_thd > 0:
            low = probs.max(dim=1).values < self.prob_thd  # (B, H, W)
            bg = out[:, self.bg_idx]
            # log 1 = 0 beats every other log-probability (all < prob_thd)
            out = out.clone()
            out[:, self.bg_idx] = torch.where(low, torch.zeros_like(bg), bg)
        return out

    # ------------------------------------------------------------ mmseg API
    def _split_inputs(self, inputs) -> Tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(inputs, (tuple, list)) or len(inputs) < 2:
            raise TypeError(
                'CLSRemovalHead in a decode_head slot takes the backbone/neck '
                'outputs (patch (B, D, H, W), cls (B, D), ...) of '
                f'DenseCLIPViT; got {type(inputs).__name__}.')
        return inputs[self.in_index], inputs[self.cls_index]

    def forward(self, inputs, cls_token: Optional[torch.Tensor] = None,
                text: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Query logits (our segmentors) or class log-probabilities (stock).

        Args:
            inputs (Tensor | tuple): ``(B, D, H, W)`` features with
                ``cls_token`` and ``text`` given (OVCLIPSegmentor), or the
                backbone/neck tuple ``(patch, cls, ...)`` (stock segmentor).
            cls_token (Tensor, optional): ``(B, D)``.
            text (Tensor, optional): ``(Q, D)`` unit text embeddings.

        Returns:
            Tensor: ``(B, Q, H, W)`` query logits, or ``(B, C, H, W)``
            class log-probabilities for the tuple input.
        """
        if cls_token is not None or text is not None:
            if cls_token is None or text is None:
                raise TypeError('CLSRemovalHead(feats, cls_token, text): give '
                                'both cls_token and text.')
            return self.query_logits(inputs, cls_token, text)
        if self.vocabulary is None:
            raise RuntimeError(
                'CLSRemovalHead in a stock segmentor needs its own vocabulary:'
                ' set decode_head.class_names and decode_head.text_encoder '
                '(or text_embeddings).')
        feats, cls_tok = self._split_inputs(inputs)
        logits = self.query_logits(feats, cls_tok, self.text_embeds)
        return self.class_log_probs(logits)

    def predict(self, inputs, batch_img_metas: List[dict],
                test_cfg: ConfigType) -> torch.Tensor:
        """Class log-probabilities resized to the (crop's) input size."""
        return self.predict_by_feat(self.forward(inputs), batch_img_metas)
