"""Sign in to (or create) the Supabase account that syncs the library.

The dialog only collects the email and password and shows the outcome: it emits `submitted` and
whoever owns it (AccountController) runs the blocking call off the Qt thread, then calls
`succeeded()`, `show_error()` or `show_info()`. It stays open until the sign-in went through.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.sync.messages import confirmation_sent

MIN_PASSWORD = 6  # GoTrue's default minimum; the server has the final say


class AccountMode(StrEnum):
    SIGN_IN = "sign in"
    SIGN_UP = "sign up"


class AccountDialog(QDialog):
    submitted = Signal(str, str, str)  # AccountMode, email, password

    def __init__(self, mode: AccountMode = AccountMode.SIGN_IN, parent: QWidget | None = None,
                 *, project: str = "") -> None:
        super().__init__(parent)
        self.setMinimumWidth(420)
        self.mode = mode
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        self.switch = QPushButton()
        self.switch.setFlat(True)
        self.switch.clicked.connect(self._toggle_mode)
        self._project = project

        form = QFormLayout()
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        self._confirm_label = QLabel("Repeat password")
        form.addRow(self._confirm_label, self.confirm)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.submit_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.switch)
        layout.addWidget(self.buttons)
        self.set_mode(mode)

    def set_mode(self, mode: AccountMode) -> None:
        self.mode = mode
        signing_up = mode is AccountMode.SIGN_UP
        self.setWindowTitle("Create a sync account" if signing_up else "Sign in to sync")
        where = f" at {self._project}" if self._project else ""
        self.intro.setText(
            ("Create an account in your Supabase project" if signing_up else
             "Sign in with your Supabase account") + f"{where}. Finished generations are "
            "then uploaded in the background and appear on your other computers; the library "
            "on this computer keeps working without it.")
        self.submit_button.setText("Create account" if signing_up else "Sign in")
        self.switch.setText("I already have an account: sign in" if signing_up else
                            "No account yet? Create one")
        self.confirm.setVisible(signing_up)
        self._confirm_label.setVisible(signing_up)
        self.message.hide()

    def _toggle_mode(self) -> None:
        self.set_mode(AccountMode.SIGN_IN if self.mode is AccountMode.SIGN_UP
                      else AccountMode.SIGN_UP)

    def submit(self) -> None:
        email, password = self.email.text().strip(), self.password.text()
        if "@" not in email:
            self.show_error("Enter the email address of your account")
            return
        if len(password) < MIN_PASSWORD:
            self.show_error(f"The password needs at least {MIN_PASSWORD} characters")
            return
        if self.mode is AccountMode.SIGN_UP and password != self.confirm.text():
            self.show_error("The two passwords differ")
            return
        self.set_busy(True)
        self.show_info("Signing in…" if self.mode is AccountMode.SIGN_IN
                       else "Creating the account…")
        self.submitted.emit(self.mode.value, email, password)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.email, self.password, self.confirm, self.submit_button, self.switch):
            widget.setEnabled(not busy)

    def show_error(self, text: str) -> None:
        self.set_busy(False)
        self.message.setStyleSheet("color: #ff8a80;")
        self.message.setText(text)
        self.message.show()

    def show_info(self, text: str) -> None:
        self.message.setStyleSheet("color: #a9aebb;")
        self.message.setText(text)
        self.message.show()

    def confirmation_sent(self, email: str) -> None:
        """Sign-up worked but the project wants the address confirmed before a sign-in."""
        self.set_mode(AccountMode.SIGN_IN)
        self.set_busy(False)
        self.email.setText(email)
        self.show_info(confirmation_sent(email))

    def succeeded(self) -> None:
        self.set_busy(False)
        self.password.clear()
        self.confirm.clear()
        self.accept()
