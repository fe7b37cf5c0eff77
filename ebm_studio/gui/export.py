"""Figures and recordings from the live views: PNG/SVG export, the Record buffer, the dialog.

Every file goes through ``core.atomic.atomic_path``: the exporter writes a temporary file next
to the target, which is renamed onto it only when complete, so an interrupted or failed export
never leaves a truncated file under the target name.
"""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters as pg_exporters
from PySide6.QtCore import QBuffer, QIODevice, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPicture
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..core.atomic import atomic_path, atomic_write_bytes

TARGETS = {
    "landscape": "Landscape view",
    "curves": "Metric curves",
    "combined": "Combined figure (landscape + curves)",
}
FORMATS = ("png", "svg")
MAX_RECORD_FRAMES = 600  # then every other frame is dropped: memory stays bounded
RECORD_WIDTH = 480  # px; frames are downscaled to this width
RECORD_FPS = 15  # frames captured per second of wall time (at most)
SVG_NS = "http://www.w3.org/2000/svg"


class ExportError(Exception):
    """An export that could not be written; the message is one sentence for the user."""


def has_mp4() -> bool:
    """Whether MP4 can be written (the optional ``video`` extra: imageio + imageio-ffmpeg)."""
    try:
        import imageio.v2  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_failure(path: str | os.PathLike, e: BaseException) -> str:
    """One sentence saying why ``path`` could not be written."""
    p = Path(path)
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"Could not write {p.name} in {p.parent}: {reason}."


# ---------------------------------------------------------------------- rendering
def scene_image(widget: pg.GraphicsView, width: int) -> QImage:
    """The widget's scene rendered at ``width`` pixels (height keeps the aspect ratio)."""
    exporter = pg_exporters.ImageExporter(widget.scene())
    exporter.parameters()["width"] = int(width)
    image = exporter.export(toBytes=True)
    if not isinstance(image, QImage) or image.isNull():
        raise ExportError("the view could not be rendered (is it visible?).")
    return image.convertToFormat(QImage.Format.Format_RGB32)


def scene_svg(widget: pg.GraphicsView) -> bytes:
    """The widget's scene as SVG (vector curves; images embedded as PNG)."""
    try:
        data = pg_exporters.SVGExporter(widget.scene()).export(toBytes=True)
    except ValueError:
        # pyqtgraph <= 0.14.0 cannot parse the closed paths ("... Z") that current Qt
        # writes (pyqtgraph issue #3495): let Qt's own SVG generator draw the scene.
        return _qt_svg(widget)
    return data if isinstance(data, bytes) else bytes(data)


def _qt_svg(widget: pg.GraphicsView) -> bytes:
    source = widget.viewRect()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    size = QSize(round(source.width()), round(source.height()))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle("EBM Studio")
    # pyqtgraph caches axes and colour bars as QPictures, which replay scaled by the ratio of
    # their resolution to the device's: give the generator the same one.
    generator.setResolution(QPicture().logicalDpiX())
    painter = QPainter(generator)
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), widget.backgroundBrush())
    widget.scene().render(painter, QRectF(0, 0, size.width(), size.height()), source)
    painter.end()
    text = bytes(buffer.data()).decode("utf-8")
    # Qt states the size in millimetres at its resolution; a figure is sized in pixels.
    for key, value in (("width", size.width()), ("height", size.height())):
        text = re.sub(rf'\b{key}="[^"]*"', f'{key}="{value}px"', text, count=1)
    return text.encode("utf-8")


def stack_images(images: list[QImage], background: str = "#15161a") -> QImage:
    """Images one above the other, each scaled to the widest one's width."""
    width = max(img.width() for img in images)
    scaled = [
        img
        if img.width() == width
        else img.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        for img in images
    ]
    out = QImage(width, sum(img.height() for img in scaled), QImage.Format.Format_RGB32)
    out.fill(QColor(background))
    painter = QPainter(out)
    y = 0
    for img in scaled:
        painter.drawImage(0, y, img)
        y += img.height()
    painter.end()
    return out


def stack_svgs(svgs: list[bytes]) -> bytes:
    """SVG documents one above the other in one document, each scaled to the widest one's
    width (groups, not nested ``<svg>`` elements, which SVG Tiny viewers such as Qt skip)."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    roots = [ET.fromstring(s) for s in svgs]
    sizes = [_size(r) for r in roots]
    width = max(w for w, _ in sizes)
    outer = ET.Element(f"{{{SVG_NS}}}svg", {"version": "1.1"})
    y = 0.0
    for root, (w, h) in zip(roots, sizes):
        scale = width / w
        transform = f"translate(0 {y:g}) scale({scale:g})"
        group = ET.SubElement(outer, f"{{{SVG_NS}}}g", {"transform": transform})
        group.extend(list(root))
        y += h * scale
    outer.set("width", f"{width:g}")
    outer.set("height", f"{y:g}")
    outer.set("viewBox", f"0 0 {width:g} {y:g}")
    return ET.tostring(outer, encoding="utf-8", xml_declaration=True)


def _size(root: ET.Element) -> tuple[float, float]:
    """A document's size in user units: its viewBox, else its width and height."""
    box = (root.get("viewBox") or "").replace(",", " ").split()
    if len(box) == 4:
        return float(box[2]), float(box[3])
    try:
        return tuple(  # type: ignore[return-value]
            float(re.sub(r"[a-z%]+$", "", root.get(k, "").strip())) for k in ("width", "height")
        )
    except ValueError:
        raise ExportError("the SVG exporter wrote a document without a size.") from None


def save_png(image: QImage, path: str | os.PathLike) -> None:
    """Write ``image`` as PNG atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise ExportError("the PNG could not be encoded (disk full?).")


def export_figure(
    target: str,
    path: str | os.PathLike,
    landscape: pg.GraphicsView,
    curves: pg.GraphicsView,
    width: int = 1600,
) -> None:
    """Export ``target`` ("landscape", "curves", "combined") to ``path`` (.png or .svg).
    Raises ``ExportError`` with one sentence; nothing is left under ``path`` on failure."""
    if target not in TARGETS:
        raise ExportError(f"unknown figure '{target}'; choose one of {', '.join(TARGETS)}.")
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ExportError(f"{p.name}: unsupported figure format; use .png or .svg.")
    views = {"landscape": [landscape], "curves": [curves], "combined": [landscape, curves]}
    widgets = views[target]
    try:
        if fmt == "png":
            images = [scene_image(w, width) for w in widgets]
            save_png(images[0] if len(images) == 1 else stack_images(images), p)
        else:
            svgs = [scene_svg(w) for w in widgets]
            atomic_write_bytes(p, svgs[0] if len(svgs) == 1 else stack_svgs(svgs))
    except ExportError as e:
        raise ExportError(f"Could not export {p.name}: {e}") from None
    except OSError as e:
        raise ExportError(write_failure(p, e)) from None


# ---------------------------------------------------------------------- recording
def qimage_to_rgb(image: QImage) -> np.ndarray:
    """A QImage as an (h, w, 3) uint8 array (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


class Recorder:
    """Frames of a view while recording, downscaled and bounded: at most ``max_frames``
    frames of ``width`` pixels; when full, every other frame is dropped and the capture
    interval doubles, so a long recording keeps its whole span at a lower frame rate."""

    def __init__(
        self, max_frames: int = MAX_RECORD_FRAMES, width: int = RECORD_WIDTH, fps: int = RECORD_FPS
    ) -> None:
        self.max_frames = max_frames
        self.width = width
        self.fps = fps
        self.frames: list[np.ndarray] = []
        self.recording = False
        self._stride = 1
        self._offered = 0
        self._last = -1e9
        self._first: float | None = None
        self._kept = -1e9
        # Scene rectangle to capture instead of the whole view (a recording captures only
        # the plot's data area and adds matplotlib axes when saved: gui/recording_frame.py).
        self.region: Callable[[], QRectF] | None = None

    def start(self) -> None:
        self.frames = []
        self.recording = True
        self._stride = 1
        self._offered = 0
        self._last = -1e9
        self._first = None
        self._kept = -1e9

    def stop(self) -> list[np.ndarray]:
        self.recording = False
        return self.frames

    @property
    def frame_rate(self) -> int:
        """Playback rate that keeps the recording's real-time speed (frames arrive only as
        fast as the window draws them, often slower than ``fps``)."""
        if len(self.frames) < 2 or self._first is None or self._kept <= self._first:
            return self.fps
        rate = (len(self.frames) - 1) / (self._kept - self._first)
        return int(min(max(round(rate), 1), self.fps))

    def capture(self, view: pg.GraphicsView, now: float | None = None) -> bool:
        """Render ``view``'s visible scene into a new frame (at most ``fps`` per second)."""
        if not self.recording:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last < 1.0 / self.fps:
            return False
        self._last = now
        self._offered += 1
        if (self._offered - 1) % self._stride:
            return False
        source = self.region() if self.region is not None else view.viewRect()
        if source.width() <= 0 or source.height() <= 0:
            return False
        height = max(2, round(self.width * source.height() / source.width())) // 2 * 2
        image = QImage(self.width, height, QImage.Format.Format_RGB888)
        image.fill(QColor("#15161a"))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.scene().render(painter, QRectF(0, 0, self.width, height), source)
        painter.end()
        self.frames.append(qimage_to_rgb(image))
        self._first = now if self._first is None else self._first
        self._kept = now
        if len(self.frames) >= self.max_frames:
            self.frames = self.frames[::2]
            self._stride *= 2
        return True


# ---------------------------------------------------------------------- dialog
def save_form(dialog: QDialog, rows, path: QLineEdit, on_browse, on_accepted) -> QFormLayout:
    """``dialog``'s form: ``rows`` ((label, widget) pairs), then the file field with its
    Browse... button, then Save and Cancel."""
    browse = QPushButton("Browse...")
    browse.clicked.connect(on_browse)
    path_row = QHBoxLayout()
    path_row.addWidget(path, 1)
    path_row.addWidget(browse)
    form = QFormLayout(dialog)
    for label, widget in rows:
        form.addRow(label, widget)
    form.addRow("File", path_row)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(on_accepted)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return form


class ExportDialog(QDialog):
    """File > Export: which figure, PNG or SVG, the PNG width, and where."""

    def __init__(self, parent: QWidget | None = None, directory: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        self.directory = directory
        self.target = QComboBox()
        for key, label in TARGETS.items():
            self.target.addItem(label, key)
        self.target.setCurrentIndex(list(TARGETS).index("combined"))
        self.format = QComboBox()
        self.format.addItem("PNG image", "png")
        self.format.addItem("SVG vector graphics", "svg")
        self.width = QSpinBox()
        self.width.setRange(200, 8000)
        self.width.setSingleStep(100)
        self.width.setValue(1600)
        self.width.setSuffix(" px")
        self.width.setToolTip("width of the PNG in pixels; the height keeps the view's shape")
        self.path = QLineEdit()
        self.path.setPlaceholderText("figure.png")
        rows = [("Figure", self.target), ("Format", self.format), ("Width", self.width)]
        save_form(self, rows, self.path, self._on_browse_clicked, self._on_accepted)
        self.format.currentIndexChanged.connect(self._on_format_changed)
        self.target.currentIndexChanged.connect(self._on_format_changed)
        self._on_format_changed()

    def choice(self) -> tuple[str, str, int]:
        """(target, path, width) as chosen; the path carries the format's suffix."""
        return self.target.currentData(), self._with_suffix(self.path.text()), self.width.value()

    def _with_suffix(self, text: str) -> str:
        fmt = self.format.currentData()
        p = Path(text.strip())
        return str(p if p.suffix.lower() == f".{fmt}" else p.with_suffix(f".{fmt}"))

    def _on_format_changed(self) -> None:
        fmt = self.format.currentData()
        self.width.setEnabled(fmt == "png")
        name = {"landscape": "landscape", "curves": "curves"}.get(
            self.target.currentData(), "figure"
        )
        if not self.path.text().strip():
            self.path.setPlaceholderText(f"{name}.{fmt}")
        else:
            self.path.setText(self._with_suffix(self.path.text()))

    def _on_browse_clicked(self) -> None:
        fmt = self.format.currentData()
        start = self.path.text().strip() or str(Path(self.directory) / self.path.placeholderText())
        path, _ = QFileDialog.getSaveFileName(
            self, "Export figure", start, f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.path.setText(self._with_suffix(path))

    def _on_accepted(self) -> None:
        if not self.path.text().strip():
            self.path.setText(str(Path(self.directory) / self.path.placeholderText()))
        self.accept()


__all__ = [
    "ExportDialog",
    "ExportError",
    "Recorder",
    "export_figure",
    "has_mp4",
    "qimage_to_rgb",
    "save_form",
    "scene_image",
    "scene_svg",
    "write_failure",
]
