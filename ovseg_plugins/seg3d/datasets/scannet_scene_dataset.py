import numpy as np
from mmdet3d.datasets import ScanNetSegDataset
from mmdet3d.registry import DATASETS


@DATASETS.register_module()
class ScanNetSceneSegDataset(ScanNetSegDataset):
    """ScanNet segmentation that trains on WHOLE scenes (GeoPurify).

    mmdet3d's ScanNetSegDataset insists on re-sampled scene indexes for
    block-sampling training; here every scene is used once per epoch unless
    ``scene_idxs`` is given.
    """

    def get_scene_idxs(self, scene_idxs):
        if scene_idxs is None:
            return np.arange(len(self)).astype(np.int32)
        return super().get_scene_idxs(scene_idxs)
