"""Self-supervised bank embeddings for the CoIDO experiments.

Without pretrained weights (CLIP / DINO) the model's own backbone, pooled, is
a poor image embedding: the clustering, the scorer and the k-NN label-noise
guard all see near-random features. SimCLR (Chen et al. 2020, "A Simple
Framework for Contrastive Learning of Visual Representations") trains the
backbone on the training images themselves, without labels: two random views
of an image must be nearer to each other than to the views of the other
images of the batch (the NT-Xent loss), through a small projection head that
is thrown away afterwards.

Experiment code: on the controlled set a SimCLR bank did not make CoIDO beat
random selection (see README.md), so it is not part of the package.
"""
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovseg_plugins.coido.apis import pool_embedding


def nt_xent(z: Tensor, tau: float = 0.2) -> Tensor:
    """The NT-Xent loss of ``2B`` projections, row ``i`` and row ``i + B``
    being the two views of one image.

    Args:
        z (Tensor): ``(2B, D)`` L2-normalised projections.
        tau (float): Temperature.

    Returns:
        Tensor: scalar, the mean over the ``2B`` rows of the cross-entropy
        of picking the other view among the ``2B - 1`` other rows
        (``ln(2B - 1)`` when all rows are equal).
    """
    if z.ndim != 2 or z.shape[0] % 2 or z.shape[0] < 4:
        raise ValueError('nt_xent needs (2B, D) projections with B >= 2, got '
                         f'{tuple(z.shape)}.')
    b = z.shape[0] // 2
    sim = (z @ z.T / tau).fill_diagonal_(-float('inf'))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(sim, target.to(z.device))


def random_views(images: Sequence[Tensor], size: int,
                 jitter: float = 0.1) -> Tensor:
    """One random view per image (global torch RNG): a square crop of side
    1/2-1 of the shorter side, resized to ``size`` px, a random h-flip and
    90° rotation, brightness/contrast jitter of ``±jitter``.

    Args:
        images: ``B`` normalised ``(3, H_i, W_i)`` images (any sizes).
        size (int): Side of the views.

    Returns:
        Tensor: ``(B, 3, size, size)``.
    """
    views = []
    for im in images:
        H, W = im.shape[-2:]
        m = min(H, W)
        s = int(torch.randint(m // 2, m + 1, ()))
        y0, x0 = (int(torch.randint(0, d - s + 1, ())) for d in (H, W))
        v = F.interpolate(im[None, :, y0:y0 + s, x0:x0 + s].float(),
                          size=size, mode='bilinear', align_corners=False)[0]
        if torch.rand(()) < 0.5:
            v = v.flip(2)
        v = torch.rot90(v, int(torch.randint(4, ())), (1, 2))
        views.append(v * (1 - jitter + 2 * jitter * torch.rand(())) +
                     (2 * jitter * torch.rand(()) - jitter))
    return torch.stack(views)


def train_simclr(backbone: nn.Module, images: Callable[[Tensor], List[Tensor]],
                 num_images: int, steps: int, batch_size: int = 128,
                 tau: float = 0.2, view_size: int = 48, lr: float = 1e-3,
                 weight_decay: float = 1e-4, proj_dim: int = 64,
                 log: Optional[Callable[[str], None]] = None) -> List[float]:
    """Train ``backbone`` in place with SimCLR; returns the per-step losses.

    Each step draws ``batch_size`` images without replacement (global torch
    RNG), makes two :func:`random_views` of each, embeds them with
    :func:`pool_embedding` of the backbone output and a 2-layer projection
    head (``C -> C -> proj_dim``, discarded at the end) and takes an AdamW
    step on :func:`nt_xent`. The backbone is left in eval mode.

    Args:
        backbone (nn.Module): maps ``(B, 3, h, w)`` to a feature map / tuple
            of maps (pooled as :func:`pool_embedding`).
        images (callable): ``indices (b,) -> b`` normalised ``(3, H, W)``
            images of the training set.
        num_images (int): Training-set size ``N``.
        steps (int): Optimiser steps.
    """
    if num_images < 2:
        raise ValueError('SimCLR needs at least 2 training images, got '
                         f'{num_images}.')
    if steps < 1:
        raise ValueError(f'SimCLR steps must be >= 1, got {steps}.')

    def embed(t):
        return pool_embedding(backbone(t))

    with torch.no_grad():
        first = images(torch.arange(1))[0][None].float()
        c = embed(F.interpolate(first, size=view_size, mode='bilinear',
                                align_corners=False)).shape[1]
    head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, proj_dim))
    opt = torch.optim.AdamW([*backbone.parameters(), *head.parameters()],
                            lr, weight_decay=weight_decay)
    losses = []
    backbone.train()
    for step in range(steps):
        idx = torch.randperm(num_images)[:batch_size]
        imgs = images(idx)
        z = F.normalize(head(embed(torch.cat([
            random_views(imgs, view_size), random_views(imgs, view_size)]))),
            dim=1)
        loss = nt_xent(z, tau)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f'SimCLR loss is {loss.item()} at step {step}: lower '
                'coido.extract.embedder.lr or check the images for NaNs.')
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if log is not None and (step + 1) % 50 == 0:
            log(f'[simclr] step {step + 1}/{steps} loss {loss.item():.3f}')
    backbone.eval()
    return losses


def simclr_checkpoint(cfg, out: str, steps: int = 500, seed: int = 0,
                      cache_side: Optional[int] = None,
                      log: Callable[[str], None] = print, **kw) -> dict:
    """The config's model, its backbone trained with SimCLR on the training
    images (the extract pipeline, preprocessed by the model's data
    preprocessor, downsampled to a shorter side of ``cache_side``, default
    ``4 * view_size``), saved as a checkpoint for
    ``extract_feature_bank(cfg, bank, checkpoint=out)``.

    The model is built after ``torch.manual_seed(seed)`` (the extract
    function builds it the same way, then loads these weights), on a forked
    RNG. Returns what the run did (steps, first/last loss, seconds).
    """
    import time

    import numpy as np
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import MODELS, init_default_scope

    from ovseg_plugins.coido.apis.feature_extraction import (
        build_extract_dataset, default_extract_pipeline, inner_model_cfg)
    from ovseg_plugins.coido.utils import atomic_save_torch
    t0 = time.perf_counter()
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ds = build_extract_dataset(cfg, default_extract_pipeline(cfg))
    side = int(cache_side or 4 * int(kw.get('view_size', 48)))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = MODELS.build(inner_model_cfg(cfg.model))
        model.eval()

        def load(i):
            data = model.data_preprocessor(pseudo_collate([ds[int(i)]]),
                                           False)
            x = data['inputs'][0].float()
            f = side / min(x.shape[-2:])
            if f < 1:  # views never need more pixels than this
                x = F.interpolate(x[None], scale_factor=f, mode='bilinear',
                                  antialias=True, align_corners=False)[0]
            return x

        cache = [load(i) for i in range(len(ds))]
        losses = train_simclr(model.backbone,
                              lambda idx: [cache[i] for i in idx.tolist()],
                              len(ds), steps, log=log, **kw)
    atomic_save_torch(out, dict(state_dict=model.state_dict()))
    info = dict(steps=len(losses), loss_first=losses[0],
                loss_last=float(np.mean(losses[-20:])),
                seconds=time.perf_counter() - t0)
    log(f'[simclr] {info["steps"]} steps: NT-Xent {info["loss_first"]:.3f} '
        f'-> {info["loss_last"]:.3f} ({info["seconds"]:.1f} s)')
    return info
