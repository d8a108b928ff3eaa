"""What a public photo costs to serve without its metadata (dashboard/photos.py): a phone's 12 MP JPEG
(4000 x 3000, with GPS EXIF) and a 1600 x 1200 PNG, re-encoded cold, then from the in-memory copies.

    python bench/bench_photos.py [--repeat 5]

Prints milliseconds per photo for the first (cold) copy and for a repeated one (cached), and the bytes
served. No target: the figure bounds what anonymous visitors of /public can make one core do.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from dashboard import photos  # noqa: E402


def _jpeg(folder: Path, n: int) -> Path:
    img = Image.effect_noise((4000, 3000), 40 + n).convert("RGB")
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "S", 2: (6.0, 10.0, 21.5), 3: "E", 4: (106.0, 37.0, 50.2)})
    path = folder / f"phone{n}.jpg"
    img.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tlr-bench-photos-"))
    cases = [("jpeg 4000x3000", [_jpeg(folder, n) for n in range(args.repeat)], "image/jpeg")]
    pngs = []
    for n in range(args.repeat):
        path = folder / f"evidence{n}.png"
        Image.effect_noise((1600, 1200), 30 + n).convert("RGB").save(path, "PNG")
        pngs.append(path)
    cases.append(("png 1600x1200", pngs, "image/png"))
    for name, paths, ctype in cases:
        cold, warm, size = [], [], 0
        for path in paths:
            t0 = time.perf_counter()
            size = len(photos.public_copy(path, ctype))
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            photos.public_copy(path, ctype)
            warm.append(time.perf_counter() - t0)
        print(f"{name}: cold {statistics.median(cold) * 1000:.0f} ms, cached {statistics.median(warm) * 1000:.2f} ms,"
              f" {size:,} bytes served (stored {paths[-1].stat().st_size:,})")
    with Image.open(io.BytesIO(photos.public_copy(cases[0][1][0], "image/jpeg"))) as served:
        print(f"served JPEG: {served.size[0]}x{served.size[1]}, EXIF tags: {len(served.getexif())}")


if __name__ == "__main__":
    main()
