# UDD5Dataset test split for training-free OV segmentation.
# Metric: mIoU over all classes.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='UDD5Dataset',
        data_root='data/UDD/UDD/UDD5',
        data_prefix=dict(img_path='val/src', seg_map_path='val/gt')))
