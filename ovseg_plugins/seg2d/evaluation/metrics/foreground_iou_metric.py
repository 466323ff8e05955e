"""IoU metric whose headline number is one class's IoU (binary tasks)."""
from collections import OrderedDict
from typing import Dict, List

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ForegroundIoUMetric(IoUMetric):
    """mmseg's :class:`IoUMetric` plus ``fgIoU``, the IoU of one class.

    SegEarth-OV reports the foreground class's IoU (building, road, water) for
    single-class extraction sets, not the 2-class mIoU; this metric returns
    ``fgIoU`` first (the headline) and the usual aAcc / mIoU / mAcc after it.

    Args:
        foreground_index (int): Class whose IoU is the headline. Defaults to 1.
        **kwargs: Passed to :class:`IoUMetric`.
    """

    def __init__(self, foreground_index: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.foreground_index = int(foreground_index)

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Compute ``fgIoU`` (percent, 2 decimals) and the parent metrics.

        Args:
            results (list): Per-sample ``(intersect, union, pred_area,
                label_area)`` tuples from :meth:`process`.
        """
        num_classes = len(self.dataset_meta['classes'])
        fg = self.foreground_index
        if not 0 <= fg < num_classes:
            raise ValueError(
                f'ForegroundIoUMetric.foreground_index={fg} is outside the '
                f'{num_classes} classes {self.dataset_meta["classes"]}.')
        inter = sum(r[0] for r in results)[fg].item()
        union = sum(r[1] for r in results)[fg].item()
        fg_iou = float(np.round(inter / union * 100, 2)) if union > 0 \
            else float('nan')
        metrics = super().compute_metrics(results)
        out = OrderedDict(fgIoU=fg_iou)
        out.update(metrics)
        return out
