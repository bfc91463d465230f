"""Fixtures for the ingest tests: tiny real images, archives and a real local HTTP server."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image


def png_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12)
) -> bytes:
    """A small real RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def write_image(
    path: Path, mode: str = "RGB", size: tuple[int, int] = (16, 12), color=None, **save_args
) -> Path:
    """Writes a real image file (format from the suffix) with a solid colour, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    default = {
        "RGB": (200, 30, 30),
        "RGBA": (0, 0, 255, 255),
        "L": 128,
        "CMYK": (0, 255, 255, 0),
    }.get(mode, 0)
    Image.new(mode, size, default if color is None else color).save(path, **save_args)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    """Writes a zip archive with the given member names and contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def relative_files(root: Path) -> list[str]:
    """Every file below ``root`` as a sorted list of POSIX relative paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def class_zip(path: Path) -> Path:
    """A small image-classification archive: two classes of real PNGs inside a top folder."""
    return make_zip(
        path,
        {
            "pets/cat/a.png": png_bytes((250, 0, 0)),
            "pets/cat/b.png": png_bytes((240, 10, 0)),
            "pets/dog/c.png": png_bytes((0, 0, 250)),
            "pets/dog/d.png": png_bytes((0, 10, 240)),
        },
    )


@pytest.fixture
def cats_dogs_tiny(shared_dir: Path) -> Path:
    """``../shared/datasets/cats_dogs_tiny``: 20 cat and 20 dog photos in ``Cat/`` and ``Dog/``."""
    folder = shared_dir / "datasets" / "cats_dogs_tiny"
    if not folder.is_dir():
        pytest.skip(
            f"Real data set not found: {folder} (expected in the shared folder beside the project)."
        )
    return folder


@dataclass
class FileServer:
    """A real HTTP server on 127.0.0.1 serving ``files`` with HTTP Range support."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    cut_next_after: dict[str, int] = field(
        default_factory=dict
    )  # path -> bytes to send before dropping once

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def _handler(server_state: FileServer) -> type[BaseHTTPRequestHandler]:
    class RangeHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            name = self.path.lstrip("/")
            range_header = self.headers.get("Range")
            server_state.requests.append((name, range_header))
            data = server_state.files.get(name)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = int(range_header.split("=")[1].split("-")[0]) if range_header else 0
            if start >= len(data) and range_header:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206 if range_header else 200)
            if range_header:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = server_state.cut_next_after.pop(name, None)
            self.wfile.write(body if cut is None else body[:cut])
            if cut is not None:
                self.close_connection = True

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return RangeHandler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """Serves in-memory files over real HTTP on a free local port; shut down after the test."""
    state = FileServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
