"""Uploaded files waiting between the preview of an import and its confirmation.

The bytes are kept in a file named by a random token under IMPORT_UPLOAD_DIR (default
var/import-uploads beside the SQLite file), so any web process of the host can finish the
import the preview started. Hosts that share the load must share that folder, for example
a volume mounted on each. The token reaches the browser only inside a value signed with
SECRET_KEY, and that value binds it to the user and to the options of the preview. A user
can therefore neither pick another user's file nor change the options after the preview.
"""

import logging
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.core import signing

from .generic import GenericOptions

logger = logging.getLogger(__name__)

SIGNING_SALT = "backlog.imports.pending"
# A preview older than this must be uploaded again, and files older than it are deleted.
PENDING_MAX_AGE_SECONDS = 3600


class PendingUploadError(Exception):
    """Raised when a confirmed upload is missing, expired or does not belong to the user."""


def upload_dir() -> Path:
    return Path(getattr(settings, "IMPORT_UPLOAD_DIR", settings.LOCAL_DATA_DIR / "import-uploads"))


def pending_save(data: bytes, *, user_id: int, options: GenericOptions) -> str:
    """Store the uploaded bytes and return the signed value the confirm form carries back."""
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _purge_expired(folder)
    token = secrets.token_urlsafe(24)
    partial = folder / f"{token}.part"
    partial.write_bytes(data)
    # The rename is atomic, so another process never reads a half-written file.
    os.replace(partial, folder / f"{token}.csv")
    return signing.dumps(
        {"token": token, "user": user_id, "options": asdict(options)}, salt=SIGNING_SALT
    )


def pending_load(signed: str, *, user_id: int) -> tuple[bytes, GenericOptions]:
    """Claim the bytes and options of a preview, for the user who made it, once.

    The file is renamed before it is read, and a rename succeeds for one caller only, so a
    double click or a second web process cannot import the same upload twice.
    """
    try:
        payload = signing.loads(signed, salt=SIGNING_SALT, max_age=PENDING_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise PendingUploadError("The preview has expired. Upload the file again.") from None
    except signing.BadSignature:
        raise PendingUploadError("The confirmation is invalid. Upload the file again.") from None
    if payload.get("user") != user_id:
        raise PendingUploadError("This preview belongs to another user. Upload the file again.")
    path = upload_dir() / f"{payload['token']}.csv"
    claimed = path.with_suffix(".claimed")
    try:
        os.replace(path, claimed)
        data = claimed.read_bytes()
    except FileNotFoundError:
        raise PendingUploadError(
            "The uploaded file is no longer available: it was imported already or has expired. "
            "Upload it again."
        ) from None
    return data, GenericOptions(**payload["options"])


def pending_discard(signed: str) -> None:
    """Delete the stored file of a preview once it has been imported."""
    try:
        payload = signing.loads(signed, salt=SIGNING_SALT)
    except signing.BadSignature:
        return
    for suffix in (".csv", ".claimed"):
        (upload_dir() / f"{payload['token']}{suffix}").unlink(missing_ok=True)


def _purge_expired(folder: Path) -> None:
    cutoff = time.time() - PENDING_MAX_AGE_SECONDS
    for path in folder.iterdir():
        if path.suffix not in (".csv", ".part", ".claimed"):
            continue
        try:
            expired = path.stat().st_mtime < cutoff
        except FileNotFoundError:
            # Another web process imported or purged it a moment ago.
            continue
        if expired:
            path.unlink(missing_ok=True)
            logger.info("Deleted the expired import upload %s.", path.name)
