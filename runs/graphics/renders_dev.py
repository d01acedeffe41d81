import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pathlib import Path
F = "/usr/share/fonts/truetype/"
def font(name, size): return ImageFont.truetype(F + name, size)
rng = np.random.default_rng(77)
out = {}
# 1 document page
im = Image.new("RGB", (520, 680), (255, 255, 255)); d = ImageDraw.Draw(im); f = font("liberation/LiberationSerif-Regular.ttf", 16)
words = ("In the beginning the archive held many prints and negatives whose edges had curled with age and whose "
         "emulsion had cracked in the dry air of the attic where they were kept for decades ").split() * 6
y, line = 20, ""
for w in words:
    if d.textlength(line + " " + w, font=f) > 470: d.text((25, y), line, font=f, fill=(0, 0, 0)); y += 22; line = w
    else: line = (line + " " + w).strip()
    if y > 640: break
out["document"] = im
# 2 spreadsheet
im = Image.new("RGB", (600, 400), (255, 255, 255)); d = ImageDraw.Draw(im); f = font("dejavu/DejaVuSans.ttf", 13)
d.rectangle((0, 0, 600, 24), fill=(33, 115, 70))
for c in range(6): d.text((8 + c * 100, 5), f"Col {c}", font=f, fill=(255, 255, 255))
for r in range(1, 16):
    d.line((0, r * 25, 600, r * 25), fill=(200, 200, 200))
    for c in range(6): d.text((8 + c * 100, r * 25 + 5), f"{rng.integers(0, 99999):,}", font=f, fill=(20, 20, 20))
for c in range(1, 6): d.line((c * 100, 0, c * 100, 400), fill=(200, 200, 200))
out["spreadsheet"] = im
# 3 dark-mode editor
im = Image.new("RGB", (640, 420), (30, 30, 36)); d = ImageDraw.Draw(im); f = font("dejavu/DejaVuSansMono.ttf", 14)
cols = [(220, 220, 170), (86, 156, 214), (206, 145, 120), (106, 153, 85), (212, 212, 212)]
for i in range(22):
    x = 40
    d.text((6, 8 + i * 18), f"{i + 1:>3}", font=f, fill=(110, 110, 110))
    for tok in ["def", " restore", "(image,", " level", "=", " 0.5):", "  # keep"][: rng.integers(3, 8)]:
        c = cols[rng.integers(0, len(cols))]; d.text((x, 8 + i * 18), tok, font=f, fill=c); x += d.textlength(tok, font=f)
out["darkcode"] = im
# 4 comic cel art: flat fills with black outlines
big = Image.new("RGB", (1600, 1200), (250, 240, 210)); d = ImageDraw.Draw(big)
for _ in range(9):
    cx, cy, r = int(rng.integers(150, 1450)), int(rng.integers(150, 1050)), int(rng.integers(80, 260))
    fill = tuple(int(v) for v in rng.integers(40, 250, 3))
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(0, 0, 0), width=14)
for _ in range(5):
    pts = [tuple(int(v) for v in rng.integers(0, 1600, 2)) for _ in range(4)]
    d.polygon(pts, fill=tuple(int(v) for v in rng.integers(40, 250, 3)), outline=(0, 0, 0), width=12)
out["comic"] = big.resize((400, 300), Image.LANCZOS)
# 5 chart with labels
im = Image.new("RGB", (640, 420), (255, 255, 255)); d = ImageDraw.Draw(im); f = font("liberation/LiberationSans-Regular.ttf", 14)
d.line((60, 360, 620, 360), fill=(0, 0, 0), width=2); d.line((60, 40, 60, 360), fill=(0, 0, 0), width=2)
for i in range(8):
    h = int(rng.integers(40, 300)); d.rectangle((80 + i * 66, 360 - h, 120 + i * 66, 360), fill=(70, 130, 180))
    d.text((82 + i * 66, 368), f"Q{i + 1}", font=f, fill=(0, 0, 0)); d.text((80 + i * 66, 340 - h), f"{h}", font=f, fill=(0, 0, 0))
d.text((200, 10), "Photos restored per quarter", font=font("liberation/LiberationSans-Bold.ttf", 18), fill=(0, 0, 0))
out["chart"] = im
# 6 handwriting on lined paper with grain
big = Image.new("L", (1600, 1200), 242); d = ImageDraw.Draw(big)
for y in range(120, 1200, 110): d.line((0, y, 1600, y), fill=180, width=4)
for row in range(9):
    x, y = 60.0, 100 + row * 110
    while x < 1500:
        pts = [(x + k * 6, y - 50 * abs(np.sin(k / 5 + rng.random()))) for k in range(int(rng.integers(10, 30)))]
        d.line(pts, fill=25, width=9); x = pts[-1][0] + rng.integers(20, 60)
a = np.asarray(big.resize((400, 300), Image.LANCZOS), dtype=np.float32) + rng.normal(0, 2.5, (300, 400))
a = np.clip(np.stack([a + 3, a + 1, a - 6], -1), 0, 255).astype(np.uint8)
out["handwriting"] = Image.fromarray(a)
Path("refs").mkdir(exist_ok=True); Path("cases").mkdir(exist_ok=True)
for n, im in out.items():
    im.save(f"refs/{n}.png")
    for q in (10, 20, 30, 50, 75, 90):
        im.save(f"cases/{n}_q{q}.jpg", quality=q)
    for q in (50, 90):
        im.save(f"cases/{n}_w{q}.webp", quality=q)
print("ok")
