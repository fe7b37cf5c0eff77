"""Starts everywhere: find out whether Qt can open a window before the studio tries to.

When the platform plugin cannot load (a fresh Debian/Ubuntu machine lacks the xcb libraries
Qt 6 needs), Qt prints a diagnostic that names no package and aborts the whole process, so the
studio cannot catch it. ``probe_platform`` starts a QGuiApplication in a child process; if that
child dies, ``failure_message`` turns Qt's text and the plugin's unresolved dependencies (ldd)
into one paragraph naming the missing libraries and the apt-get command that installs them.

No Qt import at module level: this runs before anything Qt-related in the parent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT_S = 30.0
# What Qt 6's xcb plugin needs on Debian/Ubuntu beyond a basic X11 system (Qt's own
# "Qt for X11 Requirements" list); suggested when Qt's text names no library.
XCB_PACKAGES = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-randr0",
    "libxcb-shape0",
    "libxcb-xfixes0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libegl1",
    "libfontconfig1",
    "libdbus-1-3",
)
# Sonames whose Debian package does not follow the usual "name + soversion" rule.
SPECIAL_PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libxcb-util.so.1": "libxcb-util1",
    "libfreetype.so.6": "libfreetype6",
}
_CANNOT_OPEN = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*): cannot open shared object file")
_IS_NEEDED = re.compile(r"([\w.+-]+) or ([\w.+-]+) is needed")
_NOT_FOUND = re.compile(r"^\s*(lib[\w.+-]+?\.so(?:\.\d+)*)\s*=>\s*not found", re.M)
_RESOLVED = re.compile(r"^\s*(lib[\w.+-]+?\.so(?:\.\d+)*)\s*=>\s*/", re.M)
_PLUGIN = re.compile(r'Could not load the Qt platform plugin "([\w-]+)"')


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    output: str = ""  # the child's stdout and stderr (Qt's diagnostics)
    platform: str = ""


def package_for(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname`` (libxcb-icccm.so.4 -> libxcb-icccm4)."""
    if soname in SPECIAL_PACKAGES:
        return SPECIAL_PACKAGES[soname]
    name, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    name = name.lower()
    if not version:
        return name
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries(qt_output: str, ldd_output: str = "") -> list[str]:
    """Sonames (or package names, when Qt names a package) missing according to Qt's text and
    ``ldd`` of the plugin, in the order first named, without repeats."""
    found: list[str] = []
    resolved = {package_for(so) for so in _RESOLVED.findall(ldd_output)}
    for m in _IS_NEEDED.finditer(qt_output):  # "xcb-cursor0 or libxcb-cursor0 is needed"
        # Qt 6.5+ prints this hint whenever xcb fails; ldd tells whether it is the cause.
        if m.group(2) not in resolved:
            found.append(m.group(2))
    found += _CANNOT_OPEN.findall(qt_output)
    found += _NOT_FOUND.findall(ldd_output)
    by_package: dict[str, str] = {}
    for name in found:  # one name per package: Qt says "libxcb-cursor0", ldd the soname
        by_package.setdefault(name if ".so" not in name else package_for(name), name)
    return list(by_package.values())


def packages_for(missing: list[str]) -> list[str]:
    out = [m if ".so" not in m else package_for(m) for m in missing]
    return list(dict.fromkeys(out))


def failure_message(qt_output: str, ldd_output: str = "", platform: str = "") -> str:
    """One paragraph: what failed, which libraries are missing, the command that installs
    them, and the headless way out."""
    m = _PLUGIN.search(qt_output)
    platform = m.group(1) if m else (platform or "xcb")
    if "could not connect to display" in qt_output and platform == "xcb":
        return (
            "EBM Studio cannot open a window: Qt found no X display (DISPLAY is "
            f"{os.environ.get('DISPLAY', 'not set')!r}). Run it in a desktop session, or over "
            "ssh with X forwarding (ssh -X), or headless with QT_QPA_PLATFORM=offscreen; the "
            "command-line tools (ebm-studio train, eval, plot, sample) need no window."
        )
    missing = missing_libraries(qt_output, ldd_output)
    packages = packages_for(missing) if missing else list(XCB_PACKAGES)
    named = (
        f"these system libraries are missing: {', '.join(missing)}"
        if missing
        else "Qt did not say which system library is missing; the usual ones are listed below"
    )
    return (
        f'EBM Studio cannot open a window: Qt could not load its "{platform}" platform plugin, '
        f"because {named}. On Debian or Ubuntu install them with: "
        f"sudo apt-get install -y {' '.join(packages)} "
        "(other systems: the packages that provide these libraries). Then run ebm-studio "
        "again; QT_DEBUG_PLUGINS=1 shows Qt's full diagnostics, and the command-line tools "
        "(ebm-studio train, eval, plot, sample) need no window."
    )


def plugin_path(platform: str = "xcb") -> Path | None:
    """The platform plugin's shared library inside the installed PySide6, if any."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
    return p if p.exists() else None


def ldd_of(path: Path | None) -> str:
    """``ldd path``'s output ('' where ldd or the file is missing)."""
    if path is None or shutil.which("ldd") is None:
        return ""
    try:
        r = subprocess.run(
            ["ldd", str(path)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return r.stdout + r.stderr


PROBE_CODE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(sys.argv[:1])\n"
    "print(app.platformName())\n"
)


def needs_probe(environ: dict[str, str] | None = None) -> bool:
    """Only Linux/BSD desktops load system libraries for their platform plugin; headless
    platforms (offscreen, minimal) and macOS/Windows load none that can be missing."""
    env = os.environ if environ is None else environ
    if env.get("EBM_STUDIO_SKIP_QT_PROBE"):
        return False
    if sys.platform in ("darwin", "win32"):
        return False
    return env.get("QT_QPA_PLATFORM", "") not in ("offscreen", "minimal")


def start_probe() -> subprocess.Popen | None:
    """Start a QGuiApplication in a child Python (Qt aborts that process, not this one); the
    caller imports its own modules meanwhile, so the probe costs little start-up time."""
    if not needs_probe():
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-c", PROBE_CODE],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except OSError:
        return None  # no child: let the real start-up decide


def finish_probe(child: subprocess.Popen | None, timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    if child is None:
        return ProbeResult(True)
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return ProbeResult(True)  # slow, not broken: let the real start-up decide
    lines = (out or "").strip().splitlines()
    return ProbeResult(child.returncode == 0, out or "", lines[-1] if lines else "")


def explain(result: ProbeResult) -> str | None:
    """None when a window can open; else the paragraph to print."""
    if result.ok:
        return None
    m = _PLUGIN.search(result.output)
    platform = m.group(1) if m else os.environ.get("QT_QPA_PLATFORM", "xcb") or "xcb"
    return failure_message(result.output, ldd_of(plugin_path(platform)), platform)


def check_platform() -> str | None:
    """Probe and explain in one call (the probe's time is not hidden)."""
    return explain(finish_probe(start_probe()))


__all__ = [
    "ProbeResult",
    "check_platform",
    "failure_message",
    "missing_libraries",
    "package_for",
    "explain",
    "finish_probe",
    "start_probe",
]
