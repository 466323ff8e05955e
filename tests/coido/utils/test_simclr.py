"""The SimCLR bank embedder (embedder source 'simclr'): NT-Xent against a
hand-computed value, views, pooling, and a loss that falls on images whose
identity is learnable."""
import math

import numpy as np
import pytest
import torch

from ovseg_plugins.coido.utils.simclr import (nt_xent, pool_embedding,
                                               random_views, train_simclr)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, 1, 1))

    def forward(self, x):
        return (self.c(x), )


def test_nt_xent_hand_computed():
    # equal rows: every other row is equally likely -> ln(2B - 1)
    z = torch.nn.functional.normalize(torch.ones(6, 3), dim=1)
    assert nt_xent(z, 0.5).item() == pytest.approx(math.log(5))
    # B = 2, orthogonal pairs: rows 0/2 = e0, rows 1/3 = e1, tau = 1: for
    # row 0 the logits over rows 1, 2, 3 are (0, 1, 0), target row 2
    z = torch.tensor([[1., 0], [0, 1], [1, 0], [0, 1]])
    want = -math.log(math.e / (math.e + 2))
    assert nt_xent(z, 1.0).item() == pytest.approx(want)
    with pytest.raises(ValueError, match='2B, D'):
        nt_xent(torch.ones(3, 2))


def test_random_views_shapes_any_image_size():
    torch.manual_seed(0)
    imgs = [torch.randn(3, 20, 30), torch.randn(3, 16, 16)]
    v = random_views(imgs, 12)
    assert v.shape == (2, 3, 12, 12) and torch.isfinite(v).all()


def test_pool_embedding_forms():
    x = torch.arange(24.).reshape(1, 2, 3, 4)
    assert torch.allclose(pool_embedding((x * 0, x)), x.mean((2, 3)))
    assert pool_embedding(torch.ones(2, 5)).shape == (2, 5)
    scenes = [torch.ones(4, 3), torch.zeros(7, 3)]  # per-scene (N_i, C)
    assert pool_embedding(scenes).tolist() == [[1.] * 3, [0.] * 3]


def test_train_simclr_loss_falls_and_errors():
    torch.manual_seed(0)
    # 24 images: a per-image colour offset (identity) + texture noise
    x = torch.randn(24, 3, 1, 1) + 0.3 * torch.randn(24, 3, 16, 16)
    net = Net()
    losses = train_simclr(net, lambda idx: x[idx], 24, steps=60,
                          batch_size=16, view_size=12)
    assert len(losses) == 60 and not net.training
    # NT-Xent starts near ln(2B - 1) = ln 31 and falls as views match up
    assert abs(losses[0] - np.log(31)) < 0.5
    assert np.mean(losses[-10:]) < losses[0] - 0.5, losses[-10:]
    with pytest.raises(ValueError, match='at least 2'):
        train_simclr(Net(), lambda idx: x[idx], 1, steps=1)
    bad = x.clone()
    bad[3] = float('nan')
    with pytest.raises(FloatingPointError, match='NaN'):
        train_simclr(Net(), lambda idx: bad[idx], 24, steps=3,
                     batch_size=24, view_size=12)
