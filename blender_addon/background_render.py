"""Render Dataset off Blender's main thread: a background Blender (`blender -b`, or Python with the bpy
module) renders while the sidebar's modal operator polls it, so the interface never freezes.

The parent writes the sidebar's `RenderOptions` to JSON; the child (`child_main`) turns them into
settings exactly as the sidebar does and runs render.py's loop (`render_command.render_to_stdout`:
the folder lock, one progress line per sample, errors in one line). Cancelling ends the child within
a second (terminate, then kill); every finished sample is already on disk, so starting again resumes.
No bpy at import: the parent side is plain subprocess handling, tested without a window.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .core.render_options import RenderOptions

__all__ = [
    "BackgroundRender",
    "JobState",
    "child_command",
    "child_main",
    "options_from_json",
    "options_to_json",
]

ADDON_DIR = Path(__file__).resolve().parent
_PROGRESS = re.compile(r"\[\s*(\d+)/(\d+)\]\s+(\S+)\s+(.*)")
_CANCEL_GRACE_S = 0.5  # after terminate(); then kill(): cancelled within a second
# The child imports the add-on folder as a top-level package (its modules import each other
# relatively), whatever Blender named it: `bl_ext.user_default.seqcore` or a checkout's folder.
_BOOTSTRAP = """\
import importlib, sys
sys.path[:0] = {paths!r}
argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
sys.exit(importlib.import_module({package!r} + ".background_render").child_main(argv))
"""


def options_to_json(options: RenderOptions) -> str:
    return json.dumps(dataclasses.asdict(options))


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def options_from_json(text: str) -> RenderOptions:
    return RenderOptions(**{k: _tuples(v) for k, v in json.loads(text).items()})


def child_main(argv: list[str]) -> int:
    """The child's entry: `OPTIONS.json OUT DEVICE` -> render.py's loop, exit status as render.py."""
    from .core.render_plan import Shard
    from .render_command import render_options_to_stdout, run_reporting_errors

    options_file, out, device = argv
    options = options_from_json(Path(options_file).read_text(encoding="utf-8"))
    return run_reporting_errors(
        lambda: render_options_to_stdout(options, Path(out), Shard(), device)
    )


def child_command(blender_binary: str, options_file: Path, out: Path, device: str) -> list[str]:
    """The child's command line: `blender -b --factory-startup` (the user's preferences and
    add-ons stay out of it), or this Python where bpy is a module (binary_path is then empty)."""
    import shared_schemas  # the child finds it where the parent did: the extension's wheel or a checkout

    paths = [str(ADDON_DIR.parent), str(Path(shared_schemas.__file__).resolve().parents[1])]
    code = _BOOTSTRAP.format(paths=paths, package=ADDON_DIR.name)
    args = [str(options_file), str(out), device]
    if blender_binary:
        return [
            blender_binary, "-b", "--factory-startup", "--python-exit-code", "1",
            "--python-expr", code, "--", *args,
        ]  # fmt: skip
    return [sys.executable, "-c", code, *args]


def _error_line(stderr: list[str]) -> str:
    """render.py's one-line error, else the child's last line on stderr (a crash, a traceback)."""
    ours = [x for x in stderr if x.startswith("render.py: ")]
    lines = ours or [x for x in stderr if x.strip()]
    return lines[-1].removeprefix("render.py: error: ") if lines else ""


@dataclass(frozen=True)
class JobState:
    done: int
    total: int
    last: str  # the last progress line, for the status bar
    running: bool
    returncode: int | None
    error: str  # the child's one-line error (stderr), when it failed


class BackgroundRender:
    """One background render of one folder; `poll()` without blocking, `cancel()` within a second."""

    def __init__(
        self, options: RenderOptions, out: Path, device: str = "cpu", blender_binary: str = ""
    ):
        self.out = Path(out)
        self._tmp = Path(tempfile.mkdtemp(prefix="seqcore-job-"))
        options_file = self._tmp / "options.json"
        options_file.write_text(options_to_json(options), encoding="utf-8")
        command = child_command(blender_binary, options_file, self.out, device)
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        self._state = JobState(0, 0, "", True, None, "")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self._tmp,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # Windows: no console
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self._lines.put)),
            threading.Thread(target=self._read, args=(self.process.stderr, self._stderr.append)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    @staticmethod
    def _read(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def poll(self) -> JobState:
        """The progress read so far; `running` False once the child has ended."""
        state = self._state
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            match = _PROGRESS.match(line)
            if match:
                state = dataclasses.replace(
                    state, done=int(match[1]), total=int(match[2]), last=line.strip()
                )
        code = self.process.poll()
        if code is not None:
            for reader in self._readers:
                reader.join(timeout=5)
            if not self._lines.empty():
                self._state = state
                return self.poll()
            error = _error_line(self._stderr) if code else ""
            state = dataclasses.replace(state, running=False, returncode=code, error=error)
            self._cleanup()
        self._state = state
        return state

    def cancel(self) -> None:
        """End the child now: terminate, kill after a moment; finished samples stay on disk."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        for path in self._tmp.glob("*"):
            path.unlink(missing_ok=True)
        try:
            self._tmp.rmdir()
        except OSError:
            pass
