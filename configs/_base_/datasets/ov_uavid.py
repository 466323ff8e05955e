# UAVidDataset test split for training-free OV segmentation.
# Metric: mIoU over all classes.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='UAVidDataset',
        data_root='data/UAVid',
        data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test')))
