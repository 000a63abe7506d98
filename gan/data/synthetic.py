"""The built-in synthetic face dataset: a procedural, deterministic face renderer with CelebA attributes.
Over 400 lines because the attribute table, identity sampling and drawing are one renderer, read together.

Every item is drawn from (seed, index) alone: `np.random.default_rng([seed, index])` first samples the
attributes (obeying CelebA-like correlations, see ATTRIBUTE_TABLE), then an `Identity` (face shape, skin
tone, eyes, hair style, pose, lighting, background) that is independent of the attributes, so the same
person can be re-rendered with one attribute toggled. Faces are drawn with PIL at 3x the output size
and box-downscaled (anti-aliasing); shading and noise are added at output size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan.attributes import CELEBA_ATTRIBUTES

_RENDERED = ("Male", "Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald",
             "Bangs", "Mustache", "No_Beard", "Wearing_Hat", "Young", "Heavy_Makeup", "Wearing_Lipstick",
             "Pale_Skin")
# CelebA's official column order.
SYNTHETIC_ATTRIBUTES: tuple[str, ...] = tuple(sorted(_RENDERED, key=CELEBA_ATTRIBUTES.index))
_IX = {n: i for i, n in enumerate(SYNTHETIC_ATTRIBUTES)}
_HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

# The one table: (attribute, CelebA frequency, our frequency (realised over 20k samples), rule).
# Rare CelebA attributes are deliberately boosted (marked "boosted") so a short CPU run can learn them.
ATTRIBUTE_TABLE: list[tuple[str, float, float, str]] = [
    ("Bald", 0.022, 0.073, "boosted; men only, never with a hat; 12% of young / 35% of older men"),
    ("Bangs", 0.152, 0.156, "never when bald or hatted; 24% of women, 10% of men otherwise"),
    ("Black_Hair", 0.239, 0.219, "colours mutually exclusive, none when bald or hatted; 36% of men's, 26% of women's non-gray hair"),
    ("Blond_Hair", 0.148, 0.144, "mostly women (women 26%, men 6% of visible hair)"),
    ("Brown_Hair", 0.205, 0.200, "exclusive with the other colours; ~20% of visible hair is auburn (no label)"),
    ("Eyeglasses", 0.065, 0.121, "boosted; 10% young / 20% older people"),
    ("Gray_Hair", 0.042, 0.084, "boosted; 3% of young, 40% of older people with visible hair"),
    ("Heavy_Makeup", 0.387, 0.350, "women 60%, men 0.5%"),
    ("Male", 0.417, 0.413, "independent; drives most other rules"),
    ("Mustache", 0.042, 0.083, "boosted; men only: 40% with a beard, 10% without"),
    ("No_Beard", 0.835, 0.856, "beard (No_Beard=0) on men only: 35% of men"),
    ("Pale_Skin", 0.043, 0.098, "boosted; independent 10%"),
    ("Smiling", 0.482, 0.485, "independent 48%"),
    ("Wearing_Hat", 0.048, 0.100, "boosted; independent 10%; hides hair colour and bangs"),
    ("Wearing_Lipstick", 0.472, 0.443, "women: 95% with heavy makeup, 45% without; men 0.5%"),
    ("Young", 0.774, 0.764, "women 85%, men 65%"),
]


def sample_attributes(rng: np.random.Generator) -> np.ndarray:
    """One (K,) uint8 0/1 label vector over SYNTHETIC_ATTRIBUTES obeying the rules of ATTRIBUTE_TABLE."""
    u = rng.random(16)  # fixed number of draws keeps the stream layout stable
    a = dict.fromkeys(SYNTHETIC_ATTRIBUTES, 0)
    male = a["Male"] = int(u[0] < 0.42)
    young = a["Young"] = int(u[1] < (0.65 if male else 0.85))
    a["Smiling"] = int(u[2] < 0.48)
    a["Pale_Skin"] = int(u[3] < 0.10)
    hat = a["Wearing_Hat"] = int(u[4] < 0.10)
    bald = a["Bald"] = int(male and not hat and u[5] < (0.12 if young else 0.35))
    if not (bald or hat):
        if u[6] < (0.03 if young else 0.40):
            a["Gray_Hair"] = 1
        else:  # cumulative split of the remaining colours; the rest is auburn, labelled nothing
            p_blond = 0.06 if male else 0.26
            p_black = 0.36 if male else 0.26
            p_brown = 0.27
            v = u[7]
            if v < p_black:
                a["Black_Hair"] = 1
            elif v < p_black + p_blond:
                a["Blond_Hair"] = 1
            elif v < p_black + p_blond + p_brown:
                a["Brown_Hair"] = 1
        a["Bangs"] = int(u[8] < (0.10 if male else 0.24))
    beard = int(male and u[9] < 0.35)
    a["No_Beard"] = 1 - beard
    a["Mustache"] = int(male and u[10] < (0.40 if beard else 0.10))
    a["Eyeglasses"] = int(u[11] < (0.10 if young else 0.20))
    makeup = a["Heavy_Makeup"] = int(u[12] < (0.005 if male else 0.60))
    a["Wearing_Lipstick"] = int(u[13] < (0.005 if male else (0.95 if makeup else 0.45)))
    return np.array([a[n] for n in SYNTHETIC_ATTRIBUTES], dtype=np.uint8)


def set_attribute(attrs: np.ndarray, name: str, value: int) -> np.ndarray:
    """Copy of `attrs` with `name` set to `value`, plus the minimal changes that keep the rules consistent."""
    a = attrs.copy()
    a[_IX[name]] = value
    on = lambda n: a.__setitem__(_IX[n], 1)  # noqa: E731
    off = lambda n: a.__setitem__(_IX[n], 0)  # noqa: E731
    if value:
        if name in _HAIR_COLOURS:
            for n in _HAIR_COLOURS:
                if n != name:
                    off(n)
            off("Bald"), off("Wearing_Hat")
        elif name == "Bald":
            for n in _HAIR_COLOURS + ("Bangs", "Wearing_Hat"):
                off(n)
            on("Male")
        elif name == "Wearing_Hat":
            for n in _HAIR_COLOURS + ("Bangs", "Bald"):
                off(n)
        elif name == "Bangs":
            off("Bald"), off("Wearing_Hat")
        elif name == "Mustache":
            on("Male")
        elif name == "Male":
            off("Heavy_Makeup"), off("Wearing_Lipstick")
    else:
        if name == "No_Beard":  # a beard
            on("Male")
        elif name == "Male":
            for n in ("Bald", "Mustache"):
                off(n)
            on("No_Beard")
    return a


@dataclass(frozen=True)
class Identity:
    """Who the person is, independent of the attributes (all values in [0, 1] unless noted)."""

    skin: float        # skin tone, 0 light .. 1 dark
    face_w: float      # face width
    face_h: float      # face length
    jaw: float         # jaw squareness
    eye_dx: float      # eye spacing
    eye_size: float
    eye_y: float       # eye height
    iris: int          # iris colour index
    nose_len: float
    nose_w: float
    brow_tilt: float
    mouth_w: float
    hair_len: float    # women's hair length (men always short)
    hair_vol: float    # volume over the scalp
    hair_part: float   # side parting, 0 left .. 1 right
    hair_tone: float   # lightness jitter within a hair colour
    shift_x: float     # pose, in units of the image width, signed
    shift_y: float
    scale: float       # ~0.92..1.06
    tilt: float        # degrees, signed
    light: float       # lighting direction, radians
    light_amp: float   # shading strength
    bg0: tuple[int, int, int]
    bg1: tuple[int, int, int]
    bg_angle: float    # radians
    clothes: tuple[int, int, int]
    hat: tuple[int, int, int]
    shadow: tuple[int, int, int]  # eye-shadow colour for Heavy_Makeup
    noise: float       # pixel noise sigma
    noise_seed: int


_PALETTE = np.array([(200, 40, 40), (40, 80, 190), (40, 150, 70), (220, 170, 30), (130, 60, 160),
                     (30, 30, 30), (235, 235, 235), (200, 100, 30)])
_SHADOWS = np.array([(140, 60, 170), (60, 100, 200), (210, 70, 140), (30, 150, 150), (160, 90, 40)])
_IRIS = ((60, 40, 25), (50, 90, 150), (60, 110, 60), (30, 25, 20))


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random person (face geometry, colouring, hair style, pose, lighting, background)."""
    u = rng.random(24)
    c = rng.integers(0, 256, size=(3, 3))
    hat = _PALETTE[rng.integers(len(_PALETTE))]
    shadow = _SHADOWS[rng.integers(len(_SHADOWS))]
    return Identity(
        skin=float(u[0]), face_w=float(u[1]), face_h=float(u[2]), jaw=float(u[3]), eye_dx=float(u[4]),
        eye_size=float(u[5]), eye_y=float(u[6]), iris=int(u[7] * len(_IRIS)), nose_len=float(u[8]),
        nose_w=float(u[9]), brow_tilt=float(u[10]), mouth_w=float(u[11]), hair_len=float(u[12]),
        hair_vol=float(u[13]), hair_part=float(u[14]), hair_tone=float(u[15]),
        shift_x=float((u[16] - 0.5) * 0.08), shift_y=float((u[17] - 0.5) * 0.06),
        scale=float(0.92 + 0.14 * u[18]), tilt=float((u[19] - 0.5) * 16.0),
        light=float(u[20] * 2 * math.pi), light_amp=float(0.04 + 0.12 * u[21]),
        bg0=tuple(int(x) for x in c[0] * 0.5 + 64), bg1=tuple(int(x) for x in c[1] * 0.5 + 64),
        bg_angle=float(u[22] * 2 * math.pi), clothes=tuple(int(x) for x in c[2] * 0.8 + 20),
        hat=tuple(int(x) for x in hat), shadow=tuple(int(x) for x in shadow),
        noise=float(1.0 + 3.0 * u[23]), noise_seed=int(rng.integers(2**31)),
    )


_SS = 3  # supersampling factor
_CIRCLE = np.exp(1j * np.linspace(0, 2 * np.pi, 36, endpoint=False))
_HAIR_RGB = {"Black_Hair": (28, 24, 24), "Blond_Hair": (228, 196, 112), "Brown_Hair": (96, 60, 34),
             "Gray_Hair": (190, 190, 196), None: (196, 88, 34)}  # None = auburn, unlabelled
_SKIN_LIGHT, _SKIN_DARK, _SKIN_PALE = np.array([236, 192, 160]), np.array([118, 78, 52]), np.array([254, 238, 230])


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _luma(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


class _Painter:
    """Draws in unit face coordinates (x right, y down, face centre ~(0.5, 0.5)) through the pose transform."""

    def __init__(self, img: Image.Image, idt: Identity):
        self.d = ImageDraw.Draw(img)
        self.W = img.width
        rot = np.exp(1j * math.radians(idt.tilt))
        self.k = rot * idt.scale * 1.18 * self.W  # complex scale+rotation; 1.18 frames the face like CelebA crops
        self.o = complex(0.5 + idt.shift_x, 0.47 + idt.shift_y) * self.W

    def _pts(self, z: np.ndarray) -> list:
        p = np.ascontiguousarray((z - complex(0.5, 0.52)) * self.k + self.o, dtype=np.complex128)
        return p.view(np.float64).tolist()  # interleaved x0, y0, x1, y1, ...

    def poly(self, z, fill):
        self.d.polygon(self._pts(np.asarray(z)), fill=fill)

    def ellipse(self, cx, cy, rx, ry, fill=None, outline=None, width=0.0):
        z = complex(cx, cy) + rx * _CIRCLE.real + 1j * ry * _CIRCLE.imag
        if fill is not None:
            self.poly(z, fill)
        if outline is not None:
            self.line(np.append(z, z[0]), outline, width)

    def line(self, z, fill, width):
        self.d.line(self._pts(np.asarray(z)), fill=fill, width=max(1, int(round(width * self.W))), joint="curve")


def _arc(cx, cy, rx, ry, a0, a1, n=16):
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return cx + rx * np.cos(t) + 1j * (cy + ry * np.sin(t))


_GRID_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRID_CACHE:
        g = np.linspace(-1, 1, size, dtype=np.float32)
        _GRID_CACHE[size] = (g[None, :, None], g[:, None, None])
    return _GRID_CACHE[size]


def render_face(identity: Identity, attrs: np.ndarray, size: int = 64) -> np.ndarray:
    """Render one face: (size, size, 3) uint8 RGB for `identity` with labels `attrs` over SYNTHETIC_ATTRIBUTES."""
    A = {n: bool(attrs[i]) for i, n in enumerate(SYNTHETIC_ATTRIBUTES)}
    idt = identity
    male, young = A["Male"], A["Young"]
    W = size * _SS

    # Background: a two-colour gradient (bilinear upscale of a 2x2 image).
    ca, sa = math.cos(idt.bg_angle), math.sin(idt.bg_angle)
    corners = np.array([[_mix(idt.bg0, idt.bg1, (1 + ca * x + sa * y) / 2 if abs(ca) + abs(sa) else 0)
                         for x in (-1, 1)] for y in (-1, 1)], dtype=np.uint8)
    img = Image.fromarray(corners).resize((W, W), Image.BILINEAR)
    P = _Painter(img, idt)

    # Colours.
    skin = np.clip(_SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * idt.skin, 0, 255)
    if A["Pale_Skin"]:
        skin = _SKIN_PALE - (8 * idt.skin, 10 * idt.skin, 10 * idt.skin)
    if not young:  # older skin: a little duller and darker
        skin = 0.95 * (skin + (skin @ (0.299, 0.587, 0.114) - skin) * 0.3)
    skin_c = tuple(int(x) for x in skin)
    shade = _mix(skin_c, (60, 30, 20), 0.28)
    line_c = _mix(skin_c, (50, 20, 10), 0.55)
    colour = next((n for n in _HAIR_COLOURS if A[n]), None)
    hair = _mix(_HAIR_RGB[colour], (255, 255, 255) if idt.hair_tone > 0.5 else (0, 0, 0),
                abs(idt.hair_tone - 0.5) * 0.25)
    hair_dark = _mix(hair, (0, 0, 0), 0.45)
    facial_hair = hair_dark if not A["Bald"] else _mix((70, 55, 45), (180, 180, 180), 0.0 if young else 0.7)
    if abs(_luma(facial_hair) - _luma(skin_c)) < 80:  # keep beards and mustaches readable on any skin
        facial_hair = _mix(facial_hair, (12, 10, 10) if _luma(skin_c) > 60 else (200, 200, 200), 0.6)
    brow_c = _mix(facial_hair, skin_c, 0.15)

    # Geometry (unit coordinates).
    cx = 0.5
    fw = 0.175 + 0.04 * idt.face_w + (0.02 if male else 0.0)
    top, eye_y = 0.22 - 0.02 * idt.face_h, 0.46 + 0.02 * idt.eye_y
    chin = 0.77 + 0.03 * idt.face_h + (0.01 if male else 0.0) + (0.0 if young else 0.015)  # older: longer face
    ex, es = 0.075 + 0.02 * idt.eye_dx, 0.026 + 0.008 * idt.eye_size - (0.003 if not young else 0.0)
    mouth_y, mw = chin - 0.115, 0.05 + 0.02 * idt.mouth_w
    # Face outline: upper half ellipse + lower half super-ellipse (squarer jaw for men).
    p = (0.45 + 0.25 * idt.jaw) if male else (0.85 + 0.3 * idt.jaw)
    t = np.linspace(0, np.pi, 20)
    lower = cx + fw * np.sign(np.cos(t)) * np.abs(np.cos(t)) ** p + 1j * (eye_y + (chin - eye_y) * np.sin(t) ** 1.0)
    upper = _arc(cx, eye_y, fw, eye_y - top, 180, 360, 20)
    face = np.concatenate([lower, upper])

    hatted, bald = A["Wearing_Hat"], A["Bald"]
    show_hair = not (hatted or bald)
    long_hair = show_hair and not male
    hair_len = 0.14 + 0.32 * idt.hair_len  # below the eyes, women
    vol = 0.015 + 0.035 * idt.hair_vol

    # (1) Hair behind the head (women).
    if long_hair:
        bot = eye_y + hair_len
        hw = fw + vol + 0.02
        back = np.concatenate([_arc(cx, eye_y, hw, eye_y - top + vol, 180, 360, 16),
                               [cx + hw + 0.03 + 1j * bot, cx - hw - 0.03 + 1j * bot]])
        P.poly(back, hair)
    # (2) Shoulders and neck.
    P.ellipse(cx, 1.08, 0.38 + (0.06 if male else 0.0), 0.2, fill=idt.clothes)
    nw = 0.075 + (0.025 if male else 0.0)
    P.poly([cx - nw + 1j * (chin - 0.08), cx + nw + 1j * (chin - 0.08), cx + nw + 1j * 0.95, cx - nw + 1j * 0.95], shade)
    # (3) Ears, then the face.
    for s in (-1, 1):
        P.ellipse(cx + s * (fw - 0.005), eye_y + 0.05, 0.028, 0.05, fill=shade)
    P.poly(face, skin_c)
    if not young:  # older: nasolabial folds, jowls, eye bags, crow's feet, forehead lines
        for s in (-1, 1):
            P.line([cx + s * 0.04 + 1j * (mouth_y - 0.075), cx + s * (mw + 0.03) + 1j * (mouth_y + 0.01)], line_c, 0.026)
            P.line([cx + s * (mw + 0.02) + 1j * (mouth_y + 0.03), cx + s * (mw + 0.005) + 1j * (mouth_y + 0.075)], line_c, 0.014)
            P.line([cx + s * (ex + es + 0.01) + 1j * (eye_y - 0.01), cx + s * (ex + es + 0.04) + 1j * (eye_y - 0.025)], line_c, 0.009)
            P.line([cx + s * (ex + es + 0.012) + 1j * (eye_y + 0.01), cx + s * (ex + es + 0.04) + 1j * (eye_y + 0.025)], line_c, 0.009)
            P.ellipse(cx + s * ex, eye_y + es * 0.75, es * 1.15, es * 0.65, fill=_mix(skin_c, line_c, 0.6))  # eye bags
            P.line(_arc(cx + s * ex, eye_y + 0.012, es * 1.1, es * 0.9, 20, 160, 6), line_c, 0.013)
        for k in range(3):
            y = eye_y - 0.085 - 0.03 * k
            P.line(_arc(cx, y + 0.02, 0.09 - 0.01 * k, 0.02, 200, 340, 8), line_c, 0.016)
    if A["Heavy_Makeup"]:  # blush
        for s in (-1, 1):
            P.ellipse(cx + s * (ex + 0.03), mouth_y - 0.06, 0.045, 0.028, fill=_mix(skin_c, (235, 70, 100), 0.55))

    # (4) Beard (No_Beard = 0): the lower face around the mouth, leaving the upper lip and mouth free.
    if not A["No_Beard"]:
        cheek_y = mouth_y - 0.08
        sel = lower.imag >= cheek_y
        outer = (lower[sel] - complex(cx, eye_y)) * 1.05 + complex(cx, eye_y)
        iw = mw + 0.018
        # Jaw right -> chin -> left (the order of `lower`), then back up inside around the mouth, left -> right.
        inner = np.array([cx - iw + 1j * cheek_y, cx - iw + 1j * (mouth_y + 0.005), cx + 1j * (mouth_y + 0.04),
                          cx + iw + 1j * (mouth_y + 0.005), cx + iw + 1j * cheek_y])
        P.poly(np.concatenate([outer, inner]), facial_hair)

    # (5) Eyes: makeup shadow, whites, iris, brows.
    for s in (-1, 1):
        x = cx + s * ex
        if A["Heavy_Makeup"]:
            P.ellipse(x, eye_y - 0.012, es * 1.55, es * 1.05, fill=idt.shadow)
        P.ellipse(x, eye_y, es, es * 0.62, fill=(245, 245, 240), outline=(30, 20, 20) if A["Heavy_Makeup"] else None,
                  width=0.014)
        P.ellipse(x, eye_y, es * 0.52, es * 0.52, fill=_IRIS[idt.iris])
        P.ellipse(x, eye_y, es * 0.22, es * 0.22, fill=(10, 10, 10))
        by = eye_y - 0.045 - 0.01 * idt.eye_size
        tilt = (idt.brow_tilt - 0.5) * 0.02
        P.line([x - s * 0.035 + 1j * (by + tilt), x + 1j * (by - 0.008), x + s * 0.04 + 1j * (by - tilt)],
               brow_c, 0.022 if male else 0.011)

    # (6) Nose.
    nl = 0.08 + 0.03 * idt.nose_len
    nwid = 0.018 + 0.012 * idt.nose_w
    P.line([cx + 0.005 + 1j * (eye_y + 0.02), cx + 0.012 + 1j * (eye_y + nl - 0.01)], shade, 0.010)
    P.line(_arc(cx, eye_y + nl - 0.01, nwid, 0.012, 20, 160, 8), shade, 0.012)

    # (7) Mouth: an open upturned smile or a closed flat line; red lips for lipstick.
    lipstick = A["Wearing_Lipstick"]
    lip = (200, 20, 45) if lipstick else _mix(skin_c, (150, 60, 60), 0.45)
    lt = 0.006 if lipstick else 0.0  # painted lips read fuller
    if A["Smiling"]:
        outer = np.concatenate([_arc(cx, mouth_y - 0.03 - lt, mw + 0.005 + lt, 0.012, 200, 340, 8),
                                _arc(cx, mouth_y - 0.012, mw + 0.005 + lt, 0.048 + lt, 0, 180, 12)])
        P.poly(outer, lip)
        inner = np.concatenate([_arc(cx, mouth_y - 0.024, mw - 0.004, 0.008, 200, 340, 8),
                                _arc(cx, mouth_y - 0.010, mw - 0.004, 0.036, 0, 180, 12)])
        P.poly(inner, (90, 20, 30))
        P.poly(np.concatenate([_arc(cx, mouth_y - 0.024, mw - 0.006, 0.008, 200, 340, 8),
                               _arc(cx, mouth_y - 0.014, mw - 0.012, 0.012, 0, 180, 8)]), (240, 240, 232))
    else:
        P.ellipse(cx, mouth_y, mw * 0.9 + lt, 0.011 + 1.2 * lt, fill=lip)
        P.line([cx - mw * 0.9 + 1j * mouth_y, cx + mw * 0.9 + 1j * mouth_y], _mix(lip, (40, 10, 10), 0.5), 0.008)

    # (8) Mustache: a thick band over the upper lip.
    if A["Mustache"]:
        b = mouth_y - (0.040 if A["Smiling"] else 0.012)  # bottom edge, just above the upper lip
        P.poly(np.concatenate([_arc(cx, b + 0.01, mw + 0.016, 0.038, 190, 350, 10),
                               _arc(cx, b + 0.012, mw + 0.016, 0.012, 350, 190, 10)]), facial_hair)

    # (9) Hair on the head: a cap with a hairline (or bangs down to the brows); bald heads get a highlight.
    if show_hair:
        part = (idt.hair_part - 0.5) * 0.08
        cap = _arc(cx, eye_y, fw + vol, eye_y - top + vol, 180, 360, 20)
        if A["Bangs"]:
            fy = eye_y - 0.065
            teeth = np.linspace(fw + vol * 0.5, -fw - vol * 0.5, 11)
            fringe = cx + teeth + 1j * (fy - 0.018 * (np.arange(11) % 2))
            side = [cx + fw + 0.005 + 1j * (eye_y - 0.02)]
            front = np.concatenate([side, fringe, [cx - fw - 0.005 + 1j * (eye_y - 0.02)]])
        else:
            hl = top + 0.10
            front = np.array([cx + fw + 0.005 + 1j * (eye_y - 0.02), cx + fw - 0.03 + 1j * (hl + 0.02),
                              cx + part + 1j * (hl - 0.005), cx - fw + 0.03 + 1j * (hl + 0.02),
                              cx - fw - 0.005 + 1j * (eye_y - 0.02)])
        P.poly(np.concatenate([cap, front]), hair)
        if long_hair:  # strands framing the face
            for s in (-1, 1):
                P.poly([cx + s * (fw + vol * 0.5) + 1j * (eye_y - 0.06), cx + s * (fw - 0.025) + 1j * (eye_y - 0.02),
                        cx + s * (fw - 0.005) + 1j * (eye_y + hair_len * 0.6), cx + s * (fw + vol + 0.03) + 1j * (eye_y + hair_len)],
                       hair)
    elif bald:
        P.ellipse(cx - 0.03, top + 0.05, 0.06, 0.025, fill=_mix(skin_c, (255, 255, 255), 0.35))
        for s in (-1, 1):  # a little short hair above the ears
            P.ellipse(cx + s * (fw - 0.01), eye_y - 0.005, 0.018, 0.045, fill=_mix(skin_c, facial_hair, 0.35))

    # (10) Hat: crown + brim + band in a strong colour.
    if hatted:
        hy = top + 0.10
        hc = idt.hat
        P.poly(_arc(cx, hy, fw + 0.02, 0.15, 180, 360, 16), hc)
        P.poly([cx - fw - 0.02 + 1j * hy, cx + fw + 0.02 + 1j * hy, cx + fw + 0.02 + 1j * (hy - 0.03), cx - fw - 0.02 + 1j * (hy - 0.03)],
               _mix(hc, (0, 0, 0), 0.45))
        P.ellipse(cx, hy + 0.005, fw + 0.1, 0.03, fill=_mix(hc, (0, 0, 0), 0.2))

    # (11) Glasses: dark thick frames, a bridge and temple arms.
    if A["Eyeglasses"]:
        gc = (18, 18, 22)
        gr = es + 0.024
        for s in (-1, 1):
            P.ellipse(cx + s * ex, eye_y + 0.004, gr, gr * 0.8, outline=gc, width=0.02)
            P.line([cx + s * (ex + gr) + 1j * eye_y, cx + s * (fw + 0.005) + 1j * (eye_y - 0.01)], gc, 0.016)
        P.line(_arc(cx, eye_y + 0.004, ex - gr, 0.012, 200, 340, 5), gc, 0.016)

    # Downscale (anti-aliasing), then lighting gradient and noise at output size.
    small = np.asarray(img.reduce(_SS), dtype=np.float32)  # (size, size, 3)
    gx, gy = _grid(size)
    small = small * (1.0 + idt.light_amp * (math.cos(idt.light) * gx + math.sin(idt.light) * gy))
    small += np.random.default_rng(idt.noise_seed).normal(0.0, idt.noise, small.shape[:2])[..., None]
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def render_item(seed: int, index: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Image (size, size, 3) uint8 and labels (K,) uint8 of item `index` of the dataset `seed`."""
    rng = np.random.default_rng([seed, index])
    attrs = sample_attributes(rng)
    return render_face(sample_identity(rng), attrs, size), attrs


def render_batch(seed: int, start: int, count: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Items start..start+count-1: images (n, size, size, 3) uint8 and labels (n, K) uint8."""
    imgs = np.empty((count, size, size, 3), np.uint8)
    attrs = np.empty((count, len(SYNTHETIC_ATTRIBUTES)), np.uint8)
    for j in range(count):
        imgs[j], attrs[j] = render_item(seed, start + j, size)
    return imgs, attrs


def contact_sheet(path, seed: int = 0, size: int = 64, people: int = 4) -> None:
    """PNG: one row per attribute, for `people` identities each attribute off | on side by side, labelled."""
    rng = np.random.default_rng([seed, 10**6])
    base = [(sample_identity(rng), set_attribute(sample_attributes(rng), "Male", p % 2)) for p in range(people)]
    zoom, label_w, gap = 2, 130, 8
    cell = size * zoom
    cols_w = people * (2 * cell + gap)
    sheet = Image.new("RGB", (label_w + cols_w, 20 + len(SYNTHETIC_ATTRIBUTES) * (cell + 4)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for p in range(people):
        draw.text((label_w + p * (2 * cell + gap) + 4, 4), f"person {p}: off | on", fill=(0, 0, 0), font=font)
    for r, name in enumerate(SYNTHETIC_ATTRIBUTES):
        y = 20 + r * (cell + 4)
        draw.text((4, y + cell // 2 - 6), name, fill=(0, 0, 0), font=font)
        for p, (idt, attrs) in enumerate(base):
            for v in (0, 1):
                face = render_face(idt, set_attribute(attrs, name, v), size)
                tile = Image.fromarray(face).resize((cell, cell), Image.NEAREST)
                sheet.paste(tile, (label_w + p * (2 * cell + gap) + v * cell, y))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
