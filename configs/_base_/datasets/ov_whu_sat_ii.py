# WHUDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='WHUDataset',
        data_root='data/WHU_Sat_II/1.cropped',
        data_prefix=dict(img_path='test/image', seg_map_path='test/label_cvt'),
        img_suffix='.tif',
        seg_map_suffix='.tif'))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
