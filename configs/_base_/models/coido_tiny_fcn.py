# A genuinely small mmseg segmentor for CoIDO on CPU: FCN head on a 2-stage,
# 8-channel ResNetV1c (~20 k parameters), 7 LoveDA classes, 64x64 inputs.
coido_crop_size = (64, 64)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=coido_crop_size),
    backbone=dict(
        type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
        strides=(1, 2), dilations=(1, 1), stem_channels=8, base_channels=8,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
        style='pytorch', contract_dilation=True),
    decode_head=dict(
        type='FCNHead', in_channels=16, in_index=0, channels=16, num_convs=1,
        concat_input=False, dropout_ratio=0.0, num_classes=7,
        norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
