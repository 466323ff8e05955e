# SegEarth-OV on vdd (training-free) with the BILINEAR neck: runs with the CLIP
# weights alone, but it is not the paper's setting. The paper's number is
# reproduced by simfeatup/vdd.py (the authors' SimFeatUp upsampler).
_base_ = [
    '../_base_/datasets/ov_vdd.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/vdd.txt',
    prob_thd=0.3,
    bg_idx=0)
