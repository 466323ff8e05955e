# ScanNet200: OpenScene ScanNet points + raw ScanNet label ids:
#   data/scannet_3d/val/<scene>_vh_clean_2.pth (points; its 20-class labels
#     are not used), data/scannet_3d_200/val/<scene>.txt (one raw ScanNet id
#     per vertex; the 200 benchmark ids -> 0..199, others -> 200 ignored);
#   data/scannet/scans/<scene>/<scene>_vh_clean_2.ply (optional, normals).
# Training uses ScanNet scenes without labels (the student is label-free).
# Metrics: mIoU / mAcc over 200 classes, head / common / tail means and
# f-mIoU / f-mAcc (all but wall, floor, ceiling).
# Roots, pipelines and loaders come from the OpenScene ScanNet base; only
# the label source, the class set and the metric groups differ.
_base_ = ['./scannet_openscene_geopurify.py']
dataset_type = 'ScanNet200SegDataset'
class_names = None  # the dataset's own 200 ScanNet200 classes
metainfo = None
train_dataloader = dict(dataset=dict(metainfo=None))
test_dataloader = dict(dataset=dict(
    type=dataset_type, metainfo=None,
    data_prefix=dict(pts_semantic_mask='scannet_3d_200/val'),
    label_template='{scene}.txt'))
val_dataloader = test_dataloader
val_evaluator = dict(type='PointSegMetric', absent_classes='zero',
                     class_groups='scannet200')
test_evaluator = val_evaluator
