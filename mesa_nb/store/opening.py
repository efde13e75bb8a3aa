"""Open a store for a sweep: check the place, then write or check its manifest.

A new store gets a manifest (format, sweep definition, metadata, the model's
fingerprint); an existing one must hold the same sweep, written by the same
model code (unless forced: the new code is then recorded, the old kept).
"""

from __future__ import annotations

import json
from typing import Any

from ..core.errors import StoreError
from ..core.plan import SweepPlan
from .atomic import AtomicFiles, is_temporary
from .encoding import to_json
from .manifest import (
    FORMAT,
    READABLE_FORMATS,
    differences,
    fingerprint_change,
    manifest_problem,
)
from .names import BOOKKEEPING, StoreLayout


def read_manifest(layout: StoreLayout) -> dict[str, Any]:
    """The stored manifest; refuses what is not a mesa_nb store, or a damaged
    one."""
    path = layout.manifest
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}): the store is "
            "damaged; restore manifest.json from a backup or use a new store "
            "directory."
        ) from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found not in READABLE_FORMATS:
        raise StoreError(
            f"{layout.root} is not a mesa_nb results store (format {found!r}"
            f"{', made by a newer mesa_nb' if _newer(found) else ''}); "
            "choose another directory."
        )
    problem = manifest_problem(manifest)
    if problem:
        raise StoreError(
            f"{path} is damaged: {problem}; restore manifest.json from a backup or "
            "use a new store directory."
        )
    return manifest


def check_location(layout: StoreLayout) -> None:
    """Refuse a file, or a directory holding something else than a store."""
    root = layout.root
    if root.exists() and not root.is_dir():
        raise StoreError(
            f"{root} is a file, not a directory: give a new or empty "
            "directory (or an existing store) for store=."
        )
    if root.is_dir() and not layout.manifest.is_file():
        check_empty(layout)


def check_empty(layout: StoreLayout) -> None:
    """Refuse a directory without a manifest that holds other files."""
    root = layout.root
    if not root.is_dir():
        return
    others = [
        p.name
        for p in root.iterdir()
        if p.name not in BOOKKEEPING and not is_temporary(p.name)
    ]
    if others:
        raise StoreError(
            f"{root} exists and is not empty but has no manifest.json: "
            "give an empty or new directory."
        )


def prepare_manifest(
    layout: StoreLayout,
    files: AtomicFiles,
    plan: SweepPlan,
    metadata: dict[str, Any],
    definition: dict[str, Any],
    fingerprint: dict[str, Any],
    force: bool,
) -> None:
    """Write the manifest of a new store, or check an existing store's
    (under the store's lock)."""
    if layout.manifest.is_file():
        _check_resume(layout, files, definition, fingerprint, force)
        return
    check_empty(layout)
    manifest = {
        "format": FORMAT,
        "definition": definition,
        "metadata": {**plan.describe(), **metadata, "model_fingerprint": fingerprint},
    }
    write_manifest(layout, files, manifest)


def write_manifest(
    layout: StoreLayout, files: AtomicFiles, manifest: dict[str, Any]
) -> None:
    """Write ``manifest.json`` atomically and durably."""
    text = json.dumps(to_json(manifest), indent=2)
    files.write(layout.manifest, text.encode())


def _check_resume(
    layout: StoreLayout,
    files: AtomicFiles,
    definition: dict[str, Any],
    fingerprint: dict[str, Any],
    force: bool,
) -> None:
    manifest = read_manifest(layout)
    changed = differences(manifest["definition"], definition)
    if changed:
        raise StoreError(
            f"{layout.root} holds a different sweep (it differs in: "
            f"{', '.join(changed)}). Use a new store directory for this "
            "sweep, or run the stored definition again to resume it."
        )
    metadata = manifest["metadata"]
    change = fingerprint_change(metadata.get("model_fingerprint"), fingerprint)
    if change and not force:
        raise StoreError(
            f"{layout.root} was written by other model code: {change} since its "
            "runs were stored. Pass force=True (%%batchrun --force) to resume "
            "anyway, or use a new store."
        )
    rewrite = manifest["format"] != FORMAT
    if change:  # forced: the new code is recorded, the old one kept
        history = metadata.setdefault("earlier_fingerprints", [])
        history.append(metadata.get("model_fingerprint"))
        metadata["model_fingerprint"] = fingerprint
        rewrite = True
    if rewrite:
        manifest["format"] = FORMAT
        write_manifest(layout, files, manifest)


def _newer(found: Any) -> bool:
    return isinstance(found, str) and found.startswith("mesa_nb-store/")
