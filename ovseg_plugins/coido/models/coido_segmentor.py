"""Framework-neutral CoIDO phase-1 wrapper around any mmengine segmentor."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather, get_dist_info
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from ovseg_plugins.utils.typing import ConfigType, OptConfigType
from ..utils.feature_bank import load_feature_bank
from ..utils.io import load_json
from ..utils.validation import CLUSTER_FIX, check_clusters, check_file_stamp
from .coido_objective import coido_objective
from .per_sample_loss import pixel_ce_per_sample, split_per_sample_loss

_MODES = ('auto', 'pixel_ce', 'split', 'method')


@MODELS.register_module()
class CoIDOSegmentor(BaseModel):
    """Phase 1 of CoIDO: train a segmentor jointly with the scorer.

    Wraps any mmseg / mmdet3d segmentor given by config (``segmentor``),
    shares its data preprocessor, and replaces its training loss by the
    CoIDO objective in a decoupled global-batch form (below); predict
    / tensor modes are the wrapped model's.

    Call flow of ``loss(inputs, data_samples)`` on each of R ranks::

        CE_k (B,)          per-sample loss of the wrapped model, with grad
                           (2D: per-image mean pixel CE; 3D: per-scene loss)
        idx (B,)           data_samples[k].sample_idx (global index)
        all_gather(idx, CE.detach(), valid) -> (B_g,) on every rank
        s_g = scorer(bank.embed[idx_g] (B_g, D), bank.stats[idx_g] (B_g, k))
        w_g = softmax(s_g) over the valid rows of the GLOBAL batch
        loss_coido_scorer = Σ w_g·CE_g.detach()/σ_I² + Var_c(w̄_c)/(2σ_D²)
                            + log σ_I + log σ_D
        loss_coido_seg    = R · Σ_local w.detach()·CE_k  [/ σ_I².detach()]

    The sum of the two has the gradients of the joint objective on the
    global batch once DDP averages over ranks (checked by the tests). During
    ``scorer_warmup_iters`` the segmentor trains with uniform weights (plain
    mean CE) and the scorer loss is 0 (still in the graph for DDP).

    Args:
        segmentor (dict): The model to wrap (e.g. an ``EncoderDecoder``).
        feature_bank (str): ``feature_bank.pt`` of
            ``tools/coido/extract_features.py`` (full dataset, N rows).
        clusters (str, optional): ``clusters.json`` of
            ``tools/coido/cluster.py`` (cluster id per subset sample). None:
            no diversity term (L_D = 0).
        scorer (dict): :class:`CoIDOScorer` config; ``embed_dim`` and
            ``stats_dim`` default to the bank's.
        per_sample_loss (str): ``'pixel_ce'`` (mmseg encoder-decoder),
            ``'split'`` (any model: ``loss`` per sample, e.g. 3D scenes),
            ``'method'`` (the model's ``loss_per_sample(inputs,
            data_samples) -> (B,)``) or ``'auto'`` (method > pixel_ce when
            the samples carry ``gt_sem_seg`` > split).
        scorer_warmup_iters (int): Defaults to 0.
        data_preprocessor (dict, optional): Used only when the wrapped
            model's config has none (it is then given to the wrapped model,
            as the Runner does for a plain model). The wrapper always runs
            the WRAPPED model's preprocessor, so phase 1 sees the inputs
            (size, padding, normalisation) that the same config gives in
            phase 2; the Runner's top-level ``data_preprocessor``, which it
            injects into every model dict, can never replace it.
    """

    #: |log σ| bound of the uncertainty weights
    log_sigma_clamp = 10.

    def __init__(self,
                 segmentor: ConfigType,
                 feature_bank: str,
                 clusters: Optional[str] = None,
                 scorer: ConfigType = dict(type='CoIDOScorer'),
                 per_sample_loss: str = 'auto',
                 scorer_warmup_iters: int = 0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        if per_sample_loss not in _MODES:
            raise ValueError(f'per_sample_loss must be one of {_MODES}, got '
                             f'{per_sample_loss!r}.')
        segmentor = copy.deepcopy(segmentor)
        if data_preprocessor is not None and isinstance(segmentor, dict):
            segmentor.setdefault('data_preprocessor', data_preprocessor)
        self.segmentor = MODELS.build(segmentor)
        # by construction: the wrapped model's own preprocessor
        self.data_preprocessor = self.segmentor.data_preprocessor
        bank = load_feature_bank(feature_bank)
        self.data_list_hash = bank.data_list_hash
        self.bank_stamp = bank.stamp
        self.bank_path = feature_bank
        scorer = dict(scorer)
        scorer.setdefault('embed_dim', bank.embed_dim)
        scorer.setdefault('stats_dim', bank.stats_dim)
        self.coido_scorer = MODELS.build(scorer)
        self.log_sigma_i = nn.Parameter(torch.zeros(()))
        self.log_sigma_d = nn.Parameter(torch.zeros(()))
        self.register_buffer('bank_embed', bank.embeddings, persistent=False)
        self.register_buffer('bank_stats', bank.stats, persistent=False)
        self.register_buffer('bank_valid', bank.valid, persistent=False)
        # labelled fraction (min_valid_fraction safeguard only)
        self.register_buffer('bank_valid_frac', bank.valid_frac,
                             persistent=False)
        self.clusters_path = clusters
        ids, assign = self._load_clusters(clusters, len(bank))
        self.register_buffer('cluster_ids', ids, persistent=False)
        # all-N nearest-centroid clusters (cluster-quota safeguard only)
        self.register_buffer('cluster_assign', assign, persistent=False)
        self.register_buffer('coido_iter', torch.zeros((), dtype=torch.long))
        self.per_sample_loss = per_sample_loss
        self.scorer_warmup_iters = int(scorer_warmup_iters)

    def _load_clusters(self, path: Optional[str], n: int
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((n, ), -1, dtype=torch.long)
        assign = ids.clone()
        if path is None:
            return ids, assign
        obj = load_json(path, 'CoIDO clusters file')
        check_file_stamp(obj if isinstance(obj, dict) else {}, path,
                         'clusters file', CLUSTER_FIX, self.data_list_hash,
                         self.bank_stamp, phase='cluster')
        return check_clusters(obj, path, n)

    # ----------------------------------------------------------- helpers
    def _sample_indices(self, data_samples) -> torch.Tensor:
        idx = []
        for ds in data_samples:
            i = ds.metainfo.get('sample_idx', None)
            if i is None or isinstance(i, str):
                raise KeyError(
                    'CoIDOSegmentor needs the global sample index on every '
                    'data sample (metainfo \'sample_idx\'): build phase 1 '
                    'with tools/coido/run.py (it adds \'sample_idx\' to the '
                    'meta_keys of the train pipeline\'s pack transform), or '
                    'add it there yourself; subsample with a sampler, not '
                    'with the dataset\'s indices= argument.')
            idx.append(int(i))
        t = torch.as_tensor(idx, dtype=torch.long,
                            device=self.bank_embed.device)
        if t.numel() and (t.min() < 0 or t.max() >= len(self.bank_embed)):
            raise IndexError(f'sample_idx {t.max().item()} is outside the '
                             f'feature bank ({len(self.bank_embed)} rows, '
                             f'{self.bank_path!r}); it was made for another '
                             'dataset.')
        return t

    def per_sample_losses(self, inputs, data_samples
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` per-sample losses with grad and a ``(B,)`` valid mask."""
        seg, mode = self.segmentor, self.per_sample_loss
        if mode == 'auto':
            if hasattr(seg, 'loss_per_sample'):
                mode = 'method'
            elif hasattr(seg, 'decode_head') and all(
                    hasattr(ds, 'gt_sem_seg') for ds in data_samples):
                mode = 'pixel_ce'
            else:
                mode = 'split'
        if mode == 'pixel_ce':
            return pixel_ce_per_sample(seg, inputs, data_samples)
        if mode == 'split':
            return split_per_sample_loss(seg, inputs, data_samples)
        out = seg.loss_per_sample(inputs, data_samples)
        if isinstance(out, tuple):
            return out
        return out, torch.isfinite(out.detach())

    @staticmethod
    def _gather(idx, ce, valid) -> Tuple[torch.Tensor, ...]:
        """Global batch on every rank; returns also this rank's offset."""
        rank, ws = get_dist_info()
        if ws == 1:
            return idx, ce, valid, 0, 1
        B = idx.numel()
        sizes = [int(s) for s in all_gather(idx.new_tensor([B]))]
        m = max(sizes)

        def pad(t):
            return torch.cat([t, t.new_zeros((m - B, ))]) if m > B else t

        g_idx = all_gather(pad(idx))
        g_ce = all_gather(pad(ce))
        g_v = all_gather(pad(valid.to(torch.uint8)))
        cat = [torch.cat([g[r][:sizes[r]] for r in range(ws)])
               for g in (g_idx, g_ce, g_v)]
        return cat[0], cat[1], cat[2].bool(), sum(sizes[:rank]), ws

    def score(self, idx: torch.Tensor) -> torch.Tensor:
        """Raw scorer outputs ``(len(idx),)`` of bank rows ``idx``."""
        return self.coido_scorer(self.bank_embed[idx], self.bank_stats[idx])

    @torch.no_grad()
    def score_bank(self, chunk: int = 4096) -> torch.Tensor:
        """Scores of all N bank rows, scorer in eval mode (no dropout)."""
        was = self.coido_scorer.training
        self.coido_scorer.eval()
        n = len(self.bank_embed)
        dev = self.bank_embed.device
        out = [self.score(torch.arange(s, min(s + chunk, n), device=dev))
               for s in range(0, n, chunk)]
        self.coido_scorer.train(was)
        return torch.cat(out).float().cpu()

    # ----------------------------------------------------------- API
    def _check_clustered(self, idx: torch.Tensor) -> None:
        """Every trained sample has a cluster of the clusters file (the
        file covers the subset it was made for; another subset would give
        the rest no cluster and switch the diversity term off for them)."""
        if self.clusters_path is None:
            return
        miss = idx[self.cluster_ids[idx] < 0]
        if miss.numel():
            listed = int((self.cluster_ids >= 0).sum())
            raise ValueError(
                f'clusters file {self.clusters_path!r} has no cluster for '
                f'sample {int(miss[0])} of this batch: it lists {listed} of '
                f'the bank\'s {len(self.cluster_ids)} samples (the subset it '
                'was made for), and phase 1 trains on another subset. Train '
                'on the subset of the file (its \'ratio\' and '
                '\'subset_seed\' as coido.cluster ratio/seed), or '
                + CLUSTER_FIX[0].lower() + CLUSTER_FIX[1:])

    def loss(self, inputs, data_samples) -> Dict[str, torch.Tensor]:
        idx = self._sample_indices(data_samples)
        self._check_clustered(idx)
        ce, valid = self.per_sample_losses(inputs, data_samples)
        valid = valid.to(idx.device) & self.bank_valid[idx]
        ce_d = torch.nan_to_num(ce.detach().float(), nan=0., posinf=0.)
        g_idx, g_ce, g_valid, off, ws = self._gather(idx, ce_d, valid)
        if self.coido_scorer.training:  # same dropout on every rank
            devs = [g_idx.device] if g_idx.is_cuda else []
            with torch.random.fork_rng(devices=devs):
                torch.manual_seed(int(self.coido_iter) + 12345)
                s_g = self.score(g_idx)
        else:
            s_g = self.score(g_idx)
        obj = coido_objective(s_g, g_ce, g_valid, self.cluster_ids[g_idx],
                              self.log_sigma_i, self.log_sigma_d,
                              self.log_sigma_clamp)
        warm = int(self.coido_iter) < self.scorer_warmup_iters
        B = idx.numel()
        if warm:
            w_loc = valid.float() / g_valid.sum().clamp_min(1).float()
            scorer_loss = obj['total'] * 0.
        else:
            w_loc = obj['w'][off:off + B].detach()
            scorer_loss = obj['total']
        ce_loc = torch.where(valid, ce, torch.zeros_like(ce))
        seg_loss = ws * (w_loc.to(ce.dtype) * ce_loc).sum()
        if not warm:  # the joint objective's 1/σ_I², detached
            seg_loss = seg_loss * torch.exp(
                -2 * self.log_sigma_i.clamp(-self.log_sigma_clamp,
                                            self.log_sigma_clamp)).detach()
        if self.training:
            self.coido_iter += 1
        w = obj['w'][g_valid] if bool(g_valid.any()) else obj['w']
        n_cl = torch.unique(self.cluster_ids[g_idx][g_valid]
                            ).clamp_min(-1)
        return dict(
            loss_coido_seg=seg_loss,
            loss_coido_scorer=scorer_loss,
            coido_LI=obj['L_I'].detach(),
            coido_LD=obj['L_D'].detach(),
            coido_sigma_i=obj['sigma_i'].detach(),
            coido_sigma_d=obj['sigma_d'].detach(),
            coido_ce_mean=(g_ce[g_valid].mean() if bool(g_valid.any())
                           else g_ce.sum() * 0.),
            coido_w_std=w.detach().std(correction=0),
            coido_w_max=w.detach().max(),
            coido_n_clusters=torch.tensor(float((n_cl >= 0).sum()),
                                          device=ce.device))

    def predict(self, inputs, data_samples=None) -> List:
        return self.segmentor(inputs, data_samples, mode='predict')

    def _forward(self, inputs, data_samples=None):
        return self.segmentor(inputs, data_samples, mode='tensor')

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')
