# CHN6CUGDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='CHN6CUGDataset',
        data_root='data/CHN6-CUG/val',
        data_prefix=dict(img_path='image_cvt', seg_map_path='label_cvt')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
