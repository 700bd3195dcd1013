"""The report's HTML, one function per section, from the report data. Rendered here rather than by
the script, so the page reads (and prints) without JavaScript; the script only sorts and builds the CSV."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from screenalytics import __version__

Images = dict[str, bytes]  # image id -> JPEG
WIDTH = 1000  # SVG user units across the episode
NUM = ' class="num"'
COLUMNS = [  # totals table: key, header, type
    ("person_id", "Person", "text"),
    ("visual_s", "Visual s", "num"),
    ("speaking_s", "Speaking s", "num"),
    ("both_s", "Both s", "num"),
    ("share", "Share of episode", "num"),
    ("confidence", "Confidence", "num"),
]


def body(data: dict[str, Any], images: Images, dropped: int) -> str:
    cast = [p for p in data["people"] if p["visual_s"] > 0 or p["speaking_s"] > 0]
    return "\n".join(
        [
            header(data),
            totals(data),
            timeline(data, cast, images),
            faces(cast, images),
            queue(data, images),
            speech(data),
            run(data, len(images), dropped),
            f"<footer>Made by Screenalytics {escape(__version__)}. Self-contained: styles, script, data and images are "
            "inside this file, and it loads nothing.</footer>",
        ]
    )


# -- formatting ----------------------------------------------------------------------------------


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def secs(x: float) -> str:
    return f"{x:.3f}"


def clock(t: float, decimals: int = 1) -> str:
    """m:ss.s, the way an editor reads a timecode."""
    m, s = divmod(round(t, decimals), 60)
    return f"{int(m)}:{s:0{3 + decimals if decimals else 2}.{decimals}f}"


def num(x: float) -> str:
    """A coordinate: two decimals, the same bytes for the same input."""
    return f"{x:.2f}"


def image(images: Images, image_id: str | None, alt: str, cls: str) -> str:
    """An embedded image, or a placeholder when there is none (or the size budget dropped it)."""
    if image_id and image_id in images:
        uri = "data:image/jpeg;base64," + base64.b64encode(images[image_id]).decode()
        return f'<img class="{cls}" src="{uri}" alt="{e(alt)}">'
    initials = "".join(w[:1] for w in alt.replace("-", " ").replace("_", " ").split()[:2]).upper() or "?"
    return f'<span class="{cls} none" aria-hidden="true">{e(initials)}</span>'


# -- sections ------------------------------------------------------------------------------------


def header(data: dict[str, Any]) -> str:
    ep = data["episode"]
    facts = [
        ep["video"],
        f"{clock(ep['duration_s'])} ({ep['duration_s']:.1f} s)",
        f"{ep['shots']} shot{'s' if ep['shots'] != 1 else ''}",
        f"{ep['frames_analysed']} frames analysed",
        f"audio: {ep['audio']}",
        f"analysed only {ep['analysed_span_s'][0]:.1f}-{ep['analysed_span_s'][1]:.1f} s" if ep.get("analysed_span_s") else "",
    ]
    warnings = "".join(f'<p class="warning" role="alert">warning: {e(w)}</p>' for w in ep.get("warnings", []))
    nav = "".join(
        f'<a href="#{k}">{v}</a>'
        for k, v in (
            ("totals", "Totals"),
            ("timeline", "Timeline"),
            ("faces", "Faces"),
            ("queue", "To review"),
            ("speech", "Speech"),
            ("run", "Run"),
        )
    )
    return (
        f'<header><h1>Screen time <span class="ep">{e(ep["episode_id"])}</span></h1>'
        f'<p class="facts">{" · ".join(e(f) for f in facts if f)}</p>{warnings}<nav>{nav}</nav></header>'
    )


def totals(data: dict[str, Any]) -> str:
    ep = data["episode"]["episode_id"]
    head = "".join(
        f'<th scope="col" data-key="{k}" data-type="{t}"{NUM if t == "num" else ""}><button type="button">{label}</button></th>'
        for k, label, t in COLUMNS
    )
    rows = []
    for p in data["people"]:
        conf = p["confidence"]
        rows.append(
            f'<tr data-person="{e(p["person_id"])}">'
            f'<th scope="row" data-sort="{e(p["person_id"])}">{e(p["person_id"])}</th>'
            + "".join(f'<td class="num" data-sort="{p[k]}">{secs(p[k])}</td>' for k in ("visual_s", "speaking_s", "both_s"))
            + f'<td class="num" data-sort="{p["share"]}">{100 * p["share"]:.1f}%</td>'
            f'<td class="num" data-sort="{conf}"><span class="bar"><span style="width:{100 * conf:.0f}%"></span></span>'
            f"{conf:.3f}</td></tr>"
        )
    return (
        '<section id="totals"><h2>Totals</h2>'
        '<p class="note">Seconds each person is on screen (visual), heard (speaking), and both at once; share = visual '
        "seconds over the episode's length; confidence = how sure the identity is, weighted by time."
        f' <span class="screen">Click a column to sort.</span>'
        f' <a id="csv" class="button" href="#" download="{e(ep)}_screen_time.csv">Download CSV</a></p>'
        f'<table id="totals-table" class="totals"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</section>"
    )


def timeline(data: dict[str, Any], cast: list[dict[str, Any]], images: Images) -> str:
    duration = data["episode"]["duration_s"]
    x = (lambda t: WIDTH * t / duration) if duration > 0 else (lambda t: 0.0)
    # the shot cuts are drawn once and shown in every row (<use>): an episode has hundreds of them
    path = "".join(f"M{num(x(c))} 0V30" for c in data["episode"]["cut_times"])
    cuts = f'<svg class="defs" aria-hidden="true"><defs><path id="cuts" class="cuts" d="{path}"/></defs></svg>'
    rows = []
    for p in cast:
        lanes = "".join(
            f'<g class="{kind}">'
            + "".join(
                f'<rect x="{num(x(s))}" y="{y}" width="{num(max(x(t) - x(s), 0.6))}" height="8">'
                f"<title>{kind} {clock(s)}–{clock(t)}</title></rect>"
                for s, t in p[kind]
            )
            + "</g>"
            for kind, y in (("visual", 1), ("speaking", 11), ("both", 21))
        )
        rows.append(
            f'<div class="tl-row" data-person="{e(p["person_id"])}"><div class="who">'
            f"{image(images, p.get('thumbnail'), p['person_id'], 'thumb')}"
            f"<div><b>{e(p['person_id'])}</b>"
            f"<small>{p['visual_s']:.1f} s seen · {p['speaking_s']:.1f} s heard</small></div></div>"
            f'<svg class="lanes" viewBox="0 0 {WIDTH} 30" preserveAspectRatio="none" role="img" '
            f'aria-label="{e(p["person_id"])}: visual, speaking and both over the episode">'
            f'<rect class="bg" x="0" y="0" width="{WIDTH}" height="30"/><use href="#cuts"/>{lanes}</svg></div>'
        )
    marks = ticks(duration) if duration > 0 else []
    whole = all(float(t).is_integer() for t in marks)
    axis = "".join(
        f'<span{" class=end" if t > 0.94 * duration else ""} style="left:{100 * t / duration:.2f}%">'
        f"{clock(t, 0 if whole else 1)}</span>"
        for t in marks
    )
    legend = (
        "".join(f'<span class="key {k}"></span>{k}' for k in ("visual", "speaking", "both"))
        + '<span class="key cut"></span>shot cut'
    )
    body = "".join(rows) or '<p class="empty">Nobody was seen or heard.</p>'
    return (
        f'<section id="timeline"><h2>Timeline</h2><p class="legend">{legend}</p>{cuts}<div class="tl">{body}'
        f'<div class="tl-row axis-row"><div class="who"></div><div class="axis">{axis}</div></div></div></section>'
    )


def ticks(duration: float) -> list[float]:
    """Round times for the axis: about six to ten of them."""
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800) if duration / s <= 10), 3600)
    return [i * step for i in range(int(duration / step) + 1)]


def faces(cast: list[dict[str, Any]], images: Images) -> str:
    cards = [
        f'<figure class="card"><figcaption>{e(p["person_id"])}</figcaption>'
        + "".join(image(images, i, p["person_id"], "chip") for i in p["chips"])
        + "</figure>"
        for p in cast
        if p.get("chips")
    ]
    inner = "".join(cards) or '<p class="empty">No other face chips.</p>'
    return (
        '<section id="faces"><h2>Faces</h2><p class="note">The best face of each further track of a person '
        f'(the thumbnail beside the timeline is their best or featured one).</p><div class="cards">{inner}</div></section>'
    )


def queue(data: dict[str, Any], images: Images) -> str:
    q = data["queue"]
    rows = "".join(
        f'<tr><td class="chips">{"".join(image(images, i, t["person_id"], "chip") for i in t["chips"])}</td>'
        f'<td class="num">{t["track_id"]}</td><td>{e(t["person_id"])}</td><td class="num">{t["confidence"]:.3f}</td>'
        f'<td class="num">{secs(t["seconds"])}</td><td><ul>{"".join(f"<li>{e(r)}</li>" for r in t["reasons"])}</ul></td></tr>'
        for t in q["tracks"]
    )
    more = f" Showing the first {len(q['tracks'])} of {q['total']}." if q["total"] > len(q["tracks"]) else ""
    table = (
        '<table class="queue"><thead><tr><th scope="col">Faces</th><th scope="col" class="num">Track</th>'
        '<th scope="col">Labelled</th><th scope="col" class="num">Confidence</th><th scope="col" class="num">Seconds</th>'
        f'<th scope="col">Why</th></tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else '<p class="empty">Nothing to review.</p>'
    )
    return (
        f'<section id="queue"><h2>To review <span class="count">{q["total"]}</span></h2>'
        f'<p class="note">Tracks with identity confidence below {q["threshold"]:.2f}, or a face that disagrees with the '
        f"voice heard over it; most seconds at stake first. Fix them with <code>screenalytics review</code>.{more}</p>"
        f"{table}</section>"
    )


def speech(data: dict[str, Any]) -> str:
    sp = data["speech"]
    rows = "".join(
        f'<tr><td class="num">{clock(t["start"])}</td><td class="num">{clock(t["end"])}</td>'
        f"<td>{e(t['person_id'])}<small>{e(t['speaker'])} · {e(t['method'])}{' · overlap' if t['overlap'] else ''}</small></td>"
        f"<td>{e(t['text']) or '<span class=empty>(no words)</span>'}</td></tr>"
        for t in sp["turns"]
    )
    more = (
        f'<p class="note">Showing the first {len(sp["turns"])} of {sp["total"]} turns.</p>'
        if sp["total"] > len(sp["turns"])
        else ""
    )
    table = (
        '<table class="speech"><thead><tr><th scope="col" class="num">Start</th><th scope="col" class="num">End</th>'
        f'<th scope="col">Speaker</th><th scope="col">Transcript</th></tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else '<p class="empty">No speech.</p>'
    )
    return f'<section id="speech"><h2>Speech <span class="count">{sp["total"]}</span></h2>{more}{table}</section>'


def run(data: dict[str, Any], embedded: int, dropped: int) -> str:
    meta, ep = data["run"], data["episode"]
    facts = [
        ("Run id", meta["run_id"]),
        ("Episode", ep["episode_id"]),
        ("Config sha256", meta["config_sha256"] or "(settings not known)"),
        ("Providers", ", ".join(meta["providers"]) or "(not known)"),
        *((f"Model: {k}", v) for k, v in meta["models"].items()),
        ("Facebank photos skipped", ", ".join(meta["skipped_photos"]) or "none"),
        ("Images", f"{embedded} embedded" + (f", {dropped} left out to stay under the size budget" if dropped else "")),
    ]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    total = sum(meta["timings_s"].values())
    timings = "".join(f'<tr><th scope="row">{e(k)}</th><td class="num">{v:.3f}</td></tr>' for k, v in meta["timings_s"].items())
    table = (
        '<table class="timings"><thead><tr><th scope="col">Stage</th><th scope="col" class="num">Seconds</th></tr></thead>'
        f'<tbody>{timings}</tbody><tfoot><tr><th scope="row">total</th><td class="num">{total:.3f}</td></tr></tfoot></table>'
        if timings
        else '<p class="empty">No timings recorded.</p>'
    )
    return f'<section id="run"><h2>Run</h2><div class="run"><dl>{dl}</dl>{table}</div></section>'
