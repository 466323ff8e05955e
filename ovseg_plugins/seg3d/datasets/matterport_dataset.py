from typing import Optional

from mmdet3d.registry import DATASETS

from .label_constants import MATTERPORT_CLASSES
from .openscene_dataset import OpenSceneSegDataset


@DATASETS.register_module()
class MatterportSegDataset(OpenSceneSegDataset):
    """Matterport3D regions in OpenScene / GeoPurify ``.pth`` format.

    ``<data_prefix.pts>/<building>_<region>.pth``: GeoPurify's 21-class
    4-tuple ``(coords, colors [-1, 1], normals, labels)`` or OpenScene's
    3-tuple (K = 40 / 80 / 160 label sets, ``matterport_3d_{K}``). File ids
    are 0..K-1, 255 = unlabelled (-> ignore index K).

    Args:
        num_classes (int): 21 (ScanNet-20 with "other" + ceiling), 40, 80 or
            160 (most frequent NYU classes, OpenScene order). Defaults to 21.
        pts_template (str): Defaults to ``'{scene}.pth'``.
        metainfo (dict, optional): Overrides (e.g. ``classes`` subset).
        **kwargs: See :class:`OpenSceneSegDataset`.
    """

    METAINFO = {
        'classes': MATTERPORT_CLASSES[21],
        'palette': None,
        'seg_valid_class_ids': tuple(range(21)),
        'max_label_id': 255,
    }

    def __init__(self,
                 num_classes: int = 21,
                 pts_template: str = '{scene}.pth',
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if num_classes not in MATTERPORT_CLASSES:
            raise ValueError(f'MatterportSegDataset: num_classes must be one '
                             f'of {sorted(MATTERPORT_CLASSES)}, got '
                             f'{num_classes}.')
        self.num_classes = num_classes
        super().__init__(pts_template=pts_template, metainfo=metainfo,
                         **kwargs)

    def _resolve_metainfo(self, metainfo):
        classes = MATTERPORT_CLASSES[self.num_classes]
        meta = dict(metainfo or {})
        if 'seg_valid_class_ids' not in meta:
            full = dict(zip(classes, range(len(classes))))
            wanted = meta.get('classes', classes)
            unknown = [c for c in wanted if c not in full]
            if unknown:
                raise ValueError(
                    f'MatterportSegDataset: classes {unknown[:5]} are not in '
                    f'the {self.num_classes}-class set.')
            meta['classes'] = tuple(wanted)
            meta['seg_valid_class_ids'] = tuple(full[c] for c in wanted)
        return super()._resolve_metainfo(meta)
