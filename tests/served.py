"""`sheetprop serve` as a real process, for the browser tests, the docs' picture and the benchmark.

`Served(folder, *options)` starts `python -m sheetprop serve --port 0 …` from this checkout,
waits for the line that says where it listens (the first grading warms the engine up before
it), and `stop()` sends SIGTERM, as `kill` or Ctrl-C would, and returns the exit code. Its
log goes to `folder/serve.log`; the access log to `folder/access.log`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_LIMIT = 120.0  # seconds to start, warm-up included; a server that takes longer is broken


class Served:
    def __init__(self, folder: Path, *options: str, env: dict[str, str] | None = None):
        self.log = Path(folder) / "serve.log"
        environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        with open(self.log, "w") as log, open(Path(folder) / "access.log", "w") as access:
            self.process = subprocess.Popen([sys.executable, "-m", "sheetprop", "serve", "--port", "0", *options],
                                            stdin=subprocess.DEVNULL, stdout=access, stderr=log, cwd=folder,
                                            env=environment)
        deadline = time.monotonic() + START_LIMIT
        while not (found := re.search(r"on (http://\S+/) ", self.log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"sheetprop serve did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.url = found[1]

    def stop(self) -> int:
        """SIGTERM, then the exit code (SIGKILL if it has not stopped within a minute)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
