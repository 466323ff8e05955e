"""CoIDOSegmentor / CoIDO objective: exact reductions and gradients."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

from coido._helpers import write_bank
from ovseg_plugins.coido.models import (CoIDOScorer, CoIDOSegmentor,
                                         cluster_mean_variance,
                                         coido_objective)
from ovseg_plugins.coido.models import coido_segmentor as cs

N, B = 40, 8


@MODELS.register_module(force=True)
class _ToyPerSampleModel(BaseModel):
    """Linear classifier of (B, 5) inputs; per-sample CE via
    ``loss_per_sample`` (the 'method' protocol) and a ``loss`` for 'split'."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 3)

    def loss_per_sample(self, x, samples):
        y = torch.tensor([s.y for s in samples])
        return F.cross_entropy(self.lin(x), y, reduction='none')

    def loss(self, x, samples):
        return dict(loss_ce=self.loss_per_sample(x, samples).mean(),
                    acc=torch.tensor(0.))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.lin(inputs)


def _batch(idx, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(idx), 5, generator=g)
    samples = [BaseDataElement(metainfo=dict(sample_idx=int(i)),
                               y=int(i) % 3) for i in idx]
    return x, samples


def _model(tmp_path, clusters=None, **kw):
    bank = write_bank(str(tmp_path / 'bank.pt'), N)
    m = CoIDOSegmentor(segmentor=dict(type='_ToyPerSampleModel'),
                       feature_bank=bank,
                       scorer=dict(type='CoIDOScorer', hidden=16,
                                   dropout=0.), **kw)
    m.init_weights()
    if clusters is not None:
        m.cluster_ids[:] = torch.as_tensor(clusters)
    return m


def test_scorer_is_an_unbounded_layernorm_gelu_mlp():
    s = CoIDOScorer(embed_dim=6, stats_dim=2, hidden=16)
    kinds = {type(m) for m in s.modules()}
    assert {nn.LayerNorm, nn.GELU, nn.Dropout} <= kinds
    assert not any(isinstance(m, (nn.Sigmoid, nn.Tanh)) for m in s.modules())
    with torch.no_grad():
        s.head[-1].bias.fill_(5.)
    assert s(torch.randn(4, 6), torch.randn(4, 2)).shape == (4, )
    assert (s(torch.randn(4, 6), torch.randn(4, 2)) > 3).all()


def test_ld_is_zero_with_one_cluster():
    w = torch.softmax(torch.randn(6, requires_grad=True), 0)
    v = torch.ones(6, dtype=torch.bool)
    assert cluster_mean_variance(w, torch.zeros(6, dtype=torch.long),
                                 v).item() == 0.
    assert cluster_mean_variance(w, torch.full((6, ), -1), v).item() == 0.
    two = torch.tensor([0, 0, 0, 1, 1, 1])
    ref = torch.var(torch.stack([w[:3].mean(), w[3:].mean()]))
    assert torch.allclose(cluster_mean_variance(w, two, v), ref)


def test_uniform_scorer_gives_exactly_the_plain_mean_ce(tmp_path):
    m = _model(tmp_path)
    with torch.no_grad():  # constant score -> w = 1/B
        for p in m.coido_scorer.head[-1].parameters():
            p.zero_()
    idx = list(range(3, 3 + B))
    x, samples = _batch(idx)
    out = m.loss(x, samples)
    plain = m.segmentor.loss(x, samples)['loss_ce']
    assert torch.equal(out['loss_coido_seg'], plain) or torch.allclose(
        out['loss_coido_seg'], plain, rtol=0, atol=1e-7)
    assert out['coido_w_std'].item() == pytest.approx(0., abs=1e-9)


def test_split_mode_equals_method_mode(tmp_path):
    a = _model(tmp_path, per_sample_loss='method')
    b = copy.deepcopy(a)
    b.per_sample_loss = 'split'
    x, samples = _batch(range(B))
    la, va = a.per_sample_losses(x, samples)
    lb, vb = b.per_sample_losses(x, samples)
    assert torch.allclose(la, lb) and va.all() and vb.all()


def _joint_grads(m, x, samples, clusters_valid=True):
    """Gradients of the joint CoIDO objective on the whole batch."""
    m.zero_grad()
    idx = torch.tensor([s.sample_idx for s in samples])
    ce = m.segmentor.loss_per_sample(x, samples)
    v = torch.ones(len(idx), dtype=torch.bool)
    obj = coido_objective(m.score(idx), ce, v, m.cluster_ids[idx],
                          m.log_sigma_i, m.log_sigma_d)
    obj['total'].backward()
    return {k: p.grad.clone() for k, p in m.named_parameters()}


def test_decoupled_gradients_equal_the_joint_formulation(tmp_path):
    clusters = torch.arange(N) % 4
    m = _model(tmp_path, clusters=clusters)
    with torch.no_grad():
        m.log_sigma_i.fill_(0.3)
        m.log_sigma_d.fill_(-0.7)
    idx = list(range(5, 5 + B))
    x, samples = _batch(idx)
    ref = _joint_grads(copy.deepcopy(m), x, samples)
    m.zero_grad()
    out = m.loss(x, samples)
    (out['loss_coido_seg'] + out['loss_coido_scorer']).backward()
    for k, p in m.named_parameters():
        assert torch.allclose(p.grad, ref[k], atol=1e-6), k
    assert out['coido_LD'].item() > 0  # the diversity term is active


def test_two_rank_global_batch_gradients_match_joint(tmp_path, monkeypatch):
    """Two simulated ranks (all_gather served from the other rank's values):
    the DDP mean of their gradients equals the joint global-batch gradient."""
    clusters = torch.arange(N) % 3
    m = _model(tmp_path, clusters=clusters)
    with torch.no_grad():
        m.log_sigma_i.fill_(-0.2)
    idx = list(range(10, 10 + 2 * B))
    x, samples = _batch(idx)
    ref = _joint_grads(copy.deepcopy(m), x, samples)
    parts = [(x[:B], samples[:B]), (x[B:], samples[B:])]
    with torch.no_grad():  # what each rank contributes to the gathers
        per_rank = []
        for xr, sr in parts:
            ce = m.segmentor.loss_per_sample(xr, sr)
            per_rank.append([torch.tensor([B]),
                             torch.tensor([s.sample_idx for s in sr]), ce,
                             torch.ones(B, dtype=torch.uint8)])
    grads = []
    for r, (xr, sr) in enumerate(parts):
        mr = copy.deepcopy(m)
        monkeypatch.setattr(cs, 'get_dist_info', lambda r=r: (r, 2))
        monkeypatch.setattr(cs, 'all_gather',
                            lambda t: _serve(t, per_rank))
        out = mr.loss(xr, sr)
        (out['loss_coido_seg'] + out['loss_coido_scorer']).backward()
        grads.append({k: p.grad.clone() for k, p in mr.named_parameters()})
    for k in ref:
        ddp = (grads[0][k] + grads[1][k]) / 2
        assert torch.allclose(ddp, ref[k], atol=1e-6), k


def _serve(t, per_rank):
    """all_gather stand-in: find which gathered quantity ``t`` is (by dtype
    and shape) and return both ranks' values of it."""
    if t.numel() == 1 and t.dtype == torch.long:
        return [p[0] for p in per_rank]
    if t.dtype == torch.long:
        return [p[1] for p in per_rank]
    if t.dtype == torch.uint8:
        return [p[3] for p in per_rank]
    return [p[2] for p in per_rank]


def test_warmup_trains_with_uniform_weights_and_no_scorer_grad(tmp_path):
    m = _model(tmp_path, scorer_warmup_iters=1)
    x, samples = _batch(range(B))
    out = m.loss(x, samples)
    plain = m.segmentor.loss(x, samples)['loss_ce']
    assert torch.allclose(out['loss_coido_seg'], plain, atol=1e-7)
    (out['loss_coido_seg'] + out['loss_coido_scorer']).backward()
    assert all(p.grad is None or not p.grad.any()
               for p in m.coido_scorer.parameters())
    assert int(m.coido_iter) == 1
    m.zero_grad()
    out = m.loss(x, samples)  # after warm-up the scorer learns
    out['loss_coido_scorer'].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in m.coido_scorer.parameters())


def test_missing_sample_idx_is_a_clear_error(tmp_path):
    m = _model(tmp_path)
    x, samples = _batch(range(B))
    samples[0] = BaseDataElement(metainfo=dict(), y=0)
    with pytest.raises(KeyError, match='sample_idx.*meta_keys'):
        m.loss(x, samples)


def test_pixel_ce_uniform_equals_mmseg_decode_loss(tmp_path, mmseg_scope):
    """2D path: with a constant scorer the wrapper's loss is exactly the
    mmseg FCN's ``decode.loss_ce`` (no ignored pixels)."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from conftest import REPO_ROOT
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'coido',
                                   'fcn-tiny_loveda.py'))
    bank = write_bank(str(tmp_path / 'b.pt'), 20)
    m = CoIDOSegmentor(segmentor=cfg.model, feature_bank=bank,
                       scorer=dict(type='CoIDOScorer', hidden=16))
    m.init_weights()
    with torch.no_grad():
        for p in m.coido_scorer.head[-1].parameters():
            p.zero_()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 64, 64, generator=g)
    samples = []
    for i in range(4):
        s = SegDataSample(metainfo=dict(sample_idx=i * 3,
                                        img_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 7, (1, 64, 64),
                                                    generator=g))
        samples.append(s)
    m.train()
    ref = m.segmentor.loss(x, samples)['decode.loss_ce']
    out = m.loss(x, samples)
    torch.testing.assert_close(out['loss_coido_seg'], ref, rtol=1e-5,
                               atol=1e-6)


def test_wrapper_uses_the_wrapped_models_preprocessor(tmp_path, mmseg_scope):
    """The Runner injects its top-level ``data_preprocessor`` into every
    model dict; the wrapper must still run the wrapped model's (here 64 px
    vs a 512 px top-level one), and give a preprocessor-less wrapped model
    the injected one."""
    seg = dict(type='EncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      size=(64, 64)),
               backbone=dict(type='ResNetV1c', depth=18, num_stages=2,
                             out_indices=(1, ), strides=(1, 2),
                             dilations=(1, 1), stem_channels=8,
                             base_channels=8),
               decode_head=dict(type='FCNHead', in_channels=16, channels=8,
                                num_convs=1, num_classes=3,
                                concat_input=False))
    top = dict(type='SegDataPreProcessor', size=(512, 512))
    bank = write_bank(str(tmp_path / 'b.pt'), 4)
    m = CoIDOSegmentor(segmentor=copy.deepcopy(seg), feature_bank=bank,
                       data_preprocessor=top)
    assert m.data_preprocessor is m.segmentor.data_preprocessor
    assert tuple(m.data_preprocessor.size) == (64, 64)
    seg.pop('data_preprocessor')
    m = CoIDOSegmentor(segmentor=seg, feature_bank=bank,
                       data_preprocessor=top)
    assert tuple(m.data_preprocessor.size) == (512, 512)
    assert m.data_preprocessor is m.segmentor.data_preprocessor
