"""The Settings dialog: servers, webhook listener, library folder, generation defaults, theme,
and the Supabase project that syncs the library.

It edits a copy of Settings and stores it with `config.save_settings`; bad input (a server address
that is not one, two servers with one name) is shown in the dialog, never raised.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.config import (
    LOCAL_SERVER,
    WEBHOOK_PATH,
    ServerConfig,
    Settings,
    generate_webhook_secret,
    normalize_server_url,
    save_settings,
)
from automata_desktop.errors import ConfigError
from automata_desktop.sync.settings import SupabaseSettings
from automata_desktop.ui import file_dialogs

THEMES = ("dark", "system")


def webhook_url_for(settings: Settings) -> str:
    """What to give a remote ComfyUI: the public URL if set, else the listener's own address."""
    if settings.webhook_public_url:
        return settings.webhook_public_url
    host = settings.webhook_host
    if host in ("0.0.0.0", "::", ""):
        host = "<this computer's address>"
    return f"http://{host}:{settings.webhook_port}{WEBHOOK_PATH}"


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 path: Path | None = None, webhook_url: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(620)
        self.original = settings
        self.path = path
        self.saved: Settings | None = None
        self._secret = settings.webhook_secret

        self.servers = QTableWidget(0, 3)
        self.servers.setHorizontalHeaderLabels(["Name", "Address", "API key (optional)"])
        header = self.servers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # headers never clip
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.servers.verticalHeader().setVisible(False)
        self.servers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.servers.setMinimumHeight(110)
        # A choice of the servers above (and the in-process backend), never free text.
        self.default_server = QComboBox()
        self.default_server.setToolTip("The server picked when the app starts")
        self._default_choice = settings.default_server
        self.default_server.activated.connect(
            lambda _: setattr(self, "_default_choice", self.default_server.currentData()))
        for server in settings.servers:
            self.add_server(server.name, server.url, server.api_key or "")
        self.servers.itemChanged.connect(lambda _: self._fill_default_choices())
        add = QPushButton("Add server")
        add.clicked.connect(lambda: self.add_server("", "127.0.0.1:8188", ""))
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_server)

        self.webhook_host = QLineEdit(settings.webhook_host)
        self.webhook_host.setToolTip("127.0.0.1: only a ComfyUI on this computer can call back; "
                                     "0.0.0.0: any machine on the network")
        self.webhook_port = QSpinBox()
        self.webhook_port.setRange(0, 65535)
        self.webhook_port.setValue(settings.webhook_port)
        self.webhook_public = QLineEdit(settings.webhook_public_url)
        self.webhook_public.setPlaceholderText("e.g. https://my-tunnel.example.com/hooks/comfyui")
        self.secret = QLineEdit(settings.webhook_secret)
        self.secret.setReadOnly(True)
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        show = QPushButton("Show")
        show.setCheckable(True)
        show.toggled.connect(lambda on: self.secret.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        regenerate = QPushButton("Regenerate")
        regenerate.setToolTip("A new secret: remote ComfyUIs need the new AUTOMATA_WEBHOOK_SECRET")
        regenerate.clicked.connect(self.regenerate_secret)
        self.url_hint = QLabel()
        self.url_hint.setWordWrap(True)
        self.url_hint.setStyleSheet("color: #a9aebb;")
        self._running_url = webhook_url
        for edit in (self.webhook_host, self.webhook_public):
            edit.textChanged.connect(lambda _: self._update_hint())
        self.webhook_port.valueChanged.connect(lambda _: self._update_hint())

        self.library_dir = QLineEdit(settings.library_dir)
        self.library_dir.setPlaceholderText(str(settings.library_path))
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._ask_library)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 24 * 60)
        self.timeout.setSuffix(" min")
        self.timeout.setValue(settings.timeout_minutes)
        self.poll = QDoubleSpinBox()
        self.poll.setRange(1, 600)
        self.poll.setSuffix(" s")
        self.poll.setValue(settings.poll_interval_s)
        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(settings.theme if settings.theme in THEMES else "dark")
        self.supabase_url = QLineEdit(settings.supabase_url)
        self.supabase_url.setPlaceholderText("https://abcd1234.supabase.co (empty: no sync)")
        self.supabase_key = QLineEdit(settings.supabase_anon_key)
        self.supabase_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.supabase_key.setPlaceholderText("the anon / publishable key, never service_role")
        self.supabase_key.setToolTip("Project Settings → API → anon (public) key. The "
                                     "service_role key is refused: it bypasses every rule.")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff8a80;")
        self.error.hide()

        servers_box = QGroupBox("ComfyUI servers")
        servers_layout = QVBoxLayout(servers_box)
        servers_layout.addWidget(self.servers)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(add)
        buttons_row.addWidget(remove)
        buttons_row.addStretch(1)
        servers_layout.addLayout(buttons_row)
        default_form = QFormLayout()
        default_form.addRow("Default server", self.default_server)
        servers_layout.addLayout(default_form)

        hook_box = QGroupBox("Webhook listener (results pushed back by ComfyUI)")
        hook_form = QFormLayout(hook_box)
        hook_form.addRow("Listen on host", self.webhook_host)
        hook_form.addRow("Port", self.webhook_port)
        hook_form.addRow("Public URL", self.webhook_public)
        secret_row = QHBoxLayout()
        secret_row.addWidget(self.secret, 1)
        secret_row.addWidget(show)
        secret_row.addWidget(regenerate)
        hook_form.addRow("Secret", secret_row)
        hook_form.addRow(self.url_hint)

        general_box = QGroupBox("Library and generation")
        general_form = QFormLayout(general_box)
        library_row = QHBoxLayout()
        library_row.addWidget(self.library_dir, 1)
        library_row.addWidget(browse)
        general_form.addRow("Library folder", library_row)
        general_form.addRow("Give up after", self.timeout)
        general_form.addRow("Safety-net polling", self.poll)
        general_form.addRow("Theme", self.theme)

        sync_box = QGroupBox("Cloud sync (Supabase)")
        sync_form = QFormLayout(sync_box)
        sync_form.addRow("Project URL", self.supabase_url)
        sync_form.addRow("Anon key", self.supabase_key)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        for widget in (servers_box, hook_box, general_box, sync_box, self.error, buttons):
            layout.addWidget(widget)
        self._update_hint()

    def add_server(self, name: str, url: str, api_key: str) -> None:
        row = self.servers.rowCount()
        self.servers.insertRow(row)
        for column, text in enumerate((name, url, api_key)):
            self.servers.setItem(row, column, QTableWidgetItem(text))
        self._fill_default_choices()

    def _remove_server(self) -> None:
        for row in sorted({i.row() for i in self.servers.selectedIndexes()}, reverse=True):
            self.servers.removeRow(row)
        self._fill_default_choices()

    def _server_rows(self) -> list[tuple[str, str]]:
        """(name, address) of each filled row, as typed."""
        rows = []
        for row in range(self.servers.rowCount()):
            name, url = ((self.servers.item(row, c).text().strip()
                          if self.servers.item(row, c) else "") for c in (0, 1))
            if url:
                rows.append((name, url))
        return rows

    def _fill_default_choices(self) -> None:
        wanted = self._default_choice
        self.default_server.clear()
        for name, url in self._server_rows():
            try:
                address = normalize_server_url(url)
            except ConfigError:
                continue  # a row being typed: it becomes a choice once it is an address
            self.default_server.addItem(f"{name} — {address}" if name else address, address)
            if wanted == name:
                wanted = address
        self.default_server.addItem("local — in-process backend", LOCAL_SERVER)
        index = self.default_server.findData(wanted)
        self.default_server.setCurrentIndex(index if index >= 0 else 0)

    def regenerate_secret(self) -> None:
        self._secret = generate_webhook_secret()
        self.secret.setText(self._secret)

    def _ask_library(self) -> None:
        folder = file_dialogs.open_folder(self, "library", "Library folder")
        if folder:
            self.library_dir.setText(str(folder))

    def _update_hint(self) -> None:
        try:
            url = webhook_url_for(self.edited())
        except ConfigError:
            return
        running = (f"\nListening now at {self._running_url}." if self._running_url else "")
        self.url_hint.setText(
            f"Give a remote ComfyUI this URL: {url}\nand set AUTOMATA_WEBHOOK_SECRET there to the "
            f"secret above.{running}")

    def edited(self) -> Settings:
        """The settings as the dialog shows them; ConfigError says what is wrong."""
        servers: list[ServerConfig] = []
        names: set[str] = set()
        for row in range(self.servers.rowCount()):
            name, url, key = (
                (self.servers.item(row, c).text().strip() if self.servers.item(row, c) else "")
                for c in range(3))
            if not url and not name:
                continue
            try:
                normalized = normalize_server_url(url)
            except ConfigError as exc:
                raise ConfigError(f"Server {name or row + 1}: {exc}") from None
            if name and name in names:
                raise ConfigError(f"Two servers are called {name!r}; give each its own name")
            names.add(name)
            paused = any(s.paused for s in self.original.servers if s.url == normalized)
            servers.append(ServerConfig(normalized, name, key or None, paused))
        supabase_url = self.supabase_url.text().strip()
        supabase_key = self.supabase_key.text().strip()
        if supabase_url or supabase_key:
            try:  # validates the URL and refuses a service_role key
                checked = SupabaseSettings(supabase_url, supabase_key)
            except ConfigError as exc:
                raise ConfigError(f"Cloud sync: {exc}") from None
            supabase_url, supabase_key = checked.url, checked.anon_key
        default = self.default_server.currentData() or LOCAL_SERVER
        return replace(
            self.original, servers=tuple(servers), default_server=default,
            webhook_host=self.webhook_host.text().strip() or "127.0.0.1",
            webhook_port=self.webhook_port.value(),
            webhook_public_url=self.webhook_public.text().strip(), webhook_secret=self._secret,
            library_dir=self.library_dir.text().strip(), timeout_minutes=self.timeout.value(),
            poll_interval_s=self.poll.value(), theme=self.theme.currentText(),
            supabase_url=supabase_url, supabase_anon_key=supabase_key,
        )

    def save(self) -> None:
        try:
            settings = self.edited()
            save_settings(settings, self.path)
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.saved = settings
        self.accept()
