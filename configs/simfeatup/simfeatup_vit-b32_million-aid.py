# An upsampler the authors never released: CLIP ViT-B/32 (patch 32 -> 5 x2
# stages). Any open_clip checkpoint (RemoteCLIP, GeoRSCLIP...) via
# model.featurizer.pretrained=/path/to/ckpt.pt.
_base_ = ['./simfeatup_vit-b16_million-aid.py']
model = dict(
    featurizer=dict(model_name='ViT-B-32'),
    downsampler=dict(kernel_size=32))
