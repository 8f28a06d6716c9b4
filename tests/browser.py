"""Headless Chromium for the tests and the docs: a page rendered to a PNG, or its DOM after loading.

Each run gets a fresh profile folder, no network services (no updates, sync or QUIC), and a
time limit; `CHROMIUM` is None when no Chromium is installed (the tests skip).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def run(page: Path, *args: str, timeout: float = 120) -> str:
    """Chromium on the local file `page` with `args`; its standard output."""
    if CHROMIUM is None:
        raise RuntimeError("Chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="sheetprop-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, Path(page).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 1800) -> Path:
    """The first `width` × `height` pixels of the page, as a PNG."""
    run(page, f"--screenshot={Path(png).resolve()}", f"--window-size={width},{height}")
    return png


def dump_dom(page: Path) -> str:
    """The page's DOM, serialised once it has loaded (and any script of it has run)."""
    return run(page, "--dump-dom")
