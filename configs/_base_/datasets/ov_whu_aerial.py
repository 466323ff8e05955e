# WHUDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='WHUDataset',
        data_root='data/WHU-BD',
        data_prefix=dict(img_path='val/image', seg_map_path='val/label_cvt')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
