"""What an import found, for the user to correct: parameters to keep, rename or add, and what the
server lacks with the fix. The workflow is already saved with the parameters as found; this
dialog only rewrites its manifest when the user saves."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.workflow_import import ImportResult, node_inputs, parameter_for

#: Names the generation panel fills from its own boxes.
PANEL_NAMES = {"prompt": "the Prompt box", "negative_prompt": "the Avoid box",
               "seed": "the Seed box", "image": "the reference image", "mesh": "the mesh in view"}
_VALID = re.compile(r"^[a-z_][a-z0-9_]*$")
KEEP, NAME, ROLE, TYPE, BIND, DEFAULT = range(6)


class WorkflowImportDialog(QDialog):
    saved = Signal(object, object)  # ImportResult, {name: manifest entry}
    add_webhook_requested = Signal(object)  # ImportResult: import it again with a Webhook node

    def __init__(self, result: ImportResult, graph: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.setWindowTitle(f"Imported workflow: {result.name}")
        self.resize(760, 520)
        self._specs: list[dict[str, Any]] = []

        header = QLabel(self._header_text())
        header.setWordWrap(True)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Keep", "Name", "Role", "Type", "Node input",
                                              "Default"])
        self.table.verticalHeader().hide()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        head = self.table.horizontalHeader()
        for column in (KEEP, ROLE, TYPE, BIND):
            head.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(NAME, QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(True)
        for name, spec in result.parameters.items():
            self._add_row(name, spec)

        self.candidates = QComboBox()
        taken = {b for spec in result.parameters.values() for b in spec["bind"]}
        for path, value in node_inputs(graph):
            if path not in taken:
                self.candidates.addItem(f"{path} = {_short(value)}", (path, value))
        self.add = QPushButton("Add as parameter")
        self.add.setEnabled(self.candidates.count() > 0)
        self.add.clicked.connect(self._add_candidate)
        adder = QHBoxLayout()
        adder.addWidget(QLabel("Any node input:"))
        adder.addWidget(self.candidates, 1)
        adder.addWidget(self.add)

        self.lacks = QLabel(self._lacks_text())
        self.lacks.setWordWrap(True)
        self.lacks.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel()
        self.error.setStyleSheet("color: #ff9f6b;")
        self.error.hide()
        buttons = QDialogButtonBox()
        self.add_webhook = None
        if result.webhook_node is None and result.source_path is not None:
            self.add_webhook = buttons.addButton("Add an AUTOMATA Webhook node",
                                                 QDialogButtonBox.ButtonRole.ActionRole)
            self.add_webhook.setToolTip("Results then reach the app the moment ComfyUI saves "
                                        "them, also from a remote server")
            self.add_webhook.clicked.connect(self._ask_webhook)
        self.save = buttons.addButton("Save parameters", QDialogButtonBox.ButtonRole.AcceptRole)
        close = buttons.addButton("Keep as found", QDialogButtonBox.ButtonRole.RejectRole)
        self.save.clicked.connect(self._save)
        close.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.table, 1)
        layout.addLayout(adder)
        layout.addWidget(self.lacks)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    # ------------------------------------------------------------------ rows

    def _add_row(self, name: str, spec: dict[str, Any]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._specs.append(dict(spec))
        keep = QTableWidgetItem()
        keep.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
        keep.setCheckState(Qt.CheckState.Checked)
        self.table.setItem(row, KEEP, keep)
        name_item = QTableWidgetItem(name)
        if name in PANEL_NAMES:
            name_item.setToolTip(f"filled from {PANEL_NAMES[name]} of the generation panel")
        self.table.setItem(row, NAME, name_item)
        for column, text in ((ROLE, spec.get("role", "")), (TYPE, spec["type"]),
                             (BIND, ", ".join(spec["bind"])),
                             (DEFAULT, _short(spec.get("default")))):
            item = QTableWidgetItem(str(text))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(row, column, item)

    def _add_candidate(self) -> None:
        path, value = self.candidates.currentData()
        name = path.split(".", 1)[1].lower()
        existing = {self.table.item(r, NAME).text() for r in range(self.table.rowCount())}
        base, n = name, 2
        while name in existing:
            name, n = f"{base}_{n}", n + 1
        self._add_row(name, parameter_for(path, value))
        self.candidates.removeItem(self.candidates.currentIndex())
        self.add.setEnabled(self.candidates.count() > 0)

    def parameters(self) -> dict[str, dict[str, Any]]:
        """The kept rows under their (edited) names; raises ValueError naming a bad name."""
        out: dict[str, dict[str, Any]] = {}
        for row, spec in enumerate(self._specs):
            if self.table.item(row, KEEP).checkState() != Qt.CheckState.Checked:
                continue
            name = self.table.item(row, NAME).text().strip()
            if not _VALID.match(name):
                raise ValueError(f"“{name}” is not a usable name: lower-case letters, digits and _")
            if name in out:
                raise ValueError(f"two parameters are called “{name}”")
            out[name] = spec
        return out

    def _save(self) -> None:
        try:
            parameters = self.parameters()
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.saved.emit(self.result, parameters)
        self.accept()

    def _ask_webhook(self) -> None:
        self.add_webhook_requested.emit(self.result)
        self.accept()

    # ------------------------------------------------------------------ texts

    def _header_text(self) -> str:
        source = {"ui": "a UI-format workflow, converted", "api": "an API-format workflow",
                  "image": "an image ComfyUI saved"}.get(self.result.source, self.result.source)
        where = f" with {self.result.server}'s node definitions" if self.result.server else ""
        outputs = ", ".join(f"{o['class_type']} ({o['kind']})" for o in self.result.outputs)
        return (f"<b>{self.result.name}</b> from {source}{where}. It is in the workflow picker "
                f"now.<br>Outputs: {outputs or 'none found'}. Untick what should stay fixed, "
                "rename, or add any node input.")

    def _lacks_text(self) -> str:
        lines = []
        for node in self.result.missing_nodes:
            lines.append(f"⚠ missing node {node.describe()}")
        for model in self.result.missing_models:
            lines.append(f"⚠ missing model {model.describe()}")
        lines += [f"• {n}" for n in self.result.notices]
        return "\n".join(lines) or "✓ the server has every node and model this workflow uses"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "…"
