from mmseg.registry import DATASETS

from .rs_seg_dataset import RSSegDataset


@DATASETS.register_module()
class RoadValDataset(RSSegDataset):
    """Road-extraction validation sets of GlobalRoadSet (DeepGlobe,
    Massachusetts, SpaceNet), labels 0/1."""
    IMG_SUFFIX = '.jpg'
    SEG_MAP_SUFFIX = '.png'
    METAINFO = dict(
        classes=('background', 'road'),
        palette=[[0, 0, 0], [255, 255, 255]])
