"""A fit's score table saved row by row as it is made, so a fit that is stopped resumes where it was.

A strength fit scores every case at every strength; for a model told the damage that is hours of CPU, more than
one sitting leaves. Each scored case is appended to a JSON-lines file as soon as it is made; a later run with the
same file scores only the cases it lacks. A row is reused only for the same case, model and grid, scored by the
same runtime:

- the case is named by its face, damage and size and by digests of its original and of the pixels its file reads
  back as (the same face in gray or upscaled is another case);
- the file's first line records the model file's SHA-256, the strengths, a digest of the source that makes,
  reads, analyses, restores and scores a file (:func:`runtime_digest`, taken as the fit's modules are imported) and
  the versions of the libraries that decode and run it. Where any differs, the saved rows are set aside (as
  ``NAME.jsonl.old``, ``NAME.jsonl.1.old``, ...) and the file starts afresh: a change to that source may change
  every score, while one to the commands or the report does not.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from facerestore.atomic import write_atomic

log = logging.getLogger(__name__)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


# Each digest runtime_digest gave, with the modules it covered: a check of the files later reads the same ones,
# though the process may have imported more modules since (a test run imports every command).
_COVERED: dict[str, tuple[str, ...]] = {}


def runtime_digest(modules: Iterable[str] | None = None) -> str:
    """A digest of the source that makes and scores a case: by default every module of ``facerestore`` this
    process has loaded (``fit_strength`` imports the whole path that reads, analyses and restores a file before it
    scores), ``export.archive``, which makes the files, and ``export.fit_strength``, which scores them; or the
    named ``modules``, all loaded."""
    from . import archive, fit_strength

    if modules is None:
        modules = [name for name, module in list(sys.modules.items())
                   if (name == "facerestore" or name.startswith("facerestore."))
                   and getattr(module, "__file__", None)] + [archive.__name__, fit_strength.__name__]
    names = tuple(sorted(set(modules)))
    digest = _digest(*(part for name in names
                       for part in (name.encode(), Path(sys.modules[name].__file__).read_bytes())))
    _COVERED.setdefault(digest, names)
    return digest


def libraries() -> dict[str, str]:
    """The versions of the libraries that decode, run and score a case: an upgrade may move a score a little."""
    import onnxruntime
    import PIL

    return {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "pillow": PIL.__version__}


def case_key(face: str, degradation: str, side: int, hq: np.ndarray, pixels: np.ndarray) -> str:
    """A case's name in the file: what it is called and what it holds."""
    return _digest(face.encode(), degradation.encode(), str(side).encode(), str(hq.shape).encode(),
                   np.ascontiguousarray(hq).tobytes(), str(pixels.shape).encode(),
                   np.ascontiguousarray(pixels, dtype=np.float32).tobytes())


class SavedScores:
    """The rows saved in ``path`` for ``model`` scored at ``grid`` by the source whose :func:`runtime_digest` was
    ``runtime`` when it was imported; :meth:`add` appends one at once.

    Where that source has changed on disk since (a commit while a fit runs), this process scores with the code it
    loaded but a digest read now would name the new one: its rows are then neither reused nor saved."""

    def __init__(self, path: Path, model: Path, grid: tuple[float, ...], runtime: str):
        self.path = path
        self.header = {"model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(), "grid": list(grid),
                       "runtime": runtime, "libraries": libraries()}
        self.rows: dict[str, tuple[float, list[float]]] = {}
        self.saving = runtime_digest(_COVERED.get(runtime)) == runtime
        if not self.saving:
            log.warning("the source that scores has changed on disk since this fit started: its scores are not "
                        "saved to %s, nor are saved ones reused", path)
            return
        if path.is_file():
            self._read()
        if not self.rows:
            write_atomic(path, json.dumps(self.header) + "\n")

    def _read(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:
            header = None
        if header != self.header:
            aside = next(p for n in itertools.count()
                         if not (p := self.path.with_name(f"{self.path.name}{f'.{n}' if n else ''}.old")).exists())
            self.path.replace(aside)
            log.warning("%s was scored with another model, grid or runtime: kept as %s, scoring afresh",
                        self.path, aside)
            return
        for line in lines[1:]:
            try:
                row = json.loads(line)
                self.rows[row["key"]] = (float(row["input"]), [float(v) for v in row["psnr"]])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short when the fit was stopped: that case is scored again
        if len(lines) > 1:
            log.info("%s: %d scored cases reused", self.path, len(self.rows))
        # Rewritten whole, so that a line cut short does not run into the next one appended.
        write_atomic(self.path, "".join(json.dumps(line) + "\n" for line in [self.header] + [
            {"key": k, "input": i, "psnr": p} for k, (i, p) in self.rows.items()]))

    def get(self, key: str) -> tuple[float, list[float]] | None:
        return self.rows.get(key)

    def add(self, key: str, input_psnr: float, psnr: list[float]) -> None:
        if not self.saving:
            return
        self.rows[key] = (input_psnr, psnr)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "input": input_psnr, "psnr": psnr}) + "\n")
            f.flush()
