"""The 2D map view: one map of the shown set, zoomable, with the value under the cursor."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QResizeEvent, QShowEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import TextureSet
from automata_desktop.ui.images import qimage_view
from automata_desktop.ui.material_inspector import map_label
from automata_desktop.ui.workers import BackgroundRunner

ZOOM_STEP = 1.25
MAX_ZOOM = 64.0


def describe_pixel(pixels: np.ndarray, x: int, y: int) -> str:
    """`x, y: values` in the map's own range (8-bit 0-255, 16-bit 0-65535, float 0..1)."""
    value = pixels[y, x]
    if np.ndim(value) == 0:
        text = _fmt(value)
    else:
        text = " ".join(f"{name}{_fmt(v)}" for name, v in zip("RGBA", value, strict=False))
    return f"x {x}, y {y}: {text}"


def _fmt(value: object) -> str:
    return f"{float(value):.3f}" if isinstance(value, float | np.floating) else str(int(value))


class _ImageItem(QGraphicsItem):
    """Paints a QImage that views numpy pixels, at one scene unit per pixel."""

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._pixels: np.ndarray | None = None  # what the image reads: kept alive with it

    def set_image(self, image: QImage, pixels: np.ndarray | None) -> None:
        self.prepareGeometryChange()
        self._image, self._pixels = image, pixels
        self.update()

    def image(self) -> QImage:
        return self._image

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._image.width(), self._image.height())

    def paint(self, painter: QPainter, _option: object, _widget: object = None) -> None:
        if not self._image.isNull():
            painter.drawImage(QPointF(0, 0), self._image)


class _Canvas(QGraphicsView):
    hovered = Signal(float, float)  # scene (= pixel) coordinates

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.item = _ImageItem()
        self.scene().addItem(self.item)
        self.setMouseTracking(True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self.zoom = 1.0
        self.auto_fit = True  # until the user zooms, the map follows the view's size

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.auto_fit and not self.item.image().isNull():
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP
        self.zoom_by(factor)

    def zoom_by(self, factor: float) -> None:
        self.auto_fit = False
        new = min(MAX_ZOOM, max(0.02, self.zoom * factor))
        self.scale(new / self.zoom, new / self.zoom)
        self.zoom = new

    def fit(self) -> None:
        self.auto_fit = True
        self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom = self.transform().m11()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        point: QPointF = self.mapToScene(event.position().toPoint())
        self.hovered.emit(point.x(), point.y())


class MapView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self._runner = BackgroundRunner(self)
        self._token = 0
        self.texture_set: TextureSet | None = None
        self.kind: MapKind | None = None
        self.pixels: np.ndarray | None = None
        self._stale = False
        self._on_screen = True  # False while its owner hides it (a tab behind another)
        self.picker = QComboBox()
        self.picker.setMinimumWidth(160)
        self.picker.currentIndexChanged.connect(lambda _: self._picked())
        self.canvas = _Canvas()
        self.canvas.hovered.connect(self._hover)
        self.readout = QLabel("Move the pointer over the map to read its values")
        self.readout.setStyleSheet("color: #a9aebb; font-family: monospace;")
        fit = QPushButton("Fit")
        fit.clicked.connect(self.canvas.fit)
        one = QPushButton("1:1")
        one.clicked.connect(lambda: self.canvas.zoom_by(1 / self.canvas.zoom))
        top = QHBoxLayout()
        top.addWidget(self.picker)
        top.addWidget(fit)
        top.addWidget(one)
        top.addWidget(self.readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)

    def set_texture_set(self, textures: TextureSet) -> None:
        self.texture_set = textures
        wanted = self.kind
        self.picker.blockSignals(True)
        self.picker.clear()
        for kind in textures.kinds:
            self.picker.addItem(map_label(kind), kind)
        self.picker.blockSignals(False)
        index = self.picker.findData(wanted) if wanted is not None else -1
        self.picker.setCurrentIndex(max(0, index))
        self._picked()

    def show_kind(self, kind: MapKind) -> None:
        index = self.picker.findData(kind)
        if index >= 0:
            self.picker.setCurrentIndex(index)
            self._picked()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._picked()

    def set_on_screen(self, on_screen: bool) -> None:
        """The owner's word on whether the view can be seen: off screen it keeps no pixels
        (they are decoded again when it is back)."""
        self._on_screen = on_screen
        if not on_screen:
            self._token += 1  # a decode in flight is not shown
            self.pixels = None
            self.canvas.item.set_image(QImage(), None)
            self._stale = True
        elif self._stale:
            self._picked()

    def _picked(self) -> None:
        kind = self.picker.currentData()
        if self.texture_set is None or kind is None:
            return
        # A 4K map is decoded only when the view is on screen.
        self._stale = not (self.isVisible() and self._on_screen)
        if self._stale:
            return
        fresh = self.kind != kind or self.pixels is None
        if self.kind != kind:
            self.pixels = None  # no readout of the previous map while the new one loads
        self.kind = kind
        self._token += 1
        token = self._token
        textures = self.texture_set

        def decode() -> tuple[np.ndarray, tuple[QImage, np.ndarray]] | None:
            # A released map is re-read from its file: that and the conversion stay off Qt's thread.
            pixels = textures.pixels(kind)
            return None if pixels is None else (pixels, qimage_view(pixels))

        self._runner.submit(decode,
                            lambda result: token == self._token and self._loaded(result, fresh),
                            lambda exc: self.readout.setText(f"Cannot show this map: {exc}"))

    def _loaded(self, result: tuple[np.ndarray, tuple[QImage, np.ndarray]] | None,
                fit: bool) -> None:
        if result is None:
            return
        self.pixels, (image, shown) = result  # one array when the map is 8-bit
        self.canvas.item.set_image(image, shown)
        self.canvas.scene().setSceneRect(self.canvas.item.boundingRect())
        if fit:
            self.canvas.fit()
        self.canvas.scene().setSceneRect(self.canvas.item.boundingRect())
        if fit:
            self.canvas.fit()

    def _hover(self, x: float, y: float) -> None:
        if self.pixels is None:
            return
        height, width = self.pixels.shape[:2]
        if 0 <= x < width and 0 <= y < height:
            self.readout.setText(describe_pixel(self.pixels, int(x), int(y)))
