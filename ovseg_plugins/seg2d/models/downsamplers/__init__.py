from .attention_downsampler import AttentionDownsampler, gaussian_blur

__all__ = ['AttentionDownsampler', 'gaussian_blur']
