# WaterDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='WaterDataset',
        data_root='data/WaterBodiesDatasetPreprocessed',
        data_prefix=dict(img_path='Images', seg_map_path='Masks_cvt')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
