from .coido_objective import cluster_mean_variance, coido_objective
from .coido_scorer import CoIDOScorer
from .coido_segmentor import CoIDOSegmentor
from .per_sample_loss import pixel_ce_per_sample, split_per_sample_loss

__all__ = [
    'CoIDOScorer', 'CoIDOSegmentor', 'coido_objective',
    'cluster_mean_variance', 'pixel_ce_per_sample', 'split_per_sample_loss'
]
