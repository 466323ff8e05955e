"""Online teachers: GeometricTeacher and PointBackboneTeacher (any mmdet3d
backbone config), and the segmentor trained with one."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet3d.registry import MODELS

import ovseg_plugins.seg3d  # noqa: F401
from ovseg_plugins.seg3d.models.teachers import (GeometricTeacher,
                                                 local_shape_features)
from ovseg_plugins.seg3d.ops import knn_indices


@MODELS.register_module(force=True)
class _SubsamplingPointNet(nn.Module):
    """Test backbone with PointNet++'s output interface: features at every
    second point (fp_xyz / fp_features); records its input."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 4)
        self.seen = None

    def forward(self, points):
        self.seen = points.clone()
        sub = points[:, ::2]
        return dict(fp_xyz=[sub[..., :3]],
                    fp_features=[self.lin(sub).transpose(1, 2)])


def test_shape_features_plane_and_line():
    g = torch.Generator().manual_seed(0)
    plane = torch.cat([torch.rand(200, 2, generator=g), torch.zeros(200, 1)],
                      1)
    f = local_shape_features(plane, knn_indices(plane, 16))
    # planarity: measured 98.5 % of the points above 0.2 (bar 90 %)
    assert (f[:, 1] > 0.2).float().mean() > 0.9
    assert torch.allclose(f[:, 6], torch.ones(200), atol=1e-3)  # |n| = z
    assert f[:, 3].abs().max() < 1e-3  # horizontal: verticality 0
    line = torch.stack([torch.linspace(0, 1, 100), torch.zeros(100),
                        torch.zeros(100)], 1) + 1e-4 * torch.rand(100, 3,
                                                                  generator=g)
    fl = local_shape_features(line, knn_indices(line, 8))
    assert fl[:, 0].mean() > 0.9  # linearity: measured 1.000


def test_geometric_teacher_separates_floor_from_wall():
    g = torch.Generator().manual_seed(0)
    floor = torch.cat([torch.rand(300, 2, generator=g) * 2,
                       torch.zeros(300, 1)], 1)
    wall = torch.cat([torch.zeros(300, 1), torch.rand(300, 2, generator=g) *
                      2], 1)
    rgb = torch.full((600, 3), 128.)
    t = GeometricTeacher()(torch.cat([torch.cat([floor, wall]), rgb], 1))
    assert t.shape == (600, GeometricTeacher().out_channels)
    assert torch.allclose(t.norm(dim=1), torch.ones(600), atol=1e-5)
    sim = t @ t.t()
    within = (sim[:300, :300].mean() + sim[300:, 300:].mean()) / 2
    # measured within 0.53 vs across -0.52: a gap of 1.05 against the bar 0.3
    assert within > sim[:300, 300:].mean() + 0.3
    with pytest.raises(ValueError, match='xyz'):
        GeometricTeacher()(torch.rand(5, 3))


def test_shared_neighbour_search_gives_the_same_features():
    """One search for the largest K, sliced, equals one search per K."""
    g = torch.Generator().manual_seed(0)
    pts = torch.cat([torch.rand(500, 3, generator=g) * 2,
                     torch.rand(500, 3, generator=g) * 255], 1)
    shared = GeometricTeacher(knn=(8, 24))(pts)
    apart = GeometricTeacher(knn=(8, 24), shared_knn=False)(pts)
    assert shared.equal(apart)


def test_point_backbone_teacher_maps_back_and_scales_colour():
    teacher = MODELS.build(dict(type='PointBackboneTeacher',
                                backbone=dict(type='_SubsamplingPointNet'),
                                color_scale=1.0))
    pts = torch.cat([torch.arange(10.)[:, None].repeat(1, 3),
                     torch.full((10, 3), 255.)], 1)
    out = teacher(pts)
    assert out.shape == (10, 4)
    # colours reach the backbone in [0, 1]
    assert torch.allclose(teacher.backbone.seen[0, :, 3:], torch.ones(10, 3))
    # point 2k and 2k+1 take the features of subsampled point 2k
    assert torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.backbone.training


def test_point_backbone_teacher_strict_checkpoint(tmp_path):
    ck = tmp_path / 'teacher.pth'
    torch.save({'state_dict': {'backbone.lin.weight': torch.zeros(4, 6)}},
               ck)
    with pytest.raises(KeyError, match='lin.bias'):
        MODELS.build(dict(type='PointBackboneTeacher',
                          backbone=dict(type='_SubsamplingPointNet'),
                          checkpoint=str(ck), prefix='backbone.'))


def test_segmentor_trains_with_online_teacher(tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    rng = np.random.default_rng(0)
    n, D = 400, 8
    xyz = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    pts = np.concatenate([xyz, rng.uniform(0, 255, (n, 3)),
                          rng.normal(size=(n, D))], 1).astype(np.float32)
    torch.save(torch.randn(3, D), tmp_path / 'text.pt')
    model = MODELS.build(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=D + 6,
                      hidden_channels=8, embed_dim=8, num_blocks=1),
        loss=dict(type='AffinityInfoNCELoss', num_anchors=64, knn=16),
        teacher=dict(type='GeometricTeacher'), class_names=['a', 'b', 'c'],
        fused_channels=D, text_embeddings=str(tmp_path / 'text.pt'),
        voxel_size=0.05))
    loss = model.loss(dict(points=[torch.from_numpy(pts)]),
                      None)['loss_infonce']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.stem.weight.grad.abs().sum() > 0
