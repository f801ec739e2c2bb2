"""Where a cluster job's files live: a folder named by an fsspec URL, read and written whole.

Local folders use jpegzip.api's write (temporary file, fsync, no-clobber rename). Other file
systems (s3://, gs://, memory://, ...) have no atomic rename: an output is uploaded under a
temporary name beside its target and then moved, so no reader ever finds a partial file
under a final name (an object store's copy is atomic per object; two writers racing for one
name are not detected there, which one job per destination never does). Temporary names
follow jpegzip's own pattern (``.<name>.<random>.tmp``), so a later run removes any that a
killed worker left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .. import api
from ..errors import OutputExists, VerificationFailed
from ..options import Options

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# What jpegzip's writes call their temporary files: ``.<final name>.<random>.tmp``.
TEMPORARY = re.compile(r"^\..+\.(jrz|jpg|jsonl)\.[A-Za-z0-9_]+\.tmp$")


@dataclass(frozen=True)
class Location:
    """A folder on some file system. Picklable (fsspec file systems pickle by their
    options), so every task carries it; files are named relative to it, with ``/``."""

    url: str
    fs: AbstractFileSystem
    root: str

    @classmethod
    def open(cls, url: str, **storage_options: object) -> Location:
        """The folder at ``url``; credentials and the like come from ``storage_options``
        or fsspec's usual configuration."""
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        return cls(url, fs, root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, relative: str) -> str:
        """The file system's own path of a file in this folder."""
        return f"{self.root}/{relative}"

    def show(self, relative: str) -> str:
        """How messages name a file: the URL as the user gave it, then the relative name."""
        return f"{self.url.rstrip('/')}/{relative}"

    def files(self) -> dict[str, int]:
        """Every file below this folder: relative name -> size (empty if it does not exist)."""
        root = self.root or "/"
        if self.fs.isfile(root):
            raise NotADirectoryError(20, "is a file, not a folder", self.url)
        prefix = f"{self.root}/"
        found = self.fs.find(root, detail=True) if self.fs.exists(root) else {}
        return {
            path[len(prefix) :]: int(info.get("size") or 0)
            for path, info in found.items()
            if path.startswith(prefix) and info.get("type") == "file"
        }

    def read(self, relative: str, options: Options) -> bytes:
        """A file's bytes, refused (LimitExceeded) when over the options' size limit."""
        with self.fs.open(self.path(relative), "rb") as handle:
            return api.read_input(handle, options)

    def write(self, relative: str, data: bytes, force: bool) -> None:
        """Create a file atomically, never replacing one unless ``force`` (OutputExists)."""
        path = self.path(relative)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            api.save(path, data, force)
            return
        parent, name = path.rsplit("/", 1)
        self.fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{name}.{secrets.token_hex(4)}.tmp"
        try:
            self.fs.pipe_file(temporary, data)
            if not force and self.fs.exists(path):
                raise OutputExists(f"{self.show(relative)} already exists")
            self.fs.mv(temporary, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm(temporary)
            raise
        if self.fs.size(path) != len(data):
            raise VerificationFailed(f"{self.show(relative)}: the stored size differs")

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(relative))

    def remove_folder(self, relative: str) -> None:
        """Remove an empty folder, where folders exist (object stores have none)."""
        with contextlib.suppress(OSError):
            self.fs.rmdir(self.path(relative))

    def remove_temporaries(self) -> int:
        """Delete the temporary files that killed writers left below this folder."""
        stale = [name for name in self.files() if TEMPORARY.match(name.rsplit("/", 1)[-1])]
        for name in stale:
            self.remove(name)
        return len(stale)
