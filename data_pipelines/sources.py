"""Finding the data files: explicit directory, environment, package, or Keras cache.

Resolution order (see :func:`locate_file`):

1. an explicit ``data_dir`` argument (the CLI's ``--data_dir``);
2. the ``KERAS_RNNREG_DATA_DIR`` environment variable;
3. the files shipped in the package (:func:`packaged_data_dir`: the four
   ``.mat`` files, so the default ``source="mat"`` works with no network and
   no variable set);
4. the Keras cache (``$KERAS_HOME`` or ``~/.keras``, sub-folder
   :data:`CACHE_SUBDIR`), downloading missing files with
   :func:`keras.utils.get_file` from their public origins.

A file with a pinned sha256 in the registry (the four benchmark ``.mat``
files, the JSB Chorales JSON) is checked against it wherever it is read from:
:func:`keras.utils.get_file` checks the cache and every download, and
:func:`verify_file` checks a copy in a folder given by 1. or 2. and the
packaged copies. A copy that does not match is an error, not a warning:
results computed on it would not be results on the benchmark. Hashing all
four ``.mat`` files takes about 3 ms, so nothing is cached between loads.

Files are never downloaded into a directory given by 1. or 2.: a file missing
there is an error (the packaged files are not consulted then either: an
explicit folder is the whole answer). The download origin can be redirected
(mirrors, tests) with an ``origin`` argument or the
``KERAS_RNNREG_DATA_ORIGIN`` environment variable: the file is then fetched
from ``<origin>/<local file name>``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import pathlib
import urllib.parse

from .errors import DataError
from .registry import RemoteFile, get_info

DATA_DIR_ENV = "KERAS_RNNREG_DATA_DIR"
ORIGIN_ENV = "KERAS_RNNREG_DATA_ORIGIN"
#: Folder under the Keras home where downloads are cached.
CACHE_SUBDIR = os.path.join("datasets", "keras_rnnreg")
#: Folder of this package holding the packaged data files (with README.md and SHA256SUMS).
PACKAGED_SUBDIR = "data"


def keras_home() -> pathlib.Path:
    """The Keras home folder (``$KERAS_HOME``, else ``~/.keras``), as Keras uses it."""
    return pathlib.Path(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")))


def _cache_base(cache_dir: str | os.PathLike | None) -> pathlib.Path:
    return pathlib.Path(cache_dir) if cache_dir is not None else keras_home()


def cache_dir_path(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder downloads land in: ``<cache_dir or Keras home>/datasets/keras_rnnreg``."""
    return _cache_base(cache_dir) / CACHE_SUBDIR


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_LOCAL_COPY_REMEDY = (
    f"replace it with the original, point data_dir= or ${DATA_DIR_ENV} at a folder holding it, "
    "or unset both to use the packaged or a downloaded copy"
)
_PACKAGED_COPY_REMEDY = (
    f"reinstall keras_rnnreg, or point data_dir= or ${DATA_DIR_ENV} at a folder holding the original"
)


def verify_file(path: pathlib.Path, remote: RemoteFile, *, remedy: str | None = None) -> pathlib.Path:
    """Return ``path`` if its sha256 is the one pinned for ``remote`` (or none is pinned).

    Args:
        path: the local copy.
        remote: the registry entry carrying the pinned checksum.
        remedy: what the user can do about a mismatch (default: replace the
            copy or use another folder).

    Raises:
        DataError: naming the file, both checksums and the ways to fix it.
    """
    if remote.sha256 is not None:
        actual = sha256_of(path)
        if actual != remote.sha256:
            raise DataError(
                f"sha256 checksum {actual} does not match the benchmark's {remote.sha256} (a corrupt "
                f"copy, or another file under this name); {remedy or _LOCAL_COPY_REMEDY}",
                file=path,
                value=actual,
            )
    return path


def packaged_data_dir() -> pathlib.Path | None:
    """The folder of the data files shipped in the package, or ``None`` without one.

    ``None`` when the package is not imported from a plain folder (e.g. from a
    zip archive): the files are then looked up in the cache and downloaded.
    """
    try:
        folder = importlib.resources.files(__package__) / PACKAGED_SUBDIR
    except (ModuleNotFoundError, TypeError):  # no package context (a loose module)
        return None
    if isinstance(folder, pathlib.Path) and folder.is_dir():
        return folder
    return None


def packaged_file(remote: RemoteFile) -> pathlib.Path | None:
    """The packaged copy of ``remote``, checked against its pinned sha256, or ``None``.

    Raises:
        DataError: the packaged copy does not match its pinned checksum (a
            damaged installation).
    """
    folder = packaged_data_dir()
    if folder is None or not (folder / remote.filename).is_file():
        return None
    return verify_file(folder / remote.filename, remote, remedy=_PACKAGED_COPY_REMEDY)


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

    :func:`keras.utils.get_file` does the caching and the checking: it returns
    a cached copy whose sha256 matches, downloads again over one that does
    not, deletes a partial file when the transfer fails, and raises when the
    downloaded file does not match. It leaves the rejected download in place
    under the final name; that file is deleted here, so a bad download never
    stays in the cache. Its errors are also turned into :class:`DataError`
    naming the file, the URL and the way to work without network access.

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
    target = cache_dir_path(cache_dir) / remote.filename
    if expected is None:
        raise DataError(
            "no pinned sha256 is known for this file, so it is not downloaded; place it in "
            f"a data directory (data_dir= or ${DATA_DIR_ENV}) or pass sha256=",
            file=target,
            value=remote.url,
        )
    url = origin_url(remote, origin)
    if not url:
        raise DataError("no download origin is known for this file", file=target)

    try:
        # get_file falls back to /tmp/.keras when the base folder does not exist yet
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder: {exc}", file=target.parent) from None

    import keras

    try:
        return pathlib.Path(keras.utils.get_file(
            fname=remote.filename,
            origin=url,
            file_hash=expected,
            hash_algorithm="sha256",
            cache_dir=str(_cache_base(cache_dir)),
            cache_subdir=CACHE_SUBDIR,
        ))
    except ValueError:  # get_file's hash mismatch after a download
        actual = sha256_of(target) if target.is_file() else "unknown"
        target.unlink(missing_ok=True)
        raise DataError(
            f"sha256 checksum mismatch for the download from {url}: got {actual}, "
            f"expected {expected}; nothing was kept",
            file=target,
            value=url,
        ) from None
    except Exception as exc:  # noqa: BLE001 - get_file raises a bare Exception on URL errors
        cause = str(exc).replace(f"URL fetch failure on {url}: ", "")  # the URL is named once
        raise DataError(
            f"download from {url} failed; without network access, place the file in a folder "
            f"and pass data_dir= or set ${DATA_DIR_ENV} to it ({cause})",
            file=target,
            value=url,
        ) from None


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

    ``data_dir`` if given, else ``$KERAS_RNNREG_DATA_DIR``. Otherwise, when
    ``name`` is given, the folder :func:`locate_file` finds the ``source`` file
    of that dataset in (the packaged data, else the Keras cache, downloading
    the file there if missing); without ``name``, the cache folder.

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
    original ``.pickle``) and checked against its pinned sha256, if any.
    Otherwise the first candidate shipped in the package (the ``.mat`` files)
    is used, checked the same way; else the cache, downloading the first
    candidate that has a public origin and a pinned checksum.

    Raises:
        ValueError: unknown dataset or source.
        DataError: file not found in an explicit folder, a checksum mismatch,
            or a download failure.
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
                return verify_file(path, remote)
        raise DataError(
            f"no {source} file of {info.title} found; expected one of "
            f"{[r.filename for r in candidates]}",
            file=explicit,
            value=name,
        )
    for remote in candidates:  # shipped in the package: no cache, no network
        path = packaged_file(remote)
        if path is not None:
            return path
    folder = cache_dir_path(cache_dir)
    for remote in candidates:  # the first one already in the cache
        if (folder / remote.filename).is_file():
            if remote.sha256 is None:  # put there by the user: nothing to check it against
                return folder / remote.filename
            return fetch_file(remote, cache_dir=cache_dir, origin=origin)  # get_file checks it
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
