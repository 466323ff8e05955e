# SegEarth-OV's components in mmseg's STOCK EncoderDecoder (training-free):
# DenseCLIPViT also returns the normalised image (out_image=True) as its last
# output, where a guided upsampler neck (SimFeatUp, JBUStack) finds its
# guidance; CLSRemovalHead owns the vocabulary and embeds it with the same
# CLIP model's text tower. Leaf configs set model.decode_head.class_names
# (+ prob_thd/bg_idx). Swap the neck for SimFeatUp with
#   model = dict(neck=dict(_delete_=True, type='SimFeatUp', checkpoint=...))
# OVCLIPSegmentor (configs/_base_/models/segearth_vit-b16.py) remains the
# exact SegEarth-OV protocol (window merge of query logits, batched windows).
custom_imports = dict(imports=['ovseg_plugins.seg2d'], allow_failed_imports=False)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        test_cfg=dict(size_divisor=16)),
    backbone=dict(
        type='DenseCLIPViT',
        model_name='ViT-B-16',
        pretrained='openai',
        attn_mode='segearth',
        ignore_residual=True,
        keep_text=False,
        out_image=True),
    neck=dict(type='BilinearUpsampler'),
    decode_head=dict(
        type='CLSRemovalHead',
        cls_token_lambda=-0.3,
        class_names=None,
        text_encoder=dict(model_name='ViT-B-16', pretrained='openai'),
        templates='openai_imagenet',
        in_channels=512,
        logit_scale=50.,
        prob_thd=0.,
        bg_idx=0),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(224, 224), stride=(112, 112)))
