"""Malformed inputs thrown at a checkout of ovseg_plugins: is each one a
clear error naming the field / file, an unclear error, or a silent result?

    python experiments/bad_inputs_attack/attack.py [--root CHECKOUT]

Run it on the branch and on the commit before the validation work (same
venv) to compare. Each attack names the token (field or file) a clear error
must contain. Prints a table and the totals.
"""
import argparse
import copy
import os
import os.path as osp
import sys
import tempfile
import traceback

import numpy as np

p = argparse.ArgumentParser()
p.add_argument('--root', default=osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
ARGS = p.parse_args()
sys.path.insert(0, ARGS.root)
sys.path.insert(0, osp.join(ARGS.root, 'tests'))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ['OVSEG_CACHE_DIR'] = tempfile.mkdtemp()

import cv2  # noqa: E402
import torch  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from PIL import Image  # noqa: E402

import ovseg_plugins.seg2d  # noqa: E402,F401
import ovseg_plugins.seg3d  # noqa: E402,F401
from fixtures.tiny_models import TINY_BACKBONE  # noqa: E402

TMP = tempfile.mkdtemp()
ATTACKS = []


def attack(surface, what, token):
    def deco(fn):
        ATTACKS.append((surface, what, token, fn))
        return fn
    return deco


def tmp(name):
    d = tempfile.mkdtemp(dir=TMP)
    return osp.join(d, name)


# ------------------------------------------------------------ 2D params
def ovclip(**kw):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = dict(type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
               class_names='road;building;tree', templates='photo',
               slide_crop=16, slide_stride=8)
    cfg.update(kw)
    torch.manual_seed(0)
    m = MODELS.build(cfg).eval()
    return m.predict(torch.randn(1, 3, 48, 48))


for kw, tok in [(dict(slide_stride=32), 'slide_stride'),
                (dict(prob_thd=1.5), 'prob_thd'),
                (dict(prob_thd=-1), 'prob_thd'),
                (dict(bg_idx=1.5), 'bg_idx'),
                (dict(logit_scale=0), 'logit_scale'),
                (dict(logit_scale=-50), 'logit_scale'),
                (dict(crop_batch_size=0), 'crop_batch_size'),
                (dict(slide_crop=-8), 'slide_crop')]:
    attack('params', f'OVCLIPSegmentor {kw}', tok)(
        lambda kw=kw: ovclip(**kw))


class _Stub(torch.nn.Module):
    image_size = 32

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


def sam3(**kw):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    MODELS.register_module('AttackStubSam3', module=_Stub, force=True)
    cfg = dict(type='SAM3Segmentor', backbone=dict(type='AttackStubSam3'),
               class_names='road;building;tree')
    cfg.update(kw)
    MODELS.build(cfg)


for kw, tok in [(dict(slide_crop=-1), 'slide_crop'),
                (dict(slide_crop=32, slide_stride=64), 'slide_stride'),
                (dict(prob_thd=2), 'prob_thd'),
                (dict(bg_idx=0.5), 'bg_idx')]:
    attack('params', f'SAM3Segmentor {kw}', tok)(lambda kw=kw: sam3(**kw))


@attack('params', 'slide_windows stride 64 > crop 32', 'stride')
def _():
    from ovseg_plugins.seg2d.models.utils.slide import slide_windows
    slide_windows(100, 100, (32, 32), (64, 64))


# ------------------------------------------------------------ 3D params
def geopurify(text=None, **kw):
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    if text is None:
        text = tmp('text.pt')
        torch.save(torch.nn.functional.normalize(torch.randn(3, 8), dim=-1),
                   text)
    cfg = dict(type='GeoPurifySegmentor',
               backbone=dict(type='StudentAffinityNet', in_channels=14,
                             hidden_channels=8, embed_dim=8, num_blocks=1),
               class_names='wall;floor;chair', fused_channels=8,
               text_embeddings=text,
               decode_head=dict(type='AffinityPurifyHead',
                                pooling=dict(knn=4, iterations=1)))
    cfg.update(kw)
    return MODELS.build(cfg)


def _pool(**kw):
    return dict(decode_head=dict(type='AffinityPurifyHead', pooling=kw))


for kw, tok in [(_pool(knn=0), 'knn'), (dict(voxel_size=0), 'voxel_size'),
                (dict(voxel_size=-0.02), 'voxel_size'),
                (_pool(knn=4, chunk=0), 'chunk'),
                (_pool(knn=4, sharpen=0), 'sharpen'),
                (_pool(knn=4, iterations=-1), 'iterations')]:
    attack('params', f'GeoPurifySegmentor {kw}', tok)(
        lambda kw=kw: geopurify(**kw))


# ------------------------------------------------------------ vocabularies
def vocab_file(data):
    path = tmp('classes.txt')
    with open(path, 'wb') as f:
        f.write(data)
    from ovseg_plugins.text import Vocabulary
    v = Vocabulary.build(path)
    return path, v


for data, what in [(b'Road\nbuilding\nroad\n', 'classes equal ignoring case'),
                   (b'parking lot\nparking  lot\n', 'classes equal '
                    'ignoring spaces'),
                   (b'road,Street\nstreet\n', 'synonym in two classes '
                    '(case)'),
                   ('road\nbuil\u200bding\n'.encode(), 'zero-width space'),
                   (b'road;building;tree\n', '";" inside a class file')]:
    attack('vocabulary', what, 'classes.txt')(lambda data=data: vocab_file(
        data))


@attack('vocabulary', 'UTF-8 BOM in the class file', 'HANDLED')
def _():
    _, v = vocab_file(b'\xef\xbb\xbfroad\nbuilding\n')
    if v.classes[0] != ['road']:
        return 'silent'  # BOM kept in class 0's name
    return 'handled'


@attack('vocabulary', "missing 'data/classes.csv'", 'classes.csv')
def _():
    from ovseg_plugins.text import Vocabulary
    Vocabulary.build('data/classes.csv')


@attack('vocabulary', 'list synonym of type int', 'class 1')
def _():
    from ovseg_plugins.text import Vocabulary
    Vocabulary.build(['road', ['building', 7]])


# ------------------------------------------------------------ caches/files
@attack('caches', 'text-embedding cache entry full of NaN', 'HANDLED')
def _():
    from ovseg_plugins.text import TextEmbeddingCache
    c = TextEmbeddingCache(tempfile.mkdtemp(dir=TMP))
    os.makedirs(c.cache_dir, exist_ok=True)
    torch.save(torch.full((3, 8), float('nan')), c.path('k'))
    good = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    try:
        out = c.get_or_compute('k', lambda: good, rows=3)
    except TypeError:  # no rows argument before
        out = c.get_or_compute('k', lambda: good)
    return 'handled' if torch.isfinite(out).all() else 'silent'


def text_file(name, obj):
    path = tmp(name)
    np.save(path, obj) if name.endswith('.npy') else torch.save(obj, path)
    return path


attack('files', 'GeoPurify text embeddings with NaN', 'text.pt')(
    lambda: geopurify(text_file('text.pt', torch.full((3, 8), np.nan))))
attack('files', 'GeoPurify text embeddings with a zero row', 'text.npy')(
    lambda: geopurify(text_file('text.npy', np.eye(3, 8, dtype=np.float32) *
                                [[1], [0], [1]])))
attack('files', 'GeoPurify text embeddings: dict without text_embeds',
       'text.pt')(lambda: geopurify(text_file('text.pt', {'w': 1})))


@attack('files', 'truncated text-embeddings .npy', 'text.npy')
def _():
    p = text_file('text.npy', np.ones((3, 8), np.float32))
    open(p, 'r+b').truncate(70)
    geopurify(p)


def point_results(n=50):
    from mmdet3d.structures import DepthPoints
    a = np.random.default_rng(0).random((n, 6)).astype(np.float32)
    return dict(lidar_points=dict(lidar_path='/data/scene0000_00.bin'),
                points=DepthPoints(a, points_dim=6,
                                   attribute_dims=dict(color=[3, 4, 5])))


def features(write):
    from ovseg_plugins.seg3d.datasets.transforms import LoadPointFeatures
    d = tempfile.mkdtemp(dir=TMP)
    write(osp.join(d, 'scene0000_00'))
    LoadPointFeatures(d)(point_results())


attack('files', 'feature .npz without feat', 'scene0000_00.npz')(
    lambda: features(lambda b: np.savez(b + '.npz', f=np.zeros((50, 8)))))
attack('files', 'feature .npz mask of another length', 'scene0000_00.npz')(
    lambda: features(lambda b: np.savez(b + '.npz', feat=np.zeros((50, 8)),
                                        mask=np.ones(40, bool))))


@attack('files', 'truncated feature .npy', 'scene0000_00.npy')
def _():
    def w(b):
        np.save(b + '.npy', np.zeros((50, 8), np.float32))
        open(b + '.npy', 'r+b').truncate(200)
    features(w)


@attack('files', 'truncated per-point label .npy', 'labels.npy')
def _():
    from ovseg_plugins.seg3d.datasets.transforms.load_openscene_points \
        import load_label_file
    p = tmp('labels.npy')
    np.save(p, np.zeros(500, np.int64))
    open(p, 'r+b').truncate(60)
    load_label_file(p)


@attack('checkpoints', 'checkpoint with NaN weights', 'iter_8.pth')
def _():
    from ovseg_plugins.utils.run_checks import check_checkpoint_matches
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    sd = net.state_dict()
    sd['0.weight'][0, 0] = float('nan')
    p = tmp('iter_8.pth')
    torch.save(dict(state_dict=sd), p)
    check_checkpoint_matches(net, p)


@attack('checkpoints', 'reader error of 720k characters (capped < 3000)',
        'ckpt.pth')
def _():
    from ovseg_plugins.utils import load_torch_file
    p = tmp('ckpt.pth')
    open(p, 'wb').write(b'x')
    real = torch.load

    def boom(*a, **k):
        raise RuntimeError('0.1234, ' * 90000)
    torch.load = boom
    try:
        load_torch_file(p)
    except ValueError as e:
        if len(str(e)) > 3000:
            raise RuntimeError('message of %d characters' % len(str(e)))
        raise
    finally:
        torch.load = real


# ------------------------------------------------------------ 2D samples
def checked_first_sample(dataloader):
    """The first batch through the configs' RunInputChecksHook (what
    tools/test.py and mmseg's own tools run with our configs)."""
    from ovseg_plugins.utils import RunInputChecksHook
    return RunInputChecksHook().check_dataloader(dataloader)


def sample(label=None, img=None, suffix='.png', pil_exif=None):
    from mmengine.runner import Runner

    init_default_scope('mmseg')
    root = tempfile.mkdtemp(dir=TMP)
    os.makedirs(osp.join(root, 'img_dir', 'val'))
    os.makedirs(osp.join(root, 'ann_dir', 'val'))
    ipath = osp.join(root, 'img_dir', 'val', 'tile' + suffix)
    if pil_exif is not None:
        Image.fromarray(np.random.default_rng(0).integers(
            0, 255, (16, 16, 3), dtype=np.uint8)).save(ipath, exif=pil_exif)
    else:
        cv2.imwrite(ipath, np.full((16, 16, 3), 90, np.uint8)
                    if img is None else img)
    cv2.imwrite(osp.join(root, 'ann_dir', 'val', 'tile.png'),
                np.zeros((16, 16), np.uint8) if label is None else label)
    cfg = dict(batch_size=1, num_workers=0,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='PotsdamDataset', data_root=root,
                            img_suffix=suffix, reduce_zero_label=False,
                            data_prefix=dict(img_path='img_dir/val',
                                             seg_map_path='ann_dir/val'),
                            pipeline=[dict(type='LoadImageFromFile'),
                                      dict(type='LoadAnnotations'),
                                      dict(type='PackSegInputs')]))
    return checked_first_sample(Runner.build_dataloader(cfg))


lab9 = np.zeros((16, 16), np.uint8)
lab9[:3] = 9
attack('images/labels', 'label value 9 in a 6-class dataset', 'tile.png')(
    lambda: sample(label=lab9))
attack('images/labels', 'label map of another size', 'tile.png')(
    lambda: sample(label=np.zeros((12, 16), np.uint8)))
attack('images/labels', '12-bit data in a 16-bit PNG', 'tile.png')(
    lambda: sample(img=(np.random.default_rng(0).random((16, 16, 3)) *
                        4000).astype(np.uint16)))
attack('images/labels', '0-byte image file', 'tile.png')(
    lambda: sample(img=np.zeros((0, 0, 3), np.uint8)) if False else
    _zero_byte())


def _zero_byte():
    from mmengine.runner import Runner

    init_default_scope('mmseg')
    root = tempfile.mkdtemp(dir=TMP)
    os.makedirs(osp.join(root, 'img_dir', 'val'))
    os.makedirs(osp.join(root, 'ann_dir', 'val'))
    open(osp.join(root, 'img_dir', 'val', 'tile.png'), 'wb').close()
    cv2.imwrite(osp.join(root, 'ann_dir', 'val', 'tile.png'),
                np.zeros((16, 16), np.uint8))
    cfg = dict(batch_size=1, num_workers=0,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='PotsdamDataset', data_root=root,
                            data_prefix=dict(img_path='img_dir/val',
                                             seg_map_path='ann_dir/val'),
                            pipeline=[dict(type='LoadImageFromFile'),
                                      dict(type='LoadAnnotations'),
                                      dict(type='PackSegInputs')]))
    checked_first_sample(Runner.build_dataloader(cfg))


@attack('images/labels', 'EXIF orientation 6 on a labelled JPEG', 'tile.jpg')
def _():
    exif = Image.Exif()
    exif[0x0112] = 6
    sample(suffix='.jpg', pil_exif=exif)


# ------------------------------------------------------------ tools/outputs
@attack('tools', 'binarize_labels.py DIR DIR (in place)', 'a.png')
def _():
    sys.path.insert(0, osp.join(ARGS.root, 'tools', 'dataset_converters'))
    import binarize_labels
    sys.path.pop(0)
    d = tempfile.mkdtemp(dir=TMP)
    m = np.zeros((8, 8), np.uint8)
    m[:4] = 255
    Image.fromarray(m).save(osp.join(d, 'a.png'))
    binarize_labels.main([d, d])


def main():
    rows, totals = [], {}
    for surface, what, token, fn in ATTACKS:
        try:
            out = fn()
            verdict = out if token == 'HANDLED' and out in (
                'handled', 'silent') else 'silent'
            msg = ''
        except Exception as e:  # noqa: BLE001
            msg = f'{type(e).__name__}: {e}'
            verdict = 'clear' if token != 'HANDLED' and token in str(e) \
                else 'unclear'
            if os.environ.get('ATTACK_DEBUG'):
                traceback.print_exc()
        totals[verdict] = totals.get(verdict, 0) + 1
        rows.append((surface, what, verdict, msg.splitlines()[0][:90]
                     if msg else ''))
    print('| surface | input | result | first line of the error |')
    print('|---|---|---|---|')
    for r in rows:
        print('| ' + ' | '.join(x.replace('|', '/') for x in r) + ' |')
    print(f'\n{len(rows)} inputs: ' + ', '.join(
        f'{k} {v}' for k, v in sorted(totals.items())))


if __name__ == '__main__':
    main()
