"""Per-sample losses of an arbitrary mmengine segmentor (2D or 3D)."""
from typing import List, Tuple

import torch
import torch.nn.functional as F


def _sum_losses(losses: dict) -> torch.Tensor:
    """``parse_losses``' rule: the sum of every entry whose key has 'loss'."""
    tot = None
    for k, v in losses.items():
        if 'loss' not in k:
            continue
        vals = v if isinstance(v, (list, tuple)) else [v]
        for t in vals:
            t = t.mean()
            tot = t if tot is None else tot + t
    if tot is None:
        raise ValueError('the wrapped model\'s loss() returned no entry whose '
                         f'key contains "loss" (keys: {list(losses)}).')
    return tot


def _slice_inputs(inputs, i: int):
    if torch.is_tensor(inputs):
        return inputs[i:i + 1]
    if isinstance(inputs, dict):
        return {k: _slice_inputs(v, i) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [inputs[i]]
    raise TypeError(f'cannot split inputs of type {type(inputs).__name__} '
                    'per sample; give the model a loss_per_sample() method.')


def split_per_sample_loss(model, inputs, data_samples: List
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Generic: ``model.loss`` on each sample alone (a batch of one).

    For a 3D segmentor this is the per-scene loss (mean point CE for
    supervised heads, the distillation loss for GeoPurify). Tensors are split
    on dim 0, lists/tuples by element, dicts recursively.

    Returns:
        tuple: ``loss (B,)`` with grad, ``valid (B,)`` bool (finite).
    """
    out = [_sum_losses(model.loss(_slice_inputs(inputs, i),
                                  [data_samples[i]]))
           for i in range(len(data_samples))]
    loss = torch.stack(out)
    return loss, torch.isfinite(loss.detach())


def _loss_weight(head) -> float:
    ld = getattr(head, 'loss_decode', None)
    if ld is None:
        return 1.0
    if isinstance(ld, torch.nn.ModuleList):
        return float(sum(getattr(m, 'loss_weight', 1.0) for m in ld))
    return float(getattr(ld, 'loss_weight', 1.0))


def pixel_ce_per_sample(model, inputs: torch.Tensor, data_samples: List
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """mmseg encoder-decoder: per-image mean pixel CE over valid pixels.

    ``extract_feat`` once; for the decode head and each auxiliary head:
    logits ``(B, K, h, w)`` -> bilinear to the label size ``(H, W)`` (as
    ``loss_by_feat``) -> ``cross_entropy(reduction='none')`` ``(B, H, W)``
    -> mean over the non-ignored pixels of each image, times the head's
    ``loss_weight``; summed over heads. Duck-typed: needs
    ``model.extract_feat``, ``model.decode_head`` (``forward``,
    ``ignore_index``, ``align_corners``) and ``gt_sem_seg`` on the samples.

    Returns:
        tuple: ``ce (B,)`` with grad, ``valid (B,)`` (>= 1 labelled pixel).
    """
    x = model.extract_feat(inputs)
    labels = torch.stack([ds.gt_sem_seg.data.squeeze(0).long()
                          for ds in data_samples])
    heads = [model.decode_head]
    aux = getattr(model, 'auxiliary_head', None)
    if aux is not None:
        heads += list(aux) if isinstance(aux, torch.nn.ModuleList) else [aux]
    total, valid = 0., None
    for head in heads:
        logits = head.forward(x)
        logits = F.interpolate(logits, size=labels.shape[-2:],
                               mode='bilinear',
                               align_corners=getattr(head, 'align_corners',
                                                     False))
        ign = getattr(head, 'ignore_index', 255)
        ce = F.cross_entropy(logits, labels, ignore_index=ign,
                             reduction='none')
        m = (labels != ign).to(ce.dtype)
        cnt = m.flatten(1).sum(1)
        total = total + _loss_weight(head) * (ce * m).flatten(1).sum(1) / \
            cnt.clamp_min(1)
        valid = cnt > 0
    return total, valid
