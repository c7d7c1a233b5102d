"""`automata`: the command-line face of AUTOMATA Desktop (generate, library, doctor, webhook, comfy).

Exit codes a script can rely on:
  0  success (for `generate`: every generation completed)
  1  a generation failed, was cancelled or timed out
  2  usage error (bad flags or parameter values)
  3  a server, file or setting problem (unreachable ComfyUI, missing nodes, unreadable workflow)
  130 interrupted with Ctrl-C (generations keep running on the server; the library resumes them)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from automata_desktop import __version__
from automata_desktop.config import (
    LOCAL_SERVER,
    Settings,
    load_settings,
    normalize_server_url,
    save_settings,
    settings_path,
)
from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.errors import (
    AutomataError,
    ComfyError,
    ConfigError,
    MissingNodes,
    ParameterError,
    ServerUnreachable,
)
from automata_desktop.jobs.models import GenerationRequest, JobUpdate

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXPORT_PRESETS = ["generic", "blender", "unity", "unity_hdrp", "unreal", "godot"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AutomataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted; queued generations keep running and are picked up next time",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automata",
        description="AUTOMATA Desktop: AI texturing with ComfyUI, PBR maps, a local library.",
        epilog="Settings live in the user config dir (see `automata doctor`); AUTOMATA_* variables "
               "override them.",
    )
    parser.add_argument("--version", action="version", version=f"automata {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--library", metavar="DIR", help="library folder (default: user data dir)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    gen = sub.add_parser("generate", help="run a workflow and store its results in the library",
                         description="Run a workflow on ComfyUI (or in-process with --server local) "
                                     "and store the results in the library.")
    gen.add_argument("--workflow", "-w", default="pbr_from_image",
                     help="shipped workflow name or an API-format JSON file (default: pbr_from_image)")
    gen.add_argument("--image", type=Path, help="reference / base color image")
    gen.add_argument("--mesh", type=Path, help="mesh to texture (GLB, OBJ, …)")
    gen.add_argument("--prompt", help="text prompt")
    gen.add_argument("--negative", help="negative prompt")
    gen.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                     help="any workflow parameter (repeatable), e.g. --set steps=30")
    gen.add_argument("--server", action="append", default=[],
                     help="ComfyUI address (host:port or URL), a configured server's name, or "
                          "'local'; repeat it to spread --count over several servers, or "
                          "'all' for every configured server")
    gen.add_argument("--front", action="store_true",
                     help="with several --server: ahead of generations already waiting")
    gen.add_argument("--seed", type=int, help="seed of the first generation (default random)")
    gen.add_argument("--count", type=int, default=1, help="how many generations (seed, seed+1, …)")
    gen.add_argument("--timeout", type=float, metavar="MIN", help="give up after MIN minutes")
    gen.add_argument("--json", action="store_true", help="print the results as JSON")
    gen.add_argument("--dry-run", action="store_true",
                     help="print the bound API prompt and queue nothing")
    gen.set_defaults(func=cmd_generate)

    lib = sub.add_parser("library", help="list, show and export generations")
    lib_sub = lib.add_subparsers(title="library commands", metavar="ACTION")
    ls = lib_sub.add_parser("list", help="newest generations first")
    ls.add_argument("--status", choices=[s.value for s in GenerationStatus])
    ls.add_argument("--search", help="text in prompt, workflow, server or id")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_library_list)
    show = lib_sub.add_parser("show", help="one generation with its files")
    show.add_argument("id", help="generation id (a unique prefix is enough)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_library_show)
    export = lib_sub.add_parser("export", help="copy a generation's maps to a folder")
    export.add_argument("id")
    export.add_argument("dir", type=Path)
    # The keys of library.export.PRESETS (not imported here: it pulls numpy in at start-up).
    export.add_argument("--preset", default="generic", choices=EXPORT_PRESETS,
                        help="name and convert the maps as this tool expects (default generic)")
    export.add_argument("--glb", action="store_true",
                        help="write a textured model (GLB, glTF 2.0 PBR) instead of the maps: the "
                             "generation's mesh, or --mesh, with the generated material on it")
    export.add_argument("--mesh", type=Path, metavar="FILE",
                        help="with --glb: the mesh to put the material on (glb, gltf, obj, ply, stl)")
    export.add_argument("--material", metavar="NAME",
                        help="with --glb: which of the mesh's materials gets the generated maps "
                             "(default: the first; the others keep their own)")
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=cmd_library_export)

    doctor = sub.add_parser("doctor", help="check settings, ComfyUI, workflows and the listener")
    doctor.add_argument("--server", help="ComfyUI address to check (default: from settings)")
    doctor.add_argument("--offline", action="store_true", help="skip every network check")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)

    hook = sub.add_parser("webhook", help="the webhook listener")
    hook_sub = hook.add_subparsers(title="webhook commands", metavar="ACTION")
    serve = hook_sub.add_parser("serve", help="run the listener alone (for a headless box)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8199; 0 picks a free one)")
    serve.set_defaults(func=cmd_webhook_serve)

    comfy = sub.add_parser("comfy", help="ComfyUI helpers")
    comfy_sub = comfy.add_subparsers(title="comfy commands", metavar="ACTION")
    install = comfy_sub.add_parser("install-nodes", help="install the AUTOMATA node pack into ComfyUI")
    install.add_argument("--comfyui", type=Path, help="the ComfyUI folder (default: search)")
    install.add_argument("--link", action="store_true", help="symlink instead of copying")
    install.set_defaults(func=cmd_install_nodes)

    account = sub.add_parser("account", help="sign in to Supabase to sync the library")
    account_sub = account.add_subparsers(title="account commands", metavar="ACTION")
    for name, helptext in (("signup", "create an account"), ("signin", "sign in on this device")):
        cmd = account_sub.add_parser(name, help=helptext)
        cmd.add_argument("email")
        cmd.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input (for scripts)")
        cmd.set_defaults(func=cmd_account, action=name)
    for name, helptext in (("signout", "sign this device out"), ("status", "who is signed in")):
        account_sub.add_parser(name, help=helptext).set_defaults(func=cmd_account, action=name)
    sync = sub.add_parser("sync", help="push finished generations to Supabase and pull the others")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=cmd_sync)

    entry = sub.add_parser("install-desktop-entry",
                           help="add AUTOMATA to the Linux application menu (per user, no root)")
    entry.add_argument("--prefix", type=Path, help="data folder (default ~/.local/share)")
    entry.set_defaults(func=cmd_install_desktop_entry)

    inspect = sub.add_parser("inspect", help="what the app sees in a mesh file: up axis, bounds, "
                                             "objects, UV sets, materials and their maps",
                             description="Read a mesh file as the app does and report it (exit 0), "
                                         "or say in one line why it cannot be read (exit 3).")
    inspect.add_argument("file", type=Path, help="glb, gltf, obj, ply, stl or off")
    inspect.add_argument("--up-axis", choices=["Y", "Z"], help="override the file's up axis")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.set_defaults(func=cmd_inspect)

    wfs = sub.add_parser("workflows", help="list the workflows (shipped and imported) and their "
                                          "parameters; import your own")
    wfs.add_argument("--json", action="store_true")
    wfs.set_defaults(func=cmd_workflows)
    wfs_sub = wfs.add_subparsers(title="workflow commands", metavar="ACTION")
    imp = wfs_sub.add_parser(
        "import", help="import a ComfyUI workflow (UI or API JSON, or a PNG/WebP ComfyUI saved)",
        description="Convert a workflow to the API format, find its parameters (prompt, seed, "
                    "image, …) and outputs, name what the server lacks, and save it beside the "
                    "shipped workflows.")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="the workflow's name (default: from the file name)")
    imp.add_argument("--server", help="ComfyUI whose node definitions to use (default: from "
                                      "settings; a cached copy when it is unreachable)")
    imp.add_argument("--add-webhook", action="store_true",
                     help="add an AUTOMATA Webhook node fed by the saved images")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_workflows_import)
    pin = wfs_sub.add_parser(
        "pin", help="always run a workflow on one server when several share the work",
        description="Pin a workflow to a server: with --server all (or several --server, or "
                    "All servers in the app) its generations wait for that server and never "
                    "move to another. Without SERVER: unpin it.")
    pin.add_argument("workflow")
    pin.add_argument("server", nargs="?", default="",
                     help="a configured server's name or address (omit to unpin)")
    pin.set_defaults(func=cmd_workflows_pin)
    return parser


# -- shared helpers ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    if getattr(args, "library", None):
        overrides["library_dir"] = args.library
    return load_settings(overrides={k: v for k, v in overrides.items() if v is not None})


def _parse_sets(items: list[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--set expects PARAM=VALUE, got {item!r}")
        values[name.strip()] = value
    return values


def _gen_json(gen: Generation) -> dict[str, Any]:
    return {
        "id": gen.id, "status": gen.status.value, "workflow": gen.workflow, "server": gen.server,
        "prompt": gen.prompt, "prompt_id": gen.prompt_id, "error": gen.error,
        "created_at": gen.created_at.isoformat(),
        "finished_at": gen.finished_at.isoformat() if gen.finished_at else None,
        "duration_s": gen.duration_s, "parameters": gen.parameters,
        "files": [{"kind": f.kind.value, "path": str(f.path), "sha256": f.sha256, "size": f.size,
                   "width": f.width, "height": f.height, "source": f.source} for f in gen.files],
    }


class ProgressPrinter:
    """One line per generation: a bar with %, current node and ETA (redrawn in place on a TTY)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last: dict[str, tuple[Any, ...]] = {}
        self._last_line_time = 0.0

    def show(self, update: JobUpdate) -> None:
        pct = int(update.fraction * 100)
        eta = f" ETA {_duration(update.eta_s)}" if update.eta_s is not None and pct < 100 else ""
        node = f" {update.current_node}" if update.current_node else ""
        bar = "#" * (pct // 5) + "-" * (20 - pct // 5)
        short = update.generation_id[:8]
        state = update.status.value
        if update.message.startswith(state):
            state, msg = update.message, ""
        else:
            msg = f" {update.message}" if update.message else ""
        line = f"{short} [{bar}] {pct:3d}% {state}{node}{eta}{msg}"
        key = (update.status, update.current_node, update.message, pct // 5)
        last = self._last.get(update.generation_id)
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if update.status.is_final:
                self.stream.write("\n")
        elif last != key and (
            last is None or key[:3] != last[:3] or time.monotonic() - self._last_line_time > 1
        ):  # a log line per state, node or message; plain % changes at most once a second
            self.stream.write(line + "\n")
            self._last_line_time = time.monotonic()
        self._last[update.generation_id] = key
        self.stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# -- generate ----------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from automata_desktop.runtime import load_workflow_named

    settings = _settings(args)
    template = load_workflow_named(args.workflow)
    params: dict[str, Any] = dict(_parse_sets(args.set))
    if args.prompt is not None:
        params["prompt"] = args.prompt
    if args.negative is not None:
        params["negative_prompt"] = args.negative
    for name in params:
        if name not in template.parameters:
            template.bind({name: params[name]})  # raises a ParameterError that lists the valid names
    if args.image is not None and not args.image.is_file():
        raise ParameterError(f"--image {args.image}: no such file")
    if args.mesh is not None and not args.mesh.is_file():
        raise ParameterError(f"--mesh {args.mesh}: no such file")
    if args.count < 1:
        raise ParameterError("--count must be at least 1")
    if args.dry_run:
        return _dry_run(args, template, params)
    servers = _servers(settings, args.server)
    return asyncio.run(_generate(args, settings, template, params, servers))


def _servers(settings: Settings, given: list[str]) -> tuple[str, ...]:
    """The servers `--server` names, in order: addresses, configured names, `all`, `local`."""
    out: list[str] = []
    for name in given:
        if name == "all":
            if not settings.servers:
                raise ParameterError("--server all: no servers are configured (add them in "
                                     "Settings or pass addresses)")
            out.extend(s.url for s in settings.servers)
        elif name == LOCAL_SERVER:
            out.append(LOCAL_SERVER)
        else:
            out.append(settings.server(name).url)
    return tuple(dict.fromkeys(out))


def _dry_run(args: argparse.Namespace, template: Any, params: dict[str, Any]) -> int:
    """The prompt as it would be queued: files by their local names (a run uploads them), the
    seed as given or the workflow's own, and never the webhook secret."""
    params = dict(params)
    for name, path in (("image", args.image), ("mesh", args.mesh)):
        if path is not None and name in template.parameters:
            params[name] = str(path)
    if args.seed is not None and "seed" in template.parameters:
        params["seed"] = args.seed
    graph = template.bind(params)
    if args.json:
        print(json.dumps({"workflow": template.name, "prompt": graph}, indent=2))
    else:
        print(json.dumps(graph, indent=2))
    return EXIT_OK


async def _pick_server(rt: Any, template: Any, url: str, explicit: bool) -> tuple[str, str]:
    """The server to use and a notice: a workflow marked local runs in-process when the
    configured ComfyUI cannot run it. Asked through the engine's own session, so the submit
    that follows reuses its connection and its one `/object_info`."""
    if explicit or url == LOCAL_SERVER or not template.local:
        return url, ""
    try:
        session = await rt.engine.session(url)
        await session.backend.require(template.class_types, {})
    except MissingNodes as exc:
        return LOCAL_SERVER, (f"ComfyUI at {url} lacks {', '.join(sorted(exc.missing))}; running "
                              f"{template.name} in-process (install the nodes with "
                              "`automata comfy install-nodes`)")
    except ComfyError:
        return LOCAL_SERVER, f"no ComfyUI at {url}; running {template.name} in-process"
    return url, ""


async def _generate(args: argparse.Namespace, settings: Settings, template: Any,
                    params: dict[str, Any], servers: tuple[str, ...]) -> int:
    from automata_desktop.runtime import Runtime

    url = servers[0] if servers else settings.server().url
    async with Runtime(settings, listen=servers != (LOCAL_SERVER,) and url != LOCAL_SERVER) as rt:
        for notice in rt.notices:
            print(f"note: {notice}", file=sys.stderr)
        if len(servers) > 1:
            return await _run_generations(args, rt, template, params, servers)
        chosen, notice = await _pick_server(rt, template, url, bool(servers))
        if notice:
            print(f"note: {notice}", file=sys.stderr)
        return await _run_generations(args, rt, template, params, (chosen,))


async def _run_generations(args: argparse.Namespace, rt: Any, template: Any,
                           params: dict[str, Any], servers: tuple[str, ...]) -> int:
    image = args.image.resolve() if args.image else None
    if image is None and "image" in template.parameters and template.parameters["image"].required:
        from automata_desktop.paths import resources_dir

        image = resources_dir() / "samples" / "sample_basecolor.png"
        print(f"note: no --image given; using the bundled sample {image.name}", file=sys.stderr)
    request = GenerationRequest(
        workflow=template, server=servers[0], servers=servers if len(servers) > 1 else (),
        front=args.front, pin=rt.settings.pin_for(template.name, servers),
        parameters=params, image=image,
        mesh=args.mesh.resolve() if args.mesh else None, count=args.count, seed=args.seed,
        timeout_s=args.timeout * 60 if args.timeout else None,
    )
    printer = ProgressPrinter()
    updates = rt.engine.updates()
    try:
        generations = await rt.engine.submit(request)
    except ServerUnreachable as exc:
        raise ComfyError(f"{exc}\n  hint: start ComfyUI, pass --server URL, or use "
                         "--server local for model-free workflows") from exc
    ids = {g.id for g in generations}
    pending = set(ids)

    async def follow() -> None:
        async for update in updates:
            if update.generation_id in ids:
                printer.show(update)
                if update.status.is_final:
                    pending.discard(update.generation_id)
            if not pending:
                return

    follower = asyncio.create_task(follow())
    done = await rt.engine.wait(ids)
    await asyncio.sleep(0)  # let the printer draw the final lines
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower  # its subscription ends here, not in the loop's shutdown
    order = {g.id: i for i, g in enumerate(generations)}
    done.sort(key=lambda g: order[g.id])
    if args.json:
        print(json.dumps([_gen_json(g) for g in done], indent=2))
    else:
        for gen in done:
            print(f"{gen.id}  {gen.status.value}" + (f": {gen.error}" if gen.error else ""))
            for f in gen.files:
                size = f" {f.width}x{f.height}" if f.width else ""
                print(f"  {f.kind.value:<11}{size:>11}  {f.path}")
    return EXIT_OK if all(g.status is GenerationStatus.COMPLETED for g in done) else EXIT_FAILED


# -- library -----------------------------------------------------------------------------------


def _open_library(args: argparse.Namespace) -> Any:
    from automata_desktop.library.store import Library

    return Library(_settings(args).library_path)


def _find(library: Any, prefix: str) -> Generation:
    gen = library.get(prefix) if len(prefix) == 36 else None
    if gen is None:
        matches = [g for g in library.list(search=prefix, limit=1000) if g.id.startswith(prefix)]
        if len(matches) > 1:
            raise ParameterError(f"{prefix!r} matches {len(matches)} generations; give more of the id")
        if not matches:
            raise ParameterError(f"no generation {prefix!r} in the library")
        gen = matches[0]
    return gen


def cmd_library_list(args: argparse.Namespace) -> int:
    library = _open_library(args)
    status = GenerationStatus(args.status) if args.status else None
    gens = library.list(status=status, search=args.search, limit=args.limit)
    if args.json:
        print(json.dumps([_gen_json(g) for g in gens], indent=2))
        return EXIT_OK
    if not gens:
        print("the library is empty" if not (status or args.search) else "nothing matches")
    for g in gens:
        when = g.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"{g.id[:8]}  {when}  {g.status.value:<9}  {g.workflow:<22} {len(g.files):>2} files  "
              f"{g.prompt[:40]}")
    return EXIT_OK


def cmd_library_show(args: argparse.Namespace) -> int:
    gen = _find(_open_library(args), args.id)
    if args.json:
        print(json.dumps(_gen_json(gen), indent=2))
        return EXIT_OK
    print(f"id        {gen.id}\nstatus    {gen.status.value}\nworkflow  {gen.workflow}\n"
          f"server    {gen.server}\nprompt    {gen.prompt}\ncreated   {gen.created_at.isoformat()}")
    if gen.duration_s is not None:
        print(f"duration  {gen.duration_s:.1f} s")
    if gen.error:
        print(f"error     {gen.error}")
    for f in gen.files:
        print(f"  {f.kind.value:<11} {f.path}")
    return EXIT_OK


def cmd_library_export(args: argparse.Namespace) -> int:
    library = _open_library(args)
    gen = _find(library, args.id)
    if (args.mesh or args.material) and not args.glb:
        raise ParameterError("--mesh and --material go with --glb (a textured model); "
                             "add --glb, or leave them out to export the maps")
    notices: tuple[str, ...] = ()
    if args.glb:
        from automata_desktop.library.glb_export import export_generation_glb

        result = export_generation_glb(gen, args.dir, preset=args.preset, mesh=args.mesh,
                                       material=args.material)
        written, notices = result.paths, result.notices
    else:
        written = library.export(gen.id, args.dir, preset=args.preset)
    if args.json:
        print(json.dumps([str(p) for p in written] if not args.glb else
                         {"files": [str(p) for p in written], "notices": list(notices)}, indent=2))
    else:
        for path in written:
            print(path)
        for notice in notices:
            print(f"note: {notice}", file=sys.stderr)
    return EXIT_OK


# -- doctor ------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    return asyncio.run(_doctor(args))


async def _doctor(args: argparse.Namespace) -> int:
    from automata_desktop.config import settings_path
    from automata_desktop.runtime import all_workflows

    settings = _settings(args)
    report: dict[str, Any] = {"version": __version__, "settings_file": str(settings_path()),
                              "library": str(settings.library_path), "problems": []}
    lines = [f"automata {__version__}", f"settings   {settings_path()}",
             f"library    {settings.library_path}"]
    workflows = all_workflows()
    report["workflows"] = sorted(workflows)
    lines.append(f"workflows  {', '.join(sorted(workflows)) or 'none'}")
    ok = True
    if not args.offline:
        url = normalize_server_url(args.server) if args.server else settings.server().url
        server_report = await _check_server(url, workflows)
        report["server"] = server_report
        lines.extend(server_report.pop("_lines"))
        listener = await _check_listener(settings)
        report["webhook"] = listener
        lines.append(f"webhook    {listener['message']}")
        ok = server_report["reachable"] or url == LOCAL_SERVER
    else:
        lines.append("network    skipped (--offline)")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
    return EXIT_OK if ok else EXIT_ERROR


async def _check_server(url: str, workflows: dict[str, Any]) -> dict[str, Any]:
    from automata_desktop.services import probe

    out: dict[str, Any] = {"url": url, "reachable": False, "_lines": []}
    lines = out["_lines"]
    if url == LOCAL_SERVER:
        lines.append("comfyui    none configured: the in-process backend runs model-free workflows")
        return out
    found = await probe(url)  # as the GUI's status and readiness checks see it
    caps = found.capabilities
    if caps is None:
        out["message"] = found.message
        lines.append(f"comfyui    {found.message}")
        lines.append("           workflows marked local still run in-process")
        return out
    known = found.object_info
    out.update(reachable=True, version=caps.version, devices=list(found.devices),
               jobs_api=caps.jobs_api, features=sorted(caps.features))
    lines.append(f"comfyui    {url}: ComfyUI {caps.version}; "
                 f"{', '.join(found.devices) or 'no devices'}")
    lines.append(f"           Jobs API {'yes' if caps.jobs_api else 'no'}; feature flags: "
                 f"{', '.join(sorted(caps.features)) or 'none'}")
    pack = known.get("AutomataWebhook")
    stamp = re.search(r"AUTOMATA nodes (\S+)", str((pack or {}).get("description", "")))
    version = stamp.group(1) if stamp else ("unknown version" if pack else None)
    out["node_pack"] = version
    if pack is None:
        lines.append("node pack  AUTOMATA nodes missing: run `automata comfy install-nodes`")
    else:
        from automata_desktop.nodepack import pack_version

        mine = pack_version()
        note = "" if version == mine else f" (this app ships {mine}: run `automata comfy install-nodes`)"
        lines.append(f"node pack  AUTOMATA nodes {version} installed{note}")
    out["workflows"] = {}
    for name, template in sorted(workflows.items()):
        missing = sorted(c for c in template.class_types if c not in caps.node_classes)
        out["workflows"][name] = {"runnable": not missing, "missing_nodes": missing}
        if missing:
            hints = sorted({template.pack_for(c) or "unknown pack" for c in missing})
            lines.append(f"  {name:<22} cannot run: missing {', '.join(missing)} ({'; '.join(hints)})")
        else:
            lines.append(f"  {name:<22} ready")
    return out


async def _check_listener(settings: Settings) -> dict[str, Any]:
    import httpx

    from automata_desktop.webhook import WebhookListener

    async def ignore(_event: Any) -> None:
        return None

    try:
        listener = WebhookListener(secret=settings.webhook_secret, on_event=ignore,
                                   host=settings.webhook_host, port=settings.webhook_port)
        await listener.start()
    except AutomataError as exc:
        # Taken usually means a running AUTOMATA app holds it: ask that one.
        url = f"http://{settings.webhook_host}:{settings.webhook_port}/hooks/health"
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                response = await http.get(url)
            if response.status_code == 200 and response.json().get("app") == "automata-desktop":
                return {"ok": True, "message": f"a running AUTOMATA app listens on {url}"}
        except (httpx.HTTPError, ValueError):
            pass
        return {"ok": False, "message": str(exc)}
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            response = await http.get(listener.health_url)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    finally:
        await listener.stop()
    where = f"{settings.webhook_host}:{settings.webhook_port}"
    return {"ok": ok, "message": f"listener can bind {where} and answers" if ok
            else f"listener on {where} did not answer its own health check"}


# -- webhook / comfy / workflows ---------------------------------------------------------------


def cmd_webhook_serve(args: argparse.Namespace) -> int:
    overrides = {"webhook_host": args.host, "webhook_port": args.port}
    settings = _settings(args, **overrides)
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    from automata_desktop.library.store import Library
    from automata_desktop.webhook import WebhookListener

    library = Library(settings.library_path)

    async def record(event: Any) -> None:
        data = event.payload.data
        print(f"{event.received_at.isoformat()}  {event.payload.type}  {data.generation_id}  "
              f"{len(data.files)} files", flush=True)

    listener = WebhookListener(secret=settings.webhook_secret, on_event=record,
                               host=settings.webhook_host, port=settings.webhook_port,
                               seen_ids=library.seen_webhook_ids())
    await listener.start()
    print(f"listening on {listener.url} (Ctrl-C stops)", flush=True)
    if settings.webhook_host not in ("127.0.0.1", "localhost", "::1"):
        try:
            print(f"give a remote ComfyUI this URL: {listener.public_url()}", flush=True)
        except AutomataError as exc:
            print(f"note: {exc}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await listener.stop()
        library.close()
    return EXIT_OK


def cmd_install_nodes(args: argparse.Namespace) -> int:
    from automata_desktop.nodepack import install_nodes

    report = install_nodes(args.comfyui, link=args.link, secret=_settings(args).webhook_secret)
    print(report.message)
    return EXIT_OK


def _sync_runner(args: argparse.Namespace) -> Any:
    from automata_desktop.library.store import Library
    from automata_desktop.runtime import sync_runner

    settings = _settings(args)
    runner = sync_runner(settings, Library(settings.library_path))
    if runner is None:
        raise ConfigError("sync is not set up: put supabase_url and supabase_anon_key (the public anon "
                          "key) in the settings file, or set AUTOMATA_SUPABASE_URL and "
                          "AUTOMATA_SUPABASE_ANON_KEY")
    return runner


def cmd_account(args: argparse.Namespace) -> int:
    runner = _sync_runner(args)
    try:
        if args.action in ("signup", "signin"):
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                import getpass

                password = getpass.getpass("password: ")
            if args.action == "signup":
                account = runner.auth.sign_up(args.email, password)
                if account is None:
                    from automata_desktop.sync.messages import confirmation_sent

                    print(confirmation_sent(
                        args.email, then=f"run `automata account signin {args.email}`"))
                    return EXIT_OK
            else:
                account = runner.auth.sign_in(args.email, password)
            queued = runner.backfill()
            print(f"signed in as {account.email}; {queued} local generations queued for upload "
                  "(`automata sync` sends them now, the app does it in the background)")
        elif args.action == "signout":
            runner.auth.restore()
            runner.auth.sign_out()
            print("signed out; the local library stays as it is")
        else:
            account = runner.auth.restore()
            print(f"signed in as {account.email}" if account else "not signed in")
            if account and not runner.auth.store.secure:
                print("note: no OS keyring here, so the session is kept in a private file "
                      f"(mode 0600) in {runner.config_dir}")
    finally:
        runner.close()
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    runner = _sync_runner(args)
    try:
        if runner.auth.restore() is None:
            raise ConfigError("not signed in: run `automata account signin EMAIL` first")
        report, pulled = runner.sync_now()
    finally:
        runner.close()
    summary = {"pushed": len(report.pushed), "deleted": len(report.deleted),
               "uploaded_files": report.uploaded, "unchanged_files": report.skipped_files,
               "failed": len(report.failed), "offline": report.offline, "pulled": pulled}
    if args.json:
        print(json.dumps(summary, indent=2))
    elif report.offline:
        print("Supabase is unreachable; everything stays queued and goes out when it is back")
    else:
        print(f"pushed {summary['pushed']} generations ({summary['uploaded_files']} files uploaded, "
              f"{summary['unchanged_files']} unchanged), pulled {pulled}")
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_install_desktop_entry(args: argparse.Namespace) -> int:
    if not sys.platform.startswith("linux"):
        print("install-desktop-entry is for Linux desktops; the Windows and macOS builds carry "
              "their own shortcuts", file=sys.stderr)
        return EXIT_ERROR
    from automata_desktop.desktop_entry import install_desktop_entry

    for path in install_desktop_entry(prefix=args.prefix):
        print(path)
    return EXIT_OK


def cmd_workflows_import(args: argparse.Namespace) -> int:
    from automata_desktop.runtime import shipped_node_packs, shipped_workflow_names
    from automata_desktop.services import fetch_knowledge
    from automata_desktop.workflow_import import cached_knowledge, import_workflow

    settings = _settings(args)
    url = normalize_server_url(args.server) if args.server else settings.server().url
    knowledge = None
    if url != LOCAL_SERVER:
        try:
            knowledge = asyncio.run(fetch_knowledge(url))
        except ComfyError as exc:
            print(f"note: {exc}", file=sys.stderr)
    # The server unreachable (or none): its cached definitions, else the last server's.
    knowledge = knowledge or cached_knowledge(url) or cached_knowledge()
    result = import_workflow(args.file, knowledge=knowledge, name=args.name,
                             add_webhook=args.add_webhook, reserved=shipped_workflow_names(),
                             known_packs=shipped_node_packs())
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
        return EXIT_OK
    print(f"imported {result.name} ({result.source}) -> {result.path}")
    for pname, spec in result.parameters.items():
        print(f"    {pname:<18} {spec['type']:<7} {', '.join(spec['bind'])}")
    for output in result.outputs:
        print(f"    output {output['node']:<11} {output['class_type']} ({output['kind']})")
    for node in result.missing_nodes:
        print(f"missing node   {node.describe()}")
    for model in result.missing_models:
        print(f"missing model  {model.describe()}")
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    return EXIT_OK


def cmd_workflows(args: argparse.Namespace) -> int:
    from automata_desktop.runtime import all_workflows

    workflows = all_workflows()
    if args.json:
        print(json.dumps({n: {"title": w.title, "local": w.local,
                              "parameters": {p.name: p.type for p in w.parameters.values()}}
                          for n, w in workflows.items()}, indent=2))
        return EXIT_OK
    for name, w in sorted(workflows.items()):
        where = "in-process or ComfyUI" if w.local else "ComfyUI"
        print(f"{name:<22} {w.title} ({where})")
        for p in w.parameters.values():
            print(f"    {p.name:<18} {p.type}{' (required)' if p.required else ''}")
    return EXIT_OK


def cmd_workflows_pin(args: argparse.Namespace) -> int:
    from automata_desktop.runtime import all_workflows

    if args.workflow not in all_workflows():
        raise ParameterError(f"no workflow named {args.workflow!r} (see `automata workflows`)")
    settings = load_settings(env={})  # the file's own values: the environment's are not saved
    url = ""
    if args.server:
        url = settings.server(args.server).url
        if url not in {LOCAL_SERVER, *(s.url for s in settings.servers)}:
            raise ParameterError(f"{args.server} is not a configured server; add it in "
                                 "Settings first")
    save_settings(settings.with_pin(args.workflow, url), settings_path())
    print(f"{args.workflow} runs on {url} when several servers share the work" if url
          else f"{args.workflow} runs on any capable server")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from automata_desktop.core.scene_io import load_scene
    from automata_desktop.core.scene_report import describe, format_report

    # MeshError is an AutomataError: main() prints its one line and exits 3.
    report = describe(load_scene(args.file, up_axis=args.up_axis))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
