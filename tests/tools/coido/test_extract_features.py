"""tools/coido/extract_features.py (thin CLI over
ovseg_plugins.coido.apis.extract_feature_bank) on real LoveDA crops: the bank
is reproducible from the embedder's seed, leaves the caller's RNG alone,
and bad embedder settings are refused by name."""
import copy
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path
from ovseg_plugins.utils.checkpoint import load_torch_file

CFG = osp.join(REPO_ROOT, 'configs', 'coido', 'fcn-tiny_loveda.py')


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    from mmengine.config import Config

    from fixtures.coido_data import write_loveda_crops
    data = str(tmp_path_factory.mktemp('crops') / 'data')
    write_loveda_crops(shared_data_path('rs', 'loveda'), data, n=12)
    c = Config.fromfile(CFG)
    c.train_dataloader.dataset.data_root = data
    return c


def _bank(cfg, tmp_path, name, **embedder):
    from ovseg_plugins.coido.apis import extract_feature_bank
    c = copy.deepcopy(cfg)
    c.coido.extract.embedder = embedder
    out = str(tmp_path / name)
    extract_feature_bank(c, out, log=lambda m: None)
    return load_torch_file(out)


def test_backbone_embedder_seeded_and_stamped(cfg, tmp_path):
    from ovseg_plugins.coido.utils import bank_stamp, load_feature_bank
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = _bank(cfg, tmp_path, 'a.pt', source='backbone')
    assert torch.equal(torch.rand(3), before)  # caller's RNG untouched
    b = _bank(cfg, tmp_path, 'b.pt', source='backbone')
    c = _bank(cfg, tmp_path, 'c.pt', source='backbone', seed=1)
    e = a['embeddings']
    assert e.shape == (12, 16)  # the FCN backbone's 16 output channels
    torch.testing.assert_close(e.norm(dim=1), torch.ones(12))
    assert torch.equal(e, b['embeddings'])  # seed 0 both times
    assert not torch.allclose(e, c['embeddings'], atol=1e-3)
    assert a['bank_stamp'] == bank_stamp(e, a['stats'],
                                         a['data_list_hash'])
    assert a['bank_stamp'] != c['bank_stamp']
    assert load_feature_bank(str(tmp_path / 'a.pt')).stamp == a['bank_stamp']
    assert a['phase'] == 'extract' and len(a['paths']) == 12


def test_embedder_errors(cfg, tmp_path):
    with pytest.raises(ValueError, match="source must be one of.*'simclr'"):
        _bank(cfg, tmp_path, 'x.pt', source='simclr', steps=3)
    with pytest.raises(KeyError, match=r"unknown keys \['colums'\]"):
        _bank(cfg, tmp_path, 'x.pt', source='points', colums=(6, 9))
    with pytest.raises(KeyError, match='needs module=dict'):
        _bank(cfg, tmp_path, 'x.pt', source='module')
    assert not (tmp_path / 'x.pt').exists()


def test_cli_writes_the_bank(cfg, tmp_path):
    data = cfg.train_dataloader.dataset.data_root
    out = tmp_path / 'bank.pt'
    r = run_py(['tools/coido/extract_features.py', CFG, '--out', str(out),
                '--cfg-options', f'train_dataloader.dataset.data_root={data}'],
               env=dict(OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_torch_file(out)['embeddings'].shape[0] == 12
