"""Page images: PNG (what the image endpoint sends) against lossless WebP and JPEG, side by side in one run.

Draws the first ``--pages`` pages of each cuad-dev contract at 1,200 pixels wide with ``folio.ingest.page_render``
(in this process: no worker), then encodes each image every way and reports bytes and encoding seconds per page,
and each format's ratio to PNG. Writes ``bench/results/page_image_bench.json``.

    .venv/bin/python bench/page_image_bench.py --pages 2
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

from PIL import Image

from folio.ingest.page_render import render_page

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cuad-dev" / "pdfs"
FORMATS = {"png": ("PNG", {"compress_level": 3}), "webp-lossless": ("WEBP", {"lossless": True, "method": 2}),
           "jpeg-85": ("JPEG", {"quality": 85})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="pages per contract")
    args = parser.parse_args()
    sizes: dict[str, list[int]] = {name: [] for name in FORMATS}
    seconds: dict[str, list[float]] = {name: [] for name in FORMATS}
    draw: list[float] = []
    for pdf in sorted(DATA.glob("*")):
        data = pdf.read_bytes()
        for index in range(args.pages):
            started = time.perf_counter()
            rendered = render_page(data, index, width=1200)
            draw.append(time.perf_counter() - started)
            image = Image.open(io.BytesIO(rendered.content))
            image.load()
            for name, (kind, options) in FORMATS.items():
                out = io.BytesIO()
                started = time.perf_counter()
                image.save(out, format=kind, **options)
                seconds[name].append(time.perf_counter() - started)
                sizes[name].append(len(out.getvalue()))
    png_bytes, png_s = statistics.mean(sizes["png"]), statistics.mean(seconds["png"])
    report = {"pages": len(draw), "draw_and_png_s_median": round(statistics.median(draw), 3), "formats": {
        name: {"bytes_mean": round(statistics.mean(sizes[name])),
               "encode_s_mean": round(statistics.mean(seconds[name]), 4),
               "bytes_vs_png": round(statistics.mean(sizes[name]) / png_bytes, 2),
               "encode_time_vs_png": round(statistics.mean(seconds[name]) / png_s, 2)} for name in FORMATS}}
    out = Path(__file__).resolve().parent / "results" / "page_image_bench.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
