"""No network unless asked: the suite runs with hub access off, and building
any config with its weights absent raises the clear WeightsNotFoundError
without a single connection attempt (configs without external weights build
offline)."""
import copy
import glob
import os
import os.path as osp
import socket

import pytest
import torch

from conftest import REPO_ROOT
from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME
from ovseg_plugins.utils import WeightsNotFoundError
from ovseg_plugins.utils.open_clip_loader import (build_open_clip,
                                                  resolve_open_clip_weights)

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                       recursive=True) if '/_base_/' not in p)


@pytest.fixture(scope='module', autouse=True)
def _fast_config_parsing():
    """mmengine re-reads ~50 model-index YAML files of mmseg for every
    ``mmseg::`` base (0.5 s a config); cache those reads for this module."""
    import functools

    import mmengine.config.utils as cu
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cu, 'load', functools.lru_cache(maxsize=None)(cu.load))
        yield


@pytest.fixture(autouse=True)
def _free_built_models():
    """Each case builds a full-size model (ViT-B/L CLIP, SAM 3): give its
    memory back before the next one (collect the cycles, then return freed
    heap pages to the system), else the module's peak grows to ~18 GB."""
    yield
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every connection attempt is recorded and refused; empty weight caches
    (HOME, HF cache), so nothing cached on this machine can satisfy a build."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(
            args[0], socket.socket) else args)
        raise AssertionError(f'network access attempted: {args!r}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket.socket, 'connect_ex', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, 'HF_HUB_CACHE', str(tmp_path / 'hf_cache'))
    import open_clip

    def no_download(*a, **k):
        attempts.append(('open_clip.download_pretrained', a))
        raise AssertionError('open_clip download attempted')

    monkeypatch.setattr(open_clip, 'download_pretrained', no_download)
    return attempts


def test_suite_runs_with_hub_access_off():
    assert os.environ.get('HF_HUB_OFFLINE') == '1'
    assert os.environ.get('TRANSFORMERS_OFFLINE') == '1'
    import huggingface_hub.constants as hc
    assert hc.HF_HUB_OFFLINE


WEIGHT_KEYS = ('pretrained', 'checkpoint', 'text_embeddings', 'load_from')
# generated inputs (CoIDO's feature bank / clusters): a clear
# FileNotFoundError naming the file and the tool that makes it
ARTIFACT_KEYS = ('feature_bank', 'clusters')


def _weight_specs(cfg):
    """(path, value) of every weights-like entry of a model config."""
    from ovseg_plugins.utils.run_checks import weight_entries
    return weight_entries(cfg, WEIGHT_KEYS + ARTIFACT_KEYS)


@pytest.mark.parametrize('cfg_path', CONFIGS)
def test_build_config_with_weights_absent(cfg_path, no_network):
    """Named weights (a backbone's ``pretrained``, a neck's ``checkpoint``)
    load on first need: their absence is a clear error then, and a
    checkpoint of the whole model loaded first leaves nothing to look up.
    Inputs read at build (text-embedding files, CoIDO artifacts, SAM 3's
    ``from_pretrained`` folder, which holds the architecture) are refused at
    build."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import load_state_dict

    from ovseg_plugins.utils.deferred_weights import (DeferredWeights,
                                                      ensure_model_weights)
    cfg = Config.fromfile(osp.join(REPO_ROOT, cfg_path))
    scope = cfg.get('default_scope', 'mmseg')
    reg = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model_cfg = copy.deepcopy(cfg.model)
    specs = _weight_specs(model_cfg.to_dict() if hasattr(
        model_cfg, 'to_dict') else model_cfg)
    with DefaultScope.overwrite_default_scope(scope):
        if not specs:
            reg.build(model_cfg)  # nothing external: builds offline
        else:
            model = None
            with pytest.raises(FileNotFoundError) as e:
                model = reg.build(model_cfg)
                ensure_model_weights(model)  # what the first forward does
            msg = str(e.value)
            assert 'not found' in msg
            assert any(v in msg or osp.basename(v) in msg or
                       v.split('/')[-1] in msg for _, v in specs), (specs, msg)
            if model is not None:
                # a checkpoint of this model supplies the named weights of
                # every part it holds (a SimFeatUp trainer's checkpoint
                # leaves its frozen featurizer out)
                sd = model.state_dict()
                load_state_dict(model, sd)
                for name, m in model.named_modules():
                    if isinstance(m, DeferredWeights) and any(
                            k.startswith(name + '.') for k in sd):
                        assert not m.weights_pending, (cfg_path, name)
    assert no_network == []


def test_allow_download_but_offline(no_network, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(WeightsNotFoundError) as e:
        resolve_open_clip_weights('ViT-B-16', 'openai', allow_download=True)
    msg = str(e.value)
    assert 'ViT-B-16/openai' in msg and 'offline' in msg
    assert 'pretrained=<local checkpoint file>' in msg
    assert no_network == []


def test_clip_tag_not_cached_download_off(no_network):
    with pytest.raises(WeightsNotFoundError) as e:
        resolve_open_clip_weights('ViT-B-16', 'laion2b_s34b_b88k')
    msg = str(e.value)
    assert 'ViT-B-16/laion2b_s34b_b88k is not in the local cache' in msg
    assert 'allow_download=True' in msg and '<local checkpoint file>' in msg
    assert no_network == []


def test_clip_unknown_tag(no_network):
    with pytest.raises(WeightsNotFoundError) as e:
        resolve_open_clip_weights('ViT-B-16', 'no_such_tag')
    assert "'no_such_tag'" in str(e.value) and 'known tags' in str(e.value)


def test_clip_local_file_missing(tmp_path):
    p = tmp_path / 'ViT-B-16.pt'
    with pytest.raises(WeightsNotFoundError) as e:
        resolve_open_clip_weights('ViT-B-16', str(p))
    assert repr(str(p)) in str(e.value)
    assert 'set `pretrained` to an existing file' in str(e.value)


def test_clip_file_of_another_architecture(tmp_path):
    other = dict(copy.deepcopy(TINY_CLIP_CFG), embed_dim=32)
    other['vision_cfg'] = dict(other['vision_cfg'], width=32)
    wrong, _ = build_open_clip('ovseg-tiny-other-arch', model_cfg=other)
    p = tmp_path / 'other.pt'
    torch.save(wrong.state_dict(), p)
    with pytest.raises(ValueError) as e:
        build_open_clip(TINY_CLIP_NAME, pretrained=str(p),
                        model_cfg=TINY_CLIP_CFG)
    msg = str(e.value)
    assert f'Could not load CLIP weights {str(p)!r} into {TINY_CLIP_NAME}' \
        in msg and 'architecture and size' in msg


def test_sam3_weights_dir_missing(mmseg_scope, tmp_path, no_network):
    from mmseg.registry import MODELS
    d = tmp_path / 'sam3'
    with pytest.raises(WeightsNotFoundError) as e:
        MODELS.build(dict(type='HFSam3', pretrained=str(d)))
    msg = str(e.value)
    assert repr(str(d)) in msg and 'from_pretrained directory' in msg
    assert 'allow_download=True' in msg
    assert no_network == []


def test_sam3_allow_download_but_offline(mmseg_scope, tmp_path, no_network,
                                        monkeypatch):
    """A missing directory with downloading on is not tried as a hub id
    while the hub cannot be reached: one clear error, no connection (was:
    half a minute of retries, then a transformers OSError)."""
    from mmseg.registry import MODELS
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(WeightsNotFoundError) as e:
        MODELS.build(dict(type='HFSam3', pretrained='weights/sam3',
                          allow_download=True))
    msg = str(e.value)
    assert "'weights/sam3' is not a local directory and the Hugging Face " \
        'hub cannot be reached (offline)' in msg
    assert no_network == []


def test_geopurify_text_embeddings_missing(tmp_path):
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope
    p = tmp_path / 'text_embeds.pt'
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        import ovseg_plugins.seg3d  # noqa: F401
        with pytest.raises(WeightsNotFoundError) as e:
            MODELS.build(dict(
                type='GeoPurifySegmentor',
                backbone=dict(type='StudentAffinityNet', in_channels=14,
                              hidden_channels=8, embed_dim=8, num_blocks=1),
                class_names='wall;floor', fused_channels=8,
                text_embeddings=str(p)))
    msg = str(e.value)
    assert f'text embeddings not found: {str(p)!r}' in msg
    assert 'existing file' in msg


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_build_config_with_weights_absent': (
        'ckpt',
        'Every config in `configs/` built with its weights absent (CLIP tag '
        '`openai`, SAM 3 dir, text embeddings; empty caches, all sockets '
        'refused)',
        '`WeightsNotFoundError` naming the weights, zero connection '
        'attempts; configs without external weights build offline; CoIDO '
        'phase-1 configs: `FileNotFoundError` naming the feature bank and '
        'the tool that makes it (one case per config)'),
    'test_clip_tag_not_cached_download_off': (
        'ckpt',
        'CLIP tag not cached, downloading off (default)',
        '`WeightsNotFoundError`: "ViT-B-16/laion2b_s34b_b88k is not in the '
        'local cache and downloading is off. Set `allow_download=True` on a '
        'connected machine, or give `pretrained=<local checkpoint file>`"'),
    'test_allow_download_but_offline': (
        'ckpt',
        '`allow_download=True` while offline (`HF_HUB_OFFLINE=1`)',
        '`WeightsNotFoundError`: "... the model hub cannot be reached '
        '(offline). Give `pretrained=<local checkpoint file>`" — no '
        'connection attempted'),
    'test_clip_unknown_tag': (
        'ckpt',
        'Unknown open_clip weights tag',
        '`WeightsNotFoundError` listing the known tags'),
    'test_clip_local_file_missing': (
        'ckpt',
        'CLIP weights file missing',
        '`WeightsNotFoundError`: "CLIP weights not found: \'<path>\' ... '
        'set `pretrained` to an existing file or an open_clip tag"'),
    'test_clip_file_of_another_architecture': (
        'ckpt',
        'CLIP weights file of another architecture',
        '`ValueError`: "Could not load CLIP weights \'<path>\' into '
        '<model>: ... Check that the file is a <model> checkpoint '
        '(architecture and size)"'),
    'test_sam3_weights_dir_missing': (
        'ckpt',
        'SAM 3 weights directory missing',
        '`WeightsNotFoundError`: "\'<dir>\' is not a local from_pretrained '
        'directory and downloading is off. Give the directory ... or set '
        'allow_download=True"'),
    'test_sam3_allow_download_but_offline': (
        'ckpt',
        'SAM 3 directory missing, downloading on, hub unreachable',
        '`WeightsNotFoundError`: "\'weights/sam3\' is not a local directory '
        'and the Hugging Face hub cannot be reached (offline)" — no '
        'connection attempted'),
    'test_geopurify_text_embeddings_missing': (
        'ckpt',
        'GeoPurify text-embeddings file missing',
        '`WeightsNotFoundError`: "text embeddings not found: \'<path>\'. '
        'Give the path of an existing file"'),
    'test_suite_runs_with_hub_access_off': (
        'ckpt',
        'The test suite itself',
        'runs with `HF_HUB_OFFLINE=1`, `TRANSFORMERS_OFFLINE=1` (Makefile '
        'and `tests/conftest.py`)'),
}


def test_tools_test_names_the_config_keys_of_missing_weights(tmp_path):
    """tools/test.py on a training-free config whose CLIP weights are not
    here: one message (no traceback) naming the config keys to set."""
    from conftest import run_py, shared_data_path
    root = shared_data_path('rs', 'potsdam')
    r = run_py(['tools/test.py', 'configs/segearth/potsdam.py', '--work-dir',
                str(tmp_path), '--cfg-options',
                f'test_dataloader.dataset.data_root={root}'],
               env=dict(HF_HUB_OFFLINE='1', HOME=str(tmp_path / 'home'),
                        XDG_CACHE_HOME=str(tmp_path / 'cache')))
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert 'CLIP weights not found' in err[-2]
    assert err[-1].startswith('Weights this config names that are not '
                              "local files: model.backbone.pretrained='openai'")
    assert '--cfg-options model.backbone.pretrained=/path/to/weights' in err[-1]
