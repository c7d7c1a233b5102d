"""The Display dock: lighting (HDRI, rotation, exposure, background), UV tiling, displacement.

It edits nothing itself: it emits the values the user set and the window applies them. Sliders
do not track: VTK convolves a new exposure on the CPU (about a second under llvmpipe), so values
are sent when the user lets go, not on every pixel of the drag; the readout beside each slider
follows the drag. In a scroll area, with the wheel left to it unless a control has focus.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.ui.compact import compact_form, guard_wheel
from automata_desktop.viewport.environment import HDRI_SUFFIXES, Lighting, bundled_hdris

#: Displacement strength at the slider's end, as a fraction of the scene's size.
MAX_DISPLACEMENT = 0.1


def _slider(low: int, high: int, value: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setTracking(False)
    slider.setToolTip(tip)
    slider.setMinimumWidth(60)
    return slider


class SliderRow(QWidget):
    """A slider and its value, which follows the drag (the slider itself does not track)."""

    def __init__(self, slider: QSlider, text: Callable[[int], str], widest: int) -> None:
        super().__init__()
        self.slider = slider
        self.readout = QLabel(text(slider.value()))
        self.readout.setMinimumWidth(
            self.readout.fontMetrics().horizontalAdvance(text(widest)) + 4)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for signal in (slider.sliderMoved, slider.valueChanged):
            signal.connect(lambda raw: self.readout.setText(text(raw)))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        row.addWidget(self.readout)


class DisplayPanel(QWidget):
    lighting_changed = Signal(object)  # Lighting
    tiling_changed = Signal(float, float)  # u, v repeats
    displacement_changed = Signal(float)  # 0 = off; else a fraction of the scene's size

    def __init__(self, lighting: Lighting) -> None:
        super().__init__()
        self.hdri = QComboBox()
        for name in bundled_hdris():
            self.hdri.addItem(name.capitalize(), name)
        self.browse = QPushButton("Your HDRI…")
        self.browse.setToolTip("An equirectangular .hdr or .exr of your own")
        self.browse.clicked.connect(self._ask_hdri)
        self.rotation = _slider(0, 360, round(lighting.rotation) % 360,
                                "Turn the lighting about the model's up axis (degrees)")
        self.exposure = _slider(-40, 40, round(lighting.exposure * 10),
                                "Brightness of the lighting, in tenths of a stop")
        self.background = QCheckBox("Show the HDRI as background")
        self.background.setChecked(lighting.background)
        self.set_hdri(lighting.hdri)
        for signal in (self.rotation.valueChanged, self.exposure.valueChanged,
                       self.background.toggled):
            signal.connect(self._emit_lighting)
        self.hdri.currentIndexChanged.connect(self._emit_lighting)

        self.tile_u = QDoubleSpinBox()
        self.tile_v = QDoubleSpinBox()
        for spin in (self.tile_u, self.tile_v):
            spin.setRange(0.05, 64.0)
            spin.setSingleStep(0.5)
            spin.setValue(1.0)
            spin.setToolTip("How many times the maps repeat across the UV square")
            spin.valueChanged.connect(
                lambda _=0.0: self.tiling_changed.emit(self.tile_u.value(), self.tile_v.value()))
        self.displacement = _slider(0, 100, 0, "Height map as real displacement of a "
                                               "subdivided copy (0 = off)")
        self.displacement.valueChanged.connect(
            lambda raw: self.displacement_changed.emit(raw / 100 * MAX_DISPLACEMENT))

        self.hdri.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.hdri.setMinimumContentsLength(8)
        light_box = QGroupBox("Lighting")
        light_form = compact_form(light_box)
        light_form.addRow("HDRI", self.hdri)
        light_form.addRow("", self.browse)
        self.rotation_row = SliderRow(self.rotation, lambda raw: f"{raw}°", 360)
        self.exposure_row = SliderRow(self.exposure, lambda raw: f"{raw / 10:+.1f} EV", -40)
        light_form.addRow("Rotation", self.rotation_row)
        light_form.addRow("Exposure", self.exposure_row)
        light_form.addRow(self.background)
        surface_box = QGroupBox("Surface")
        surface_form = compact_form(surface_box)
        surface_form.addRow("Tiling U", self.tile_u)
        surface_form.addRow("Tiling V", self.tile_v)
        self.displacement_row = SliderRow(self.displacement, lambda raw: f"{raw} %", 100)
        surface_form.addRow("Displacement", self.displacement_row)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(light_box)
        layout.addWidget(surface_box)
        layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self._wheel_guard = guard_wheel(self)

    def reset_surface(self) -> None:
        """Tiling 1 x 1 and no displacement, without signals (a new file shows as it is)."""
        for widget, value in ((self.tile_u, 1.0), (self.tile_v, 1.0), (self.displacement, 0)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def lighting(self) -> Lighting:
        return Lighting(hdri=self.hdri.currentData(), rotation=float(self.rotation.value()),
                        exposure=self.exposure.value() / 10, background=self.background.isChecked())

    def set_hdri(self, hdri: str) -> None:
        index = self.hdri.findData(hdri)
        if index < 0:
            self.hdri.addItem(Path(hdri).name, hdri)
            index = self.hdri.count() - 1
        self.hdri.setCurrentIndex(index)

    def _emit_lighting(self) -> None:
        self.lighting_changed.emit(self.lighting())

    def _ask_hdri(self) -> None:
        patterns = " ".join(f"*{s}" for s in HDRI_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Light with an HDRI", "",
                                              f"HDR images ({patterns})")
        if path:
            self.set_hdri(path)
