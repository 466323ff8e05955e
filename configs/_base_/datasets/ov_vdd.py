# VDDDataset test split for training-free OV segmentation.
# Metric: mIoU over all classes.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='VDDDataset',
        data_root='data/VDD',
        data_prefix=dict(img_path='test/src', seg_map_path='test/gt')))
