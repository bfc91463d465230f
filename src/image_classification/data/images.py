"""Open, check and decode image files with Pillow.

Two entry points:

* :func:`inspect_image` looks at one file and says whether it is usable, what it is (size, mode, bytes, sha256) and
  what is odd about it. It never raises for a bad file: problems come back as :class:`ImageProblem` rows.
* :func:`load_rgb` returns the pixels as an upright 8-bit RGB ``PIL.Image.Image`` and raises
  :class:`UnreadableImageError` for a file that cannot be used.

Both share the same opening code, so every image that passes :func:`inspect_image` can be loaded by :func:`load_rgb`.
Truncated files are detected by decoding the whole image; ``ImageFile.LOAD_TRUNCATED_IMAGES`` is deliberately left
alone so that broken files fail loudly instead of coming back half grey.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from image_classification.data.duplicates import perceptual_hash, pixel_sha256
from image_classification.data.files import special_kind
from image_classification.data.image_modes import describe_mode

#: Same limit as Pillow's own default (``Image.MAX_IMAGE_PIXELS``): about 89.5 megapixels.
DEFAULT_MAX_PIXELS = 89_478_485
#: Images whose shorter side is below this many pixels are skipped (icons, tracking pixels).
DEFAULT_MIN_SIDE = 8

SKIPPED = "skipped"
CONVERTED = "converted to RGB"

_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EXIF_ORIENTATION_TAG = 0x0112
_WHITE = (255, 255, 255, 255)



class UnreadableImageError(ValueError):
    """A file that cannot be used as an image.

    Attributes:
        path: The offending file.
        reason: Short human-readable reason, e.g. ``"zero-byte file"``.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`inspect_image` learns about a usable image (width/height are after EXIF rotation)."""

    width: int
    height: int
    mode: str
    bytes: int
    sha256: str
    #: sha256 of the decoded RGB pixels (with the size): equal for one picture saved as PNG and as BMP
    pixel_sha256: str = ""
    #: 64-bit perceptual hash (DCT pHash) of the picture: near for resized, recompressed or re-encoded copies; None
    #: for a (nearly) flat image, whose hash would say nothing
    phash: int | None = None


@dataclass(frozen=True)
class ImageProblem:
    """One thing wrong or odd about a file: ``action`` is ``"skipped"``, ``"converted to RGB"``, ..."""

    problem: str
    action: str


# The largest image Pillow decodes by default (89.5 M pixels) is 256 MiB as an uncompressed 24-bit BMP; twice that
# leaves room for 16-bit and RGBA files. Anything larger is not one photo or painting.
MAX_FILE_BYTES = 512 * 2**20


def inspect_image(
    path: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> tuple[ImageInfo | None, list[ImageProblem]]:
    """Checks one image file fully (header, integrity, complete decode) without raising for bad files.

    Args:
        path: Image file.
        max_pixels: Images with more pixels are skipped as possible decompression bombs.
        min_side: Images whose shorter side is smaller are skipped as too small.

    Returns:
        ``(info, problems)``: ``info`` is ``None`` when the file must be skipped; ``problems`` lists every finding,
        including non-fatal ones such as a mode conversion.
    """
    path = Path(path)
    try:
        data = _read(path)
        image = _decode(path, data, max_pixels)
    except UnreadableImageError as error:
        return None, [ImageProblem(error.reason, SKIPPED)]
    with image:
        width, height = _upright_size(image)
        if min(width, height) < min_side:
            problem = f"too small: {width}x{height} px, shorter side below min_side={min_side}"
            return None, [ImageProblem(problem, SKIPPED)]
        problems = []
        if _needs_conversion(image):
            try:
                to_rgb(image)
            except (ValueError, OSError) as error:
                return None, [
                    ImageProblem(f"cannot convert mode {image.mode} to RGB: {error}", SKIPPED)
                ]
            problems.append(ImageProblem(describe_mode(image), CONVERTED))
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            problems.append(
                ImageProblem(f"{frames} frames (animated or multi-page)", "first frame used")
            )
        try:
            rgb = to_rgb(image)
        except (ValueError, OSError):
            rgb = None
        info = ImageInfo(
            width, height, image.mode, len(data), hashlib.sha256(data).hexdigest(),
            pixel_sha256=pixel_sha256(rgb) if rgb is not None else "",
            phash=perceptual_hash(rgb) if rgb is not None else None,
        )  # fmt: skip
    return info, problems


def load_rgb(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Loads an image upright (EXIF orientation applied) as 8-bit RGB.

    Args:
        path: Image file.
        max_pixels: Refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully loaded ``PIL.Image.Image`` in mode ``"RGB"``.

    Raises:
        UnreadableImageError: The file is empty, not an image, truncated, too large or in an unconvertible mode.
    """
    path = Path(path)
    with _decode(path, _read(path), max_pixels) as image:
        try:
            upright = ImageOps.exif_transpose(image)
            return to_rgb(upright)
        except (ValueError, OSError) as error:
            raise UnreadableImageError(
                path, f"cannot convert mode {image.mode} to RGB: {error}"
            ) from error


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any Pillow mode to 8-bit RGB.

    Transparent pixels are composited on white (a black background would turn transparent logos into black squares),
    high bit-depth grayscale is scaled to 0..255 rather than clipped.

    Args:
        image: A loaded image in any mode.

    Returns:
        A new image in mode ``"RGB"`` (or ``image`` itself when it already is RGB without transparency).
    """
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(image))).convert("RGB")
    if _has_transparency(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _read(path: Path) -> bytes:
    kind = special_kind(path)
    if kind is not None and kind != "missing":  # a FIFO or a device would block or never end: never opened
        raise UnreadableImageError(path, f"not a regular file: {kind}, not opened")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # checked before reading: a huge file must never be read into memory whole
            raise UnreadableImageError(
                path, f"file too large: {size / 2**20:,.0f} MiB, above {MAX_FILE_BYTES // 2**20} MiB for one image"
            )
        return path.read_bytes()
    except OSError as error:
        raise UnreadableImageError(path, f"cannot read file: {error.strerror or error}") from error


def _decode(path: Path, data: bytes, max_pixels: int) -> Image.Image:
    """Opens ``data`` with Pillow, refusing bombs, and decodes every pixel so truncation shows up now."""
    if not data:
        raise UnreadableImageError(path, "zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            _check_pixels(path, probe.size, max_pixels)
            probe.verify()  # structural checks (PNG CRCs, ...) that decoding alone may not do
        image = Image.open(io.BytesIO(data))
        image.load()  # a full decode is the only reliable test for truncated JPEGs
    except UnreadableImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnreadableImageError(path, _bomb_reason(error, max_pixels)) from error
    except UnidentifiedImageError as error:
        raise UnreadableImageError(
            path, "not an image: Pillow cannot identify the file format"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        reason = "truncated" if "truncated" in str(error).lower() else "corrupt"
        raise UnreadableImageError(path, f"{reason} image data: {error}") from error
    return image


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise UnreadableImageError(
            path,
            f"decompression bomb: {width}x{height} = {width * height:,} pixels exceeds max_pixels={max_pixels:,} "
            "(ingest.checks.max_pixels)",
        )


def _bomb_reason(error: Exception, max_pixels: int) -> str:
    """Pillow refuses images over twice its own limit before we see their size: say it with the project's limit."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    if found is None:
        return f"decompression bomb: more pixels than max_pixels={max_pixels:,} (ingest.checks.max_pixels)"
    pixels = int(found.group(1))
    if pixels > max_pixels:
        return f"decompression bomb: {pixels:,} pixels exceeds max_pixels={max_pixels:,} (ingest.checks.max_pixels)"
    return (
        f"decompression bomb: {pixels:,} pixels is within max_pixels={max_pixels:,} (ingest.checks.max_pixels) but "
        "above what "
        f"Pillow decodes ({2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels, twice PIL.Image.MAX_IMAGE_PIXELS)"
    )


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as :func:`load_rgb` will return them, without rotating the pixels."""
    width, height = image.size
    if image.getexif().get(_EXIF_ORIENTATION_TAG) in _TRANSPOSED_ORIENTATIONS:
        return height, width
    return width, height


def _needs_conversion(image: Image.Image) -> bool:
    return image.mode != "RGB" or "transparency" in image.info


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Maps high bit-depth grayscale to 0..255.

    16-bit data (the usual case, also when Pillow stores it as 32-bit ``I``) is divided by 257 so 65535 -> 255;
    ``I`` data already within 0..255 is kept; floats in 0..1 are multiplied by 255; anything else is min-max scaled.
    """
    values = pixels.astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if pixels.dtype.kind == "f":
        scaled = values * 255.0 if low >= 0.0 and high <= 1.0 else _min_max(values, low, high)
    elif pixels.dtype == np.uint16 or (low >= 0 and 255 < high <= 65535):
        scaled = values / 257.0
    elif low >= 0 and high <= 255:
        scaled = values
    else:
        scaled = _min_max(values, low, high)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _min_max(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros_like(values)
    return (values - low) * (255.0 / (high - low))
