"""Figures for papers, slides and the studio, drawn with matplotlib (Agg; never Qt).

- ``style``: the ``paper`` and ``dark`` styles, column widths, formats, input checks.
- ``data``: ``RunData``, the plain data a figure draws (from a trainer, a snapshot or by hand).
- ``panels``: landscape, points, true contours, buffer and curves drawn into a given ``Axes``
  (``draw_landscape`` is what a sweep's small multiples call per cell).
- ``compose``: a run's figure, compare arms side by side, atomic saving.
- ``run_files``: ``landscape.png`` and ``samples.png`` of a headless run.
- ``animation``: GIF/MP4 frames on a pre-rendered axes frame.
"""

from .animation import ANIMATION_FORMATS, AxesFrame, check_animation_path, write_animation
from .compose import (
    DEFAULT_PANELS,
    compare_figure,
    figure_rgb,
    new_figure,
    run_figure,
    save_figure,
)
from .data import (
    RunData,
    compare_title,
    curve_points,
    final_metrics,
    grid_quantity,
    log_density,
    run_data_from_trainer,
    title_text,
)
from .panels import (
    config_change_lines,
    draw_buffer,
    draw_curves,
    draw_landscape,
    draw_points,
    draw_true_contours,
    landscape_norm,
)
from .raster import density_image, points_histogram
from .run_files import write_run_figures
from .style import (
    DOUBLE_COLUMN_IN,
    FORMATS,
    PANELS,
    QUANTITY_LABELS,
    SINGLE_COLUMN_IN,
    STYLES,
    FigureError,
    colormap_lut,
)

__all__ = [
    "ANIMATION_FORMATS",
    "AxesFrame",
    "DEFAULT_PANELS",
    "DOUBLE_COLUMN_IN",
    "FORMATS",
    "FigureError",
    "PANELS",
    "QUANTITY_LABELS",
    "RunData",
    "SINGLE_COLUMN_IN",
    "STYLES",
    "check_animation_path",
    "colormap_lut",
    "compare_figure",
    "config_change_lines",
    "curve_points",
    "density_image",
    "draw_buffer",
    "draw_curves",
    "draw_landscape",
    "draw_points",
    "draw_true_contours",
    "figure_rgb",
    "final_metrics",
    "grid_quantity",
    "landscape_norm",
    "log_density",
    "new_figure",
    "points_histogram",
    "run_data_from_trainer",
    "run_figure",
    "save_figure",
    "compare_title",
    "title_text",
    "write_animation",
    "write_run_figures",
]
