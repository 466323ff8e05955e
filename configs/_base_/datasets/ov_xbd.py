# xBDDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='xBDDataset',
        data_root='data/xBD/test',
        data_prefix=dict(img_path='images_pre', seg_map_path='targets_cvt_pre')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
