import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pathlib import Path
F = "/usr/share/fonts/truetype/"
def font(name, size): return ImageFont.truetype(F + name, size)
rng = np.random.default_rng(2026)
out = {}
# receipt scan: narrow, monospace, gray paper with grain
im = Image.new("L", (300, 560), 225); d = ImageDraw.Draw(im); f = font("dejavu/DejaVuSansMono.ttf", 13)
for i in range(26):
    d.text((14, 12 + i * 21), f"ITEM {rng.integers(100, 999)} .......... {rng.integers(1, 99)}.{rng.integers(10, 99)}", font=f, fill=40)
a = np.asarray(im, np.float32) + rng.normal(0, 2, (560, 300))
out["receipt"] = Image.fromarray(np.clip(np.stack([a, a, a - 3], -1), 0, 255).astype(np.uint8))
# slide: title, bullets, a photo inset
im = Image.new("RGB", (800, 450), (250, 250, 252)); d = ImageDraw.Draw(im)
d.text((40, 30), "Quarterly review", font=font("liberation/LiberationSans-Bold.ttf", 34), fill=(20, 40, 90))
for i, t in enumerate(["Archive scanned: 12,400 prints", "Faces restored: 9,870", "Next: negatives from 1962"]):
    d.ellipse((50, 118 + i * 50, 60, 128 + i * 50), fill=(200, 60, 40))
    d.text((75, 108 + i * 50), t, font=font("liberation/LiberationSans-Regular.ttf", 24), fill=(30, 30, 30))
face = Image.open("/work/main/examples/originals/astronaut.png").convert("RGB").resize((260, 260), Image.LANCZOS)
im.paste(face, (500, 120))
out["slide"] = im
# map-like drawing: roads, blocks, labels
big = Image.new("RGB", (1400, 1000), (238, 234, 222)); d = ImageDraw.Draw(big)
for _ in range(12):
    x0, y0, x1, y1 = (int(v) for v in rng.integers(0, 1400, 4))
    d.line((x0, y0 % 1000, x1, y1 % 1000), fill=(255, 255, 255), width=26); d.line((x0, y0 % 1000, x1, y1 % 1000), fill=(250, 200, 90), width=14)
for _ in range(8):
    x, y = int(rng.integers(0, 1300)), int(rng.integers(0, 900)); d.rectangle((x, y, x + 90, y + 70), fill=(170, 210, 160))
small = big.resize((560, 400), Image.LANCZOS); d = ImageDraw.Draw(small)
for _ in range(10):
    d.text((int(rng.integers(0, 480)), int(rng.integers(0, 380))), "Main St", font=font("dejavu/DejaVuSans.ttf", 12), fill=(60, 60, 60))
out["map"] = small
# pixel-art sprite scaled 6x nearest (flat colours, stair edges)
sp = rng.integers(0, 4, (40, 60)); pal = np.array([[30, 30, 50], [240, 200, 80], [200, 60, 60], [250, 250, 250]], np.uint8)
out["pixelart"] = Image.fromarray(pal[sp]).resize((360, 240), Image.NEAREST)
# subtitle frame: a photo with white text and black outline at the bottom
ph = Image.open("/work/main/examples/originals/grace_hopper.jpg").convert("RGB").resize((512, 600), Image.LANCZOS)
d = ImageDraw.Draw(ph); f = font("dejavu/DejaVuSans-Bold.ttf", 26)
d.text((40, 540), "We must never stop asking why", font=f, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
out["subtitle"] = ph
# form: boxes, labels, checkboxes
im = Image.new("RGB", (620, 480), (255, 255, 255)); d = ImageDraw.Draw(im); f = font("liberation/LiberationSans-Regular.ttf", 15)
for i in range(9):
    d.text((20, 20 + i * 50), f"Field {i + 1}:", font=f, fill=(0, 0, 0)); d.rectangle((140, 15 + i * 50, 590, 45 + i * 50), outline=(90, 90, 90), width=1)
    d.rectangle((600 - 8, 22 + i * 50, 610, 38 + i * 50), outline=(0, 0, 0), width=2)
out["form"] = im
Path("refs").mkdir(exist_ok=True); Path("cases").mkdir(exist_ok=True)
for n, im in out.items():
    im.save(f"refs/{n}.png")
    for q in (10, 20, 30, 40, 50, 75, 90):
        im.save(f"cases/{n}_q{q}.jpg", quality=q)
    for q in (30, 75):
        im.save(f"cases/{n}_w{q}.webp", quality=q)
print("ok")
