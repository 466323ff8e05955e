import pytest
import torch
import torch.nn.functional as F


def test_hand_computed_logits(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    head = CLSRemovalHead(cls_token_lambda=-0.3)
    feats = torch.tensor([[3., 4.], [0., 2.]]).reshape(1, 2, 1, 2)  # (C, W)
    # pixel 0 = (3, 0), pixel 1 = (4, 2)
    cls = torch.tensor([[0., 5.]])
    text = torch.tensor([[1., 0.], [0., 1.]])
    out = head(feats, cls, text)
    # cos(pixel, text) + -0.3 * cos(cls, text): cls unit = (0, 1)
    p1 = F.normalize(torch.tensor([4., 2.]), dim=0)
    expected = torch.tensor([[[1.0, p1[0]]], [[0.0 - 0.3, p1[1] - 0.3]]])
    assert torch.allclose(out[0], expected, atol=1e-6)


def test_lambda_zero_is_plain_cosine(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    feats, cls = torch.randn(2, 8, 3, 3), torch.randn(2, 8)
    text = F.normalize(torch.randn(4, 8), dim=-1)
    out = CLSRemovalHead(cls_token_lambda=0)(feats, cls, text)
    ref = torch.einsum('bchw,qc->bqhw', F.normalize(feats, dim=1), text)
    assert torch.allclose(out, ref, atol=1e-6)


def test_dim_mismatch(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    with pytest.raises(ValueError, match='feature dim'):
        CLSRemovalHead()(torch.randn(1, 8, 2, 2), torch.randn(1, 8),
                         torch.randn(3, 6))
