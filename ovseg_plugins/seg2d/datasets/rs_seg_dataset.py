from mmseg.datasets import BaseSegDataset


class RSSegDataset(BaseSegDataset):
    """Base of the remote-sensing datasets: file suffixes as class defaults.

    Subclasses set ``METAINFO``, ``IMG_SUFFIX`` and ``SEG_MAP_SUFFIX``; a config
    can still override ``img_suffix`` / ``seg_map_suffix`` (WHU Sat. II uses
    ``.tif``). ``reduce_zero_label`` defaults to False: label 0 is a real class
    (background) in all of them.
    """
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '.png'

    def __init__(self, img_suffix=None, seg_map_suffix=None,
                 reduce_zero_label=False, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix or self.IMG_SUFFIX,
            seg_map_suffix=seg_map_suffix or self.SEG_MAP_SUFFIX,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
