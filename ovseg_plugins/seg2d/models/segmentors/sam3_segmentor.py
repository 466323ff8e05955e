"""SegEarth-OV3: training-free open-vocabulary segmentation with SAM 3."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS

from ovseg_plugins.text import Vocabulary
from ovseg_plugins.utils.typing import (ConfigType, OptConfigType,
                                        OptMultiConfig, OptSampleList,
                                        SampleList)
from ovseg_plugins.utils.validation import (backbone_with_pretrained,
                                            check_autocast_dtype,
                                            check_covered, check_int,
                                            check_one_class_vocabulary,
                                            check_range)
from ..utils.slide import slide_windows
from ..utils.test_cfg import resolve_test_cfg
from ..utils.vocabulary_meta import VocabularyMetaMixin
from .ov_clip_segmentor import (default_data_samples, pack_predictions,
                                 query_to_class_probs)


@MODELS.register_module()
class SAM3Segmentor(VocabularyMetaMixin, BaseSegmentor):
    """SAM 3 grounding + dual-head fusion (SegEarth-OV3).

    Call flow::

        predict(): per image, per window (test_cfg: whole image, or slide
                windows of crop_size at stride):
            crop (1,3,h,w) of the PIPELINE's tensor (no re-read from disk)
            -> resize to S×S ('square', the authors' squash) or long side S
               + pad ('keep_ratio'); by default as the authors' SAM 3
               processor: back to uint8, antialiased bilinear resize,
               /255, (x-0.5)/0.5 -> backbone.encode_image (once)
            -> backbone.ground(all queries, batched) -> decode_head fusion
            -> (Q, h, w) probabilities
          -> merge windows (mean) -> resize to ori_shape
          -> max over synonyms, argmax, prob < prob_thd -> bg_idx

    Args:
        backbone (dict): :class:`HFSam3`.
        decode_head (dict): :class:`DualHeadFusionDecoder`.
        class_names (str | list): Class-name file / inline / list (single
            noun phrases, comma-separated synonyms; no templates).
        resize_mode (str): 'square' (default) or 'keep_ratio'.
        input_resize (str): How a window is resampled to SAM 3's input:
            ``'uint8_antialias'`` (default, as the authors' ``Sam3Processor``:
            the window is mapped back to uint8 pixels with the data
            preprocessor's mean/std, resized with torchvision ``v2``
            antialiased bilinear on uint8, then ``/255``, ``(x-0.5)/0.5``) or
            ``'float_bilinear'`` (bilinear on the normalised float tensor,
            no antialiasing; differs from the authors' above S pixels).
        batched_prompts (bool): One grounding call for all queries (chunked
            by the backbone's ``prompt_chunk``) instead of one per word.
        prob_thd (float): Below this score -> ``bg_idx``.
        bg_idx (int): Background class index.
        autocast_dtype (str, optional): 'bf16'/'fp16' autocast on GPU
            (the authors run SAM 3 under bf16 autocast: 'bf16' for parity
            runs). CPU always runs fp32. Defaults to None (fp32).
        data_preprocessor (dict, optional): Defaults to mean = std = 127.5
            (SAM 3's [-1, 1] normalisation), BGR -> RGB.
        train_cfg (dict, optional): Accepted for mmseg's ``init_model``;
            unused (training-free).
        test_cfg (dict, optional): As mmseg's ``EncoderDecoder``:
            ``mode`` ('whole' | 'slide'), ``crop_size``, ``stride`` (int or
            ``(h, w)``; stride defaults to the crop). Defaults to
            ``dict(mode='whole')`` (the whole image resized to SAM 3's
            input, as the authors).
        pretrained (str, optional): Overrides ``backbone.pretrained``.
        slide_crop, slide_stride: Old aliases of ``test_cfg.crop_size`` and
            ``test_cfg.stride`` (``slide_crop=0``: ``mode='whole'``); they
            warn, and giving one with its ``test_cfg`` key is refused.

    ``dataset_meta`` follows the vocabulary; :meth:`set_vocabulary` swaps it
    without a rebuild (SAM 3 encodes the prompts with each grounding call).
    """

    # devices where ``autocast_dtype`` applies (CPU stays fp32; tests may
    # add 'cpu' to exercise the autocast path without a GPU)
    autocast_devices = ('cuda', )

    def __init__(self,
                 backbone: ConfigType,
                 class_names: Union[str, Sequence],
                 decode_head: OptConfigType = None,
                 resize_mode: str = 'square',
                 input_resize: str = 'uint8_antialias',
                 batched_prompts: bool = True,
                 prob_thd: float = 0.,
                 bg_idx: int = 0,
                 autocast_dtype: Optional[str] = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 slide_crop: Optional[int] = None,
                 slide_stride: Optional[int] = None):
        super().__init__(
            data_preprocessor=data_preprocessor or dict(
                type='SegDataPreProcessor', mean=[127.5] * 3,
                std=[127.5] * 3, bgr_to_rgb=True),
            init_cfg=init_cfg)
        self.train_cfg = train_cfg
        self.test_cfg = resolve_test_cfg(
            test_cfg, 'SAM3Segmentor', dict(mode='whole'),
            slide_crop=slide_crop, slide_stride=slide_stride,
            zero_crop_is_whole=True)
        backbone = backbone_with_pretrained(backbone, pretrained,
                                            'SAM3Segmentor')
        if resize_mode not in ('square', 'keep_ratio'):
            raise ValueError("resize_mode must be 'square' or 'keep_ratio', "
                             f'got {resize_mode!r}')
        if input_resize not in ('uint8_antialias', 'float_bilinear'):
            raise ValueError("input_resize must be 'uint8_antialias' or "
                             f"'float_bilinear', got {input_resize!r}")
        self.input_resize = input_resize
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(
            decode_head or dict(type='DualHeadFusionDecoder'))
        self.resize_mode = resize_mode
        self.batched_prompts = batched_prompts
        self.prob_thd = check_range('prob_thd', prob_thd, 0, 1,
                                    'SAM3Segmentor')
        self.autocast_dtype = check_autocast_dtype(autocast_dtype,
                                                   'SAM3Segmentor')
        self.set_vocabulary(class_names)
        check_int('bg_idx', bg_idx, 'SAM3Segmentor')
        if not 0 <= bg_idx < self.vocabulary.num_classes:
            raise ValueError(f'bg_idx={bg_idx} is outside the '
                             f'{self.vocabulary.num_classes} classes.')
        self.bg_idx = int(bg_idx)

    def set_vocabulary(self, class_names: Union[str, Sequence],
                       bg_idx: Optional[int] = None,
                       palette: Optional[Sequence] = None) -> None:
        """Switch to a new vocabulary without rebuilding the model.

        Args:
            class_names (str | list | Vocabulary): Class-name file, inline
                ``"a,b;c"`` string or list.
            bg_idx (int, optional): New background class index; by default
                the current one, which must exist in the new vocabulary.
            palette (list, optional): One RGB triple per class.
        """
        vocabulary = Vocabulary.build(class_names)
        check_one_class_vocabulary(vocabulary, getattr(self, 'prob_thd', 0.),
                                   'SAM3Segmentor')
        bg = vocabulary.check_bg_idx(bg_idx, getattr(self, 'bg_idx', None))
        self.vocabulary = vocabulary
        if bg is not None:
            self.bg_idx = bg
        old = getattr(self, 'query_to_class', None)
        self.register_buffer(
            'query_to_class',
            torch.as_tensor(vocabulary.query_to_class,
                            device=None if old is None else old.device),
            persistent=False)
        self._set_palette(palette)

    @property
    def num_classes(self) -> int:
        return self.vocabulary.num_classes

    def resize_input(self, crop: torch.Tensor, size) -> torch.Tensor:
        """SAM 3 pixels ``(1, 3, *size)`` in [-1, 1] of a ``(1, 3, h, w)``
        window of the data preprocessor's output (see ``input_resize``)."""
        if self.input_resize == 'float_bilinear':
            return F.interpolate(crop, tuple(size), mode='bilinear',
                                 align_corners=False)
        from torchvision.transforms.v2 import functional as TF
        dp = self.data_preprocessor
        x = crop.float()
        if getattr(dp, '_enable_normalize', False):
            x = x * dp.std.to(x) + dp.mean.to(x)
        u8 = x.round_().clamp_(0, 255).to(torch.uint8)
        r = TF.resize(u8, list(size), antialias=True)
        return (r.float() / 255 - 0.5) / 0.5

    def window_probs(self, crop: torch.Tensor) -> torch.Tensor:
        """Fused query probabilities ``(Q, h, w)`` of one ``(1, 3, h, w)``
        crop."""
        h, w = crop.shape[-2:]
        S = self.backbone.image_size
        if self.resize_mode == 'square':
            pix = self.resize_input(crop, (S, S))
            out_size, valid = (h, w), None
        else:
            s = S / max(h, w)
            nh, nw = max(1, round(h * s)), max(1, round(w * s))
            pix = F.pad(self.resize_input(crop, (nh, nw)),
                        (0, S - nw, 0, S - nh))
            out_size, valid = (S, S), (nh, nw)
        dev = crop.device.type
        with torch.autocast(dev, dtype=self.autocast_dtype,
                            enabled=self.autocast_dtype is not None
                            and dev in self.autocast_devices):
            feats = self.backbone.encode_image(pix)
            out = self.backbone.ground(feats, self.vocabulary.queries,
                                       batched=self.batched_prompts)
        probs = self.decode_head(out['pred_masks'], out['pred_logits'],
                                 out['presence_logits'], out['semantic_seg'],
                                 out_size)
        if valid is not None:
            probs = F.interpolate(probs[None, :, :valid[0], :valid[1]],
                                  (h, w), mode='bilinear',
                                  align_corners=False)[0]
        return probs

    def crop_logits(self, crops: torch.Tensor) -> torch.Tensor:
        """Fused query probabilities ``(B, Q, h, w)`` of preprocessed crops
        ``(B, 3, h, w)``: what :meth:`encode_decode` averages per pixel."""
        return torch.stack([self.window_probs(c[None]) for c in crops])

    def logits_to_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Class scores ``(C, H, W)`` of merged query probabilities
        ``(Q, H, W)`` (max over synonyms), as :meth:`predict`."""
        return query_to_class_probs(probs, self.query_to_class,
                                    self.num_classes)

    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        """``(B, Q, H, W)`` fused probabilities at the input size."""
        B, _, H, W = inputs.shape
        Q = len(self.vocabulary.queries)
        out = inputs.new_zeros((B, Q, H, W), dtype=torch.float32)
        cfg = self.test_cfg
        if cfg.mode == 'slide':
            windows = slide_windows(H, W, cfg.crop_size, cfg.stride)
        else:
            windows = [(0, H, 0, W)]
        count = inputs.new_zeros((1, H, W), dtype=torch.float32)
        for y1, y2, x1, x2 in windows:
            count[:, y1:y2, x1:x2] += 1
        for b in range(B):
            for y1, y2, x1, x2 in windows:
                out[b, :, y1:y2, x1:x2] += self.window_probs(
                    inputs[b:b + 1, :, y1:y2, x1:x2])
        check_covered(count, 'SAM3Segmentor.encode_decode')
        return out / count

    def loss(self, inputs, data_samples):
        raise NotImplementedError('SAM3Segmentor is training-free: use '
                                  'tools/test.py.')

    def extract_feat(self, inputs: torch.Tensor):
        return [self.backbone.encode_image(x[None]) for x in inputs]

    def _forward(self, inputs: torch.Tensor,
                 data_samples: OptSampleList = None) -> torch.Tensor:
        return self.encode_decode(inputs, [])

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Segment a batch; ``seg_logits`` holds the fused class scores."""
        if data_samples is None:
            data_samples = default_data_samples(inputs)
        probs = self.encode_decode(inputs, [d.metainfo for d in data_samples])
        return pack_predictions(probs, data_samples, self.query_to_class,
                                self.num_classes, 1.0, self.prob_thd,
                                self.bg_idx, apply_softmax=False)
