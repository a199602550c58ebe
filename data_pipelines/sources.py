"""Finding the data files: explicit directory, environment, or Keras cache.

Resolution order (see :func:`resolve_data_dir`):

1. an explicit ``data_dir`` argument;
2. the ``KERAS_RNNREG_DATA_DIR`` environment variable;
3. the Keras cache (``$KERAS_HOME`` or ``~/.keras``, sub-folder
   :data:`CACHE_SUBDIR`), downloading missing files with
   :func:`keras.utils.get_file` from their public origins and checking the
   pinned sha256.

Files are never downloaded into a directory given by 1. or 2.: a file missing
there is an error. The download origin can be redirected (mirrors, tests) with
an ``origin`` argument or the ``KERAS_RNNREG_DATA_ORIGIN`` environment
variable: the file is then fetched from ``<origin>/<local file name>``.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.parse

from .errors import DataError
from .registry import RemoteFile, get_info

DATA_DIR_ENV = "KERAS_RNNREG_DATA_DIR"
ORIGIN_ENV = "KERAS_RNNREG_DATA_ORIGIN"
#: Folder under the Keras home where downloads are cached.
CACHE_SUBDIR = os.path.join("datasets", "keras_rnnreg")


def keras_home() -> pathlib.Path:
    """The Keras home folder (``$KERAS_HOME``, else ``~/.keras``), as Keras uses it."""
    return pathlib.Path(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")))


def cache_dir_path(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder downloads land in: ``<cache_dir or Keras home>/datasets/keras_rnnreg``."""
    base = pathlib.Path(cache_dir) if cache_dir is not None else keras_home()
    return base / CACHE_SUBDIR


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def origin_url(remote: RemoteFile, origin: str | None = None) -> str:
    """The URL to download ``remote`` from.

    ``origin`` (else ``$KERAS_RNNREG_DATA_ORIGIN``) replaces the public origin
    by ``<origin>/<local file name>``.
    """
    base = origin if origin is not None else os.environ.get(ORIGIN_ENV)
    if base:
        return base.rstrip("/") + "/" + urllib.parse.quote(remote.filename)
    return remote.url


def fetch_file(
    remote: RemoteFile,
    *,
    cache_dir: str | os.PathLike | None = None,
    origin: str | None = None,
    sha256: str | None = None,
) -> pathlib.Path:
    """Return the cached copy of ``remote``, downloading it if needed.

    The download goes to a temporary ``.part`` name through
    :func:`keras.utils.get_file` and is renamed into place only after its
    sha256 matched, so a failed or corrupted download leaves no file behind.

    Args:
        remote: the file (name, public URL, pinned sha256).
        cache_dir: base folder instead of the Keras home.
        origin: base URL replacing the public origin (see :func:`origin_url`).
        sha256: checksum to use instead of the pinned one (required for files
            without a pinned checksum).

    Raises:
        DataError: no checksum known, download failure, or checksum mismatch.
    """
    expected = (sha256 or remote.sha256 or "").lower() or None
    folder = cache_dir_path(cache_dir)
    target = folder / remote.filename
    if expected is None:
        raise DataError(
            "no pinned sha256 is known for this file, so it is not downloaded; place it in "
            f"a data directory (data_dir= or ${DATA_DIR_ENV}) or pass sha256=",
            file=target,
            value=remote.url,
        )
    if target.is_file():
        if sha256_of(target) == expected:
            return target
        target.unlink()  # stale or corrupted cache entry: fetch it again
    url = origin_url(remote, origin)
    if not url:
        raise DataError("no download origin is known for this file", file=target)
    part = folder / (remote.filename + ".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder: {exc}", file=folder) from None
    if part.exists():
        part.unlink()

    import keras

    try:
        downloaded = keras.utils.get_file(
            fname=part.name,
            origin=url,
            file_hash=expected,
            hash_algorithm="sha256",
            cache_subdir=CACHE_SUBDIR,
            cache_dir=str(folder.parent.parent),
        )
        if pathlib.Path(downloaded).resolve() != part.resolve():
            os.replace(downloaded, part)
        actual = sha256_of(part)
        if actual != expected:
            raise ValueError(f"sha256 {actual} does not match the pinned {expected}")
    except BaseException as exc:
        if part.exists():
            part.unlink()
        if not isinstance(exc, Exception):
            raise
        message = str(exc)
        if "hash does not match" in message or "does not match the pinned" in message:
            reason = f"checksum mismatch for download from {url}; expected sha256 {expected}"
        else:
            reason = (f"download from {url} failed: {message}; without network access, place the "
                      f"file in a folder and pass data_dir= or set ${DATA_DIR_ENV} to it")
        raise DataError(reason, file=target, value=url) from None
    os.replace(part, target)
    return target


def _explicit_dir(data_dir: str | os.PathLike | None) -> pathlib.Path | None:
    if data_dir is not None:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return pathlib.Path(env).expanduser()
    return None


def resolve_data_dir(
    data_dir: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    source: str = "mat",
    cache_dir: str | os.PathLike | None = None,
    origin: str | None = None,
) -> pathlib.Path:
    """The folder to read the data from.

    ``data_dir`` if given, else ``$KERAS_RNNREG_DATA_DIR``, else the Keras
    cache folder. When falling back to the cache and ``name`` is given, the
    ``source`` file of that dataset is downloaded there if missing.

    Raises:
        DataError: an explicit folder that does not exist, or a failed download.
    """
    explicit = _explicit_dir(data_dir)
    if explicit is not None:
        if not explicit.is_dir():
            raise DataError("data directory does not exist", file=explicit, value=str(explicit))
        return explicit
    if name is not None:
        return locate_file(name, source, cache_dir=cache_dir, origin=origin).parent
    return cache_dir_path(cache_dir)


def locate_file(
    name: str,
    source: str = "mat",
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    origin: str | None = None,
) -> pathlib.Path:
    """Path of the ``source`` file (``"mat"`` or ``"notes"``) of dataset ``name``.

    In an explicit folder (argument or environment) the first existing
    candidate file is used (for ``"notes"``: ``<Name>.notes.json``, then the
    original ``.pickle``). Otherwise the cache is used, downloading the first
    candidate that has a public origin and a pinned checksum.

    Raises:
        ValueError: unknown dataset or source.
        DataError: file not found in an explicit folder, or download failure.
    """
    info = get_info(name)
    candidates = info.files(source)
    explicit = _explicit_dir(data_dir)
    if explicit is not None:
        if not explicit.is_dir():
            raise DataError("data directory does not exist", file=explicit, value=str(explicit))
        for remote in candidates:
            path = explicit / remote.filename
            if path.is_file():
                return path
        raise DataError(
            f"no {source} file of {info.title} found; expected one of "
            f"{[r.filename for r in candidates]}",
            file=explicit,
            value=name,
        )
    folder = cache_dir_path(cache_dir)
    for remote in candidates:  # anything already in the cache
        path = folder / remote.filename
        if path.is_file() and (remote.sha256 is None or sha256_of(path) == remote.sha256):
            return path
    downloadable = [r for r in candidates if r.url and r.sha256]
    if not downloadable:
        raise DataError(
            f"no {source} file of {info.title} in the cache and none can be downloaded with a "
            f"pinned checksum; place one of {[r.filename for r in candidates]} in a data "
            f"directory (data_dir= or ${DATA_DIR_ENV})",
            file=folder,
            value=name,
        )
    return fetch_file(downloadable[0], cache_dir=cache_dir, origin=origin)
