"""Training-free open-vocabulary segmentor on a dense CLIP backbone."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ovseg_plugins.text import (TextEmbeddingCache, Vocabulary, encode_queries,
                                get_templates, text_cache_key)
from ovseg_plugins.utils.config_checks import check_clip_normalisation
from ovseg_plugins.utils.deferred_weights import ensure_model_weights
from ovseg_plugins.utils.typing import (ConfigType, OptConfigType,
                                        OptMultiConfig, OptSampleList,
                                        SampleList)
from ovseg_plugins.utils.validation import (backbone_with_pretrained,
                                            check_autocast_dtype,
                                            check_covered, check_finite_output,
                                            check_int, check_number,
                                            check_one_class_vocabulary,
                                            check_range)
from ..utils.clip_preprocessor import clip_data_preprocessor
from ..utils.slide import pad_to_multiple, slide_windows, unpad
from ..utils.test_cfg import resolve_test_cfg
from ..utils.vocabulary_meta import VocabularyMetaMixin

_AUTOCAST = {None: None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
DEFAULT_TEST_CFG = dict(mode='slide', crop_size=(224, 224), stride=(112, 112))


def query_to_class_probs(probs: torch.Tensor,
                         query_to_class: torch.Tensor,
                         num_classes: int) -> torch.Tensor:
    """Max over each class's synonym queries.

    Args:
        probs (Tensor): ``(Q, H, W)`` query probabilities.
        query_to_class (Tensor): ``(Q,)`` class index of each query.
        num_classes (int): C.

    Returns:
        Tensor: ``(C, H, W)``.
    """
    if probs.shape[0] == num_classes:
        return probs
    out = probs.new_full((num_classes, ) + probs.shape[1:], float('-inf'))
    idx = query_to_class.view(-1, 1, 1).expand_as(probs)
    return out.scatter_reduce(0, idx, probs, reduce='amax')


def postprocess_query_logits(logits: torch.Tensor,
                             query_to_class: torch.Tensor,
                             num_classes: int,
                             logit_scale: float = 50.,
                             prob_thd: float = 0.,
                             bg_idx: int = 0,
                             apply_softmax: bool = True):
    """SegEarth-OV post-processing of one image's query logits.

    scale → softmax over all queries → max over synonyms → argmax → pixels
    whose winning probability is below ``prob_thd`` go to ``bg_idx``.

    Args:
        logits (Tensor): ``(Q, H, W)``.

    Returns:
        tuple: class probabilities ``(C, H, W)`` and labels ``(1, H, W)``.
    """
    probs = torch.softmax(logits * logit_scale, dim=0) if apply_softmax \
        else logits
    cls_probs = query_to_class_probs(probs, query_to_class, num_classes)
    max_prob, labels = cls_probs.max(dim=0, keepdim=True)
    if prob_thd > 0:
        labels[max_prob < prob_thd] = bg_idx
    return cls_probs, labels


def pack_predictions(seg_logits, data_samples: SampleList,
                     query_to_class: torch.Tensor, num_classes: int,
                     logit_scale: float = 50., prob_thd: float = 0.,
                     bg_idx: int = 0, apply_softmax: bool = True
                     ) -> SampleList:
    """Per image: drop batch padding (``img_shape``), undo a flip, resize
    the ``(Q, H, W)`` query maps to ``ori_shape`` and post-process them
    (:func:`postprocess_query_logits`) into ``seg_logits``/``pred_sem_seg``.

    Args:
        seg_logits (Tensor | list[Tensor]): ``(B, Q, H, W)`` or B ``(Q, H,
            W)`` maps.
    """
    for i, ds in enumerate(data_samples):
        meta = ds.metainfo
        lg = seg_logits[i][None]
        img_h, img_w = meta.get('img_shape', lg.shape[-2:])[:2]
        lg = lg[..., :img_h, :img_w]  # drop batch padding (bottom/right)
        if meta.get('flip', False):
            d = meta.get('flip_direction', 'horizontal')
            lg = lg.flip(dims=(3, ) if d == 'horizontal' else (2, ))
        ori = meta.get('ori_shape', lg.shape[-2:])[:2]
        if tuple(lg.shape[-2:]) != tuple(ori):
            lg = F.interpolate(lg, size=ori, mode='bilinear',
                               align_corners=False)
        probs, labels = postprocess_query_logits(
            lg[0], query_to_class, num_classes, logit_scale, prob_thd,
            bg_idx, apply_softmax)
        check_finite_output('seg_logits', probs, meta.get('img_path'))
        ds.set_data(dict(seg_logits=PixelData(data=probs),
                         pred_sem_seg=PixelData(data=labels)))
    return data_samples


def default_data_samples(inputs: torch.Tensor) -> SampleList:
    """Samples whose ori/img shape is the input's (direct calls)."""
    return [
        SegDataSample(metainfo=dict(ori_shape=inputs.shape[2:],
                                    img_shape=inputs.shape[2:]))
        for _ in range(inputs.shape[0])
    ]


@MODELS.register_module()
class OVCLIPSegmentor(VocabularyMetaMixin, BaseSegmentor):
    """Training-free open-vocabulary segmentor (SegEarth-OV and relatives).

    Call flow::

        predict(): inference() -> post-process -> SegDataSample
        inference(): slide windows of all images, BATCHED ->
            backbone (B,3,h,w) -> patch (B,D,h/p,w/p), cls (B,D)
            learned neck (SimFeatUp...): neck (patch, crop) -> (B,D,h,w),
                decode_head (feats, cls, text) -> (B,Q,h,w)
            parameter-free neck (``neck.parameter_free``, bilinear): the
                authors' order, decode_head at patch resolution ->
                (B,Q,h/p,w/p), then neck (logits, crop) -> (B,Q,h,w)
          -> merge windows -> resize to ori_shape
        post-process: ×logit_scale, softmax over queries, max over synonyms,
            argmax, prob < prob_thd -> bg_idx

    Args:
        backbone (dict): Dense CLIP backbone config (:class:`DenseCLIPViT`).
        class_names (str | list): Class-name file (one class per line,
            synonyms by commas), inline ``"a,b;c"`` string, or list.
        neck (dict, optional): Upsampler ``(feats, image) -> (B,D,H,W)``.
            Defaults to bilinear.
        decode_head (dict, optional): Defaults to :class:`CLSRemovalHead`.
        templates (str | list[str]): Prompt templates. Defaults to the 80
            OpenAI ImageNet templates.
        crop_batch_size (int): Windows per backbone call. Defaults to 16.
        logit_scale (float): Defaults to 50.
        prob_thd (float): Below this winning probability -> ``bg_idx``.
        bg_idx (int): Background class index. Defaults to 0.
        autocast_dtype (str, optional): 'fp16' / 'bf16' autocast on GPU; CPU
            always runs fp32. Defaults to None.
        text_cache_dir (str, optional): Text-embedding cache folder.
        data_preprocessor (dict, optional): Defaults to CLIP mean/std.
        train_cfg (dict, optional): Accepted for mmseg's ``init_model``;
            unused (training-free).
        test_cfg (dict, optional): As mmseg's ``EncoderDecoder``:
            ``mode`` ('slide' | 'whole'), ``crop_size`` and ``stride``
            (int or ``(h, w)``). Defaults to ``dict(mode='slide',
            crop_size=(224, 224), stride=(112, 112))``.
        mode, slide_crop, slide_stride: Old aliases of ``test_cfg.mode``,
            ``test_cfg.crop_size``, ``test_cfg.stride`` (they warn; giving
            one of them and its ``test_cfg`` key is refused).
        pretrained (str, optional): Backbone weights (as in mmseg's
            ``EncoderDecoder``): overrides ``backbone.pretrained``.

    ``dataset_meta`` (classes = first synonym of each class, palette) follows
    the vocabulary; :meth:`set_vocabulary` swaps it without a rebuild.
    """

    def __init__(self,
                 backbone: ConfigType,
                 class_names: Union[str, Sequence],
                 neck: OptConfigType = None,
                 decode_head: OptConfigType = None,
                 templates: Union[str, Sequence[str]] = 'openai_imagenet',
                 crop_batch_size: int = 16,
                 logit_scale: float = 50.,
                 prob_thd: float = 0.,
                 bg_idx: int = 0,
                 autocast_dtype: Optional[str] = None,
                 text_cache_dir: Optional[str] = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 mode: Optional[str] = None,
                 slide_crop: Optional[int] = None,
                 slide_stride: Optional[int] = None):
        super().__init__(data_preprocessor=data_preprocessor
                         or clip_data_preprocessor(),
                         init_cfg=init_cfg)
        self.train_cfg = train_cfg
        self.test_cfg = resolve_test_cfg(
            test_cfg, 'OVCLIPSegmentor', DEFAULT_TEST_CFG, mode=mode,
            slide_crop=slide_crop, slide_stride=slide_stride)
        backbone = backbone_with_pretrained(backbone, pretrained,
                                            'OVCLIPSegmentor')
        check_autocast_dtype(autocast_dtype, 'OVCLIPSegmentor')
        self.backbone = MODELS.build(backbone)
        check_clip_normalisation(self)  # the data preprocessor's mean/std
        self.clip_normalisation_checked = True
        # a neck's named weights (checkpoint / init_cfg) load on first need
        self.neck = MODELS.build(neck or dict(type='BilinearUpsampler'))
        self.decode_head = MODELS.build(
            decode_head or dict(type='CLSRemovalHead'))
        self.crop_batch_size = check_int('crop_batch_size', crop_batch_size,
                                         'OVCLIPSegmentor', lo=1)
        self.logit_scale = check_number('logit_scale', logit_scale,
                                        'OVCLIPSegmentor', lo=0, lo_open=True)
        self.prob_thd = check_range('prob_thd', prob_thd, 0, 1,
                                    'OVCLIPSegmentor')
        self.autocast_dtype = autocast_dtype
        self.templates = get_templates(templates)
        self.text_cache = TextEmbeddingCache(text_cache_dir)
        self.set_vocabulary(class_names)
        check_int('bg_idx', bg_idx, 'OVCLIPSegmentor')
        if not 0 <= bg_idx < self.num_classes:
            raise ValueError(
                f'bg_idx={bg_idx} is outside the {self.num_classes} classes of '
                f'{self.vocabulary.source}.')
        self.bg_idx = int(bg_idx)

    # ------------------------------------------------------------ text
    def set_vocabulary(self, class_names: Union[str, Sequence],
                       bg_idx: Optional[int] = None,
                       palette: Optional[Sequence] = None) -> None:
        """Switch to a new vocabulary without rebuilding the model.

        The text classifier is computed once per vocabulary (kept in memory
        for this model, and on disk through the text-embedding cache when the
        weights are known), so switching back is free.

        Args:
            class_names (str | list | Vocabulary): Class-name file, inline
                ``"a,b;c"`` string or list (synonyms of a class share it).
            bg_idx (int, optional): New background class index; by default
                the current one, which must exist in the new vocabulary.
            palette (list, optional): One RGB triple per class for
                ``dataset_meta``; default: a fixed palette.
        """
        vocabulary = Vocabulary.build(class_names)
        check_one_class_vocabulary(vocabulary, getattr(self, 'prob_thd', 0.),
                                   'OVCLIPSegmentor')
        bg = vocabulary.check_bg_idx(bg_idx, getattr(self, 'bg_idx', None))
        self.vocabulary = vocabulary
        if bg is not None:
            self.bg_idx = bg
        device = next(self.backbone.parameters()).device
        # computed on first need (:attr:`text_embeds`), from the weights the
        # model has then: a checkpoint loaded after the build supplies them
        self.register_buffer('_text_embeds', None, persistent=False)
        self._text_for = None
        self.register_buffer(
            'query_to_class',
            torch.as_tensor(vocabulary.query_to_class, device=device),
            persistent=False)
        self._set_palette(palette)

    @property
    def text_embeds(self) -> torch.Tensor:
        """``(Q, D)`` unit text embeddings of the vocabulary's queries,
        computed with the backbone's text tower on first need (its named
        weights are loaded first unless a checkpoint supplied them); kept
        per vocabulary and weights in memory, and on disk through the
        text-embedding cache when the weights are a known file or tag."""
        ensure_model_weights(self.backbone)
        queries = self.vocabulary.queries
        version = getattr(self.backbone, 'weights_version', 0)
        key = (tuple(queries), tuple(self.templates), version)
        if self._text_embeds is not None and self._text_for == key:
            return self._text_embeds
        memo = self.__dict__.setdefault('_text_memo', {})
        text = memo.get(key)
        if text is None:

            def compute():
                return encode_queries(self.backbone.encode_text, queries,
                                      self.templates)

            weights_id = getattr(self.backbone, 'weights_id', None)
            if weights_id is None:  # random/checkpoint weights: no disk cache
                text = compute()
            else:
                cache_key = text_cache_key(self.backbone.model_id, weights_id,
                                           queries, self.templates)
                text = self.text_cache.get_or_compute(cache_key, compute,
                                                      rows=len(queries))
            text = text.detach().float().cpu()
            memo[key] = text
        self._text_embeds = text.to(self.query_to_class.device)
        self._text_for = key
        return self._text_embeds

    @property
    def num_classes(self) -> int:
        return self.vocabulary.num_classes

    # ------------------------------------------------------------ features
    def extract_feat(self, inputs: torch.Tensor):
        """Backbone output: ``patch (B,D,h/p,w/p)`` and ``cls (B,D)``."""
        return self.backbone(inputs)

    def _crop_logits(self, crops: torch.Tensor) -> torch.Tensor:
        """Query logits ``(B, Q, h, w)`` of a batch of same-size crops."""
        padded, pad = pad_to_multiple(crops, self.backbone.patch_size)
        dtype = _AUTOCAST[self.autocast_dtype]
        with torch.autocast(device_type=crops.device.type, dtype=dtype,
                            enabled=dtype is not None
                            and crops.device.type == 'cuda'):
            patch, cls_tok = self.backbone(padded)[:2]
            if getattr(self.neck, 'parameter_free', False):
                # The authors' order for a parameter-free upsampler: cosine
                # logits at patch resolution, then resize the Q channels
                # (cheaper than resizing D-dim features, and what their
                # numbers were measured with).
                logits = self.decode_head(patch, cls_tok, self.text_embeds)
                logits = self.neck(logits, padded)
            else:
                feats = self.neck(patch, padded)
                logits = self.decode_head(feats, cls_tok, self.text_embeds)
        logits = unpad(logits.float(), pad)
        if logits.shape[-2:] != crops.shape[-2:]:
            logits = F.interpolate(logits, size=crops.shape[-2:],
                                   mode='bilinear', align_corners=False)
        return logits

    def crop_logits(self, crops: torch.Tensor) -> torch.Tensor:
        """Query logits ``(B, Q, h, w)`` of preprocessed crops
        ``(B, 3, h, w)``: what :meth:`slide_inference` averages per pixel
        (the raster path calls it on the same crops)."""
        return self._crop_logits(crops)

    def logits_to_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(C, H, W)`` of merged query logits
        ``(Q, H, W)``, as :meth:`postprocess_result` computes them."""
        return postprocess_query_logits(logits, self.query_to_class,
                                        self.num_classes,
                                        self.logit_scale)[0]

    def slide_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        """Sliding-window query logits ``(B, Q, H, W)``; windows batched."""
        B, _, H, W = inputs.shape
        windows = slide_windows(H, W, self.test_cfg.crop_size,
                                self.test_cfg.stride)
        Q = self.text_embeds.shape[0]
        out = inputs.new_zeros((B, Q, H, W), dtype=torch.float32)
        count = inputs.new_zeros((1, 1, H, W), dtype=torch.float32)
        for y1, y2, x1, x2 in windows:
            count[..., y1:y2, x1:x2] += 1
        # Every window of a batch has the same size (the image is at least
        # as large as the clipped crop), so all B*nw crops batch together.
        jobs = [(b, w) for b in range(B) for w in windows]
        for i in range(0, len(jobs), self.crop_batch_size):
            chunk = jobs[i:i + self.crop_batch_size]
            crops = torch.stack([
                inputs[b, :, y1:y2, x1:x2] for b, (y1, y2, x1, x2) in chunk
            ])
            logits = self._crop_logits(crops)
            for (b, (y1, y2, x1, x2)), lg in zip(chunk, logits):
                out[b, :, y1:y2, x1:x2] += lg
        check_covered(count, 'OVCLIPSegmentor.slide_inference')
        return out / count

    def whole_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        """Whole-image query logits ``(B, Q, H, W)``."""
        return self._crop_logits(inputs)

    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        """Query logits at the input resolution, ``(B, Q, H, W)``."""
        if self.test_cfg.mode == 'slide':
            return self.slide_inference(inputs)
        return self.whole_inference(inputs)

    # ------------------------------------------------------------ API
    def loss(self, inputs: torch.Tensor, data_samples: SampleList) -> dict:
        raise NotImplementedError(
            'OVCLIPSegmentor is training-free: use tools/test.py. To train an '
            'upsampler use configs/simfeatup/.')

    def _forward(self, inputs: torch.Tensor,
                 data_samples: OptSampleList = None) -> torch.Tensor:
        metas = [ds.metainfo for ds in data_samples] if data_samples else []
        return self.encode_decode(inputs, metas)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Segment a batch.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` preprocessed images.
            data_samples (list[SegDataSample], optional): With ``ori_shape``,
                ``img_shape`` (and ``flip``) in their metainfo.

        Returns:
            list[SegDataSample]: ``seg_logits`` (class probabilities at the
            original size) and ``pred_sem_seg``.
        """
        if data_samples is None:
            data_samples = default_data_samples(inputs)
        logits = self.encode_decode(inputs, [d.metainfo for d in data_samples])
        return self.postprocess_result(logits, data_samples)

    def postprocess_result(self, seg_logits: torch.Tensor,
                           data_samples: SampleList) -> SampleList:
        """Resize each image's logits to ``ori_shape`` and label it."""
        return pack_predictions(seg_logits, data_samples, self.query_to_class,
                                self.num_classes, self.logit_scale,
                                self.prob_thd, self.bg_idx)
