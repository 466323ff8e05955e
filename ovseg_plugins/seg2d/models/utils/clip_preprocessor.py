"""The CLIP image normalisation as an mmseg data preprocessor config."""

CLIP_MEAN = [122.771, 116.746, 104.094]  # OpenAI CLIP mean x 255 (RGB)
CLIP_STD = [68.501, 66.632, 70.323]


def clip_data_preprocessor(**kwargs) -> dict:
    """``SegDataPreProcessor`` config with CLIP mean/std, BGR->RGB."""
    return dict(type='SegDataPreProcessor', mean=CLIP_MEAN, std=CLIP_STD,
                bgr_to_rgb=True, **kwargs)
