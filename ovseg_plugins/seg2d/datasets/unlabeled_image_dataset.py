import os
import os.path as osp
from typing import List, Sequence, Union

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDataset):
    """Every image file under a folder (recursively): the training data of
    the SimFeatUp recipe (Million-AID test split, COCO, your own tiles).

    Args:
        data_root (str): Root folder.
        img_dir (str): Sub-folder of images. Defaults to ''.
        suffixes (Sequence[str]): Image suffixes (case-insensitive).
    """
    METAINFO = dict(classes=())

    def __init__(self, img_dir: str = '',
                 suffixes: Union[str, Sequence[str]] = ('.png', '.jpg',
                                                        '.jpeg', '.tif',
                                                        '.tiff'),
                 **kwargs):
        self.img_dir = img_dir
        self.suffixes = tuple(s.lower() for s in (
            [suffixes] if isinstance(suffixes, str) else suffixes))
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        root = osp.join(self.data_root or '', self.img_dir)
        if not osp.isdir(root):
            raise FileNotFoundError(
                f'UnlabeledImageDataset: image folder not found: {root!r}; '
                'set data_root / img_dir.')
        files = sorted(
            osp.join(d, f) for d, _, fs in os.walk(root) for f in fs
            if f.lower().endswith(self.suffixes))
        if not files:
            raise FileNotFoundError(
                f'UnlabeledImageDataset: no {self.suffixes} images under '
                f'{root!r}.')
        return [dict(img_path=f) for f in files]
