#!/usr/bin/env python3
"""Make the sample site's header photos procedurally (no external images).

    python3 -m venv /tmp/pilvenv && /tmp/pilvenv/bin/pip install pillow
    /tmp/pilvenv/bin/python sample/make-photos.py

Each picture is drawn from gradients and simple shapes with a fixed random seed, so the
output is the same on every run. Writes JPEGs (quality 85) into sample/content/photos/.
"""
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

W, H = 1800, 1100
OUT = Path(__file__).resolve().parent / "content" / "photos"


def lerp(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def vertical_gradient(size, stops):
    """stops: [(position 0..1, (r, g, b)), ...] from top to bottom."""
    w, h = size
    img = Image.new("RGB", (1, h))
    px = img.load()
    for y in range(h):
        t = y / (h - 1)
        for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
            if p0 <= t <= p1:
                px[0, y] = lerp(c0, c1, (t - p0) / (p1 - p0 or 1))
                break
    return img.resize((w, h))


def glow(base, centre, radius, colour, strength=1.0):
    """Add a soft light (screen-like blend) around centre."""
    layer = Image.new("RGB", base.size, (0, 0, 0))
    d = ImageDraw.Draw(layer)
    x, y = centre
    d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    layer = layer.filter(ImageFilter.GaussianBlur(radius * 0.6))
    mask = layer.convert("L").point(lambda v: int(v * strength))
    return Image.composite(layer, base, mask)


def grain(img, amount, seed):
    """Blend in a little film grain (seeded, so runs are repeatable)."""
    rng = random.Random(seed)
    small = Image.new("L", (img.width // 2, img.height // 2))
    small.putdata([rng.randint(88, 168) for _ in range(small.width * small.height)])
    noise = small.resize(img.size, Image.BILINEAR).convert("RGB")
    return Image.blend(img, noise, amount)


def vignette(img, strength=0.45):
    w, h = img.size
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    d.ellipse((-w * 0.15, -h * 0.25, w * 1.15, h * 1.25), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(min(w, h) * 0.18))
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    return Image.composite(img, Image.blend(img, dark, strength), mask)


def south_bank_campus(rng):
    """A riverside arts campus at dusk: concrete blocks, lit windows, a river and reflections."""
    img = vertical_gradient((W, H), [(0, (38, 44, 92)), (0.35, (122, 82, 128)), (0.58, (236, 146, 96)), (0.62, (60, 58, 78)), (1, (18, 22, 38))])
    img = glow(img, (int(W * 0.72), int(H * 0.56)), 180, (255, 196, 120), 0.8)
    d = ImageDraw.Draw(img)
    horizon = int(H * 0.6)
    # distant skyline
    x = 0
    while x < W:
        bw = rng.randint(40, 120)
        bh = rng.randint(30, 150)
        d.rectangle((x, horizon - bh, x + bw, horizon), fill=(70, 60, 92))
        x += bw + rng.randint(0, 10)
    # foreground concrete arts buildings: stepped terraces
    blocks = [(60, 520, 180), (420, 760, 260), (700, 1120, 210), (1080, 1500, 300), (1460, 1760, 170)]
    for x0, x1, bh in blocks:
        top = horizon - bh
        d.rectangle((x0, top, x1, horizon), fill=(58, 56, 66))
        d.rectangle((x0, top, x1, top + 14), fill=(88, 84, 94))
        # terraces
        for k in range(1, 3):
            y = top + k * bh // 3
            d.rectangle((x0 - 10, y, x1 + 10, y + 8), fill=(96, 92, 100))
        # lit windows in bands
        for y in range(top + 30, horizon - 16, 34):
            for wx in range(x0 + 16, x1 - 24, 30):
                if rng.random() < 0.55:
                    warm = rng.choice([(255, 214, 140), (255, 190, 110), (250, 236, 190)])
                    d.rectangle((wx, y, wx + 16, y + 14), fill=warm)
    # walkway and lamp posts
    d.rectangle((0, horizon, W, horizon + 10), fill=(40, 38, 52))
    for lx in range(90, W, 210):
        d.line((lx, horizon, lx, horizon - 70), fill=(30, 30, 40), width=4)
        img = glow(img, (lx, horizon - 74), 16, (255, 230, 170), 1.0)
        d = ImageDraw.Draw(img)
    # river reflection: mirror, blur, darken, add ripples
    top_part = img.crop((0, 0, W, horizon))
    refl = top_part.transpose(Image.FLIP_TOP_BOTTOM).resize((W, H - horizon - 10))
    refl = refl.filter(ImageFilter.GaussianBlur(6))
    refl = Image.blend(refl, Image.new("RGB", refl.size, (16, 24, 46)), 0.45)
    rd = ImageDraw.Draw(refl)
    for _ in range(900):
        y = rng.randint(0, refl.size[1] - 1)
        x = rng.randint(0, W)
        ln = rng.randint(20, 140)
        c = refl.getpixel((min(x, W - 1), y))
        rd.line((x, y, x + ln, y), fill=lerp(c, (255, 220, 170), 0.25), width=2)
    img.paste(refl, (0, horizon + 10))
    return vignette(grain(img, 0.04, 1), 0.35)


def concert_hall_foyer(rng):
    """A warm concert-hall foyer: curved balconies, glowing pendant lights, a polished floor."""
    img = vertical_gradient((W, H), [(0, (44, 24, 22)), (0.5, (128, 66, 40)), (0.7, (92, 48, 34)), (1, (36, 20, 18))])
    d = ImageDraw.Draw(img)
    cx = W // 2
    # curved balcony fronts
    for i, y in enumerate(range(120, 640, 130)):
        span = 1500 - i * 120
        box = (cx - span, y - 120, cx + span, y + 120)
        d.arc(box, 10, 170, fill=(214, 162, 104), width=18)
        d.arc((box[0], box[1] + 20, box[2], box[3] + 20), 10, 170, fill=(90, 46, 30), width=10)
    # tall timber fins on the back wall
    for x in range(0, W, 48):
        shade = rng.randint(-14, 14)
        d.rectangle((x, 640, x + 30, 760), fill=(150 + shade, 92 + shade, 54 + shade))
    # floor: polished, with perspective lines
    d.rectangle((0, 760, W, H), fill=(70, 38, 28))
    for k in range(-20, 21):
        d.line((cx + k * 30, 760, cx + k * 260, H), fill=(86, 48, 34), width=3)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    # pendant lights
    for _ in range(26):
        x = rng.randint(60, W - 60)
        y = rng.randint(60, 560)
        r = rng.randint(8, 22)
        ImageDraw.Draw(img).line((x, 0, x, y - r), fill=(60, 36, 28), width=2)
        img = glow(img, (x, y), r * 3, (255, 200, 130), 0.9)
        ImageDraw.Draw(img).ellipse((x - r, y - r, x + r, y + r), fill=(255, 236, 196))
        # reflection on the floor
        fy = 760 + (760 - y) // 3
        if fy < H - 10:
            img = glow(img, (x, fy), r * 2, (200, 130, 80), 0.5)
    # people-like silhouettes
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x = rng.randint(80, W - 80)
        s = rng.uniform(0.8, 1.3)
        y = 760 + int(rng.randint(0, 200) * s)
        col = (24, 14, 14)
        d.ellipse((x - 14 * s, y - 200 * s, x + 14 * s, y - 170 * s), fill=col)
        d.rounded_rectangle((x - 26 * s, y - 168 * s, x + 26 * s, y - 60 * s), radius=int(14 * s), fill=col)
        d.rectangle((x - 18 * s, y - 64 * s, x + 18 * s, y), fill=col)
    return vignette(grain(img, 0.035, 2), 0.4)


def library_reading_room(rng):
    """A reading room: tall shelves of coloured spines under an arched window."""
    img = vertical_gradient((W, H), [(0, (226, 218, 196)), (0.6, (196, 178, 146)), (1, (120, 92, 64))])
    d = ImageDraw.Draw(img)
    # arched window, centre back
    wx0, wx1, wy0, wy1 = 700, 1100, 90, 620
    d.rectangle((wx0, wy0 + 200, wx1, wy1), fill=(236, 244, 246))
    d.pieslice((wx0, wy0, wx1, wy0 + 400), 180, 360, fill=(236, 244, 246))
    for x in range(wx0, wx1 + 1, 100):
        d.line((x, wy0 + 200, x, wy1), fill=(150, 130, 100), width=8)
    for y in range(wy0 + 260, wy1, 90):
        d.line((wx0, y, wx1, y), fill=(150, 130, 100), width=6)
    img = glow(img, ((wx0 + wx1) // 2, 360), 300, (255, 252, 236), 0.5)
    d = ImageDraw.Draw(img)
    palette = [(140, 38, 38), (34, 70, 110), (40, 100, 72), (196, 150, 52), (90, 50, 90), (210, 120, 60), (60, 60, 64), (170, 160, 130)]
    # shelves either side of the window
    for x0, x1 in [(0, 660), (1140, W)]:
        d.rectangle((x0, 40, x1, 900), fill=(92, 58, 34))
        for shelf_y in range(80, 880, 120):
            x = x0 + 14
            while x < x1 - 20:
                bw = rng.randint(14, 30)
                bh = rng.randint(70, 104)
                c = rng.choice(palette)
                c = lerp(c, (0, 0, 0), rng.uniform(0, 0.25))
                d.rectangle((x, shelf_y + 110 - bh, x + bw, shelf_y + 110), fill=c)
                if rng.random() < 0.5:
                    d.rectangle((x + 3, shelf_y + 110 - bh + 12, x + bw - 3, shelf_y + 110 - bh + 16), fill=(226, 196, 120))
                x += bw + rng.randint(1, 3)
            d.rectangle((x0, shelf_y + 110, x1, shelf_y + 122), fill=(120, 78, 44))
    # long reading table with green lamps
    d.rectangle((200, 880, 1600, 930), fill=(102, 62, 36))
    d.polygon([(120, 930), (1680, 930), (1800, 1100), (0, 1100)], fill=(128, 84, 50))
    for lx in range(320, 1600, 260):
        d.rectangle((lx - 4, 800, lx + 4, 880), fill=(200, 170, 90))
        d.pieslice((lx - 60, 760, lx + 60, 860), 180, 360, fill=(30, 104, 70))
        img = glow(img, (lx, 870), 70, (255, 236, 170), 0.7)
        d = ImageDraw.Draw(img)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    return vignette(grain(img, 0.035, 3), 0.35)


def classroom_studio(rng):
    """An art classroom: a wall of children's paintings, easels and splashes of colour."""
    img = vertical_gradient((W, H), [(0, (246, 240, 226)), (0.7, (232, 222, 202)), (0.72, (176, 150, 120)), (1, (140, 112, 86))])
    d = ImageDraw.Draw(img)
    palette = [(226, 68, 52), (246, 178, 40), (40, 132, 200), (60, 170, 110), (150, 80, 170), (240, 120, 150), (30, 40, 60)]
    # sheets of paper pinned to the wall, each with a painting of blobs and strokes
    for row in range(3):
        for col in range(8):
            x = 90 + col * 205 + rng.randint(-10, 10)
            y = 70 + row * 230 + rng.randint(-10, 10)
            sheet = Image.new("RGB", (170, 200), (252, 250, 244))
            sd = ImageDraw.Draw(sheet)
            for _ in range(rng.randint(4, 9)):
                c = rng.choice(palette)
                if rng.random() < 0.5:
                    r = rng.randint(12, 50)
                    cx, cy = rng.randint(0, 170), rng.randint(0, 200)
                    sd.ellipse((cx - r, cy - r, cx + r, cy + r), fill=c)
                else:
                    pts = [(rng.randint(0, 170), rng.randint(0, 200)) for _ in range(4)]
                    sd.line(pts, fill=c, width=rng.randint(6, 16), joint="curve")
            sheet = sheet.rotate(rng.uniform(-4, 4), expand=True, fillcolor=(246, 240, 226))
            img.paste(sheet, (x, y))
            d.ellipse((x + 80, y + 4, x + 92, y + 16), fill=rng.choice(palette))
    d = ImageDraw.Draw(img)
    # easels in the foreground
    for ex in (300, 900, 1500):
        d.line((ex - 120, H, ex, 640), fill=(120, 80, 40), width=14)
        d.line((ex + 120, H, ex, 640), fill=(120, 80, 40), width=14)
        d.rectangle((ex - 170, 700, ex + 170, 950), fill=(252, 250, 244))
        for _ in range(12):
            c = rng.choice(palette)
            pts = [(ex + rng.randint(-150, 150), rng.randint(720, 930)) for _ in range(3)]
            d.line(pts, fill=c, width=rng.randint(8, 22), joint="curve")
        d.rectangle((ex - 180, 950, ex + 180, 966), fill=(110, 72, 36))
    img = img.filter(ImageFilter.GaussianBlur(1.0))
    img = glow(img, (W - 200, 100), 420, (255, 250, 230), 0.35)
    return vignette(grain(img, 0.03, 4), 0.3)


PICTURES = {
    "south bank campus.jpg": south_bank_campus,
    "concert-hall-foyer.jpg": concert_hall_foyer,
    "library-reading-room.jpg": library_reading_room,
    "classroom-studio.jpg": classroom_studio,
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, draw) in enumerate(PICTURES.items()):
        img = draw(random.Random(1000 + i))
        path = OUT / name
        img.save(path, "JPEG", quality=85, optimize=True, progressive=True)
        print(f"{path.name}: {img.size[0]}x{img.size[1]}, {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
