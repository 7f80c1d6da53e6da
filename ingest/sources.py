"""What ingestion reads: a file on disk or uploaded bytes (``Source``), its stored name, the folders a command
names expanded into files, and the id a tenant's document of those bytes gets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from folio.errors import FileNotFound, InputError
from folio.ingest.prepare import content_id

MAX_NAME_CHARS = 200  # a stored file name's length, its extension included


def safe_file_name(name: str | None) -> str:
    """A file's name as it is stored and shown: without its folders, control and format characters (bidi
    overrides among them) or leading dots, and at most ``MAX_NAME_CHARS`` long with its extension kept (the
    extension says how the file is read). For uploaded names and for the files ``folio ingest`` reads."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    if len(cleaned) > MAX_NAME_CHARS:
        suffix = PurePath(cleaned).suffix
        suffix = suffix if len(suffix) <= 16 else ""
        cleaned = cleaned[: MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
    return cleaned or "upload"


@dataclass
class Source:
    """One input: a file on disk, or uploaded bytes with a name."""

    name: str
    key: str
    path: Path | None = None
    data: bytes | None = None
    tenant: str = "default"  # who owns the document (the service's API key; the CLI's is "default")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFound("file not found", file=self.name) from exc
        except IsADirectoryError as exc:
            raise InputError("is a directory", file=self.name) from exc
        except PermissionError as exc:
            raise InputError("permission denied", file=self.name) from exc
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=self.name) from exc


def document_id(data: bytes, tenant: str = "default") -> str:
    """The id of ``tenant``'s document of these bytes: for tenant "default" the SHA-256 of the bytes (as the CLI
    has always made them); for any other tenant the SHA-256 of a tenant prefix and the bytes, so that the same
    file uploaded by two tenants is two documents, with their own chunks and cached prefixes."""
    if tenant == "default":
        return content_id(data)
    return content_id(b"folio-tenant\x00" + tenant.encode() + b"\x00" + data)


def collect_paths(paths: Iterable[Path], *, recursive: bool = False, glob: str | None = None) -> list[Source]:
    """Expand files and folders into sources in a stable order; missing paths become failing sources."""
    from folio.ingest.parse import SUPPORTED_SUFFIXES

    out: list[Source] = []
    for path in paths:
        if path.is_dir():
            pattern = glob or "*"
            found = path.rglob(pattern) if recursive else path.glob(pattern)
            files = sorted(p for p in found if p.is_file() and not p.name.startswith("."))
            if glob is None:
                files = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
            out.extend(Source(name=str(p), key=str(p.resolve()), path=p) for p in files)
        else:
            out.append(Source(name=str(path), key=str(path.resolve()), path=path))
    return out
