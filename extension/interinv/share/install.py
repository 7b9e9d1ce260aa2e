"""Install an exported interaction (a bundle zip, a Hub repo or an export folder) into a WebUI's embeddings folder."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping

from ..atomic import write_error, write_text_atomic
from ..errors import InterInvError
from ..formats.embedding_files import EmbeddingFile, read_embedding, write_embedding
from ..formats.hashes import file_sha256
from ..formats.manifest import MANIFEST_SUFFIX, write_manifest
from .exported import EMBEDDING_SUFFIX, INSTALL_FOLDER, REPO_ID, SharedInteraction, description_line, open_export
from .hub import download

MAX_ZIP_BYTES = 256 * 1024 * 1024  # uncompressed size a bundle may have; three embeddings are a few kB


def install_interaction(
    source: str | os.PathLike,
    embeddings_dir: str | os.PathLike,
    family: str | None = None,
    width: int | None = None,
    force: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Install a bundle zip, Hub repo id or export folder into `<embeddings_dir>/interactions/<slug>/`.

    `family` ("sd1", "sd2", "sdxl") and `width` (the model's token-embedding width; 2048 for SDXL, as
    A1111 reports it) are checked before anything is written. An existing install is replaced only
    with `force`. Only safetensors are read; a `.pt` file is read with `weights_only=True` and
    installed as safetensors.
    """
    embeddings_dir = Path(embeddings_dir)
    with _local_folder(source, token, endpoint) as folder:
        interaction = open_export(folder)
        embeddings = {role: read_embedding(path) for role, path in interaction.files.items()}
        _check_compatible(interaction, embeddings, family, width)
        target = embeddings_dir / INSTALL_FOLDER / interaction.slug
        if target.exists() and not force:
            raise InterInvError(f"'{target}' already exists. Pass --force to replace it, or remove it first.")
        return _install(interaction, embeddings, target)


def _check_compatible(
    interaction: SharedInteraction, embeddings: Mapping[str, EmbeddingFile], family: str | None, width: int | None
) -> None:
    m = interaction.manifest
    where = interaction.manifest_path.name
    if family is not None and m.family != family:
        raise InterInvError(
            f"'{interaction.slug}' was trained for the {m.family} family ({m.architecture}, {where}), "
            f"but the model is {family}. Embeddings only work with the family they were trained on; "
            "load a matching checkpoint, or install an interaction trained for it."
        )
    dims = m.embedding_dims
    for role, embedding in embeddings.items():
        name = interaction.files[role].name
        if embedding.metadata.get("interinv.family", m.family) != m.family:
            raise InterInvError(
                f"'{name}' says family {embedding.metadata['interinv.family']}, but {where} says {m.family}. "
                "Export the interaction again."
            )
        widths = _widths_by_encoder(embedding, dims)
        if widths != dict(dims):
            raise InterInvError(
                f"'{name}' holds vectors of width {embedding.widths}, but {where} says embedding_dims {dict(dims)}. "
                "Export the interaction again."
            )
        if embedding.num_vectors != m.tokens[role].vectors:
            raise InterInvError(
                f"'{name}' holds {embedding.num_vectors} vector(s), but {where} says tokens.{role}.vectors = "
                f"{m.tokens[role].vectors}. Export the interaction again."
            )
        if width is not None and sum(widths.values()) != width:
            raise InterInvError(
                f"'{name}' is {sum(widths.values())} wide, but the model's token embeddings are {width} wide "
                f"(768: SD1, 1024: SD2, 2048: SDXL). This interaction was trained for {m.architecture}; "
                "load a matching checkpoint, or install an interaction trained for this one."
            )


def _widths_by_encoder(embedding: EmbeddingFile, dims: Mapping[str, int]) -> dict[str, int]:
    """Encoder key -> width: SDXL files name their encoders, SD1/SD2 files hold one tensor."""
    if embedding.format == "sdxl":
        return embedding.widths
    return {next(iter(dims)): next(iter(embedding.widths.values()))} if len(dims) == 1 else embedding.widths


def _install(interaction: SharedInteraction, embeddings: Mapping[str, EmbeddingFile], target: Path) -> Path:
    """Write everything into a hidden folder beside the target, then rename it into place."""
    manifest, family = interaction.manifest.to_dict(), interaction.manifest.family
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{interaction.slug}.installing-", dir=target.parent))
    except OSError as exc:
        raise write_error(exc, target.parent) from exc
    old: Path | None = None
    try:
        for role, path in interaction.files.items():
            name = interaction.names[role]
            if path.suffix == EMBEDDING_SUFFIX:
                shutil.copyfile(path, staging / path.name)
            else:  # a .pt read with weights_only=True is installed as safetensors
                converted = write_embedding(staging / f"{name}{EMBEDDING_SUFFIX}", embeddings[role].tensors, family,
                                            {"interinv.role": role, "interinv.group": interaction.slug,
                                             "interinv.family": family})
                manifest["tokens"][role].update(file=converted.name, sha256=file_sha256(converted))
            # the WebUI's card metadata (`<stem>.json`): the description shows the template
            card = {"description": interaction.manifest.template, "notes": description_line(interaction.manifest)}
            write_text_atomic(staging / f"{name}.json", json.dumps(card, indent=4, ensure_ascii=False))
        for preview in interaction.previews.values():
            shutil.copyfile(preview, staging / preview.name)
        write_manifest(staging, manifest)
        _usual_permissions(staging)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{interaction.slug}.replaced-", dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(staging, target)
    except OSError as exc:
        if old is not None and not target.exists():
            os.replace(old / "previous", target)
        raise write_error(exc, target.parent) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _usual_permissions(folder: Path) -> None:
    """Temporary folders and files are private to the owner; an install gets the modes the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


@contextlib.contextmanager
def _local_folder(source: str | os.PathLike, token: str | None, endpoint: str | None) -> Iterator[Path]:
    """A local folder holding the interaction: the folder itself, a safely extracted zip, or a Hub download."""
    path = Path(source)
    if path.is_dir() or (path.is_file() and path.name.endswith(MANIFEST_SUFFIX)):
        yield path if path.is_dir() else path.parent
        return
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InterInvError(f"'{path}' is not a zip file. Give a bundle zip, an export folder or a Hub repo id.")
    if not path.is_file() and not REPO_ID.fullmatch(str(source)):
        raise InterInvError(f"'{source}' is not an existing folder or zip, nor a Hub repo id like 'user/name'.")
    with tempfile.TemporaryDirectory(prefix="interinv-install-") as tmp:
        if not path.is_file():
            yield download(str(source), Path(tmp), token, endpoint)
            return
        try:
            yield _single_root(_extract_zip(path, Path(tmp)))
        except InterInvError as exc:  # name the file in the zip, not in the temporary folder it was unpacked to
            raise InterInvError(str(exc).replace(f"{tmp}{os.sep}", f"{path}:").replace(tmp, str(path))) from exc


def _extract_zip(zip_path: Path, folder: Path) -> Path:
    """Extract a zip after checking every entry: no absolute paths, no `..`, no links, a bounded size."""
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        total = 0
        for info in members:
            _check_zip_entry(zip_path, info)
            total += info.file_size
        if total > MAX_ZIP_BYTES:
            raise InterInvError(
                f"'{zip_path}' would unpack to {total} bytes, more than the {MAX_ZIP_BYTES} a bundle may hold. "
                "It is not an InterInv bundle."
            )
        for info in members:
            if info.is_dir():
                continue
            destination = folder.joinpath(*PurePosixPath(info.filename).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InterInvError(
                    f"'{zip_path}' is damaged: its entry '{info.filename}' cannot be unpacked ({exc}). "
                    "Download or copy the zip again."
                ) from exc
    return folder


def _check_zip_entry(zip_path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    mode = info.external_attr >> 16
    problem = None
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        problem = "is an absolute path"
    elif ".." in parts:
        problem = "points outside the folder ('..')"
    elif stat.S_ISLNK(mode):
        problem = "is a symbolic link"
    elif "\\" in name or "\x00" in name:
        problem = "has a backslash or NUL in its name"
    if problem:
        raise InterInvError(
            f"Refused '{zip_path}': the entry '{name}' {problem}. A bundle holds only plain files; "
            "this zip was not made by `interinv bundle` and may be malicious."
        )


def _single_root(folder: Path) -> Path:
    """The folder itself, or its only subfolder when the zip wrapped everything in one."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder
