import pytest
import torch
import torch.nn.functional as F

from ovseg_plugins.seg3d.ops import SubMConv3d, neighbour_map


def random_sites(n=60, size=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(size**3, generator=g)[:n]
    xyz = torch.stack([flat // size**2, flat // size % size, flat % size], 1)
    return torch.cat([torch.zeros(n, 1, dtype=torch.long), xyz], 1)


def dense_reference(conv, feats, coords, size):
    """Dense conv3d on a zero-filled grid, read at the active sites."""
    C = feats.shape[1]
    grid = feats.new_zeros(1, C, size, size, size)
    x, y, z = coords[:, 1], coords[:, 2], coords[:, 3]
    grid[0, :, x, y, z] = feats.t()
    k = conv.kernel_size
    # our weight (k³, Cin, Cout), offsets x-major -> conv3d (Cout, Cin, k,k,k)
    w = conv.weight.view(k, k, k, C, -1).permute(4, 3, 0, 1, 2)
    out = F.conv3d(grid, w, padding=k // 2)
    return out[0, :, x, y, z].t()


def test_equals_dense_conv_at_active_sites_forward_backward():
    torch.manual_seed(0)
    size = 6
    coords = random_sites(size=size)
    feats = torch.randn(len(coords), 5, requires_grad=True)
    conv = SubMConv3d(5, 7)
    ours = conv(feats, coords)
    ref = dense_reference(conv, feats, coords, size)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ours)
    ga = torch.autograd.grad(ours, (feats, conv.weight), g)
    gb = torch.autograd.grad(ref, (feats, conv.weight), g)
    for a, b in zip(ga, gb):  # weight gradients sum over all sites
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_neighbour_map_and_batches_do_not_mix():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]])
    offsets, nbr = neighbour_map(coords, 3)
    plus_x = [i for i, o in enumerate(offsets.tolist()) if o == [1, 0, 0]][0]
    assert nbr[plus_x].tolist() == [1, -1, -1]  # batch 1 is not a neighbour
    centre = [i for i, o in enumerate(offsets.tolist()) if o == [0, 0, 0]][0]
    assert nbr[centre].tolist() == [0, 1, 2]


def test_errors():
    with pytest.raises(ValueError, match='duplicate'):
        neighbour_map(torch.tensor([[0, 1, 1, 1], [0, 1, 1, 1]]))
    with pytest.raises(ValueError, match='input channels'):
        SubMConv3d(4, 2)(torch.randn(3, 5), random_sites(3))


def test_spconv_backend_agrees_with_pure_pytorch():
    """spconv (CUDA) and the pure-PyTorch path: same output and weight
    gradient for the same parameters."""
    pytest.importorskip('spconv.pytorch',
                        reason='spconv is not installed (CPU machine)')
    if not torch.cuda.is_available():
        pytest.skip('spconv backend needs CUDA')
    from ovseg_plugins.seg3d.ops import SubMConv3d
    g = torch.Generator().manual_seed(0)
    coords = torch.randint(0, 8, (300, 3), generator=g).unique(dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.long),
                        coords], 1).cuda()
    feats = torch.randn(len(coords), 5, generator=g).cuda()
    ref = SubMConv3d(5, 7, backend='torch').cuda()
    sp = SubMConv3d(5, 7, backend='spconv').cuda()
    sp.load_state_dict(ref.state_dict())
    a, b = ref(feats, coords), sp(feats, coords)
    assert torch.allclose(a, b, atol=1e-4)
    a.square().sum().backward()
    b.square().sum().backward()
    assert torch.allclose(ref.weight.grad, sp.weight.grad, rtol=1e-3,
                          atol=1e-3)


def test_spconv_backend_refuses_cpu():
    from ovseg_plugins.seg3d.ops import SubMConv3d
    conv = SubMConv3d(2, 2, backend='spconv')
    with pytest.raises(RuntimeError, match='spconv'):
        conv(torch.randn(3, 2), torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0],
                                              [0, 0, 1, 0]]))
    with pytest.raises(ValueError, match='backend'):
        SubMConv3d(2, 2, backend='minkowski')
