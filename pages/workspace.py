"""Workspace: saved collections (thumbnails, counts, delete), .npz import/export of a collection, whole-workspace bundles."""
import io

import streamlit as st

from explorer import widgets
from explorer.bundle import bundle_summary, export_bundle, import_bundle
from explorer.store import CLASH_POLICIES, StoreError

MAX_UPLOAD_MB = 20

st.title("Workspace")
flash = st.session_state.pop("ws_flash", None)  # what the last import did (shown after the list was redrawn)
if flash:
    st.success(flash[0])
    for line in flash[1:]:
        st.caption(line)
store = widgets.require_store()
st.caption(f"Collections and directions live in `{store.path}`; they survive reloads and new tabs.")

infos = widgets.collections()
st.subheader("Collections")
if not infos:
    st.info("No collections yet — save faces on **Generate** (tick **pick**, then *Save to collection*), "
            "or import a latents `.npz` below.")
for info in infos:
    with st.container(border=True):
        head, act = st.columns([5, 1])
        head.markdown(f"**{info.name}** · {info.count} face{'s' * (info.count != 1)} · checkpoint"
                      f"{'s' * (len(info.checkpoint_ids) > 1)} {', '.join(f'`{c}`' for c in info.checkpoint_ids) or '—'}"
                      f" · created {info.created[:16].replace('T', ' ')}")
        if act.button("Delete", key=f"ws_del_{info.id}", type="secondary"):  # drawn before anything that may fail
            st.session_state["ws_confirm"] = info.name
        thumbs, problem = store.displayable_thumbnails(info.id, limit=16)
        if thumbs:
            st.image(thumbs, width=48)
        if problem:
            st.caption(problem)
        if st.session_state.get("ws_confirm") == info.name:
            st.warning(f"Delete **{info.name}** and its {info.count} faces?")
            y, n = st.columns(2)
            if y.button("Yes, delete", key=f"ws_del_yes_{info.id}", type="primary"):
                store.delete_collection(info.id)
                st.session_state.pop("ws_confirm", None)
                st.rerun()
            if n.button("Cancel", key=f"ws_del_no_{info.id}"):
                st.session_state.pop("ws_confirm", None)
                st.rerun()

st.subheader("Directions")
dirs = store.list_directions()
if not dirs:
    st.caption("No saved directions yet — build and save one on **Directions**.")
else:
    st.dataframe([{"name": d.name, "space": d.space, "method": d.method, "target": d.target_attribute or "—",
                   "checkpoint": d.checkpoint_id, "from": ", ".join(d.source_collections),
                   "created": d.created[:16].replace("T", " ")} for d in dirs],
                 hide_index=True)
    c1, c2 = st.columns([3, 1])
    gone = c1.selectbox("Direction to delete", [d.name for d in dirs], key="ws_dir_del_name")
    if c2.button("Delete direction", key="ws_dir_del"):
        store.delete_direction(gone)
        st.rerun()

st.subheader("Exchange one collection (.npz)")
left, right = st.columns(2)
with left:
    st.markdown("**Export**")
    if infos:
        name = st.selectbox("Collection to export", [i.name for i in infos], key="ws_export_name")
        try:
            buf = io.BytesIO()
            store.export_collection_npz(name, buf)
            st.download_button(f"Download {name}.npz", buf.getvalue(), file_name=f"{name}.npz",
                               mime="application/octet-stream", key="ws_export_dl")
        except StoreError as e:
            st.error(str(e))
    else:
        st.caption("Nothing to export yet.")
with right:
    st.markdown("**Import**")
    up = st.file_uploader("Latents .npz (z, c, attribute_names, seeds, indices, checkpoint; optional w)", type=["npz"],
                          key="ws_import_file", max_upload_size=MAX_UPLOAD_MB)
    target = st.text_input("Into collection", key="ws_import_name", placeholder="imported")
    if st.button("Import", key="ws_import_go", disabled=up is None):
        name = (target or "").strip() or (up.name.rsplit(".", 1)[0] if up else "")
        try:
            ids = store.import_collection_npz(up.getvalue(), name)
            st.success(f"Imported {len(ids)} faces into **{name}**.")
        except StoreError as e:
            st.error(f"Import failed, nothing was written: {e}")

st.subheader("Whole workspace (bundle .zip)")
b1, b2 = st.columns(2)
with b1:
    if st.button("Prepare bundle", key="ws_bundle_make"):
        try:
            buf = io.BytesIO()
            manifest = export_bundle(store, buf)
            st.session_state["ws_bundle"] = buf.getvalue()
            st.caption(f"{len(manifest.get('collections', []))} collections, {len(manifest.get('directions', []))} directions.")
        except StoreError as e:
            st.error(str(e))
    if st.session_state.get("ws_bundle"):
        st.download_button("Download workspace.zip", st.session_state["ws_bundle"], file_name="workspace.zip",
                           mime="application/zip", key="ws_bundle_dl")
with b2:
    bup = st.file_uploader("Bundle .zip", type=["zip"], key="ws_bundle_file", max_upload_size=MAX_UPLOAD_MB * 10)
    clash = st.radio("A name that exists already, with other content", CLASH_POLICIES, key="ws_bundle_clash",
                     horizontal=True, help="skip: keep what is here · replace: the bundle's version replaces it · "
                                           "keep both: the bundle's is added as “name (2)”. A name whose content is "
                                           "the same as here is always left alone.")
    if st.button("Import bundle", key="ws_bundle_go", disabled=bup is None):
        try:
            rep = import_bundle(store, bup.getvalue(), on_clash=clash)
        except StoreError as e:
            st.error(f"Import failed, nothing was written: {e}")
        else:
            st.session_state["ws_flash"] = bundle_summary(rep)
            st.rerun()  # redraw the lists above with what was imported
