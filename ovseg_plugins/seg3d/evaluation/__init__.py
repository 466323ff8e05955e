from .metrics import PointSegMetric, confusion_matrix, metrics_from_confusion

__all__ = ['PointSegMetric', 'confusion_matrix', 'metrics_from_confusion']
