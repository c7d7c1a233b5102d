"""The Account menu and the sync status in the status bar.

Every sync call blocks (supabase-py is synchronous): each is an intent of the controller, which
runs it off the Qt thread and answers on it. Token refreshes and revoked sessions arrive as the
controller's `sync_event`. Failures come as one-line messages; the local library never depends on
any of this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QToolButton

from automata_desktop.ui.account_dialog import AccountDialog, AccountMode

if TYPE_CHECKING:
    from automata_desktop.controller.app_controller import AppController
    from automata_desktop.sync.runner import SyncStatus

log = logging.getLogger(__name__)

STATUS_INTERVAL_MS = 3000
NOT_SET_UP = ("Sync is not set up: enter your Supabase project URL and anon key in "
              "File → Settings")


def status_text(status: SyncStatus | None) -> str:
    if status is None:
        return "☁ Sync off"
    if status.account is None:
        return "☁ Sign in to sync"
    parts = [f"☁ {status.account.email or status.account.user_id}"]
    if status.failed:
        parts.append(f"{status.failed} failed")
    parts.append(f"{status.pending} pending" if status.pending else "up to date")
    if status.offline:
        parts.append("offline")
    elif status.last_sync_at is not None:
        parts.append(f"synced {status.last_sync_at.astimezone().strftime('%H:%M')}")
    return " · ".join(parts)


def status_tooltip(status: SyncStatus | None) -> str:
    if status is None:
        return NOT_SET_UP
    lines = [f"Signed in as {status.account.email}" if status.account else "Not signed in"]
    lines.append(f"Pending uploads: {status.pending}")
    if status.failed:
        lines.append(f"Refused by Supabase (retrying): {status.failed}")
    last = status.last_sync_at
    lines.append("Last sync: " + (last.astimezone().strftime("%Y-%m-%d %H:%M:%S") if last
                                  else "not yet"))
    if status.offline:
        lines.append("Supabase is unreachable; uploads wait and resume by themselves")
    if status.last_error:
        lines.append(f"Last error: {status.last_error}")
    if status.partial:
        lines.append(f"Kept on this computer only: files of {status.partial} generation(s), "
                     f"e.g. {status.partial_reason} (raise the limit in Supabase → Storage → "
                     "Settings and in AUTOMATA's settings)")
    if status.account and not status.secure_storage:
        lines.append("No OS keyring: the session is kept in a private file (mode 0600)")
    return "\n".join(lines)


class AccountMenu(QObject):
    """The Account menu, the status-bar button and the sign-in dialog."""

    status_changed = Signal(object)  # SyncStatus, or None when sync is not set up
    library_changed = Signal()  # a sync moved rows or markers: the library list should refresh
    message = Signal(str)  # for the status bar

    def __init__(self, controller: AppController, window: QMainWindow) -> None:
        super().__init__(window)
        self.controller = controller
        self.window = window
        self.status: SyncStatus | None = None
        self.dialog: AccountDialog | None = None
        self._last_seen: tuple[Any, ...] | None = None
        self._signing_out = False
        self._refreshes = 0  # status results can arrive out of order: only the newest counts

        self.menu = QMenu("&Account", window)
        self.sign_in_action = self._add("&Sign in…", lambda: self.open_dialog(AccountMode.SIGN_IN))
        self.sign_up_action = self._add("&Create account…",
                                        lambda: self.open_dialog(AccountMode.SIGN_UP))
        self.sync_now_action = self._add("Sync &now", self.sync_now)
        self.sign_out_action = self._add("Sign &out", self.sign_out)
        bar = window.menuBar()
        actions = bar.actions()
        if actions and actions[-1].text().replace("&", "") == "Help":
            bar.insertMenu(actions[-1], self.menu)
        else:
            bar.addMenu(self.menu)

        self.button = QToolButton()
        self.button.setAutoRaise(True)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setMenu(self.menu)
        window.statusBar().addPermanentWidget(self.button)

        controller.sync_event.connect(self._auth_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(STATUS_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)
        controller.started.connect(lambda _: (self.refresh(), self._timer.start()))
        self._show(None)

    def _add(self, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self.window)
        action.triggered.connect(lambda _=False: slot())
        self.menu.addAction(action)
        return action

    # ------------------------------------------------------------------ status

    def refresh(self) -> None:
        self._refreshes += 1
        token = self._refreshes
        self.controller.sync_status(lambda status: token == self._refreshes and self._show(status))

    def _show(self, status: SyncStatus | None) -> None:
        self.status = status
        signed_in = status is not None and status.account is not None
        self.sign_in_action.setEnabled(not signed_in)
        self.sign_up_action.setEnabled(not signed_in)
        self.sign_out_action.setEnabled(signed_in)
        self.sync_now_action.setEnabled(signed_in)
        self.button.setText(status_text(status))
        self.button.setToolTip(status_tooltip(status))
        alarming = status is not None and (status.failed or (status.last_error and
                                                              not signed_in))
        self.button.setStyleSheet("color: #ffb74d;" if alarming else "")
        seen = None if status is None else (status.account, status.pending, status.failed,
                                            status.last_sync_at)
        if seen != self._last_seen:
            self._last_seen = seen
            self.library_changed.emit()
        self.status_changed.emit(status)

    def _auth_changed(self, event: str) -> None:
        """On the Qt thread: a refresh, a sign-out elsewhere or a revoked session."""
        self.refresh()
        if event == "SIGNED_OUT" and not self._signing_out:
            self.message.emit("Signed out of sync: your session ended; sign in again to keep "
                              "syncing (the library here is unaffected)")

    # ------------------------------------------------------------------ actions

    def open_dialog(self, mode: AccountMode = AccountMode.SIGN_IN) -> AccountDialog | None:
        project = self.controller.sync_project
        if project is None:
            self.message.emit(NOT_SET_UP)
            return None
        if self.dialog is None:
            self.dialog = AccountDialog(mode, self.window, project=project)
            self.dialog.submitted.connect(self._submit)
        self.dialog.set_mode(mode)
        self.dialog.open()
        return self.dialog

    def _submit(self, mode: str, email: str, password: str) -> None:
        dialog = self.dialog
        assert dialog is not None

        def done(account: Any) -> None:
            if account is None:  # the project wants the address confirmed first
                dialog.confirmation_sent(email)
                return
            dialog.succeeded()
            self.message.emit(f"Signed in as {account.email}; your finished generations upload "
                              "in the background")
            self.refresh()

        def failed(text: str) -> None:
            if "already has an account" in text:
                dialog.set_mode(AccountMode.SIGN_IN)  # the message says to sign in: be ready
            dialog.show_error(text)

        if AccountMode(mode) is AccountMode.SIGN_UP:
            self.controller.sign_up(email, password, done, failed)
        else:
            self.controller.sign_in(email, password, done, failed)

    def sign_out(self) -> None:
        def done(_: object) -> None:
            self._signing_out = False
            self.message.emit("Signed out; the library stays on this computer")
            self.refresh()

        def failed(text: str) -> None:
            self._signing_out = False
            self.message.emit(text)

        self._signing_out = True
        self.controller.sign_out(done, failed)

    def sync_now(self) -> None:
        self.message.emit("Syncing…")

        def done(result: Any) -> None:
            report, pulled = result
            text = f"Synced: {len(report.pushed)} uploaded, {pulled} received"
            if report.offline:
                text = "Supabase is unreachable; uploads wait and resume by themselves"
            elif report.failed:
                text = f"{len(report.failed)} upload(s) failed: {next(iter(report.failed.values()))}"
            self.message.emit(text)
            self.refresh()
            self.library_changed.emit()

        def failed(text: str) -> None:
            self.message.emit(text)
            self.refresh()

        self.controller.sync_now(done, failed)

