"""The model side of the raster path: a segmentor seen as "values of one crop"
plus "class probabilities of the mean of the crops covering a pixel".

That is exactly how a segmentor's whole-image slide inference is built
(mmseg's ``EncoderDecoder.slide_inference``, ``OVCLIPSegmentor``,
``SAM3Segmentor``): per crop, values ``(Q, h, w)``; per pixel, the mean over
its crops; then the post-processing into class probabilities. The raster
engine calls the same two functions of the same model, on the same crops.
"""
from typing import Callable, Optional, Tuple

import numpy as np
import torch


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


class SlideModel:
    """A segmentor's crop values and post-processing for the raster path.

    Args:
        model: ``OVCLIPSegmentor``, ``SAM3Segmentor`` (``crop_logits`` /
            ``logits_to_probs``) or a stock mmseg ``EncoderDecoder`` (crop
            logits from ``encode_decode``, softmax).
        tile_size (int): Crop and stride of a model whose ``test_cfg`` is
            ``mode='whole'`` (a raster has no "whole image" to feed).
        crop_batch_size (int, optional): Crops per model call. Default: the
            model's ``crop_batch_size`` or 8.

    Attributes:
        crop, stride (tuple[int, int]): The slide grid ``(h, w)``.
        num_classes (int): C.
        grid_rule (str): Where the grid comes from (said in the summary).
    """

    def __init__(self, model, tile_size: int = 1024,
                 crop_batch_size: Optional[int] = None):
        self.model = model
        cfg = getattr(model, 'test_cfg', None) or {}
        if cfg.get('mode', 'whole') == 'slide':
            self.crop, self.stride = _pair(cfg['crop_size']), _pair(
                cfg['stride'])
            self.grid_rule = "the model's test_cfg (mode='slide')"
        else:
            self.crop = self.stride = (tile_size, tile_size)
            self.grid_rule = (f"test_cfg mode='whole': crops of tile_size="
                              f'{tile_size} px, no overlap')
        self.num_classes = len(model.dataset_meta['classes'])
        self.crop_batch_size = int(crop_batch_size or getattr(
            model, 'crop_batch_size', 8))
        dp = model.data_preprocessor
        self._swap = not getattr(dp, 'channel_conversion', False)
        self._norm = (dp.mean, dp.std) if getattr(
            dp, '_enable_normalize', False) else None
        self.device = next(model.parameters()).device

    def describe(self) -> dict:
        return dict(crop=list(self.crop), stride=list(self.stride),
                    rule=self.grid_rule)

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """``(B, h, w, 3)`` uint8 RGB crops -> the model's ``(B, 3, h, w)``
        input, as its data preprocessor makes it from BGR images."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
        if self._swap:  # the model consumes BGR (no conversion configured)
            x = x.flip(1)
        x = x.to(self.device).float()
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        return x

    @torch.no_grad()
    def crop_values(self, rgb: np.ndarray) -> torch.Tensor:
        """Per-crop values ``(B, Q, h, w)`` (averaged over overlaps)."""
        x = self.preprocess(rgb)
        m = self.model
        if hasattr(m, 'crop_logits'):
            return m.crop_logits(x).float()
        metas = [dict(img_shape=tuple(x.shape[-2:]),
                      ori_shape=tuple(x.shape[-2:]),
                      pad_shape=tuple(x.shape[-2:]))] * len(x)
        return m.encode_decode(x, metas).float()

    @torch.no_grad()
    def to_probs(self, mean: torch.Tensor) -> np.ndarray:
        """``(Q, h, w)`` mean crop values -> ``(C, h, w)`` float32
        probabilities."""
        m = self.model
        if hasattr(m, 'logits_to_probs'):
            p = m.logits_to_probs(mean)
        else:
            p = mean.softmax(0)
        return p.float().cpu().numpy()


class FunctionModel:
    """A plain ``predict_fn(rgb (h, w, 3) uint8) -> (C, h, w)`` probabilities
    as a slide model whose crops are the windows (crop = stride =
    ``tile_size``: each pixel is predicted once)."""

    grid_rule = 'a function of each window (no overlap)'

    def __init__(self, predict_fn: Callable, num_classes: int,
                 tile_size: int):
        self.fn, self.num_classes = predict_fn, num_classes
        self.crop = self.stride = (tile_size, tile_size)
        self.crop_batch_size = 1

    def describe(self) -> dict:
        return dict(crop=list(self.crop), stride=list(self.stride),
                    rule=self.grid_rule)

    def crop_values(self, rgb: np.ndarray) -> torch.Tensor:
        out = []
        for crop in rgb:
            p = self.fn(crop)
            if hasattr(p, 'detach'):
                p = p.detach().float().cpu()
            out.append(torch.as_tensor(np.asarray(p, np.float32)))
        return torch.stack(out)

    def to_probs(self, mean: torch.Tensor) -> np.ndarray:
        return mean.numpy()


def as_slide_model(model_or_fn, num_classes: Optional[int] = None,
                   tile_size: int = 1024):
    """A :class:`SlideModel` for a segmentor, a :class:`FunctionModel` for a
    callable, or the object itself if it already is one."""
    if hasattr(model_or_fn, 'crop_values'):
        return model_or_fn
    if isinstance(model_or_fn, torch.nn.Module):
        return SlideModel(model_or_fn, tile_size)
    if num_classes is None:
        raise ValueError('a predict function needs num_classes.')
    return FunctionModel(model_or_fn, num_classes, tile_size)


__all__ = ['SlideModel', 'FunctionModel', 'as_slide_model']
