"""Tests for image inspection and RGB loading, on real files written with Pillow."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_classification.data.images import (
    CONVERTED,
    SKIPPED,
    UnreadableImageError,
    inspect_image,
    load_rgb,
)

from .conftest import write_image


def _only_problem(path: Path, **options) -> tuple[str, str]:
    info, problems = inspect_image(path, **options)
    assert len(problems) == 1, problems
    return problems[0].problem, problems[0].action


def test_plain_rgb_jpeg_is_clean_and_described(tmp_path):
    path = write_image(tmp_path / "photo.jpg", size=(40, 30))
    info, problems = inspect_image(path)
    assert problems == []
    assert (info.width, info.height, info.mode) == (40, 30, "RGB")
    assert info.bytes == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    image = load_rgb(path)
    assert (image.mode, image.size) == ("RGB", (40, 30))


def test_zero_byte_file_is_skipped(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    info, problems = inspect_image(path)
    assert info is None
    assert problems[0].problem == "zero-byte file" and problems[0].action == SKIPPED


def test_missing_file_raises_unreadable_image_error(tmp_path):
    with pytest.raises(UnreadableImageError) as caught:
        load_rgb(tmp_path / "gone.png")
    assert caught.value.path == str(tmp_path / "gone.png") and isinstance(caught.value.__cause__, FileNotFoundError)
    assert inspect_image(tmp_path / "gone.png")[0] is None


def test_text_file_named_jpg_is_skipped_as_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a JPEG\n", encoding="utf-8")
    problem, action = _only_problem(path)
    assert problem.startswith("not an image") and action == SKIPPED
    with pytest.raises(UnreadableImageError, match=re.escape(str(path))) as caught:
        load_rgb(path)
    assert caught.value.path == str(path) and isinstance(caught.value, ValueError)


def test_truncated_jpeg_is_skipped_and_load_rgb_raises(tmp_path):
    full = write_image(tmp_path / "full.jpg", size=(64, 64), color=(10, 200, 30)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(full[: len(full) // 2])
    problem, action = _only_problem(path)
    assert "truncated" in problem and action == SKIPPED
    with pytest.raises(UnreadableImageError, match=re.escape(str(path))) as caught:
        load_rgb(path)
    assert caught.value.path == str(path)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    path = write_image(
        tmp_path / "print.jpg", mode="CMYK", color=(0, 255, 255, 0)
    )  # pure red in CMYK
    info, problems = inspect_image(path)
    assert info.mode == "CMYK"
    assert [(p.action, "CMYK" in p.problem) for p in problems] == [(CONVERTED, True)]
    red, green, blue = load_rgb(path).getpixel((3, 3))
    assert red > 240 and green < 15 and blue < 15


def test_16bit_png_is_scaled_to_8bit_not_clipped(tmp_path):
    pixels = (
        np.array([[0, 32896, 65535, 1000]], dtype=np.uint16).repeat(16, axis=0).repeat(4, axis=1)
    )
    path = tmp_path / "depth.png"
    Image.fromarray(pixels).save(path)
    info, problems = inspect_image(path)
    assert info.mode == "I;16" and problems[0].action == CONVERTED
    rgb = np.asarray(load_rgb(path))
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 16, 3)
    assert rgb[0, ::4, 0].tolist() == [0, 128, 255, 4]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_32bit_integer_and_float_tiffs_are_scaled(tmp_path):
    integer = tmp_path / "int.tif"
    Image.new("I", (10, 10), 65535).save(integer)
    small_integer = tmp_path / "int8.tif"
    Image.new("I", (10, 10), 200).save(small_integer)
    floating = tmp_path / "float.tif"
    Image.new("F", (10, 10), 0.5).save(floating)
    assert load_rgb(integer).getpixel((0, 0)) == (255, 255, 255)
    assert load_rgb(small_integer).getpixel((0, 0)) == (200, 200, 200)
    assert load_rgb(floating).getpixel((0, 0)) == (128, 128, 128)


def test_rgba_png_is_composited_on_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (0, 0, 255, 255))
    image.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent corner
    path = tmp_path / "logo.png"
    image.save(path)
    problem, action = _only_problem(path)
    assert "RGBA" in problem and action == CONVERTED
    rgb = load_rgb(path)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (0, 0, 255)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (10, 10), 1)
    image.putpalette([255, 0, 0, 0, 128, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    path = tmp_path / "sprite.png"
    image.save(path, transparency=0)  # palette index 0 (red) is transparent
    problem, action = _only_problem(path)
    assert "P" in problem and "transparency" in problem and action == CONVERTED
    rgb = load_rgb(path)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (0, 128, 0)


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [("L", 77, (77, 77, 77)), ("LA", (77, 255), (77, 77, 77)), ("1", 1, (255, 255, 255))],
)
def test_grayscale_and_bilevel_are_converted(tmp_path, mode, color, expected):
    path = write_image(tmp_path / f"gray_{mode}.png", mode=mode, color=color)
    info, problems = inspect_image(path)
    assert info.mode == mode
    assert [p.action for p in problems] == [CONVERTED]
    assert load_rgb(path).getpixel((2, 2)) == expected


def test_exif_rotated_photo_comes_out_upright(tmp_path):
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # stored: red left half, blue right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    info, problems = inspect_image(path)
    assert (info.width, info.height) == (20, 40) and problems == []
    upright = load_rgb(path)
    assert upright.size == (20, 40)
    top, bottom = upright.getpixel((10, 5)), upright.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # red ends up on top after a clockwise turn
    assert bottom[2] > 200 and bottom[0] < 60


def test_image_above_max_pixels_is_skipped_as_decompression_bomb(tmp_path):
    path = write_image(tmp_path / "big.png", size=(100, 100))
    problem, action = _only_problem(path, max_pixels=5_000)
    assert (
        problem.startswith("decompression bomb")
        and "max_pixels=5,000" in problem
        and action == SKIPPED
    )
    assert inspect_image(path)[0] is not None
    with pytest.raises(UnreadableImageError, match=r"\b100x100\b.*\bmax_pixels=5,000\b") as caught:
        load_rgb(path, max_pixels=5_000)
    assert caught.value.path == str(path)


def test_pillow_decompression_bomb_error_is_caught(tmp_path):
    # A real PNG header declaring 30000x30000 pixels (1-bit): Pillow refuses it on open.
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 1, 0, 0, 0, 0)
    chunks = [
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)),
        _png_chunk(b"IEND", b""),
    ]
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    problem, action = _only_problem(path, max_pixels=10**12)
    assert problem.startswith("decompression bomb") and action == SKIPPED


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_one_pixel_image_is_too_small_unless_min_side_allows(tmp_path):
    path = write_image(tmp_path / "pixel.gif", mode="L", size=(1, 1))
    problem, action = _only_problem(path)
    assert problem.startswith("too small: 1x1") and action == SKIPPED
    info, _ = inspect_image(path, min_side=1)
    assert (info.width, info.height) == (1, 1)


def test_non_ascii_file_name_is_read(tmp_path):
    path = write_image(tmp_path / "Ünïcödé" / "猫 café.png")
    info, problems = inspect_image(path)
    assert info is not None and problems == []
    assert load_rgb(path).size == (16, 12)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (12, 12), (80 * i, 0, 0)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    info, problems = inspect_image(path)
    assert info is not None
    assert {p.action for p in problems} >= {"first frame used"}
