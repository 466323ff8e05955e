from typing import List

import numpy as np
from mmdet3d.datasets import ScanNetSegDataset
from mmdet3d.registry import DATASETS

from .scene_list import (SceneListSpec, filter_by_scene_list, read_scene_list,
                         scene_name_of)


@DATASETS.register_module()
class ScanNetSceneSegDataset(ScanNetSegDataset):
    """ScanNet segmentation that trains on WHOLE scenes (GeoPurify).

    mmdet3d's ScanNetSegDataset insists on re-sampled scene indexes for
    block-sampling training; here every scene is used once per epoch unless
    ``scene_idxs`` is given. Reads mmdet3d info files (``points/*.bin``
    xyz+rgb, ``semantic_mask/*.bin`` NYU40 ids).

    Args:
        scene_list (str | list[str], optional): Scene-list file (one name per
            line, e.g. ``configs/geopurify/splits/scannet_train_20.txt``) or
            names; keeps those scenes of ``ann_file`` in list order (a
            listed scene missing from the info file is an error).
        **kwargs: See mmdet3d ``ScanNetSegDataset``.
    """

    def __init__(self, *args, scene_list: SceneListSpec = None, **kwargs):
        self.scene_names = read_scene_list(scene_list,
                                           kwargs.get('data_root'))
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        infos = super().load_data_list()
        for info in infos:
            info.setdefault('scene_name',
                            scene_name_of(info['lidar_points']['lidar_path']))
        if self.scene_names is not None:
            infos = filter_by_scene_list(infos, self.scene_names,
                                         self.ann_file)
        return infos

    def get_scene_idxs(self, scene_idxs):
        if scene_idxs is None:
            return np.arange(len(self)).astype(np.int32)
        return super().get_scene_idxs(scene_idxs)
