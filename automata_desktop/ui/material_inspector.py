"""The Material dock: the scene's materials, every map of the selected one with its source
(embedded / generated / derived / imported), and the controls that change it.

It edits nothing itself: it emits what the user asked for (replace a map, re-derive, new factors)
and the workbench applies it to the window. Thumbnails are made on the thread pool.

It lives in a narrow dock (about 250 px at 1024 px wide): nothing in it may need more width than
that, so titles elide, buttons are compact, and form rows put the label above a field that does
not fit beside it. The wheel scrolls the panel; a slider takes it only once focused.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.core import pbr
from automata_desktop.core.maps import PBR_MAPS, MapKind
from automata_desktop.core.texture_set import IMAGE_SUFFIXES, TextureSet
from automata_desktop.ui.compact import ElidedLabel, compact_form, guard_wheel
from automata_desktop.ui.images import DECODE_SCALE, thumbnail_of_pixels, thumbnail_pixmap
from automata_desktop.ui.workers import BackgroundRunner

CARD_THUMB = 64
SOURCE_COLORS = {"generated": "#5cc98a", "derived": "#e8c36a", "imported": "#7fb2ff",
                 "embedded": "#c79bff"}


def map_label(kind: MapKind) -> str:
    return {"ao": "Ambient occlusion", "orm": "ORM (packed)"}.get(
        kind.value, kind.value.replace("_", " ").capitalize())


def image_from_drop(event: QDragEnterEvent | QDropEvent) -> Path | None:
    for url in event.mimeData().urls():
        path = Path(url.toLocalFile())
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return path
    return None


class MapCard(QFrame):
    """One map slot: thumbnail, size and source; replace by button or by dropping an image."""

    replace_requested = Signal(object, object)  # MapKind, Path
    view_requested = Signal(object)  # MapKind

    def __init__(self, kind: MapKind) -> None:
        super().__init__()
        self.kind = kind
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("mapcard")
        self.thumb = QLabel("—")
        self.thumb.setFixedSize(CARD_THUMB, CARD_THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: #15171c; color: #6b707c; border-radius: 3px;")
        self.title = ElidedLabel(map_label(kind))
        self.title.setStyleSheet("font-weight: 600;")
        self.detail = ElidedLabel("missing")
        self.detail.setStyleSheet("color: #8a8f9c; font-size: 11px;")
        self.replace = _tool_button("Replace…")
        self.replace.setToolTip("Pick an image for this map, or drop one on the card")
        self.replace.clicked.connect(self._ask)
        self.view = _tool_button("View")
        self.view.setToolTip("Open this map in the 2D map view")
        self.view.clicked.connect(lambda: self.view_requested.emit(self.kind))
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.thumb, 0, 0, 3, 1)
        grid.addWidget(self.title, 0, 1, 1, 2)
        grid.addWidget(self.detail, 1, 1, 1, 2)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.replace)
        buttons.addWidget(self.view)
        buttons.addStretch(1)
        grid.addLayout(buttons, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self.show_missing()

    def show_missing(self) -> None:
        self.source = None
        self.thumb.setPixmap(QPixmap())
        self.thumb.setText("—")
        self.detail.setText("missing")
        self.detail.setStyleSheet("color: #6b707c; font-size: 11px;")
        self.view.setEnabled(False)

    def show_map(self, size: tuple[int, int] | None, source: str) -> None:
        self.source = source
        # Until its own thumbnail arrives from the thread pool, never the previous map's.
        self.thumb.setPixmap(QPixmap())
        self.thumb.setText("…")
        dims = f"{size[0]}×{size[1]} · " if size else ""
        self.detail.setText(dims + source)
        self.detail.setStyleSheet(f"color: {SOURCE_COLORS.get(source, '#a9aebb')}; font-size: 11px;")
        self.view.setEnabled(True)

    def set_thumbnail(self, image: QImage) -> None:
        self.thumb.setPixmap(thumbnail_pixmap(image, CARD_THUMB, self.thumb.devicePixelRatioF()))

    def _ask(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, f"Replace the {map_label(self.kind)} map", "",
                                              f"Images ({patterns})")
        if path:
            self.replace_requested.emit(self.kind, Path(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_from_drop(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = image_from_drop(event)
        if path is not None:
            event.acceptProposedAction()
            self.replace_requested.emit(self.kind, path)


def _tool_button(text: str) -> QToolButton:
    """A compact button: a QPushButton's margins put two of them past a narrow dock's edge."""
    button = QToolButton()
    button.setText(text)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


def _spin(value: float, low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class FactorSlider(QWidget):
    """A 0..max slider in hundredths with its value beside it."""

    changed = Signal(float)

    def __init__(self, value: float, maximum: float) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round(maximum * 100))
        self.slider.setValue(round(value * 100))
        self.readout = QLabel(f"{value:.2f}")
        # As wide as the widest value in this font (a fixed 34 px cut "1.00" at larger fonts).
        self.readout.setMinimumWidth(self.readout.fontMetrics().horizontalAdvance(
            f"{maximum:.2f}") + 4)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.slider.setMinimumWidth(60)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.slider.valueChanged.connect(self._moved)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 0, 0)
        layout.addWidget(self.readout, 0, 1)
        layout.setColumnStretch(0, 1)

    @property
    def value(self) -> float:
        return self.slider.value() / 100

    def set_value(self, value: float) -> None:
        self.slider.setValue(round(value * 100))

    def _moved(self, raw: int) -> None:
        self.readout.setText(f"{raw / 100:.2f}")
        self.changed.emit(raw / 100)


class MaterialInspector(QWidget):
    replace_requested = Signal(object, object)  # MapKind, Path
    rederive_requested = Signal(object)  # PBRSettings
    factors_changed = Signal(float, float, float)  # roughness, metallic, normal strength
    view_requested = Signal(object)  # MapKind
    material_picked = Signal(object)  # the MaterialKey the user chose in the list
    share_uv_set_changed = Signal(bool)  # new maps onto every material sharing the UV set

    def __init__(self) -> None:
        super().__init__()
        self._runner = BackgroundRunner(self)
        self._token = 0
        self.texture_set: TextureSet | None = None
        self.cards: dict[MapKind, MapCard] = {}
        materials_box = QGroupBox("Materials")
        materials_layout = QVBoxLayout(materials_box)
        self.materials = QListWidget()
        self.materials.setFixedHeight(60)
        self.materials.setToolTip("The scene's materials; click one here or in the viewport")
        self.materials.currentItemChanged.connect(self._row_chosen)
        self.share_uv_set = QCheckBox("Same maps on its UV set")
        self.share_uv_set.setToolTip("On: new maps go onto every material that reads the same UV "
                                     "set as the selected one. Off: onto the selected material "
                                     "only; the others keep their own")
        self.share_uv_set.toggled.connect(self.share_uv_set_changed)
        materials_layout.addWidget(self.materials)
        materials_layout.addWidget(self.share_uv_set)
        maps_box = QWidget()
        maps_layout = QVBoxLayout(maps_box)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.setSpacing(4)
        for kind in PBR_MAPS:
            card = MapCard(kind)
            card.replace_requested.connect(self.replace_requested)
            card.view_requested.connect(self.view_requested)
            self.cards[kind] = card
            maps_layout.addWidget(card)

        derive_box = QGroupBox("Derived maps")
        derive_box.setToolTip("Maps the set lacks are derived from the base colour with these "
                              "values")
        derive_form = compact_form(derive_box)
        self.normal_strength = _spin(2.0, 0.0, 10.0, 0.25, "Bump of the derived normal map")
        self.height_blur = _spin(1.0, 0.0, 8.0, 0.25, "Smoothing of the derived height map")
        self.roughness_base = _spin(0.6, 0.0, 1.0, 0.05, "Average derived roughness")
        self.ao_strength = _spin(1.0, 0.0, 3.0, 0.1, "Darkness of the derived occlusion")
        derive_form.addRow("Normal strength", self.normal_strength)
        derive_form.addRow("Height blur", self.height_blur)
        derive_form.addRow("Roughness", self.roughness_base)
        derive_form.addRow("AO strength", self.ao_strength)
        self.derive = QPushButton("Derive / update")
        self.derive.setToolTip("Recompute every derived map (and fill missing ones) with these values")
        self.derive.clicked.connect(lambda: self.rederive_requested.emit(self.derive_settings()))
        derive_form.addRow(self.derive)

        factors_box = QGroupBox("Material")
        factors_form = compact_form(factors_box)
        self.roughness = FactorSlider(1.0, 2.0)
        self.metallic = FactorSlider(1.0, 2.0)
        self.normal_scale = FactorSlider(1.0, 3.0)
        factors_form.addRow("Roughness ×", self.roughness)
        factors_form.addRow("Metallic ×", self.metallic)
        factors_form.addRow("Normal strength", self.normal_scale)
        for slider in (self.roughness, self.metallic, self.normal_scale):
            slider.changed.connect(self._factors_moved)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(materials_box)
        layout.addWidget(maps_box)
        layout.addWidget(factors_box)
        layout.addWidget(derive_box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.scroll = scroll
        self._wheel_guard = guard_wheel(self)

    def derive_settings(self) -> pbr.PBRSettings:
        return pbr.PBRSettings(normal_strength=self.normal_strength.value(),
                               height_blur=self.height_blur.value(),
                               roughness=self.roughness_base.value(),
                               ao_strength=self.ao_strength.value())

    def show_set(self, textures: TextureSet) -> None:
        """Show a decoded or released set; thumbnails follow from the thread pool."""
        self.texture_set = textures
        self._token += 1
        token = self._token
        for kind, card in self.cards.items():
            texture = textures.get(kind)
            if texture is None:
                card.show_missing()
                continue
            card.show_map(texture.size, texture.source.value)
            # A shown set keeps small thumbnails only (its 4K pixels went to the viewport).
            pixels = texture.thumbnail if texture.thumbnail is not None else texture.pixels
            if pixels is not None:
                self._runner.submit(
                    lambda p=pixels: thumbnail_of_pixels(p, CARD_THUMB * DECODE_SCALE),
                    lambda image, c=card: token == self._token and c.set_thumbnail(image),
                    lambda exc: None)

    def set_materials(self, entries: list[tuple[object, str]]) -> None:
        """List a new scene's materials ((key, name) pairs, in the file's order)."""
        self.materials.blockSignals(True)
        self.materials.clear()
        for key, name in entries:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.materials.addItem(item)
        self.materials.blockSignals(False)
        # As tall as its rows (up to five): one material must not take 120 px of a short dock.
        count = self.materials.count()
        row = self.materials.sizeHintForRow(0) if count else self.fontMetrics().height() + 4
        self.materials.setFixedHeight(row * max(1, min(5, count))
                                      + 2 * self.materials.frameWidth() + 4)

    def select_material(self, key: object) -> None:
        """Show `key` as the selected material (the window chose it: no signal back)."""
        self.materials.blockSignals(True)
        for row in range(self.materials.count()):
            if self.materials.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.materials.setCurrentRow(row)
        self.materials.blockSignals(False)

    @property
    def busy(self) -> bool:
        """Thumbnails are still being made."""
        return self._runner.busy

    def material_names(self) -> list[str]:
        return [self.materials.item(i).text() for i in range(self.materials.count())]

    def _row_chosen(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.material_picked.emit(item.data(Qt.ItemDataRole.UserRole))

    def _factors_moved(self) -> None:
        self.factors_changed.emit(self.roughness.value, self.metallic.value, self.normal_scale.value)
