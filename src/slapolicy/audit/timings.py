"""How long each step of an audit took, kept in ``timings.json`` beside its results.

Durations differ from run to run, so they stay out of ``results.json`` and the other
reproducible outputs (which must be byte-identical on the same inputs); the manifest
hashes ``timings.json`` as a non-reproducible output, like the executed notebook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TIMINGS = "timings.json"


class StepClock:
    """Seconds per named step; a step timed twice adds up."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.steps[name] = round(self.steps.get(name, 0.0) + spent, 3)

    def write(self, folder: Path) -> Path:
        """Add these steps to ``folder/timings.json`` (a later writer's steps join the
        earlier ones: the kernel writes its steps, the CLI adds the notebook's)."""
        path = folder / TIMINGS
        steps: dict[str, float] = {}
        if path.is_file():
            try:
                steps = dict(json.loads(path.read_text(encoding="utf-8")).get("steps", {}))
            except (OSError, ValueError, AttributeError):
                steps = {}  # informational only: an unreadable file is replaced
        steps.update(self.steps)
        body = {"unit": "seconds", "steps": steps}
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8", newline="\n")
        return path
