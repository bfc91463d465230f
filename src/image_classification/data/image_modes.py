"""How each Pillow mode is described in the validation report when an image is converted to RGB."""

from __future__ import annotations

from PIL import Image

_MODE_NOTES = {
    "RGB": "RGB",
    "1": "1-bit black and white",
    "L": "8-bit grayscale",
    "LA": "grayscale with alpha, composited on white",
    "La": "grayscale with premultiplied alpha, composited on white",
    "P": "palette",
    "PA": "palette with alpha, composited on white",
    "RGBA": "RGB with alpha, composited on white",
    "RGBa": "RGB with premultiplied alpha, composited on white",
    "CMYK": "CMYK colour (print), converted without colour profile",
    "YCbCr": "YCbCr colour",
    "I": "32-bit integer grayscale, scaled to 0..255",
    "I;16": "16-bit grayscale, scaled to 0..255",
    "I;16L": "16-bit grayscale, scaled to 0..255",
    "I;16B": "16-bit grayscale, scaled to 0..255",
    "F": "32-bit float grayscale, scaled to 0..255",
}


def describe_mode(image: Image.Image) -> str:
    note = _MODE_NOTES.get(image.mode, "unusual mode")
    if "transparency" in image.info and "alpha" not in note:
        note += " with transparency, composited on white"
    return f"mode {image.mode} ({note})"
