"""Between the widgets and the running app: `app_controller.AppController` (intents in, evented
state out) over `bridge.RuntimeBridge` (the asyncio thread that holds the Runtime).

Widgets import nothing from here at run time (they are handed the controller), so the import
contracts can say that `ui` never reaches the engine, the library, sync or ComfyUI.
"""
