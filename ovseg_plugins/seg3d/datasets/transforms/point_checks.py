"""Checks of points loaded by a pipeline (mmdet3d's ``LoadPointsFromFile``
or ours) before GeoPurify computes on them."""
from ...io.arrays import unit_colours
from ...io.cloud import check_float32_coordinates


def check_point_columns(points, where: str) -> None:
    """Refuse loaded points whose float32 coordinates are too far from 0 to
    be exact (georeferenced coordinates written without a local origin) or
    whose colours are in 0..1 where 0..255 is read (GeoPurify / mmdet3d
    ``.bin`` convention).

    Args:
        points (BasePoints): ``results['points']``.
        where (str): The point file named in the errors.

    Raises:
        ValueError: Naming ``where`` and the fix.
    """
    t = points.tensor.numpy()
    if not len(t):
        return
    check_float32_coordinates(t[:, :3], where)
    dims = points.attribute_dims or {}
    color = dims.get('color')
    if color is not None and len(color) == 3:
        c = t[:, list(color)]
        if unit_colours(c):
            raise ValueError(
                f'{where}: colours span [{float(c.min()):.3g}, '
                f'{float(c.max()):.3g}]: stored in 0..1, but the point '
                'files are read as 0..255 (mmdet3d .bin convention), so '
                'every point would look near-black. Rewrite the file with '
                'colours x 255 (e.g. pts[:, 3:6] *= 255; pts.tofile(path)), '
                'or for OpenScene .pth files use LoadOpenScenePoints('
                "color_range='[0,1]').")
