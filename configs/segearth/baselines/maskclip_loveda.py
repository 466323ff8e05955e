# maskclip baseline on loveda: SegEarth-OV's pipeline with the maskclip last
# block, no CLS-token removal, bilinear upsampling.
_base_ = ['../loveda.py']
model = dict(
    backbone=dict(attn_mode='maskclip', ignore_residual=True),
    neck=dict(_delete_=True, type='BilinearUpsampler'),
    decode_head=dict(cls_token_lambda=0.0))
