"""Framework-neutral samplers and hooks (mmengine registries), usable by
mmseg and mmdet3d configs alike. Imports neither mmseg nor mmdet3d."""
