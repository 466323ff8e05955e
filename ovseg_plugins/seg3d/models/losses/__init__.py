from .affinity_infonce_loss import AffinityInfoNCELoss, info_nce, sample_pairs

__all__ = ['AffinityInfoNCELoss', 'info_nce', 'sample_pairs']
