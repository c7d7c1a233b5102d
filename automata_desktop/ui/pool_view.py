"""The servers of "All servers", one row each: state and version, load, what it lacks for the
chosen workflow, and a Paused box (a paused server takes nothing new; its waiting jobs move)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

if TYPE_CHECKING:
    from automata_desktop.jobs.pool import PoolServer
    from automata_desktop.services import Readiness, ServerStatus

COLUMNS = ("Server", "State · load · this workflow")
STATE_COLORS = {"up": "#5cc98a", "down": "#ff6b6b", "paused": "#e8c36a", "connecting": "#8a8f9c"}


class PoolView(QTreeWidget):
    pause_toggled = Signal(str, bool)  # server url, paused

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        # Two columns that fit a narrow dock: the second elides, its tooltip has it all.
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setToolTip("Tick a server to pause it: it takes no new generation, and those "
                        "waiting there move to another server")
        self._items: dict[str, QTreeWidgetItem] = {}
        self._probed: dict[str, ServerStatus] = {}
        self._health: dict[str, str] = {}  # the pool's: up, down, paused, connecting
        self._load: dict[str, str] = {}
        self._fits: dict[str, str] = {}  # for the chosen workflow
        self._fit_why: dict[str, str] = {}
        self.itemChanged.connect(self._changed)

    def set_servers(self, servers: list[tuple[str, str]], paused: set[str] = frozenset()
                    ) -> None:
        """(url, label) of each server of the pool, in the configured order; `paused` ticked."""
        self.blockSignals(True)
        self.clear()
        self._items, self._health, self._load, self._fits = {}, {}, {}, {}
        for url, label in servers:
            item = QTreeWidgetItem([label, "checking…"])
            item.setToolTip(0, url)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if url in paused
                               else Qt.CheckState.Unchecked)
            if url in paused:
                self._health[url] = "paused"
            item.setData(0, Qt.ItemDataRole.UserRole, url)
            self.addTopLevelItem(item)
            self._items[url] = item
        self.blockSignals(False)
        row = max(self.sizeHintForRow(0), self.fontMetrics().height() + 6)
        self.setFixedHeight(row * (len(servers) + 1) + 2 * self.frameWidth() + 4)

    def labels(self) -> list[tuple[str, str]]:
        """(url, label) of each server listed, in order."""
        return [(url, item.text(0)) for url, item in self._items.items()]

    def show_status(self, status: ServerStatus) -> None:
        """A probe's answer: the version, or why it does not answer."""
        if status.url in self._items:
            self._probed[status.url] = status
            self._render(status.url)

    def show_load(self, states: list[PoolServer]) -> None:
        """The pool's view of each server: health, our jobs there and its queue length."""
        for state in states:
            item = self._items.get(state.url)
            if item is None:
                continue
            self._health[state.url] = str(state.health)
            self._render(state.url)
            ours, queued = state.in_flight, state.queue_remaining
            self._load[state.url] = f"{ours} of ours" + (
                f", {queued} queued" if queued > ours else "")
            self._render(state.url)

    def _render(self, url: str) -> None:
        """The pool's word on health (once it has one) with the probe's version beside it."""
        item, probe = self._items[url], self._probed.get(url)
        health = self._health.get(url) or (
            None if probe is None else "up" if probe.reachable else "down")
        if health is None:
            return
        version = probe.label if probe is not None and probe.reachable else ""
        parts = [f"{health} · {version}" if health == "up" and version else health]
        parts += [p for p in (self._load.get(url), self._fits.get(url)) if p]
        text = " · ".join(parts)
        why = probe.message if probe is not None and not probe.reachable else ""
        item.setText(1, text)
        item.setForeground(1, QColor(STATE_COLORS.get(health, "#a9aebb")))
        item.setToolTip(1, "\n".join(p for p in (text, why, self._fit_why.get(url)) if p))

    def show_readiness(self, url: str, readiness: Readiness) -> None:
        item = self._items.get(url)
        if item is None:
            return
        if readiness.ok:
            self._fits[url] = "✓ has everything"
        else:
            missing = [*readiness.missing, *(m.filename for m in readiness.models)]
            self._fits[url] = "lacks " + ", ".join(missing) if missing else "cannot check"
        self._fit_why[url] = readiness.message
        self._render(url)

    def fits(self, url: str) -> str:
        """What the row says of the chosen workflow ("✓ has everything", "lacks …")."""
        return self._fits.get(url, "")

    def paused(self) -> set[str]:
        return {url for url, item in self._items.items()
                if item.checkState(0) is Qt.CheckState.Checked}

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            paused = item.checkState(0) is Qt.CheckState.Checked
            url = item.data(0, Qt.ItemDataRole.UserRole)
            self._health[url] = "paused" if paused else "connecting"
            self._render(url)
            self.pause_toggled.emit(url, paused)
