"""One key moves every path derived from it (data_root, fused_root)."""
import os.path as osp

from mmengine.config import Config

from conftest import REPO_ROOT
from ovseg_plugins.utils.config_paths import merge_cfg_options

CFG = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet.py')


def _roots(cfg, loader):
    return [t['feature_root'] for t in cfg[loader].dataset.pipeline
            if t['type'] == 'LoadPointFeatures']


def test_data_root_moves_every_derived_path():
    cfg = Config.fromfile(CFG)
    moved = merge_cfg_options(cfg, {'data_root': '/mnt/scannet/'})
    assert moved == ['data_root']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == '/mnt/scannet/'
        assert all(r.startswith('/mnt/scannet/') for r in _roots(cfg, loader))
    assert cfg.model.text_embeddings == \
        '/mnt/scannet/text_embeds_scannet20.pt'
    assert cfg.fused_root == '/mnt/scannet/geopurify_fused'
    # paths outside data_root (the repo's scene list) are untouched
    assert cfg.train_dataloader.dataset.scene_list.startswith(REPO_ROOT)


def test_fused_root_alone_moves_only_the_fused_features():
    cfg = Config.fromfile(CFG)
    merge_cfg_options(cfg, {'fused_root': '/fast/fused'})
    assert _roots(cfg, 'train_dataloader') == ['/fast/fused',
                                               'data/scannet/teacher_feats']
    assert _roots(cfg, 'test_dataloader') == ['/fast/fused']
    assert cfg.train_dataloader.dataset.data_root == 'data/scannet/'


def test_both_keys_most_specific_wins_and_dotted_keys_merge_plainly():
    cfg = Config.fromfile(CFG)
    merge_cfg_options(cfg, {'data_root': '/d/', 'fused_root': '/f',
                            'model.knn': 8})
    assert _roots(cfg, 'train_dataloader') == ['/f', '/d/teacher_feats']
    assert cfg.model.knn == 8


def _strings(node, out):
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for v in node.values():
            _strings(v, out)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _strings(v, out)
    return out


def test_every_geopurify_config_follows_data_root():
    import glob
    for path in sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'geopurify',
                                          '*.py'))):
        cfg = Config.fromfile(path)
        old = cfg.data_root
        merge_cfg_options(cfg, {'data_root': '/elsewhere/'})
        left = [s for s in _strings(cfg._cfg_dict.to_dict(), [])
                if s.startswith(old)]
        # matterport_{40,80,160} test on their own K-class roots
        left = [s for s in left if not s.startswith('data/matterport_3d_')]
        assert not left, (path, left)
