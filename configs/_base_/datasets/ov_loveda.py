# LoveDADataset test split for training-free OV segmentation.
# Metric: mIoU over all classes.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='LoveDADataset',
        data_root='data/LoveDA',
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        reduce_zero_label=True))
