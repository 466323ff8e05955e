# InriaDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='InriaDataset',
        data_root='data/Inria/AerialImageDataset/train',
        data_prefix=dict(img_path='img_dir/split_test', seg_map_path='ann_dir/split_test')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
