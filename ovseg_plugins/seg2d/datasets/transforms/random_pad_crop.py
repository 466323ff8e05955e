import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomPadCrop(BaseTransform):
    """Random ``crop_size`` crop, reflect-padding images that are smaller
    (torchvision's ``RandomCrop(pad_if_needed=True, padding_mode='reflect')``).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)``.
    """

    def __init__(self, crop_size, seed=None):
        self.crop_size = (crop_size, crop_size) if isinstance(
            crop_size, int) else tuple(crop_size)
        self.rng = np.random.default_rng(seed)

    def transform(self, results: dict) -> dict:
        img = results['img']
        ch, cw = self.crop_size
        h, w = img.shape[:2]
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        if ph or pw:
            pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
            pad = pad + ((0, 0), ) * (img.ndim - 2)
            img = np.pad(img, pad, mode='reflect')
            h, w = img.shape[:2]
        y = int(self.rng.integers(0, h - ch + 1))
        x = int(self.rng.integers(0, w - cw + 1))
        results['img'] = img[y:y + ch, x:x + cw]
        results['img_shape'] = (ch, cw)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(crop_size={self.crop_size})'
