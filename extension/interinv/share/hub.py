"""The Hugging Face Hub: push an exported interaction with its model card, download one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .. import __version__
from ..errors import InterInvError
from ..formats.manifest import MANIFEST_SUFFIX
from .exported import EMBEDDING_SUFFIX, PREVIEW_SUFFIX, REPO_ID, open_export
from .model_card import model_card

HUB_DOWNLOAD_PATTERNS = ["*" + EMBEDDING_SUFFIX, "*.pt", "*" + MANIFEST_SUFFIX, "*" + PREVIEW_SUFFIX]


def push_to_hub(
    out_dir: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    license: str | None = None,
) -> str:
    """Upload the interaction and its model card to a Hub model repo in one commit; returns the commit URL.

    The token comes from `token`, else `HF_TOKEN` or the `hf auth login` token. It is sent only in the
    Authorization header and never written into the card, the files or any message.
    """
    from huggingface_hub import HfApi, get_token

    if not REPO_ID.fullmatch(repo_id):
        raise InterInvError(f"Hub repo id '{repo_id}' must look like 'user/name' (letters, digits, '-', '_', '.').")
    interaction = open_export(out_dir)
    token = token or get_token()
    if not token:
        raise InterInvError(
            "No Hugging Face token. Set the HF_TOKEN environment variable to a write token, or run `hf auth login`."
        )
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="interinv-push-") as staging:
        staged = Path(staging)
        for path in (*interaction.files.values(), *interaction.previews.values(), interaction.manifest_path):
            shutil.copyfile(path, staged / path.name)
        model_card(interaction, repo_id, license).save(staged / "README.md")
        with _hub_errors(api.endpoint, repo_id, token):
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=staged,
                commit_message=f"Upload interaction {interaction.slug} (InterInv {__version__})",
            )
    return commit.commit_url


@contextlib.contextmanager
def _hub_errors(endpoint: str, repo_id: str, token: str | None) -> Iterator[None]:
    """Turn Hub and network failures into an InterInvError whose message cannot contain the token."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        message = f"Cannot reach {endpoint}: HF_HUB_OFFLINE is set. Unset it to use the Hub."
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = {
            401: "The token was refused; set HF_TOKEN to a valid token or run `hf auth login`.",
            403: "The token may not write to this repo; use a token with write access to its owner.",
            404: "The repo does not exist or is private; check the id and the token.",
        }.get(status, "Try again later, or check the Hub's status page.")
        server = f" ({error.server_message.strip()})" if getattr(error, "server_message", None) else ""
        message = f"The Hub at {endpoint} answered {status} for '{repo_id}'{server}. {hint}"
    except Exception as error:
        if not _is_network_error(error):
            raise
        message = f"Cannot reach {endpoint} for '{repo_id}' ({type(error).__name__}). Check the connection and try again."
    else:
        return
    if token:
        message = message.replace(token, "***")
    raise InterInvError(message) from None


def _is_network_error(error: Exception) -> bool:
    """Connection failures, whichever HTTP library this huggingface_hub version uses."""
    return isinstance(error, ConnectionError) or type(error).__module__.split(".")[0] in ("httpx", "httpx2", "requests")


def download(repo_id: str, folder: Path, token: str | None, endpoint: str | None) -> Path:
    """The interaction files of a Hub model repo (embeddings, manifest, previews), downloaded into `folder`."""
    from huggingface_hub import get_token, snapshot_download

    token = token or get_token()  # None is fine for a public repo
    with _hub_errors(endpoint or "the Hugging Face Hub", repo_id, token):
        snapshot_download(
            repo_id,
            repo_type="model",
            local_dir=folder,
            allow_patterns=HUB_DOWNLOAD_PATTERNS,
            token=token,
            endpoint=endpoint,
            cache_dir=folder / ".cache",
        )
    return folder
