from .ov_clip_segmentor import (OVCLIPSegmentor, postprocess_query_logits,
                                query_to_class_probs)

__all__ = ['OVCLIPSegmentor', 'postprocess_query_logits',
           'query_to_class_probs']
from .simfeatup_trainer import SimFeatUpTrainer  # noqa: E402

__all__ += ['SimFeatUpTrainer']
from .sam3_segmentor import SAM3Segmentor  # noqa: E402

__all__ += ['SAM3Segmentor']
