# SegEarth-OV on wbs_si (training-free) with the BILINEAR neck: runs with the
# CLIP weights alone, but it is not the paper's setting. The paper's number is
# reproduced by simfeatup/wbs_si.py (the authors' SimFeatUp upsampler).
_base_ = [
    '../_base_/datasets/ov_wbs_si.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/wbs_si.txt',
    prob_thd=0.6,
    bg_idx=0)
