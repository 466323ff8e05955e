# RoadValDataset test split for training-free OV segmentation.
# Metric: the foreground-class IoU (fgIoU) is the headline number.
_base_ = ['./ov_test_common.py']
test_dataloader = dict(
    dataset=dict(
        type='RoadValDataset',
        data_root='data/GlobalRoadSet_Val/Massachusetts_test_49',
        data_prefix=dict(img_path='img', seg_map_path='label_cvt')))
test_evaluator = dict(type='ForegroundIoUMetric', foreground_index=1)
