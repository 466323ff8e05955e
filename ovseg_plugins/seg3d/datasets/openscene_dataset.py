import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmdet3d.datasets import Seg3DDataset
from mmdet3d.registry import DATASETS

from .label_constants import SCANNET20_CLASSES
from .scene_list import (SceneListSpec, filter_by_scene_list, read_scene_list,
                         scene_name_of)


@DATASETS.register_module()
class OpenSceneSegDataset(Seg3DDataset):
    """Whole-scene 3D segmentation over OpenScene-format scene files.

    Each scene is one ``<data_prefix.pts>/<pts_template>`` file, a
    ``torch.save``-d tuple read by :class:`LoadOpenScenePoints`:
    ``(coords (N, 3), colors (N, 3) in [-1, 1], labels (N,))`` (OpenScene
    ScanNet / Matterport-K) or ``(coords, colors, normals (N, 3), labels)``
    (GeoPurify Matterport). Scenes are every matching file in the folder, or
    the names of ``scene_list`` in its order (a missing scene is an error).
    With ``ann_file`` set, an mmdet3d info file is read instead (points via
    ``LoadPointsFromFile``), still filtered by ``scene_list``.

    Label ids in the files (or in ``label_template`` files, which take
    precedence) are mapped to ``0..K-1`` by mmdet3d's
    ``PointSegClassMapping``: ``metainfo['seg_valid_class_ids'][i] -> i``,
    every other id in ``0..max_label_id`` -> ``ignore_index`` (= K unless
    given). Defaults: the ScanNet-20 classes with file ids 0..19, 255
    unlabelled.

    Each data info holds ``scene_name``, ``lidar_points.lidar_path``,
    optionally ``pts_semantic_mask_path`` and ``mesh_path`` (for
    :class:`AddPointNormals`).

    Args:
        data_root (str, optional): Root joined to ``data_prefix`` / files.
        ann_file (str): mmdet3d info file; ``''`` (default) scans the folder.
        scene_list (str | list[str], optional): Scene-list file (one name per
            line; relative paths are tried from the working directory, then
            ``data_root``) or inline names.
        metainfo (dict, optional): ``classes`` and, when they are not a
            subset of the default classes, ``seg_valid_class_ids`` (file id
            of each class) and ``max_label_id``.
        data_prefix (dict): Folders of ``pts`` (scene files),
            ``pts_semantic_mask`` (label files) and ``mesh`` (meshes).
        pts_template (str): Scene file name, ``{scene}`` = scene name.
        label_template (str, optional): Label file name (``.txt`` / ``.npy``
            / int64 ``.bin``, one id per point) overriding the tuple's labels,
            e.g. ``'{scene}.txt'`` for ScanNet200 raw ids.
        mesh_template (str, optional): Mesh file whose faces give normals,
            e.g. ``'{scene}/{scene}_vh_clean_2.ply'``.
        pipeline (list): Transforms.
        ignore_index (int, optional): Label of ignored points. Defaults to K.
        scene_idxs: Ignored unless given; every scene is used once an epoch.
        test_mode (bool): Test mode.
    """

    METAINFO = {
        'classes': SCANNET20_CLASSES,
        'palette': None,
        'seg_valid_class_ids': tuple(range(20)),
        'max_label_id': 255,
    }

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 scene_list: SceneListSpec = None,
                 metainfo: Optional[dict] = None,
                 data_prefix: dict = dict(pts='', pts_semantic_mask='',
                                          mesh=''),
                 pts_template: str = '{scene}_vh_clean_2.pth',
                 label_template: Optional[str] = None,
                 mesh_template: Optional[str] = None,
                 pipeline: List[Union[dict, Callable]] = [],
                 ignore_index: Optional[int] = None,
                 scene_idxs: Optional[Union[str, np.ndarray]] = None,
                 test_mode: bool = False,
                 **kwargs) -> None:
        for name, t in (('pts_template', pts_template),
                        ('label_template', label_template),
                        ('mesh_template', mesh_template)):
            if t is not None and '{scene}' not in t:
                raise ValueError(f'{type(self).__name__}: {name}={t!r} must '
                                 'contain "{scene}".')
        self.pts_template = pts_template
        self.label_template = label_template
        self.mesh_template = mesh_template
        self._meta = self._resolve_metainfo(metainfo)
        self.scene_names = read_scene_list(scene_list, data_root)
        data_prefix = dict(dict(pts='', pts_semantic_mask='', mesh=''),
                           **data_prefix)
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            metainfo=dict(self._meta),
            data_prefix=data_prefix,
            pipeline=pipeline,
            ignore_index=(len(self._meta['classes'])
                          if ignore_index is None else ignore_index),
            scene_idxs=scene_idxs,
            test_mode=test_mode,
            **kwargs)

    # ------------------------------------------------------------ metainfo
    def _resolve_metainfo(self, metainfo: Optional[dict]) -> dict:
        base = dict(self.METAINFO)
        meta = dict(metainfo or {})
        classes = meta.get('classes')
        if classes is not None and 'seg_valid_class_ids' not in meta and \
                list(classes) != list(base['classes']):
            unknown = [c for c in classes if c not in base['classes']]
            if unknown:
                raise ValueError(
                    f'{type(self).__name__}: classes {unknown[:5]} are not '
                    'among the default classes; also give metainfo='
                    'dict(classes=..., seg_valid_class_ids=...) (the label '
                    'id of each class in the files).')
            meta['seg_valid_class_ids'] = tuple(
                base['seg_valid_class_ids'][list(base['classes']).index(c)]
                for c in classes)
        base.update(meta)
        base['classes'] = tuple(base['classes'])
        ids = tuple(int(i) for i in base['seg_valid_class_ids'])
        if len(ids) != len(base['classes']):
            raise ValueError(
                f'{type(self).__name__}: {len(base["classes"])} classes but '
                f'{len(ids)} seg_valid_class_ids; give one id per class.')
        if len(set(ids)) != len(ids) or min(ids) < 0:
            raise ValueError(f'{type(self).__name__}: seg_valid_class_ids '
                             'must be distinct non-negative ids.')
        base['seg_valid_class_ids'] = ids
        base['max_label_id'] = max(int(base.get('max_label_id', 255)),
                                   max(ids))
        base.pop('seg_all_class_ids', None)  # ids 0..max_label_id
        return base

    def get_label_mapping(self, new_classes: Optional[Sequence] = None):
        """``({file id: class index}, {index: name}, valid ids)`` from the
        resolved metainfo (mmdet3d's version only reads class METAINFO)."""
        ids = self._meta['seg_valid_class_ids']
        label_mapping = {cid: i for i, cid in enumerate(ids)}
        label2cat = dict(enumerate(self._meta['classes']))
        return label_mapping, label2cat, ids

    def get_seg_label_mapping(self, metainfo=None) -> np.ndarray:
        """``(max_label_id + 1,)`` array: file id -> class index / ignore."""
        mapping = np.full(self._meta['max_label_id'] + 1, self.ignore_index,
                          dtype=np.int64)
        for i, cid in enumerate(self._meta['seg_valid_class_ids']):
            mapping[cid] = i
        return mapping

    def _update_palette(self, new_classes, palette) -> list:
        if palette is not None:
            if len(palette) != len(new_classes):
                raise ValueError(f'{type(self).__name__}: palette has '
                                 f'{len(palette)} colours for '
                                 f'{len(new_classes)} classes.')
            return list(palette)
        from ovseg_plugins.seg3d.visualization.palette import class_palette
        return class_palette(len(new_classes)).tolist()

    def get_scene_idxs(self, scene_idxs):
        if scene_idxs is None:
            return np.arange(len(self)).astype(np.int32)
        return super().get_scene_idxs(scene_idxs)

    # ------------------------------------------------------------ data list
    def _template_split(self):
        pre, suf = self.pts_template.split('{scene}', 1)
        return pre, suf

    def _scan_folder(self) -> List[str]:
        folder = self.data_prefix['pts']
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{type(self).__name__}: scene folder not found: {folder!r}. '
                'Set data_root / data_prefix.pts to the folder of OpenScene '
                f'{self.pts_template!r} files.')
        pre, suf = self._template_split()
        names = sorted(
            f[len(pre):len(f) - len(suf)] for f in os.listdir(folder)
            if f.startswith(pre) and f.endswith(suf)
            and len(f) > len(pre) + len(suf))
        if not names:
            raise FileNotFoundError(
                f'{type(self).__name__}: no {self.pts_template!r} files in '
                f'{folder!r}; check pts_template and data_prefix.pts.')
        return names

    def _raw_info(self, name: str) -> dict:
        info = dict(scene_name=name,
                    lidar_points=dict(
                        lidar_path=self.pts_template.format(scene=name)))
        if self.label_template is not None:
            info['pts_semantic_mask_path'] = self.label_template.format(
                scene=name)
        return info

    def load_data_list(self) -> List[dict]:
        if self.ann_file:
            infos = super().load_data_list()
            for info in infos:
                info.setdefault(
                    'scene_name',
                    scene_name_of(info['lidar_points']['lidar_path']))
            if self.scene_names is not None:
                infos = filter_by_scene_list(infos, self.scene_names,
                                             self.ann_file)
        else:
            if self.scene_names is None:
                names = self._scan_folder()
            else:
                names = self.scene_names
                folder = self.data_prefix['pts']
                missing = [
                    n for n in names if not osp.isfile(
                        osp.join(folder, self.pts_template.format(scene=n)))
                ]
                if missing:
                    raise FileNotFoundError(
                        f'{type(self).__name__}: {len(missing)} scene(s) of '
                        f'the scene list have no {self.pts_template!r} file '
                        f'in {folder!r}: {missing[:10]}. Fix the scene list '
                        'or data_root / data_prefix.pts.')
            infos = [self.parse_data_info(self._raw_info(n)) for n in names]
        if self.mesh_template is not None:
            for info in infos:
                info['mesh_path'] = osp.join(
                    self.data_prefix.get('mesh', ''),
                    self.mesh_template.format(scene=info['scene_name']))
        return infos
