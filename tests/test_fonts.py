"""The CJK font comes from the mplfonts wheel, is Noto (not SimHei), and draws Chinese, not tofu."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from helpers.core.fonts import (
    cjk_font,
    cjk_font_path,
    glyph_bitmap,
    notdef_bitmap,
    renders_glyph,
    use_in_matplotlib,
)

SAMPLE = "发票合计金额、日期：２０２６年"


def test_font_is_noto_sans_cjk_from_the_wheel():
    path = cjk_font_path()
    assert path.is_file() and "mplfonts" in str(path)
    assert "simhei" not in path.name.lower()
    family, _style = cjk_font(20).getname()
    assert family == "Noto Sans CJK SC"


def test_chinese_sample_is_not_tofu():
    font = cjk_font(32)
    tofu = notdef_bitmap(font)
    bitmaps = [glyph_bitmap(ch, font) for ch in SAMPLE]
    assert all(b != tofu for b in bitmaps)
    # different characters give different glyphs (tofu would make them all identical)
    distinct = {glyph_bitmap(ch, font) for ch in "发票合计金额日期"}
    assert len(distinct) == 8
    assert renders_glyph(SAMPLE, font)


def test_a_latin_only_font_would_fail_the_same_check():
    """The check is honest: PIL's built-in bitmap-free default font has no CJK glyphs."""
    latin = ImageFont.load_default(size=32)
    tofu = glyph_bitmap("\ue000", latin)
    assert glyph_bitmap("发", latin) == tofu or glyph_bitmap("发", latin) == glyph_bitmap("票", latin)
    assert not renders_glyph("发票", latin)


def test_rendered_image_has_ink():
    img = Image.new("L", (200, 50), 255)
    ImageDraw.Draw(img).text((5, 5), "合计", font=cjk_font(32), fill=0)
    assert img.getextrema()[0] < 128


def test_matplotlib_registration():
    import matplotlib
    from matplotlib import font_manager

    matplotlib.rcParams["font.family"] = ["DejaVu Sans"]
    assert use_in_matplotlib() == "Noto Sans CJK SC"
    assert matplotlib.rcParams["font.family"][0] == "Noto Sans CJK SC"
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    # matplotlib now resolves the default family to the wheel's Noto file, not to a fallback
    found = font_manager.findfont(font_manager.FontProperties(family=matplotlib.rcParams["font.family"]))
    assert found == str(cjk_font_path())
