"""Edits applied to sets of faces: move each face along a direction in W, z or c, keep its identity (seed, index,
z, c), and save the edited faces, which render from their stored w when the edit was in W, as a new collection."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from explorer.faces import Face, faces_from_arrays, latents_batch
from explorer.latent_ops import apply_direction

SPACE_LABELS = {"w": "W", "z": "z", "c": "c"}


@dataclass(frozen=True)
class EditDirection:
    """A direction to move faces along: a vector (D,) in one space, and what strength 1 means there."""

    label: str  # what the user chose ("Smiling · mean (W)", "saved: smile")
    space: str  # "w" | "z" | "c"
    vector: np.ndarray  # (D,) float32; applied as a unit vector
    unit: float = 1.0  # latent length of strength 1: σ of the faces it was built from, or 1 (latent units)
    unit_name: str = "latent units"

    def describe(self, strength: float) -> str:
        """'Smiling · mean (W) at +1.5 σ'."""
        return f"{self.label} at {strength:+g} {self.unit_name}"


def from_edit(d) -> EditDirection:
    """The Edit page's direction (gan.edits.Direction): strength in σ of its building faces along it."""
    return EditDirection(f"{d.attribute} · {d.method} ({SPACE_LABELS[d.space]})", d.space,
                         np.asarray(d.vector, np.float32), float(d.sigma), "σ")


def from_saved(d) -> EditDirection:
    """A saved direction (explorer.store.DirectionInfo): strength in latent units, as on the Directions page."""
    return EditDirection(f"saved: {d.name} ({SPACE_LABELS[d.space]})", d.space, np.asarray(d.vector, np.float32))


def recipe_faces(recipe: dict, seed: int, checkpoint: str, names: tuple[str, ...]) -> tuple[list[Face], np.ndarray | None]:
    """The faces of a gan.recipe direction recipe (the Edit page's strip: z, c and w as exact float32 lists) and their
    w (n, w_dim), None for a generator without W."""
    z, c = np.asarray(recipe["z"], np.float32), np.asarray(recipe["c"], np.float32)  # (n, z_dim), (n, c_dim)
    w = None if recipe.get("w") is None else np.asarray(recipe["w"], np.float32)    # (n, w_dim)
    return faces_from_arrays(z, c, np.full(len(z), seed), np.arange(len(z)), checkpoint, names), w


def edit_problem(faces: list[Face], direction: EditDirection, dims: dict[str, int | None], what: str) -> str | None:
    """Why `direction` cannot move these faces (None when it can): no faces, a space this checkpoint lacks, a vector of
    the wrong size, or a z / c direction on faces drawn from a stored w (moving z or c would not change them).
    dims: {"w": w_dim or None, "z": z_dim, "c": c_dim}; what: how to name the faces ("collection smiling")."""
    if not faces:
        return f"{what} has no faces of this checkpoint to edit."
    space = SPACE_LABELS[direction.space]
    if dims.get(direction.space) is None:
        return f"{direction.label} is a direction in {space}, and this checkpoint has no {space} space."
    if len(direction.vector) != dims[direction.space]:
        return (f"{direction.label} has {len(direction.vector)} values; this checkpoint's {space} has "
                f"{dims[direction.space]}.")
    in_w = sum(f.w is not None for f in faces)
    if in_w and direction.space != "w":
        return (f"{what} holds {in_w} face{'s' * (in_w != 1)} drawn from a stored w (edited in W): a {space} direction "
                f"would not change {'them' if in_w != 1 else 'it'}. Choose a W direction.")
    return None


def edit_faces(faces: list[Face], w: np.ndarray | None, direction: EditDirection, strength: float,
               origin: str) -> list[Face]:
    """The faces moved by strength · unit along the (unit) direction. In W each face gets w' = w + α·d (w (N, w_dim):
    the faces' own w, stored or mapped) and renders from it; in z or c the face's z or c moves. Seed, index and
    (for W) z and c stay as the face's identity."""
    step = [strength * direction.unit]
    out = []
    for i, f in enumerate(faces):
        if direction.space == "w":
            moved = {"w": apply_direction(w[i], direction.vector, step)[0]}  # (w_dim,) float32
        else:
            base = f.z if direction.space == "z" else f.c
            moved = {direction.space: apply_direction(base, direction.vector, step)[0]}
        out.append(replace(f, origin=origin, img=None, **moved))
    return out


def collection_problem(info, checkpoint_id: str) -> str | None:
    """Why a saved collection (explorer.store.CollectionInfo) cannot be edited on this checkpoint, or None."""
    if info.count == 0:
        return f"Collection **{info.name}** is empty: save faces to it first."
    if checkpoint_id not in info.checkpoint_ids:
        return (f"Collection **{info.name}** holds faces of checkpoint {', '.join(info.checkpoint_ids)}, not of this "
                f"one ({checkpoint_id}): its latents would draw other faces here. Choose that checkpoint in the sidebar.")
    return None


def name_problem(name: str, existing: list[str]) -> str | None:
    """Why `name` cannot be a new collection's name (empty, or taken), or None."""
    if not name.strip():
        return "Name the new collection."
    if name.strip() in existing:
        return f"A collection named **{name.strip()}** exists already: choose a new name (nothing was saved)."
    return None


def save_collection(store, name: str, faces: list[Face], images: np.ndarray, note: str) -> int:
    """Save edited faces (with their w, origin and thumbnails of their (N, H, W, 3) images) as a new collection in one
    transaction; StoreError (nothing written) if the name is taken or a face cannot be stored. Returns its id."""
    return store.create_collection(name, note, latents_batch(faces, images))
