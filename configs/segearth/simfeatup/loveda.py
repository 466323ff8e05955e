# SegEarth-OV on loveda as in the paper: the authors' SimFeatUp upsampler
# (xclip_jbu_one_million_aid.ckpt, simfeatup_dev/weights/ of
# https://github.com/likyoo/SegEarth-OV) in the neck instead of bilinear.
_base_ = ['../loveda.py']
model = dict(neck=dict(_delete_=True, type='SimFeatUp', feat_dim=512,
                       checkpoint='weights/xclip_jbu_one_million_aid.ckpt'))
