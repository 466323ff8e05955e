"""PointSegMetric against hand-computed values (and mmdet3d seg_eval)."""
import numpy as np
import pytest
import torch

from ovseg_plugins.seg3d.datasets.label_constants import (SCANNET20_CLASSES,
                                                          SCANNET200_CLASSES)
from ovseg_plugins.seg3d.evaluation import (PointSegMetric, confusion_matrix,
                                            metrics_from_confusion)

ABC = ('a', 'b', 'c')
# gt 3 is the ignore index (K = 3)
GT = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 0])
PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1, 0])


def run_metric(metric, classes, scenes):
    metric.dataset_meta = dict(classes=classes, ignore_index=len(classes))
    for gt, pred in scenes:
        metric.process({}, [dict(
            pred_pts_seg=dict(pts_semantic_mask=torch.as_tensor(pred)),
            eval_ann_info=dict(pts_semantic_mask=np.asarray(gt)))])
    return metric.evaluate(len(scenes))


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(GT, PRED, 3),
                                  [[3, 1, 0], [0, 1, 1], [1, 0, 2]])


def test_miou_macc_allacc_by_hand():
    # TP (3, 1, 2); GT (4, 2, 3); union (5, 3, 4)
    m = run_metric(PointSegMetric(), ABC, [(GT, PRED)])
    assert m['mIoU'] == pytest.approx((3 / 5 + 1 / 3 + 2 / 4) / 3)
    assert m['mAcc'] == pytest.approx((3 / 4 + 1 / 2 + 2 / 3) / 3)
    assert m['allAcc'] == pytest.approx(6 / 9)


def test_accumulated_over_split_not_averaged_per_scene():
    # same points split over two scenes: identical to one scene
    m1 = run_metric(PointSegMetric(), ABC, [(GT, PRED)])
    m2 = run_metric(PointSegMetric(), ABC, [(GT[:4], PRED[:4]),
                                            (GT[4:], PRED[4:])])
    assert m1 == pytest.approx(m2)


def test_ignore_classes_drop_gt_but_keep_wrong_predictions():
    # c ignored: rows of GT c dropped -> CM [[3,1,0],[0,1,1]]
    # IoU a = 3/(4+3-3), IoU b = 1/(2+2-1); b's point predicted c still wrong
    m = run_metric(PointSegMetric(ignore_classes=['c']), ABC, [(GT, PRED)])
    assert m['mIoU'] == pytest.approx((3 / 4 + 1 / 3) / 2)
    assert m['mAcc'] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert m['allAcc'] == pytest.approx(4 / 6)


def test_scannet_19_class_protocol_ignores_otherfurniture():
    other = SCANNET20_CLASSES.index('otherfurniture')
    gt = np.array([0, 0, 1, other, other, 20])
    pred = np.array([0, 1, 1, other, 0, 5])
    m20 = metrics_from_confusion(confusion_matrix(gt, pred, 20),
                                 SCANNET20_CLASSES, absent_classes='skip')
    m19 = metrics_from_confusion(confusion_matrix(gt, pred, 20),
                                 SCANNET20_CLASSES,
                                 ignore_classes=['otherfurniture'],
                                 absent_classes='skip')
    # 20 classes: wall 1/3, floor 1/2, other 1/2; 19 classes: wall = 1/2
    # (the otherfurniture point predicted wall no longer counts), floor 1/2
    assert m20['mIoU'] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert m19['mIoU'] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert not m19['in_miou'][other] and np.isnan(m19['iou'][other])
    assert m19['allAcc'] == pytest.approx(2 / 3)


def test_absent_class_modes_and_mmdet3d_parity():
    from mmdet3d.evaluation import seg_eval
    classes = ('a', 'b', 'c', 'd')
    gt, pred = np.array([0, 0, 1]), np.array([0, 3, 1])
    # IoU (1/2, 1, undefined, 0 (predicted, never GT)); Acc (1/2, 1, -, -)
    res = {
        mode: run_metric(PointSegMetric(absent_classes=mode), classes,
                         [(gt, pred)])
        for mode in ('zero', 'skip', 'mmdet3d')
    }
    assert res['zero']['mIoU'] == pytest.approx(1.5 / 4)
    assert res['zero']['mAcc'] == pytest.approx(1.5 / 4)
    assert res['skip']['mIoU'] == pytest.approx(0.75)
    assert res['skip']['mAcc'] == pytest.approx(0.75)
    assert res['mmdet3d']['mIoU'] == pytest.approx(1.5 / 3)
    assert res['mmdet3d']['mAcc'] == pytest.approx(0.75)
    ref = seg_eval([gt], [pred], dict(enumerate(classes)), 4)
    assert res['mmdet3d']['mIoU'] == pytest.approx(ref['miou'])
    assert res['mmdet3d']['mAcc'] == pytest.approx(ref['acc_cls'])
    assert res['mmdet3d']['allAcc'] == pytest.approx(ref['acc'])


def test_mmdet3d_parity_random():
    from mmdet3d.evaluation import seg_eval
    rng = np.random.default_rng(0)
    classes = tuple('abcdef')
    gts = [rng.integers(0, 7, 300) for _ in range(3)]  # 6 = ignore
    preds = [rng.integers(0, 6, 300) for _ in range(3)]
    m = run_metric(PointSegMetric(absent_classes='mmdet3d'), classes,
                   list(zip(gts, preds)))
    ref = seg_eval(gts, preds, dict(enumerate(classes)), 6)
    assert m['mIoU'] == pytest.approx(ref['miou'])
    assert m['mAcc'] == pytest.approx(ref['acc_cls'])
    assert m['allAcc'] == pytest.approx(ref['acc'])


def test_scannet200_groups_and_foreground():
    K = 200
    gt = np.repeat(np.arange(K), 10)
    pred = gt.copy()
    pred[gt == 0] = 2  # all wall points predicted floor
    m = run_metric(PointSegMetric(class_groups='scannet200'),
                   SCANNET200_CLASSES, [(gt, pred)])
    # wall IoU 0, floor IoU 10/20, every other class 1
    assert m['mIoU'] == pytest.approx((198 + 0.5) / 200)
    assert m['mAcc'] == pytest.approx(199 / 200)
    assert m['f_mIoU'] == pytest.approx(1.0)  # no wall / floor / ceiling
    assert m['f_mAcc'] == pytest.approx(1.0)
    assert m['head_mIoU'] == pytest.approx((64 + 0.5) / 66)  # wall, floor
    assert m['head_mAcc'] == pytest.approx(65 / 66)
    assert m['common_mIoU'] == pytest.approx(1.0)
    assert m['tail_mIoU'] == pytest.approx(1.0)


def test_custom_groups_per_class_and_errors():
    m = run_metric(
        PointSegMetric(class_groups=dict(ab=['a', 'b'], notc=dict(
            exclude=['c'])), per_class=True), ABC, [(GT, PRED)])
    assert m['ab_mIoU'] == pytest.approx((3 / 5 + 1 / 3) / 2)
    assert m['notc_mIoU'] == m['ab_mIoU']
    assert m['IoU.c'] == pytest.approx(0.5)
    assert m['Acc.b'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'zz' is not a dataset class"):
        run_metric(PointSegMetric(ignore_classes=['zz']), ABC, [(GT, PRED)])
    with pytest.raises(ValueError, match='absent_classes'):
        PointSegMetric(absent_classes='nan')
    with pytest.raises(ValueError, match='outside the 3 classes'):
        run_metric(PointSegMetric(), ABC, [(GT, np.full(10, 5))])
    with pytest.raises(ValueError, match='predicted labels for'):
        run_metric(PointSegMetric(), ABC, [(GT, PRED[:4])])


def test_output_dir_saves_labels_per_scene_named_after_the_point_file(
        tmp_path):
    metric = PointSegMetric(output_dir=str(tmp_path / 'out'))
    metric.dataset_meta = dict(classes=ABC, ignore_index=3)
    for name, (gt, pred) in [('scene0000_00_vh_clean_2.pth', (GT, PRED)),
                             ('scene0001_00.bin', (GT[:4], PRED[:4]))]:
        metric.process({}, [dict(
            lidar_path=f'/data/points/{name}',
            pred_pts_seg=dict(pts_semantic_mask=torch.as_tensor(pred)),
            eval_ann_info=dict(pts_semantic_mask=gt))])
    m = metric.evaluate(2)
    assert m['allAcc'] == pytest.approx((6 + 3) / (9 + 4))  # as unsaved
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'scene0000_00.npy', 'scene0001_00.npy']
    saved = np.load(tmp_path / 'out' / 'scene0000_00.npy')
    assert saved.dtype == np.int64
    np.testing.assert_array_equal(saved, PRED)


def test_format_only_saves_without_ground_truth(tmp_path):
    metric = PointSegMetric(output_dir=str(tmp_path), format_only=True)
    metric.dataset_meta = dict(classes=ABC, ignore_index=3)
    metric.process({}, [dict(
        sample_idx=7, pred_pts_seg=dict(pts_semantic_mask=PRED))])
    assert metric.evaluate(1) == {}
    np.testing.assert_array_equal(np.load(tmp_path / '000007.npy'), PRED)


def test_format_only_without_output_dir_and_unknown_options_are_refused():
    with pytest.raises(ValueError, match='give output_dir too'):
        PointSegMetric(format_only=True)
    with pytest.raises(TypeError, match='absent_class'):
        PointSegMetric(absent_class='skip')  # a typo is not swallowed
