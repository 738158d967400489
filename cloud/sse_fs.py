"""A read-only pyarrow filesystem over a bucket whose objects are SSE-C encrypted.

pyarrow's own S3FileSystem cannot send SSE-C headers from Python, so `alpr search` reads an
encrypted index through this handler instead: every HEAD, LIST and GET goes through S3Target, which
adds the headers. Each file is fetched whole in one GET (index parts are small; a search already
fetches small parts whole), and then served from memory with random access.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from cloud.storage import S3Target, StorageError


class SseCHandler(pafs.FileSystemHandler):
    """Paths are `BUCKET/KEY`, as with pyarrow's S3FileSystem."""

    def __init__(self, target: S3Target) -> None:
        self.target = target

    def _key(self, path: str) -> str:
        bucket, _, key = path.strip("/").partition("/")
        if bucket != self.target.bucket:
            raise FileNotFoundError(f"{path}: not in bucket {self.target.bucket}")
        return key

    def get_type_name(self) -> str:
        return "alpr-sse-c-s3"

    def equals(self, other: Any) -> bool:
        return isinstance(other, SseCHandler) and other.target is self.target

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        out = []
        for path in paths:
            obj = self.target.head(self._key(path)) if "/" in path.strip("/") else None
            if obj is None:
                out.append(pafs.FileInfo(path, pafs.FileType.NotFound))
            else:
                out.append(pafs.FileInfo(path, pafs.FileType.File, size=obj.size))
        return out

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        base = selector.base_dir.strip("/")
        prefix = self._key(base + "/") if "/" in base else ""
        out = []
        for obj in self.target.list(prefix):
            rest = obj.key[len(prefix) :]
            if not selector.recursive and "/" in rest:
                continue
            path = f"{self.target.bucket}/{obj.key}"
            out.append(pafs.FileInfo(path, pafs.FileType.File, size=obj.size))
        if not out and not selector.allow_not_found:
            raise FileNotFoundError(f"{selector.base_dir}: no such prefix")
        return out

    def _open(self, path: str) -> pa.BufferReader:
        try:
            return pa.BufferReader(self.target.get(self._key(path)))
        except StorageError as exc:
            raise OSError(str(exc)) from None

    def open_input_stream(self, path: str) -> pa.BufferReader:
        return self._open(path)

    def open_input_file(self, path: str) -> pa.BufferReader:
        return self._open(path)

    def _read_only(self, *_: Any, **__: Any) -> Any:
        raise NotImplementedError("the SSE-C index filesystem is read-only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


def sse_c_filesystem(target: S3Target) -> pafs.PyFileSystem:
    return pafs.PyFileSystem(SseCHandler(target))
