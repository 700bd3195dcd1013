"""The report as one HTML file: the packaged template with the stylesheet and script inlined, the
data embedded as JSON, images as ``data:`` URIs, and no reference to anything outside the file.
Images are dropped (least important, then largest first) until the file fits its size budget."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from screenalytics.report.data import Image, Report, ReportOptions
from screenalytics.report.sections import body, e

DATA_ID = "report-data"


@cache
def asset(name: str) -> str:
    """A file shipped beside this module (template.html, report.css, report.js)."""
    return resources.files("screenalytics.report").joinpath(name).read_text(encoding="utf-8")


def embed_json(data: dict[str, Any]) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element or start a comment."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def page(data: dict[str, Any], images: dict[str, bytes], dropped: int = 0) -> bytes:
    """One rendering of the page with these images."""
    html = Template(asset("template.html")).substitute(
        title=e(f"Screen time: {data['episode']['episode_id']}"),
        style=asset("report.css"),
        body=body(data, images, dropped),
        data_id=DATA_ID,
        data=embed_json(data),
        script=asset("report.js"),
    )
    return html.encode("utf-8")


def render(report: Report, options: ReportOptions | None = None) -> bytes:
    """The page within ``max_bytes`` if dropping images can get it there (text is never cut)."""
    opts = options or ReportOptions()
    kept = {im.id: im.jpeg for im in report.images[: opts.max_images]}
    candidates = sorted((im for im in report.images if im.id in kept), key=_drop_order)
    refs = Counter(references(report.data))
    out = page(report.data, kept)
    while len(out) > opts.max_bytes and candidates:
        excess, freed = len(out) - opts.max_bytes, 0
        while candidates and freed < excess:  # drop what should free enough, then measure again
            im = candidates.pop(0)
            freed += _uri_len(im) * max(refs[im.id], 1)  # at most what it saves: never drops more than needed
            del kept[im.id]
        out = page(report.data, kept, dropped=len(report.images) - len(kept))
    return out


def write_report(report: Report, out_dir: Path, options: ReportOptions | None = None, name: str = "report.html") -> Path:
    """Write the page atomically (a reader never sees half a report)."""
    path = Path(out_dir) / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(render(report, options))
    tmp.replace(path)
    return path


def _drop_order(im: Image) -> tuple[int, int, str]:
    return (-im.tier, -len(im.jpeg), im.id)


def _uri_len(im: Image) -> int:
    return 4 * ((len(im.jpeg) + 2) // 3) + len("data:image/jpeg;base64,")


def references(data: dict[str, Any]) -> list[str]:
    """Every place the data shows an image (one image may be shown twice: a thumbnail in the queue)."""
    ids = [p["thumbnail"] for p in data["people"] if p.get("thumbnail")]
    ids += [i for p in data["people"] for i in p.get("chips", [])]
    return ids + [i for t in data["queue"]["tracks"] for i in t["chips"]]
