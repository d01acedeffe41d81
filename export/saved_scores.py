"""A fit's score table saved row by row as it is made, so a fit that is stopped resumes where it was.

A strength fit scores every case at every strength; for a model told the damage that is hours of CPU, more than
one sitting leaves. Each scored case is appended to a JSON-lines file as soon as it is made; a later run with the
same file scores only the cases it lacks. A row is reused only for the same case, model and grid, scored by the
same runtime:

- the case is named by its face, damage and size and by digests of its original and of the pixels its file reads
  back as (the same face in gray or upscaled is another case);
- the file's first line records the model file's SHA-256, the strengths, a digest of the source that makes,
  reads, analyses, restores and scores a file (:func:`runtime_digest`: the modules the fit's source imports,
  read from the files, taken as ``fit_strength`` is imported) and the versions of the libraries that decode and
  run it. Where any differs, the saved rows are set aside (as ``NAME.jsonl.old``, ``NAME.jsonl.1.old``, ...) and
  the file starts afresh: a change to that source may change every score, while one to the commands or the
  report does not.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import itertools
import json
import logging
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


# The modules whose source makes and scores a case: the files are made by export.archive and scored by
# export.fit_strength, through the facerestore modules they import.
SCORING_ROOTS = ("export.archive", "export.fit_strength")
RUNTIME_PACKAGE = "facerestore"


def runtime_digest(roots: Iterable[str] = SCORING_ROOTS, package: str = RUNTIME_PACKAGE) -> str:
    """A digest of the source that makes and scores a case: the files of :func:`scoring_modules`, read from disk,
    so it does not depend on what the process imported before (a script that imports ``export.fit_strength``
    itself digests what ``python -m export`` does)."""
    return _digest(*(part for name in scoring_modules(roots, package)
                     for part in (name.encode(), _module_file(name).read_bytes())))


def scoring_modules(roots: Iterable[str] = SCORING_ROOTS, package: str = RUNTIME_PACKAGE) -> tuple[str, ...]:
    """``roots`` and every module of ``package`` they import, directly or through one another, at the top of a
    module or inside a function: read from their source, not from what is loaded."""
    seen = set(roots)
    todo = list(seen)
    while todo:
        for name in _imported(todo.pop()):
            if (name == package or name.startswith(package + ".")) and name not in seen and _module_file(name):
                seen.add(name)
                todo.append(name)
    return tuple(sorted(seen))


def _imported(name: str) -> set[str]:
    """The modules ``name``'s source imports, each with its parent packages, and for ``from a import b`` both ``a``
    and ``a.b`` (``b`` may be a module or a name in ``a``: only files that exist are followed)."""
    path = _module_file(name)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found | {".".join(n.split(".")[:i]) for n in found for i in range(1, n.count(".") + 1)}


def _module_file(name: str) -> Path | None:
    """The source file of module ``name`` beside its top package's, without importing it; None where there is none."""
    spec = importlib.util.find_spec(name.split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*name.split(".")[1:])
    return next((p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()), None)


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
        self.saving = runtime_digest() == runtime
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
