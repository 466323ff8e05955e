"""Exact grid kNN == brute force (ties by lower index) on hard layouts."""
import pytest
import torch

from ovseg_plugins.seg3d.ops import knn_indices


def _brute(c, k):
    d2 = ((c[:, None] - c[None])**2).sum(-1)
    d2.fill_diagonal_(float('inf'))
    return torch.sort(d2, dim=1, stable=True).indices[:, :k]


def _layouts():
    g = torch.Generator().manual_seed(0)
    plane = torch.cat([torch.rand(1500, 2, generator=g) * 5,
                       torch.zeros(1500, 1)], 1)
    return {
        'uniform': torch.rand(1500, 3, generator=g),
        # integer voxels: many exact distance ties at the k-th neighbour
        'voxels': torch.randint(0, 25, (2500, 3),
                                generator=g).unique(dim=0).float(),
        'plane': plane,
        # a far outlier forces the cells to grow until it is certified
        'outlier': torch.cat([plane[:800], torch.tensor([[90., 90., 90.]])]),
    }


@pytest.mark.parametrize('name', ['uniform', 'voxels', 'plane', 'outlier'])
@pytest.mark.parametrize('k', [1, 7, 96])
def test_knn_equals_brute_force(name, k):
    c = _layouts()[name]
    nbr = knn_indices(c, k)
    assert torch.equal(nbr, _brute(c, k))


def test_knn_small_clouds_and_errors():
    c = torch.rand(5, 3)
    assert knn_indices(c, 96).shape == (5, 4)  # k capped at N - 1
    with pytest.raises(ValueError, match='at least 2'):
        knn_indices(c[:1], 3)
    with pytest.raises(ValueError, match='NaN'):
        knn_indices(torch.tensor([[0., 0, 0], [float('nan'), 0, 0]]), 1)
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        knn_indices(torch.rand(4, 2), 1)


def test_canonical_order_depends_on_the_point_set_only():
    from ovseg_plugins.seg3d.ops import canonical_order
    g = torch.Generator().manual_seed(0)
    c = torch.randint(0, 4, (60, 3), generator=g).float()
    ref = sorted(c.tolist())
    for seed in range(3):
        p = torch.randperm(60, generator=torch.Generator().manual_seed(seed))
        assert c[p][canonical_order(c[p])].tolist() == ref


@pytest.mark.parametrize('name', ['uniform', 'voxels', 'plane', 'outlier',
                                  'duplicates', 'voxel_duplicates',
                                  'voxel_surface'])
def test_tree_and_grid_paths_agree_with_brute_force(name, monkeypatch):
    """The k-d tree path (scipy, certified) and the grid search give the
    brute-force result, including rows the tree cannot certify (ties at
    the k-th distance on voxel grids, duplicated points) that fall back to
    the grid."""
    from ovseg_plugins.seg3d.ops import knn as knn_mod
    layouts = _layouts()
    g = torch.Generator().manual_seed(1)
    layouts['duplicates'] = torch.cat([layouts['uniform'][:300]] * 3)[
        torch.randperm(900, generator=g)]
    layouts['voxel_duplicates'] = torch.cat([layouts['voxels'][:400]] * 2)
    # a voxelised surface in scrambled order (many ties at the k-th
    # distance)
    u = torch.rand(3000, 2, generator=g) * 40
    surf = torch.stack([u[:, 0], u[:, 1], 3 * torch.sin(u[:, 0] / 6)],
                       1).round().unique(dim=0)
    layouts['voxel_surface'] = surf[torch.randperm(len(surf), generator=g)]
    c = layouts[name]
    ref = _brute(c, 48)
    for tree in (True, False):
        monkeypatch.setattr(knn_mod, '_USE_TREE', tree)
        assert torch.equal(knn_indices(c, 48), ref), tree
    # rows the tree certifies on its own: most of them
    _, exact = knn_mod._tree_knn(c.float(), torch.arange(len(c)), 48)
    assert exact.float().mean() > 0.5
