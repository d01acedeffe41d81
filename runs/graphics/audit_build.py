"""Build the 'never worse' audit archive: originals with known pixels, damaged the ways archives are.

Writes /tmp/neverworse/arch/<orig>/<variant>.<ext>, /tmp/neverworse/refs/<orig>/<variant>.png (the reference
each case is scored against) and /tmp/neverworse/manifest.csv (case, file, ref, recipe, origin, group).
"""
import csv
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

sys.path.insert(0, "/work/main")
from export.data import split_faces  # noqa: E402

ROOT = Path("/tmp/neverworse")
NAT = Path("/work/shared/data/natural")
FACES = Path("/work/shared/data/faces")
ARCH, REFS = ROOT / "arch", ROOT / "refs"
MAXW, MAXH = 448, 336


def load(p):
    return Image.open(p).convert("RGB")


def ccrop(im, w=MAXW, h=MAXH):
    W, H = im.size
    w, h = min(w, W), min(h, H)
    x, y = (W - w) // 2, (H - h) // 2
    return im.crop((x, y, x + w, y + h))


def down(im, f):
    W, H = im.size
    return im.resize((round(W / f), round(H / f)), Image.LANCZOS)


def arr(im):
    return np.asarray(im).astype(np.float64)


def fromarr(a):
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))


def jpeg(im, q, sub=2, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", quality=q, subsampling=sub, **kw)
    return b.getvalue()


def dec(b):
    im = Image.open(io.BytesIO(b))
    im.load()
    return im


def rng(seed):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- originals
def originals():
    o = {}
    # lossless natural PNGs at native scale (centre crop only)
    o["nat_coffee"] = (ccrop(load(NAT / "skimage_coffee.png")), "skimage_coffee.png, centre crop 448x336")
    o["nat_chelsea"] = (ccrop(load(NAT / "skimage_chelsea.png")), "skimage_chelsea.png (451x300 native)")
    o["nat_motorcycle"] = (ccrop(load(NAT / "skimage_motorcycle_left.png")), "skimage_motorcycle_left.png, centre crop 448x336")
    o["nat_chicky"] = (ccrop(load(NAT / "opencv_chicky_512.png"), 384, 384), "opencv_chicky_512.png, centre crop 384x384")
    o["nat_graf"] = (ccrop(load(NAT / "opencv_graf1.png")), "opencv_graf1.png, centre crop 448x336")
    o["nat_whale"] = (ccrop(load(NAT / "opencv_rubberwhale1.png")), "opencv_rubberwhale1.png, centre crop 448x336")
    # JPEG originals downscaled with LANCZOS (removes the JPEG traces), then centre crop
    for key, fn, f in [
        ("dn_leuven", "opencv_leuvenA.jpg", 2), ("dn_dune", "mate_Dune.jpg", 3),
        ("dn_raindrops", "mate_RainDrops.jpg", 4), ("dn_storm", "mate_Storm.jpg", 4),
        ("dn_twowings", "mate_TwoWings.jpg", 4), ("dn_blinds", "mate_Blinds.jpg", 4),
        ("dn_castle", "opencv_castle.jpg", 2), ("dn_baboon", "opencv_baboon.jpg", 2),
        ("dn_aqua", "mate_Aqua.jpg", 4), ("dn_yellowflower", "mate_YellowFlower.jpg", 4),
        ("dn_wood", "mate_Wood.jpg", 4), ("dn_china", "sklearn_china.jpg", 2),
    ]:
        o[key] = (ccrop(down(load(NAT / fn), f)), f"{fn}, LANCZOS /{f}, centre crop <=448x336")
    # test faces only
    test = {p.name: p for p in split_faces(FACES).test}
    for n in ["159", "160", "162"]:
        o[f"face{n}"] = (load(test[f"{n}.png"]), f"faces/crops/{n}.png (test split, lossless source, native)")
    o["face029"] = (load(test["029.png"]), "faces/crops/029.png (test split, JPEG q100 source, native)")
    for n, f in [("004", 2), ("040", 2), ("007", 2), ("021", 2)]:
        o[f"face{n}"] = (down(load(test[f"{n}.png"]), f), f"faces/crops/{n}.png (test split), LANCZOS /{f}")

    # content kinds archives hold
    coffee = arr(o["nat_coffee"][0])
    y = coffee @ [0.299, 0.587, 0.114]
    r = rng(1)
    grain = r.normal(0, 6, y.shape)
    from scipy.ndimage import gaussian_filter
    grain = gaussian_filter(grain, 0.6)
    sep = np.stack([y * 1.0 + 18, y * 0.92 + 10, y * 0.75], -1) + grain[..., None] * 1.4
    o["scan_sepia"] = (fromarr(sep), "coffee crop -> sepia luma + paper grain (N(0,6) gaussian_filter 0.6)")
    f159 = arr(o["face159"][0])
    o["scan_face"] = (fromarr(f159 * 0.9 + 14 + rng(2).normal(0, 5, f159.shape[:2])[..., None]),
                      "face159 faded (x0.9+14) + mono grain N(0,5)")
    # night photos: darkened + sensor noise
    castle = arr(o["dn_castle"][0])
    o["night_castle"] = (fromarr(255 * (castle / 255) ** 2.2 * 0.35 + rng(3).normal(0, 4, castle.shape)),
                         "dn_castle, gamma 2.2 x0.35 (dark) + N(0,4) per channel")
    leu = arr(o["dn_leuven"][0])
    n = rng(4).normal(0, 5, leu.shape[:2])[..., None] + rng(5).normal(0, 3, leu.shape)
    o["night_leuven"] = (fromarr(255 * (leu / 255) ** 1.8 * 0.3 + 3 + n), "dn_leuven, gamma 1.8 x0.3 +3 + N(0,5) luma + N(0,3) chroma")
    ch = arr(o["nat_chelsea"][0])
    o["iso_chelsea"] = (fromarr(ch + rng(6).normal(0, 8, ch.shape)), "nat_chelsea + N(0,8) per channel (high ISO)")
    f040 = arr(o["face040"][0])
    o["iso_face040"] = (fromarr(f040 + rng(7).normal(0, 6, f040.shape)), "face040 + N(0,6) per channel")
    # studio backdrop: smooth radial gradient, tiny noise, face pasted in
    H, W = 336, 448
    yy, xx = np.mgrid[0:H, 0:W]
    d = np.hypot((xx - W / 2) / W, (yy - H / 2) / H)
    bg = np.stack([90 - 60 * d, 110 - 70 * d, 140 - 80 * d], -1) + rng(8).normal(0, 0.8, (H, W, 3))
    bgi = fromarr(bg)
    f160 = o["face160"][0]
    bgi.paste(f160.resize((200, 200), Image.LANCZOS), (124, 68))
    o["studio_backdrop"] = (bgi, "radial gradient backdrop + N(0,0.8), face160 (LANCZOS to 200) pasted at (124,68)")
    o["bokeh_blur"] = (fromarr(arr(o["dn_yellowflower"][0].filter(ImageFilter.GaussianBlur(6))) + rng(9).normal(0, 0.7, (336, 448, 3))),
                       "dn_yellowflower GaussianBlur(6) + N(0,0.7)")
    # screenshot / text render
    im = Image.new("RGB", (448, 336), (246, 246, 248))
    dr = ImageDraw.Draw(im)
    dr.rectangle((0, 0, 447, 28), fill=(38, 92, 160))
    fb = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 15)
    fr = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 12)
    fs = ImageFont.truetype("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 11)
    dr.text((10, 6), "Photo Library - Settings", font=fb, fill=(255, 255, 255))
    lines = ["Import folder: /home/anna/Pictures/2009 Summer", "Keep originals after import  [x]",
             "Thumbnail size: 256 px", "JPEG quality for exports: 85", "Color profile: sRGB IEC61966-2.1",
             "The quick brown fox jumps over the lazy dog. 0123456789", "Backups: weekly, last run 3 days ago"]
    for i, t in enumerate(lines):
        dr.text((16, 44 + 20 * i), t, font=fr, fill=(30, 30, 30))
    dr.rounded_rectangle((300, 290, 430, 320), 6, fill=(52, 120, 200))
    dr.text((335, 297), "Apply", font=fb, fill=(255, 255, 255))
    im.paste(o["face162"][0].resize((110, 110), Image.LANCZOS), (320, 44))
    dr.text((16, 200), "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do", font=fs, fill=(90, 90, 90))
    dr.text((16, 216), "eiusmod tempor incididunt ut labore et dolore magna aliqua.", font=fs, fill=(90, 90, 90))
    o["screenshot"] = (im, "448x336 UI render: DejaVu/Liberation text, title bar, button, face162 thumbnail")
    # text document scan
    im = Image.new("L", (448, 336), 236)
    dr = ImageDraw.Draw(im)
    ft = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 13)
    para = ("It was a bright cold day in April, and the clocks were striking thirteen. The hallway smelt of boiled "
            "cabbage and old rag mats. At one end of it a coloured poster, too large for indoor display, had been "
            "tacked to the wall. ") * 3
    words, line, yy0 = para.split(), "", 12
    for wd in words:
        if dr.textlength(line + " " + wd, font=ft) > 420:
            dr.text((14, yy0), line, font=ft, fill=35); yy0 += 19; line = wd
        else:
            line = (line + " " + wd).strip()
        if yy0 > 310:
            break
    a = arr(im) + rng(10).normal(0, 3, (336, 448))
    o["text_scan"] = (fromarr(np.stack([a + 2, a + 1, a - 4], -1)), "serif text on off-white (236), ink 35, N(0,3) grain, warm tint")
    # line art (antialiased: drawn at 4x, LANCZOS down)
    big = Image.new("L", (448 * 4, 336 * 4), 255)
    dr = ImageDraw.Draw(big)
    rr = rng(11)
    for _ in range(14):
        x0, y0 = rr.integers(0, 448 * 4, 2)
        x1, y1 = rr.integers(0, 448 * 4, 2)
        dr.line((int(x0), int(y0), int(x1), int(y1)), fill=0, width=int(rr.integers(4, 12)))
    for _ in range(6):
        cx, cy, rad = int(rr.integers(200, 1600)), int(rr.integers(200, 1100)), int(rr.integers(60, 300))
        dr.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=0, width=8)
    for k in range(0, 400, 24):
        dr.line((1200 + k, 900, 1200 + k + 200, 1300), fill=0, width=5)
    o["lineart"] = (down(big, 4).convert("RGB"), "antialiased black line art on white (drawn 4x, LANCZOS /4)")
    la = arr(o["lineart"][0])[..., 0] * 0.86 + 20 + rng(12).normal(0, 4, (336, 448))
    o["lineart_scan"] = (fromarr(np.stack([la, la - 2, la - 8], -1)), "lineart on paper: x0.86+20, N(0,4) grain, warm tint")
    return o


FULL = {"nat_coffee", "nat_whale", "nat_graf", "dn_storm", "dn_twowings", "dn_aqua", "face159", "face004",
        "face040", "night_castle", "iso_chelsea", "screenshot", "lineart", "scan_sepia", "studio_backdrop"}


def variants(name, im, full):
    """Yield (variant, bytes, ext, ref_image, recipe)."""
    gray = im.convert("L")
    yield "clean", None, "png", im, "original saved as PNG"
    qs = [75, 80, 85, 90, 95] if full else [75, 85, 95]
    for q in qs:
        yield f"j{q}_420", jpeg(im, q, 2), "jpg", im, f"save JPEG q{q} subsampling=2 (4:2:0)"
    for q in ([75, 80, 85, 90, 95] if full else [90]):
        yield f"j{q}_444", jpeg(im, q, 0), "jpg", im, f"save JPEG q{q} subsampling=0 (4:4:4)"
    if full:
        yield "j90_422", jpeg(im, 90, 1), "jpg", im, "save JPEG q90 subsampling=1 (4:2:2)"
        yield "j85_optprog", jpeg(im, 85, 2, optimize=True, progressive=True), "jpg", im, "JPEG q85 4:2:0 optimize+progressive"
        yield "j90_prog444", jpeg(im, 90, 0, progressive=True), "jpg", im, "JPEG q90 4:4:4 progressive"
        b = io.BytesIO(); im.save(b, "WEBP", lossless=True); yield "clean_lossless", b.getvalue(), "webp", im, "lossless WebP of original"
    for q in ([75, 85, 95] if full else [85]):
        b = io.BytesIO(); im.save(b, "WEBP", quality=q); yield f"w{q}", b.getvalue(), "webp", im, f"save WebP q{q}"
    for q in ([75, 85, 95] if full else [85]):
        b = io.BytesIO(); dec(jpeg(im, q, 2)).save(b, "PNG"); yield f"pj{q}", b.getvalue(), "png", im, f"JPEG q{q} 4:2:0 -> decoded -> PNG"
    # re-saved
    x = jpeg(dec(jpeg(dec(jpeg(im, 85)), 85)), 85)
    yield "rs85x3", x, "jpg", im, "JPEG q85 -> decode -> q85 -> decode -> q85 (4:2:0)"
    if full:
        yield "rs90_80", jpeg(dec(jpeg(im, 90)), 80), "jpg", im, "JPEG q90 -> decode -> q80"
        yield "rs75_95", jpeg(dec(jpeg(im, 75)), 95), "jpg", im, "JPEG q75 -> decode -> q95"
        yield "rs80_80", jpeg(dec(jpeg(im, 80)), 80), "jpg", im, "JPEG q80 -> decode -> q80"
    # cropped then re-saved
    W, H = im.size
    box = (3, 5, W - 2, H - 1)
    yield "crop85_85", jpeg(dec(jpeg(im, 85)).crop(box), 85), "jpg", im.crop(box), f"JPEG q85 -> crop {box} -> q85"
    if full:
        yield "crop90_95", jpeg(dec(jpeg(im, 90)).crop(box), 95), "jpg", im.crop(box), f"JPEG q90 -> crop {box} -> q95"
        b = io.BytesIO(); dec(jpeg(im, 80)).crop(box).save(b, "PNG")
        yield "crop80_png", b.getvalue(), "png", im.crop(box), f"JPEG q80 -> crop {box} -> PNG"
    # resized after JPEG (reference: original resized the same way)
    sz = (round(W * 0.9), round(H * 0.9))
    yield "rsz80_90", jpeg(dec(jpeg(im, 80)).resize(sz, Image.LANCZOS), 90), "jpg", im.resize(sz, Image.LANCZOS), f"JPEG q80 -> LANCZOS to {sz} -> q90"
    if full:
        sz2 = (round(W * 0.75), round(H * 0.75))
        b = io.BytesIO(); dec(jpeg(im, 75)).resize(sz2, Image.LANCZOS).save(b, "PNG")
        yield "rsz75_png", b.getvalue(), "png", im.resize(sz2, Image.LANCZOS), f"JPEG q75 -> LANCZOS to {sz2} -> PNG"
    # edits after JPEG (reference: the same edit on the original)
    br = lambda z: ImageEnhance.Brightness(z).enhance(1.1)  # noqa: E731
    yield "bright85_92", jpeg(br(dec(jpeg(im, 85))), 92), "jpg", br(im), "JPEG q85 -> Brightness(1.1) -> q92"
    if full:
        us = lambda z: z.filter(ImageFilter.UnsharpMask(radius=1, percent=50, threshold=0))  # noqa: E731
        yield "sharp85_90", jpeg(us(dec(jpeg(im, 85))), 90), "jpg", us(im), "JPEG q85 -> UnsharpMask(1,50,0) -> q90"
        b = io.BytesIO(); us(dec(jpeg(im, 85))).save(b, "PNG")
        yield "sharp85_png", b.getvalue(), "png", us(im), "JPEG q85 -> UnsharpMask(1,50,0) -> PNG"
    # gray
    for q in ([75, 85, 95] if full else [85]):
        yield f"g{q}", jpeg(gray, q), "jpg", gray, f"convert('L') -> JPEG q{q}"
    b = io.BytesIO(); dec(jpeg(gray, 85)).save(b, "PNG")
    yield "gpj85", b.getvalue(), "png", gray, "convert('L') -> JPEG q85 -> PNG"
    if full:
        b = io.BytesIO(); dec(jpeg(im, 85)).convert("L").save(b, "JPEG", quality=90)
        yield "j85_gray90", b.getvalue(), "jpg", gray, "JPEG q85 (colour) -> convert('L') -> JPEG q90"
        yield "gclean", None, "png", gray, "convert('L') saved as PNG"


def main():
    rows = []
    origs = originals()
    for name, (im, desc) in origs.items():
        full = name in FULL
        (ARCH / name).mkdir(parents=True, exist_ok=True)
        (REFS / name).mkdir(parents=True, exist_ok=True)
        for var, data, ext, ref, recipe in variants(name, im, full):
            f = ARCH / name / f"{var}.{ext}"
            if data is None:
                ref.save(f, "PNG")
            else:
                f.write_bytes(data)
            rp = REFS / name / f"{var}.png"
            ref.save(rp, "PNG")
            rows.append(dict(case=f"{name}/{var}", file=str(f), ref=str(rp), origin=name, origin_desc=desc,
                             variant=var, recipe=recipe, full=int(full)))
    with open(ROOT / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader(); w.writerows(rows)
    print(len(origs), "originals", len(rows), "cases")


if __name__ == "__main__":
    main()
