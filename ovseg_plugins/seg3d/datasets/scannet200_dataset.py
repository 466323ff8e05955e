from mmdet3d.registry import DATASETS

from .label_constants import SCANNET200_CLASSES, SCANNET200_RAW_IDS
from .openscene_dataset import OpenSceneSegDataset


@DATASETS.register_module()
class ScanNet200SegDataset(OpenSceneSegDataset):
    """ScanNet200: OpenScene ScanNet scene files + raw ScanNet label ids.

    Points come from ``<data_prefix.pts>/{scene}_vh_clean_2.pth`` (the
    ScanNet-20 labels in the tuple are not used); labels from
    ``<data_prefix.pts_semantic_mask>/{scene}.txt``, one RAW ScanNet
    category id per vertex (GeoPurify's ``scannet_3d_200/<split>`` files).
    The 200 benchmark ids map to 0..199 in :data:`SCANNET200_CLASSES` order
    (wall = 0, floor = 2, ceiling = 35); every other id (0..65535) -> 200
    (ignored). Evaluate with ``PointSegMetric(class_groups='scannet200')``
    for head / common / tail and f-mIoU / f-mAcc.

    Args:
        label_template (str): Label file name. Defaults to ``'{scene}.txt'``.
        **kwargs: See :class:`OpenSceneSegDataset`.
    """

    METAINFO = {
        'classes': SCANNET200_CLASSES,
        'palette': None,
        'seg_valid_class_ids': SCANNET200_RAW_IDS,
        'max_label_id': 65535,
    }

    def __init__(self, label_template: str = '{scene}.txt', **kwargs):
        super().__init__(label_template=label_template, **kwargs)
