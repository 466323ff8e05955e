"""tools/coido/extract_features.py with the config's SimCLR embedder on real
LoveDA crops: the backbone really trains (the bank differs from the untrained
backbone's), the run is reproducible from the embedder's seed and leaves the
caller's RNG alone; bad embedder settings are refused."""
import copy
import os.path as osp
import sys

import pytest
import torch

from conftest import REPO_ROOT, shared_data_path

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'coido'))
PHASE1 = osp.join(REPO_ROOT, 'configs', 'coido', 'fcn-tiny_loveda_phase1.py')


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    from mmengine.config import Config

    from coido_controlled_experiment import build_controlled_dataset
    data = str(tmp_path_factory.mktemp('ctl') / 'data')
    build_controlled_dataset(shared_data_path('rs', 'loveda'), data, n=24)
    c = Config.fromfile(PHASE1)
    c.train_dataloader.dataset.data_root = data
    return c


def _bank(cfg, tmp_path, name, **embedder):
    from extract_features import extract
    c = copy.deepcopy(cfg)
    c.coido.extract.embedder = embedder
    out = str(tmp_path / name)
    extract(c, out, log=lambda m: None)
    return torch.load(out, weights_only=False)


def test_simclr_embedder(cfg, tmp_path):
    assert cfg.coido.extract.embedder.source == 'simclr'  # the config's
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = _bank(cfg, tmp_path, 'a.pt', source='simclr', steps=4,
              batch_size=8, view_size=32)
    assert torch.equal(torch.rand(3), before)  # caller's RNG untouched
    b = _bank(cfg, tmp_path, 'b.pt', source='simclr', steps=4,
              batch_size=8, view_size=32)
    u = _bank(cfg, tmp_path, 'u.pt', source='backbone')
    e = a['embeddings']
    assert e.shape == (24, u['embeddings'].shape[1])
    assert torch.allclose(e.norm(dim=1), torch.ones(24), atol=1e-5)
    assert torch.equal(e, b['embeddings'])  # seed 0 both times
    # the same initialisation (seed 0), then 4 SimCLR steps moved it
    assert (e - u['embeddings']).abs().max() > 1e-3
    info = a['encoder']['simclr']
    assert a['encoder']['source'] == 'simclr' and info['steps'] == 4
    assert info['loss_first'] == pytest.approx(
        torch.log(torch.tensor(15.)).item(), abs=0.5)  # ln(2B - 1), B = 8
    # re-loading every step gives the cached images: the same run
    c = _bank(cfg, tmp_path, 'c.pt', source='simclr', steps=4,
              batch_size=8, view_size=32, cache=False)
    assert torch.allclose(c['embeddings'], e, atol=1e-6)
    for name, kw in (('seed', dict(seed=1)), ('side', dict(cache_side=40))):
        d = _bank(cfg, tmp_path, name + '.pt', source='simclr', steps=4,
                  batch_size=8, view_size=32, **kw)
        assert not torch.allclose(d['embeddings'], e, atol=1e-4), name


def test_embedder_errors(cfg, tmp_path):
    with pytest.raises(KeyError, match='unknown keys.*stpes.*allowed: steps'):
        _bank(cfg, tmp_path, 'x.pt', source='simclr', stpes=3)
    with pytest.raises(ValueError, match='backbone, module, simclr or'):
        _bank(cfg, tmp_path, 'x.pt', source='dino')
