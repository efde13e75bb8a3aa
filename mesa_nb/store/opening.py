"""Open a store for a sweep: check the place, then write or check its manifest.

A new store gets a manifest (format, sweep definition, metadata, the model's
fingerprint); an existing one must hold the same sweep, written by the same
model code (unless forced: the new code is then recorded, the old kept).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import StoreError
from ..core.plan import SweepPlan
from .atomic import AtomicFiles, is_temporary
from .encoding import POINT_VALUES, encode_points, to_json
from .fingerprint import fingerprint_change
from .manifest import (
    FORMAT,
    READABLE_FORMATS,
    align_with_store,
    differences,
    manifest_problem,
    sweep_definition,
)
from .names import BOOKKEEPING, StoreLayout
from .reader import check_part_file


def read_manifest(layout: StoreLayout) -> dict[str, Any]:
    """The stored manifest; refuses what is not a mesa_nb store, or a damaged
    one."""
    path = layout.manifest
    try:
        check_part_file(layout.root, path, os.lstat(path))  # no link, no device
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


@dataclass(frozen=True)
class Opening:
    """What a sweep brings to the store it opens: its plan, what the manifest
    records besides the definition, its code's fingerprint, and ``force``
    (resume although that code changed)."""

    plan: SweepPlan
    metadata: dict[str, Any]
    fingerprint: dict[str, Any]
    force: bool = False


def prepare_manifest(
    layout: StoreLayout, files: AtomicFiles, opening: Opening
) -> SweepPlan:
    """Write the manifest of a new store, or check an existing store's
    (under the store's lock); return the plan laid out as the store numbers
    its runs (a store that grows gets its new definition written)."""
    if layout.manifest.is_file():
        return _check_resume(layout, files, opening)
    check_empty(layout)
    plan = opening.plan
    manifest = {
        "format": FORMAT,
        "definition": sweep_definition(plan),
        "metadata": {
            **plan.describe(),
            **opening.metadata,
            "model_fingerprint": opening.fingerprint,
        },
    }
    write_manifest(layout, files, manifest)
    return plan


def write_manifest(
    layout: StoreLayout, files: AtomicFiles, manifest: dict[str, Any]
) -> None:
    """Write ``manifest.json`` atomically and durably."""
    text = json.dumps(to_json(manifest), indent=2)
    files.write(layout.manifest, text.encode())


def _check_resume(
    layout: StoreLayout, files: AtomicFiles, opening: Opening
) -> SweepPlan:
    plan, metadata, fingerprint = opening.plan, opening.metadata, opening.fingerprint
    manifest = read_manifest(layout)
    try:
        aligned, grows = align_with_store(manifest["definition"], plan)
    except StoreError as exc:
        raise StoreError(f"{layout.root}: {exc}") from None
    stored_metadata = manifest["metadata"]
    change = fingerprint_change(stored_metadata.get("model_fingerprint"), fingerprint)
    if change and not opening.force:
        raise StoreError(
            f"{layout.root} was written by other model code: {change} since its "
            "runs were stored. Pass force=True (%%batchrun --force) to resume "
            "anyway, or use a new store."
        )
    rewrite = manifest["format"] != FORMAT
    if change:  # forced: the new code is recorded, the old one kept
        history = stored_metadata.setdefault("earlier_fingerprints", [])
        history.append(stored_metadata.get("model_fingerprint"))
        stored_metadata["model_fingerprint"] = fingerprint
        rewrite = True
    if grows:  # the store's sweep is now the larger one; what it was is kept
        before = manifest["definition"]
        was = {"n_points": len(before["points"]), "iterations": before["iterations"]}
        if "adaptive" in before:
            was["precision"] = before["adaptive"].get("precision")
            was["max_iterations"] = before["adaptive"].get("max_iterations")
        stored_metadata.setdefault("grown_from", []).append(was)
        manifest["definition"] = sweep_definition(aligned)
        stored_metadata[POINT_VALUES] = encode_points(aligned.space.points)
        stored_metadata.update(
            {
                k: v
                for k, v in {**aligned.describe(), **metadata}.items()
                if k not in ("created_at",)
            }
        )
        rewrite = True
    if rewrite:
        manifest["format"] = FORMAT
        write_manifest(layout, files, manifest)
    return aligned


def record_round(layout: StoreLayout, files: AtomicFiles, plan: SweepPlan) -> None:
    """Write the layout of an auto sweep's next round into the manifest
    before any of its runs starts, so a resume numbers them alike. Only the
    layout and the replicates change: the sweep stays the one stored."""
    manifest = read_manifest(layout)
    definition = sweep_definition(plan)
    changed = differences(
        manifest["definition"], definition, skip=("layout", "iterations")
    )
    if changed:
        raise StoreError(
            f"{layout.root}: a round of the sweep would change the stored definition "
            f"({', '.join(changed)}); this is a bug in mesa_nb, please report it."
        )
    manifest["definition"] = definition
    manifest["metadata"].update({"iterations": plan.iterations, "n_runs": plan.n_runs})
    write_manifest(layout, files, manifest)


def _newer(found: Any) -> bool:
    return isinstance(found, str) and found.startswith("mesa_nb-store/")
