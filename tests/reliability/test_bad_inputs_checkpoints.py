"""Hostile checkpoints at every entry point that loads one.

Two payloads a downloaded file can carry:

- a pickle payload: an object whose ``__reduce__`` opens (creates) a marker
  file when unpickled with plain ``pickle`` / ``torch.load(weights_only=
  False)`` (the controls below show it is live);
- a config-text payload: tensors only, with Python text in ``meta['cfg']``
  (or ``meta['config']``, which mmengine's ``Runner.resume`` executes)
  that creates the marker when run by ``Config.fromstring``.

Each case asserts that the marker never appears and that the error names
the file. A pickle-payload case is one ``pytest.param``: its one-line
description (the docs/bad_inputs.md row), the call maker, the exact error
type and the strings the message must hold besides the file name.
"""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_data_path
from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME
from rel_helpers import TINY_FCN, load_tool, tiny_segearth_config

TOOLS = osp.join(REPO_ROOT, 'tools')
for d in (TOOLS, osp.join(TOOLS, 'demo'), osp.join(TOOLS, 'geopurify'),
          osp.join(TOOLS, 'model_converters')):
    if d not in sys.path:
        sys.path.insert(0, d)

CLASSES = 'wall;floor;chair'
MARKER = 'PAYLOAD_RAN'


class _Payload:
    """Creates ``marker`` when unpickled by an unrestricted unpickler."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _marker(tmp_path):
    return tmp_path / MARKER


def _pickle_payload(tmp_path, name='hostile.pth', state_dict=None):
    """A checkpoint that looks real (state_dict, meta) plus the payload."""
    p = tmp_path / name
    torch.save(dict(state_dict=state_dict or {'w': torch.zeros(2)},
                    meta=dict(epoch=1, iter=2, payload=_Payload(
                        _marker(tmp_path)))), p)
    return str(p)


def _cfg_text(tmp_path, extra=''):
    return (f'open({str(_marker(tmp_path))!r}, "w").close()\n'
            "model = dict(type='GeoPurifySegmentor')\n" + extra)


# ------------------------------------------------------------ 3D fixtures
@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    from ovseg_plugins.seg3d.synthetic import write_oracle_scene
    d = str(tmp_path_factory.mktemp('hostile_room'))
    paths = write_oracle_scene(d, seed=0, spacing=0.08, views=2,
                               size=(160, 120), dim=16, noise=0.5)
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud
    pc = read_point_cloud(paths['ply'])
    paths['bin'] = osp.join(d, 'room.bin')  # lift_features reads .bin
    pc.points.tofile(paths['bin'])
    return paths


def _student_state(dim=16):
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope

    import ovseg_plugins.seg3d  # noqa: F401
    from fixtures.tiny_models import tiny_student_cfg
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    cfg = tiny_student_cfg(dim)
    model = MODELS.build(dict(cfg, class_names=['a'],
                              text_embeddings=torch.randn(1, dim)))
    return model.state_dict()


def _geopurify(scene, **kw):
    from ovseg_plugins.apis import GeoPurifyInferencer
    kw.setdefault('text_embeddings', scene['text'])
    return GeoPurifyInferencer(CLASSES, feature_maps=scene['features'],
                               show_progress=False, **kw)


# ------------------------------------------------------ entry-point calls
def _ovseg_inferencer(t, ck):
    from ovseg_plugins.apis import OVSegInferencer
    cfg = tiny_segearth_config(t)
    return lambda: OVSegInferencer(cfg, weights=ck, classes='a;b')


def _image_demo(t, ck):
    import image_demo
    return lambda: image_demo.run(image_demo.parse_args([
        osp.join(REPO_ROOT, 'demo', 'aerial_demo.png'), '--weights', ck,
        '--classes', 'road;tree', '--out-dir', str(t / 'out')]))


def _geopurify_student(t, ck, scene):
    return lambda: _geopurify(scene, weights=ck)


def _geopurify_text(t, ck, scene):
    return lambda: _geopurify(scene, text_embeddings=ck)


def _pointcloud_demo(t, ck, scene):
    import pointcloud_demo
    return lambda: pointcloud_demo.main([
        scene['ply'], '--frames', scene['frames'], '--feature-maps',
        scene['features'], '--text-embeddings', scene['text'], '--classes',
        CLASSES, '--student', ck, '--out-dir', str(t / 'out'),
        '--no-progress'])


def _lift_features_text(t, ck, scene):
    import lift_features
    return lambda: lift_features.main([
        scene['frames'], scene['bin'], str(t / 'fused'), '--feature-dir',
        scene['features'], '--text', ck, '--min-visible', '0'])


def _potsdam_opts():
    root = shared_data_path('rs', 'potsdam')
    return ['--cfg-options'] + [f'{s}_dataloader.dataset.data_root={root}'
                                for s in ('train', 'val', 'test')]


_tool = load_tool


def _test_tool(t, ck):
    opts = _potsdam_opts()
    return lambda: _tool('test').main([TINY_FCN, ck, '--work-dir',
                                       str(t / 'wd')] + opts)


def _train_resume(t, ck):
    opts = _potsdam_opts()
    return lambda: _tool('train').main([TINY_FCN, '--resume', ck,
                                        '--work-dir', str(t / 'wd')] + opts)


def _train_auto_resume(t, ck):
    """The latest checkpoint of the work_dir is the hostile one."""
    opts = _potsdam_opts()
    wd = t / 'wd'
    wd.mkdir()
    os.replace(ck, wd / 'iter_2.pth')
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_2.pth'))
    return lambda: _tool('train').main([TINY_FCN, '--resume', '--work-dir',
                                        str(wd)] + opts)


def _simfeatup_converter(t, ck):
    import simfeatup2ovseg
    return lambda: simfeatup2ovseg.main([ck, str(t / 'out.pth')])


def _simfeatup_neck(t, ck):
    from ovseg_plugins.seg2d.models.necks import SimFeatUp
    return lambda: SimFeatUp(feat_dim=8, checkpoint=ck).ensure_weights()


def _clip_backbone(t, ck):
    from ovseg_plugins.utils.open_clip_loader import build_open_clip
    return lambda: build_open_clip(TINY_CLIP_NAME, pretrained=ck,
                                   model_cfg=TINY_CLIP_CFG)


def _cls_removal_text_embeddings(t, ck):
    """``decode_head=dict(type='CLSRemovalHead', text_embeddings=...)``
    (a stock mmseg EncoderDecoder with our head)."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import ovseg_plugins.seg2d  # noqa: F401
    init_default_scope('mmseg')
    return lambda: MODELS.build(dict(type='CLSRemovalHead',
                                     class_names='a;b', text_embeddings=ck))


def _coido_bank(t, ck):
    from ovseg_plugins.coido.utils import load_feature_bank
    return lambda: load_feature_bank(ck)


def _openscene_scene(t, ck):
    from ovseg_plugins.seg3d.datasets.transforms.load_openscene_points \
        import load_openscene_tuple
    return lambda: load_openscene_tuple(ck)


def _teacher(t, ck):
    from mmengine.registry import init_default_scope

    import ovseg_plugins.seg3d  # noqa: F401
    from fixtures.tiny_models import register_tiny_point_backbone
    from ovseg_plugins.seg3d.models.teachers.backbone_teacher import \
        PointBackboneTeacher
    init_default_scope('mmdet3d')
    register_tiny_point_backbone()
    return lambda: PointBackboneTeacher(dict(type='TinyPointMLP'),
                                        checkpoint=ck)


WHY = 'not plain data'
SCENE_CASES = ('geopurify_inferencer_student', 'geopurify_inferencer_text',
               'pointcloud_demo_student', 'lift_features_text')
PICKLE_CASES = [
    pytest.param('OVSegInferencer weights: pickle payload', _ovseg_inferencer,
                 (WHY, 'GLOBAL io.open'), id='ovseg_inferencer'),
    pytest.param('image_demo.py --weights: pickle payload', _image_demo,
                 (WHY, ), id='image_demo_weights'),
    pytest.param('GeoPurifyInferencer student weights: pickle payload',
                 _geopurify_student, (WHY, 'student checkpoint'),
                 id='geopurify_inferencer_student'),
    pytest.param('GeoPurifyInferencer text_embeddings .pt: pickle payload',
                 _geopurify_text, (WHY, ), id='geopurify_inferencer_text'),
    pytest.param('pointcloud_demo.py --student: pickle payload',
                 _pointcloud_demo, (WHY, 'student checkpoint'),
                 id='pointcloud_demo_student'),
    pytest.param('lift_features.py --text: pickle payload',
                 _lift_features_text, (WHY, 'text embeddings (--text)'),
                 id='lift_features_text'),
    pytest.param('tools/test.py CONFIG CHECKPOINT: pickle payload',
                 _test_tool, (WHY, ), id='test_tool_checkpoint'),
    pytest.param('tools/train.py --resume CHECKPOINT: pickle payload',
                 _train_resume, (WHY, 'resume checkpoint'),
                 id='train_tool_resume'),
    pytest.param('tools/train.py --resume (latest checkpoint of the '
                 'work_dir): pickle payload', _train_auto_resume,
                 (WHY, 'resume checkpoint'), id='train_tool_auto_resume'),
    pytest.param('tools/model_converters/simfeatup2ovseg.py SRC: pickle '
                 'payload', _simfeatup_converter, (WHY, ),
                 id='simfeatup_converter'),
    pytest.param('SimFeatUp neck checkpoint: pickle payload',
                 _simfeatup_neck, (WHY, 'SimFeatUp checkpoint'),
                 id='simfeatup_neck'),
    pytest.param('CLIP backbone pretrained file: pickle payload',
                 _clip_backbone, (WHY, 'CLIP weights'), id='clip_backbone'),
    pytest.param('CLSRemovalHead text_embeddings .pt: pickle payload',
                 _cls_removal_text_embeddings, (WHY, 'text embeddings'),
                 id='cls_removal_text_embeddings'),
    pytest.param('CoIDO feature bank: pickle payload', _coido_bank,
                 (WHY, 'CoIDO feature bank'), id='coido_bank'),
    pytest.param('OpenScene scene .pth file: pickle payload',
                 _openscene_scene, (WHY, 'scene file'),
                 id='openscene_scene_file'),
    pytest.param('point-backbone teacher checkpoint: pickle payload',
                 _teacher, (WHY, 'teacher checkpoint'),
                 id='teacher_checkpoint'),
]


@pytest.mark.parametrize('desc,make,needles', PICKLE_CASES)
def test_pickle_payload_refused(tmp_path, request, desc, make, needles):
    from ovseg_plugins.utils import UnsafeCheckpointError
    ck = _pickle_payload(tmp_path)
    if request.node.callspec.id in SCENE_CASES:
        call = make(tmp_path, ck, request.getfixturevalue('scene'))
    else:
        call = make(tmp_path, ck)
    with pytest.raises(UnsafeCheckpointError) as e:
        call()
    msg = str(e.value)
    where = str(tmp_path / 'wd' / 'iter_2.pth') if \
        request.node.callspec.id.endswith('auto_resume') else ck
    assert repr(where) in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    assert not _marker(tmp_path).exists()


def test_payload_controls(tmp_path):
    """The payloads are live: an unrestricted load runs them."""
    from mmengine.config import Config
    ck = _pickle_payload(tmp_path)
    torch.load(ck, weights_only=False)
    assert _marker(tmp_path).exists()
    os.remove(_marker(tmp_path))
    Config.fromstring(_cfg_text(tmp_path), '.py')
    assert _marker(tmp_path).exists()


# ------------------------------------------------------- other containers
def test_coido_selection_file_with_pickle_payload(tmp_path):
    """A pickle given as the CoIDO selection file: read as JSON only."""
    from coido._helpers import ListDataset

    from ovseg_plugins.coido.samplers import IndexSubsetSampler
    p = tmp_path / 'selected.json'
    p.write_bytes(open(_pickle_payload(tmp_path), 'rb').read())
    with pytest.raises(ValueError) as e:
        IndexSubsetSampler(ListDataset(6), indices_file=str(p), seed=0)
    assert str(p) in str(e.value) and 'JSON' in str(e.value)
    assert not _marker(tmp_path).exists()


def _torchscript_archive(tmp_path, name='clip.pt'):
    m = torch.jit.trace(torch.nn.Linear(3, 2), torch.zeros(1, 3))
    p = tmp_path / name
    m.save(str(p))
    return str(p), m


def _hostile_archive(tmp_path):
    """A TorchScript archive whose data.pkl holds the pickle payload."""
    import pickle
    import zipfile
    src, _ = _torchscript_archive(tmp_path, 'good.pt')
    dst = tmp_path / 'hostile_archive.pt'
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n.endswith('/data.pkl'):
                data = pickle.dumps(_Payload(_marker(tmp_path)), protocol=2)
            zout.writestr(n, data)
    return str(dst)


def test_torchscript_archive_as_checkpoint(tmp_path):
    """A TorchScript archive given where a checkpoint is read."""
    from ovseg_plugins.utils import UnsafeCheckpointError, load_torch_file
    p, _ = _torchscript_archive(tmp_path)
    with pytest.raises(UnsafeCheckpointError) as e:
        load_torch_file(p)
    msg = str(e.value)
    assert repr(p) in msg and 'TorchScript archive' in msg
    assert 'tools/model_converters/torchscript2pth.py' in msg


def test_torchscript_converter_hostile_archive(tmp_path):
    """torchscript2pth.py on an archive whose data.pkl holds a payload."""
    import torchscript2pth
    p = _hostile_archive(tmp_path)
    with pytest.raises(SystemExit) as e:
        torchscript2pth.main([p, str(tmp_path / 'out.pth')])
    msg = str(e.value)
    assert p in msg and 'io.open is not allowed' in msg
    assert not _marker(tmp_path).exists()
    assert not (tmp_path / 'out.pth').exists()


def test_clip_backbone_hostile_archive(tmp_path):
    """A CLIP backbone given a TorchScript archive with a payload."""
    from ovseg_plugins.utils.open_clip_loader import build_open_clip
    p = _hostile_archive(tmp_path)
    with pytest.raises(ValueError) as e:
        build_open_clip(TINY_CLIP_NAME, pretrained=p,
                        model_cfg=TINY_CLIP_CFG)
    assert p in str(e.value) and 'not allowed' in str(e.value)
    assert not _marker(tmp_path).exists()


# --------------------------------------------------- config-text payloads
def _text_ckpt(tmp_path, state_dict, key='cfg', name='epoch_1.pth'):
    p = tmp_path / name
    text = _cfg_text(tmp_path)
    torch.save(dict(state_dict=state_dict, meta={key: text},
                    message_hub=dict(runtime_info=dict(cfg=text))), p)
    return str(p)


def test_student_config_text_not_executed(tmp_path, scene, monkeypatch):
    """A student checkpoint whose meta.cfg is Python text that would create
    a file."""
    from ovseg_plugins.apis import geopurify_inferencer
    logged = []
    monkeypatch.setattr(geopurify_inferencer, 'print_log',
                        lambda msg, *a, **k: logged.append(str(msg)))
    ck = _text_ckpt(tmp_path, _student_state())
    inf = _geopurify(scene, weights=ck)
    assert inf.has_student and inf.model.backbone.head.out_features == 4
    assert not _marker(tmp_path).exists()
    assert any(f'{ck}: the config text stored in the checkpoint is not '
               'executed' in m for m in logged), logged
    # built from the training configs' base, sized by the weights
    assert inf.model.decode_head.pooling.iterations == 19


def test_pointcloud_demo_student_config_text_not_executed(tmp_path, scene):
    """pointcloud_demo.py --student with a config-text payload."""
    ck = _text_ckpt(tmp_path, _student_state())
    _pointcloud_demo(tmp_path, ck, scene)()
    assert not _marker(tmp_path).exists()
    assert (tmp_path / 'out').is_dir()


def test_student_model_config_stored_as_data(tmp_path, scene):
    """meta['model_cfg'] (plain data, StoreModelConfigHook) is used; the
    text beside it is not run."""
    from mmengine.config import Config

    from ovseg_plugins.utils.model_config_hook import StoreModelConfigHook
    from fixtures.tiny_models import tiny_student_cfg
    cfg = tiny_student_cfg(16, knn=7)

    class _Runner:
        pass

    runner = _Runner()
    runner.cfg = Config(dict(model=cfg))
    ck = dict(state_dict=_student_state(), meta=dict(cfg=_cfg_text(
        tmp_path)))
    StoreModelConfigHook().before_save_checkpoint(runner, ck)
    json.dumps(ck['meta']['model_cfg'])  # plain data
    p = tmp_path / 'epoch_1.pth'
    torch.save(ck, p)
    inf = _geopurify(scene, weights=str(p))
    assert inf.model.cfg.model['decode_head']['pooling']['knn'] == 7
    assert not _marker(tmp_path).exists()


def test_test_tool_config_text_not_executed(tmp_path):
    """tools/test.py with a checkpoint whose meta.cfg and message_hub hold
    a config-text payload: evaluated, the text never run."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import ovseg_plugins.seg2d  # noqa: F401
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_FCN).model)
    ck = _text_ckpt(tmp_path, model.state_dict(), name='iter_4.pth')
    metrics = _tool('test').main([TINY_FCN, ck, '--work-dir',
                                  str(tmp_path / 'wd')] + _potsdam_opts())
    assert 'mIoU' in metrics
    assert not _marker(tmp_path).exists()


def test_resume_config_text_refused(tmp_path):
    """tools/train.py --resume with a checkpoint whose meta.config holds
    Python text (mmengine's Runner.resume runs Config.fromstring on it)."""
    ck = _text_ckpt(tmp_path, {'w': torch.zeros(2)}, key='config',
                    name='iter_2.pth')
    with pytest.raises(ValueError) as e:
        _train_resume(tmp_path, ck)()
    msg = str(e.value)
    assert repr(ck) in msg and "meta['config']" in msg
    assert not _marker(tmp_path).exists()


def test_ovseg_inferencer_config_text_not_executed(tmp_path):
    """OVSegInferencer given a segmentor checkpoint with a config-text
    payload: the config comes from the caller, the text is never run."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import ovseg_plugins.seg2d  # noqa: F401
    from ovseg_plugins.apis import OVSegInferencer
    cfg = tiny_segearth_config(tmp_path)
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(cfg).model)
    ck = _text_ckpt(tmp_path, model.state_dict())
    inf = OVSegInferencer(cfg, weights=ck, classes='a;b')
    assert not inf.random_weights
    assert not _marker(tmp_path).exists()


BAD_INPUTS_DOC = {
    'test_payload_controls': None,
    'test_student_model_config_stored_as_data': None,
    'test_student_config_text_not_executed': (
        'ckpt', 'GeoPurifyInferencer student checkpoint whose meta.cfg is '
        'Python text that would create a file',
        'loads; the text is not run (no file created); logs "the config text '
        'stored in the checkpoint is not executed"'),
    'test_pointcloud_demo_student_config_text_not_executed': (
        'ckpt', 'pointcloud_demo.py --student with a config-text payload in '
        'meta.cfg', 'runs; the text is not run (no file created)'),
    'test_test_tool_config_text_not_executed': (
        'ckpt', 'tools/test.py CONFIG CHECKPOINT whose meta.cfg and '
        'message_hub hold a config-text payload',
        'evaluates (mIoU); the text is not run (no file created)'),
    'test_ovseg_inferencer_config_text_not_executed': (
        'ckpt', 'OVSegInferencer segmentor checkpoint with a config-text '
        'payload', 'loads; the text is not run (no file created)'),
}
