"""Widgets shared by the pages: checkpoint picker, model context, face grid to pick from, latent sources, save forms."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import loaders, state
from explorer.face_picker import face_picker
from explorer.faces import Face, faces_from_arrays, latents_batch, stack
from explorer.store import StoreError
from gan.checkpoint import CheckpointError  # noqa: F401 - also the pages' name for it


# ----------------------------------------------------------------------------- the loaded model

@dataclass
class Model:
    """The checkpoint a page works on, with cached rendering helpers."""

    gen: object  # gan.checkpoint.LoadedGenerator
    path: str
    mtime: float

    @property
    def checkpoint_id(self) -> str:
        return str(self.gen.checkpoint_id)  # weights id: stable when evaluate appends metrics

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.gen.attribute_names)

    @property
    def dims(self) -> dict[str, int | None]:
        """Size of each latent space: {"w": w_dim (None without a mapping network), "z": z_dim, "c": c_dim}."""
        return {"w": getattr(self.gen.G, "w_dim", None) if "w" in self.gen.spaces else None,
                "z": self.gen.z_dim, "c": self.gen.c_dim}

    def images(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 for z (N, D) / c (N, K), cached."""
        z = np.asarray(z, np.float32).reshape(-1, self.gen.z_dim)
        c = np.asarray(c, np.float32).reshape(len(z), -1)
        return loaders.images(self.path, self.mtime, z, c)

    def images_w(self, w: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 for w (N, w_dim) (synthesis only), cached; a style checkpoint's."""
        return loaders.images_w(self.path, self.mtime, np.asarray(w, np.float32).reshape(len(w), -1))

    def images_in(self, space: str, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 for latents x (N, D) of `space`: "w" (synthesis; c unused) or "z" (with c (N, K))."""
        return self.images_w(x) if space == "w" else self.images(x, c)

    def w_of(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """w = mapping(z, c) (N, w_dim) for z (N, D) / c (N, K), cached; a style checkpoint's."""
        z = np.asarray(z, np.float32).reshape(-1, self.gen.z_dim)
        return loaders.w_of(self.path, self.mtime, z, np.asarray(c, np.float32).reshape(len(z), -1))

    def probs(self, z: np.ndarray, c: np.ndarray) -> np.ndarray | None:
        """Classifier probabilities (N, K_clf) of G(z, c), or None without a classifier."""
        cp, cm = loaders.classifier_key(self.path, self.mtime)
        if not cp:
            return None
        z = np.asarray(z, np.float32).reshape(-1, self.gen.z_dim)
        return loaders.probabilities(self.path, self.mtime, cp, cm, z, np.asarray(c, np.float32).reshape(len(z), -1))


def checkpoint_sidebar() -> None:
    """Sidebar picker over the shipped default and every run checkpoint; sets st.session_state[state.CKPT_KEY]."""
    options = loaders.checkpoint_options()
    with st.sidebar:
        if not options:
            st.session_state.pop(state.CKPT_KEY, None)
            st.warning("No generator checkpoint found.")
            return
        paths_ = [o["path"] for o in options]
        info = {o["path"]: o for o in options}
        current = st.session_state.get(state.CKPT_KEY)
        if current not in paths_:  # first run, or the file went away: env var, then the default, then newest run
            st.session_state[state.CKPT_KEY] = paths_[0]
        st.selectbox("Checkpoint", paths_, key=state.CKPT_KEY, format_func=lambda p: loaders.short_checkpoint_label(info[p]),
                     help="Every generator *.pt in checkpoints/ (e.g. from `python -m gan export`) and under the "
                          "runs folder.")
        st.caption(loaders.describe_checkpoint(info[st.session_state[state.CKPT_KEY]]))  # in full: the box cuts it
        n = len(state.picks())
        st.caption(f"{n} picked face{'s' * (n != 1)}")
        if n:
            st.button("Clear picks", key="app_clear_picks", on_click=state.clear_picks)


def require_model() -> Model:
    """The current checkpoint's model; without one the page explains how to get one and stops."""
    path = st.session_state.get(state.CKPT_KEY)
    if not path:
        st.info("**No generator checkpoint yet.** Train one (a few minutes on a CPU), then reload this page:\n\n"
                f"```bash\n{loaders.TRAIN_COMMAND}\n```\n\nThe app lists `checkpoints/default.pt` and every "
                "`*.pt` under `runs/` (or set `GAN_CKPT=path/to/checkpoint.pt`).")
        st.stop()
    try:
        gen = loaders.generator(path)
    except (CheckpointError, OSError) as e:  # a bad checkpoint, or a file that vanished: say so, no traceback
        st.error(f"Cannot load checkpoint `{path}`: {e}")
        st.stop()
    return Model(gen, str(path), loaders.mtime(path))


def require_classifier(model: Model):
    """The attribute classifier for this checkpoint, or None after telling the user how to train one."""
    try:
        clf = loaders.classifier(model.path, model.mtime)
    except CheckpointError as e:
        st.error(f"Cannot load the attribute classifier: {e}")
        return None
    if clf is None:
        st.info("No attribute classifier reads this checkpoint's attributes (looked for "
                "`checkpoints/default_classifier.pt`, `*classifier*.pt` in checkpoints/ and the workspace, "
                f"or `GAN_CLASSIFIER`). Train one (~4 min):\n\n```bash\n{loaders.CLASSIFIER_COMMAND}\n```")
    return clf


# ----------------------------------------------------------------------------- faces on screen

def face_grid(faces: list[Face], images: np.ndarray, ncols: int, prefix: str, pickable: bool = True,
              col_labels: list[str] | None = None, captions: bool = True, first: tuple[str, ...] = ()) -> None:
    """Images in rows of `ncols` columns, each with its identity below (the attributes in `first`, the requested
    ones, lead); a click on a face picks or unpicks it (explorer/face_picker.py: one browser element)."""
    for face, img in zip(faces, images):
        face.img = img  # picked faces keep their rendering: no second pass through G to show them
    face_picker(faces, images, ncols, f"{prefix}_grid", pickable=pickable, col_labels=col_labels,
                captions=[f.caption(first) if captions else "" for f in faces])


def picked_strip(faces: list[Face], images: np.ndarray, prefix: str, per_row: int = 8) -> None:
    """The picked faces, small, each with a button that removes just that one from the picks."""
    for r in range(0, len(faces), per_row):
        for col, face, img in zip(st.columns(per_row), faces[r:r + per_row], images[r:r + per_row]):
            col.image(img, caption=face.caption(), width=72)
            col.button("remove", key=f"{prefix}_unpick_{face.key}", on_click=state.unpick, args=(face.key,),
                       help="Remove this face from the picks")


def identity_table(faces: list[Face]) -> None:
    """Expander listing every face's full identity (checkpoint, seed, index, condition)."""
    with st.expander(f"Identity of these {len(faces)} faces"):
        st.dataframe([{"checkpoint": f.checkpoint, "seed": f.seed, "index": f.index,
                       "condition": f.identity().split("c = ", 1)[-1]} for f in faces], hide_index=True)


# ----------------------------------------------------------------------------- collections

def require_store():
    """The latent store; if it cannot be opened the page says why and stops."""
    try:
        return loaders.store()
    except StoreError as e:  # unwritable folder, not a database, a foreign file
        st.error(f"Cannot open the latent store: {e}")
        st.stop()


def collections() -> list:
    """CollectionInfo of every saved collection (name, count, checkpoint_ids…); [] after showing a store error."""
    try:
        return loaders.store().list_collections()
    except StoreError as e:  # unreadable / locked file
        st.error(f"Cannot read the latent store: {e}")
        return []


def face_images(model: Model, faces: list[Face]) -> np.ndarray:
    """(N, H, W, 3) uint8 of faces, reusing each face's stored rendering when it has one. The one place that decides
    how a face is drawn: from its w when it has one (G.synthesis), else img = G(z, c)."""
    if faces and all(f.img is not None for f in faces):
        return np.stack([f.img for f in faces])
    in_w = [i for i, f in enumerate(faces) if f.w is not None]
    if not in_w:
        return model.images(*stack(faces))
    in_z = [i for i, f in enumerate(faces) if f.w is None]
    out: list = [None] * len(faces)
    for idx, imgs in ((in_w, model.images_w(np.stack([faces[i].w for i in in_w]))),
                      (in_z, model.images(*stack([faces[i] for i in in_z])) if in_z else [])):
        for i, img in zip(idx, imgs):
            out[i] = img
    return np.stack(out)


def face_w(model: Model, faces: list[Face]) -> np.ndarray:
    """(N, w_dim) float32: each face's stored w, or mapping(z, c) for a face without one (a style checkpoint's)."""
    w = model.w_of(*stack(faces))  # st.cache_data hands out a copy: writing into it is safe
    for i, f in enumerate(faces):
        if f.w is not None:
            w[i] = f.w
    return w


def face_latents(model: Model, faces: list[Face], space: str) -> np.ndarray:
    """(N, D) coordinates of faces in `space` ("w": face_w; "z": their z). ValueError for z of faces drawn from a
    stored w: their z is the unedited face's, so it does not say where they are."""
    if space == "w":
        return face_w(model, faces)
    in_w = sum(f.w is not None for f in faces)
    if in_w:
        raise ValueError(f"{in_w} of these faces {'are' if in_w != 1 else 'is'} drawn from a stored w (edited in W); "
                         "their z is the unedited face's. Use the W space for them.")
    return stack(faces)[0]


def collection_names() -> list[str]:
    return [c.name for c in collections()]


def collection_faces(name: str, model: Model) -> list[Face]:
    """This checkpoint's faces in a saved collection (latents of other checkpoints would draw other faces)."""
    ls = loaders.store().get_latents(name, checkpoint_id=model.checkpoint_id)
    if len(ls) == 0:
        return []
    z, c = np.asarray(ls.z, np.float32), np.asarray(ls.c, np.float32)
    if z.shape[1] != model.gen.z_dim or tuple(ls.attribute_names) != model.names:
        raise ValueError(f"collection {name!r} holds z of size {z.shape[1]} over attributes "
                         f"{', '.join(ls.attribute_names)}; this checkpoint needs {model.gen.z_dim} over {', '.join(model.names)}")
    if ls.w is not None:
        w_dim = getattr(model.gen.G, "w_dim", None)  # None: a DCGAN has no W to draw them from
        if ls.w.shape[1] != w_dim:
            raise ValueError(f"collection {name!r} holds faces drawn from a w of size {ls.w.shape[1]}; this checkpoint "
                             + (f"needs w of size {w_dim}" if w_dim else "has no W space"))
    return faces_from_arrays(z, c, ls.seeds, ls.indices, model.checkpoint_id, model.names, origin=f"collection {name}",
                             w=ls.w, has_w=ls.has_w)


def save_faces(faces: list[Face], images: np.ndarray, prefix: str, label: str = "Save to collection") -> None:
    """Form: pick an existing collection or name a new one, then store the faces with PNG thumbnails."""
    if not faces:
        st.caption("Tick **pick** under faces to save them to a collection.")
        return
    existing = collection_names()
    with st.form(f"{prefix}_save_form", clear_on_submit=False, border=True):
        st.markdown(f"**{label}** ({len(faces)} face{'s' * (len(faces) != 1)})")
        c1, c2 = st.columns(2)
        choice = c1.selectbox("Collection", ["(new collection)"] + existing, key=f"{prefix}_save_target")
        new_name = c2.text_input("New collection name", key=f"{prefix}_save_name", placeholder="e.g. smiling")
        submitted = st.form_submit_button(label)
    if submitted:
        name = new_name.strip() if choice == "(new collection)" else choice
        if not name:
            st.error("Give the new collection a name.")
            return
        try:
            store_faces(name, faces, images)
        except StoreError as e:  # bad name, mismatched sizes…
            st.error(f"Could not save: {e}")
            return
        st.success(f"Saved {len(faces)} face{'s' * (len(faces) != 1)} to collection **{name}**.")


def store_faces(name: str, faces: list[Face], images: np.ndarray) -> None:
    """Add faces (their z, c, w where they have one, origin, and thumbnails of their images) to collection `name`,
    creating it if needed."""
    loaders.store().add_prepared(name, latents_batch(faces, images))


# ----------------------------------------------------------------------------- where latents come from

SOURCES = ("random seed", "picked faces", "collection")
MAX_CHOICE_THUMBS = 32  # candidate thumbnails shown when one face is chosen from a set


def latent_source(label: str, prefix: str, model: Model, default_seed: int = 0, default: str = "random seed",
                  single: bool = False, default_which: int = 0) -> list[Face]:
    """Radio + inputs choosing faces: a random seed (with the label distribution's c), the picked faces, or a collection.

    single=True narrows a picked set / collection to one face (an index chooser).
    """
    st.markdown(f"**{label}**")
    src = st.radio("source", SOURCES, index=SOURCES.index(default), key=f"{prefix}_src", horizontal=True,
                   label_visibility="collapsed")
    faces: list[Face] = []
    if src == "random seed":
        seed = int(st.number_input("seed", 0, 2**31 - 1, default_seed, key=f"{prefix}_seed"))
        faces = random_faces(model, 1, seed)
    elif src == "picked faces":
        faces = state.picked_for(model.checkpoint_id)
        if not faces:
            st.warning("No picked faces for this checkpoint yet — tick **pick** under faces on Generate.")
    else:
        names = collection_names()
        if not names:
            st.warning("No collections yet — save faces on Generate.")
        else:
            name = st.selectbox("collection", names, key=f"{prefix}_coll")
            try:
                faces = collection_faces(name, model)
            except (StoreError, ValueError) as e:  # unreadable / mixed collection; sizes or names of another checkpoint
                st.error(str(e))
            if not faces and name:
                st.warning(f"Collection **{name}** has no faces of this checkpoint (`{model.checkpoint_id}`).")
    if single and len(faces) > 1:
        shown = faces[:MAX_CHOICE_THUMBS]  # the candidates with their numbers, so the choice is not blind
        st.image(list(face_images(model, shown)), caption=[f"#{i}" for i in range(len(shown))], width=48)
        i = int(st.number_input(f"which one (0–{len(faces) - 1})", 0, len(faces) - 1, min(default_which, len(faces) - 1),
                                key=f"{prefix}_which"))
        faces = [faces[i]]
    if single and faces:
        st.image(face_images(model, faces)[0], caption=f"chosen: {faces[0].caption()}", width=96)
    return faces


def face_set(label: str, prefix: str, model: Model, default_seed: int, default_n: int, max_n: int = 6) -> list[Face]:
    """latent_source, where a random seed gives a slider-chosen number of faces (1–max_n) instead of one."""
    faces = latent_source(label, prefix, model, default_seed=default_seed)
    if faces and st.session_state.get(f"{prefix}_src", "random seed") == "random seed":
        n = int(st.slider(f"random {label.split()[0].lower()}", 1, max_n, default_n, key=f"{prefix}_n"))
        faces = random_faces(model, n, int(st.session_state.get(f"{prefix}_seed", default_seed)))
    return faces


def random_faces(model: Model, n: int, seed: int, truncation: float = 1.0) -> list[Face]:
    """n faces from one seed: z = sample_z(n, seed), c drawn from the checkpoint's label distribution."""
    from gan.attributes import ANY

    g = loaders.grid(model.path, model.mtime, (ANY,) * len(model.names), "random", n, 1, int(seed), float(truncation))
    return faces_from_arrays(g["z"], g["c"], g["seeds"], g["indices"], model.checkpoint_id, model.names)


# ----------------------------------------------------------------------------- video exports

def mp4_download(where, label: str, frames: np.ndarray, recipe: dict | None, file_name: str, key: str,
                 help: str | None = None) -> None:
    """A download button (in container `where`) for an MP4 of the frames carrying their recipe, or a note saying
    why there is none (the ffmpeg binary is missing, the recipe is too large)."""
    from gan.mp4 import VideoError
    from gan.recipe import RecipeError

    try:
        data = loaders.video(frames, recipe)
    except (VideoError, RecipeError) as e:
        where.info(f"No MP4: {e}", icon=":material/videocam_off:")
        return
    where.download_button(label, data, file_name=file_name, mime="video/mp4", key=key, help=help)
