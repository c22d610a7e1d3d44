"""Draw the README's example strips: gray input | each model's colours | the real photo.

Only photos that ship with scikit-image (CC0 or public domain, not ImageNet) are drawn, so the
figures carry no trace of the shared ImageNet sample. Usage, from the folder whose mlflow.db holds
the models (README, "Science"):

    python docs/make_examples.py OUT.jpg LABEL=MODEL [LABEL=MODEL ...] [--photo NAME ...] [--height 160]

MODEL is a model folder or an MLflow model URI (runs:/..., models:/...).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorize_core.data.bundled_sample import _SKIMAGE
from colorize_core.inference import Colorizer
from tracking.models import is_mlflow_uri, load_generator

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]


def colorizer(model: str) -> Colorizer:
    return Colorizer(load_generator(model)) if is_mlflow_uri(model) else Colorizer.load(model)


def strip(photo: Image.Image, columns: list[tuple[str, np.ndarray]], height: int) -> Image.Image:
    width = round(photo.width * height / photo.height)
    label_h, pad = 18, 4
    out = Image.new("RGB", (len(columns) * (width + pad) - pad, height + label_h), "white")
    draw = ImageDraw.Draw(out)
    for i, (label, pixels) in enumerate(columns):
        x = i * (width + pad)
        out.paste(Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS), (x, label_h))
        draw.text((x + 2, 2), label, fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("models", nargs="+", metavar="LABEL=MODEL")
    parser.add_argument("--photo", action="append", choices=PHOTOS)
    parser.add_argument("--height", type=int, default=160)
    args = parser.parse_args()
    models = [(label, colorizer(model)) for label, _, model in (m.partition("=") for m in args.models)]
    rows = []
    for name in args.photo or PHOTOS:
        photo = Image.open(_SKIMAGE / name).convert("RGB")
        real = np.asarray(photo)
        gray = np.asarray(photo.convert("L").convert("RGB"))
        rows.append(
            strip(
                photo,
                [("gray input", gray), *((label, c.colorize(gray)) for label, c in models), ("real photo", real)],
                args.height,
            )
        )
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 6 for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 6
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
