"""Benchmark reports: JSON, CSV, markdown tables, per-frame PSNR plots, temporal profiles and a
small markdown + HTML page that collects them.

Files written under the run folder:

- ``results.json``: protocol, settings, versions, and every score (per dataset, clip and frame);
- ``summary.csv`` (one row per method), ``clips.csv`` (per clip), ``frames.csv`` (per frame);
- ``results.md``: the side-by-side table printed by ``vsrzoo bench``, plus per-clip tables;
- ``plots/psnr_<clip>.png``: per-frame PSNR of every method;
- ``profiles/<clip>.png``: temporal profiles (the middle pixel row of each frame stacked over
  time; flicker shows as horizontal streaks, misalignment as broken diagonal lines), GT first;
- ``report.md`` and ``report.html``: all of the above on one page.
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import cv2
import numpy as np

from vsrzoo.bench.boundary import BOUNDARY_FIELDS
from vsrzoo.bench.protocol import METRICS
from vsrzoo.bench.published import published_rows
from vsrzoo.bench.store import GT_LABEL, ClipStore, atomic_write_bytes, atomic_write_text, safe_name
from vsrzoo.tables import markdown_table

__all__ = ["clip_table", "summary_table", "write_report"]


def _fmt(value, fmt: str) -> str:
    if value is None:
        return "-"
    return format(value, fmt)


def _mem(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _cost_cells(cost: dict | None) -> list[str]:
    if not cost:
        return ["-", "-", "-"]
    spm = cost["seconds_per_mpf"]
    return [_fmt(spm, ".3f"), _mem(cost["peak_memory_bytes"]), f"{cost['device_hours']:.4f}"]


def summary_rows(result) -> tuple[list[str], list[list[str]]]:
    header = ["method"] + [METRICS[m].header for m in result.metrics]
    header += ["s / MP-frame", "peak mem", "device-h", "clips"]
    rows = []
    for label, e in result.entries.items():
        cells = [label] + [_fmt(e["summary"].get(m), METRICS[m].fmt) for m in result.metrics]
        n_failed = len(e["failed"])
        clips = f"{e['clips_ok']}/{len(result.clips)}" + (f" ({n_failed} failed)" if n_failed else "")
        rows.append(cells + _cost_cells(e["cost"]) + [clips])
    return header, rows


def summary_table(result) -> str:
    """Methods side by side, one row each (markdown)."""
    return markdown_table(*summary_rows(result))


def clip_table(result, metric: str) -> str:
    """One metric per clip (rows) and method (columns), with the dataset mean last."""
    labels = list(result.entries)
    fmt = METRICS[metric].fmt
    rows = []
    for clip in result.clips:
        cells = []
        for label in labels:
            r = result.entries[label]["clips"].get(clip)
            cells.append(
                "failed" if r and r["status"] != "ok" else _fmt((r or {}).get("metrics", {}).get(metric), fmt)
            )
        rows.append([clip] + cells)
    rows.append(["**mean**"] + [_fmt(result.entries[x]["summary"].get(metric), fmt) for x in labels])
    return markdown_table([f"{METRICS[metric].header} / clip"] + labels, rows)


def _describe(result) -> list[str]:
    p = result.protocol
    s = result.settings
    has_gt = s.get("has_gt", True)
    lines = [
        f"- dataset: `{result.dataset}` ({len(result.clips)} clips), root `{s['root']}`, LR `{s['lr']}`, x{s['scale']}"
        + ("" if has_gt else "; no ground truth: no-reference metrics only"),
        f"- protocol: `{p.name}`: PSNR/SSIM on {'Y (BT.601)' if p.y_channel else 'RGB'}, crop {p.crop_border}, "
        f"skip first {p.skip_first} / last {p.skip_last} frames; mean over frames, then over clips",
    ]
    if s.get("iqa"):
        lines.append(
            "- perceptual / no-reference: "
            + ", ".join(f"{METRICS[m].title} ({v})" for m, v in s["iqa"].items())
            + "; on RGB output frames at full output resolution, no crop (NIQE on Y as pyiqa does), "
            "mean over the protocol's frames, then over clips"
        )
    if s.get("vqa"):
        lines.append(
            "- video quality: "
            + "; ".join(s["vqa"].values())
            + "; on RGB output frames of the protocol's range, "
            "one score per clip (0-100, scaled as DOVER's evaluate_a_set_of_videos.py), then mean over clips"
        )
    if s.get("flow"):
        lines.append(
            f"- flow for warping error: {s['flow']}, estimated on {s['flow_from'] or 'output'} at full "
            "resolution (E*warp EvalCrafter: output at half resolution)"
        )
    if s.get("lpips"):
        lines.append(f"- LPIPS: {s['lpips']}")
    if set(BOUNDARY_FIELDS) & set(result.metrics):
        lines.append(_boundary_line(result))
    v = result.versions
    lines.append(
        "- versions: " + ", ".join(f"{k} {v[k]}" for k in ("vsrzoo", "torch", "opencv", "python") if k in v)
    )
    return lines


def _boundary_line(result) -> str:
    """How the boundary fields were measured, with each entry's segments."""

    def segments(e: dict) -> str:
        seg = e.get("segments")
        if seg is None:
            return "not given (--segment-length N)" if e["kind"] == "outputs" else "-"
        if seg["length"] == 1:
            return "1 frame (every pair crosses a boundary: no inside pairs)"
        return f"{seg['length']} frames, overlap {seg['overlap']}"

    per_entry = "; ".join(f"{label}: {segments(e)}" for label, e in result.entries.items())
    return (
        "- temporal boundaries: consecutive pairs (t-1, t) crossing a segment boundary vs inside one "
        "(|dPSNR| = |PSNR(t) - PSNR(t-1)|, E*warp of the pair; ratio = boundary / inside, about 1 when "
        f"seams are invisible); segments: {per_entry}"
    )


# ------------------------------------------------------------------------------------- files


def _csv(rows: list[list], header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


COST_COLUMNS = ["wall_seconds", "seconds_per_mpf", "peak_memory_bytes", "device_name", "device_hours"]


def _summary_csv(result) -> str:
    rows = []
    for label, e in result.entries.items():
        cost = e["cost"] or {}
        scores = [e["summary"].get(m) for m in result.metrics]
        rows.append(
            [label, e["kind"], *scores, *(cost.get(c) for c in COST_COLUMNS), e["clips_ok"], len(e["failed"])]
        )
    return _csv(rows, ["method", "kind", *result.metrics, *COST_COLUMNS, "clips_ok", "clips_failed"])


def _clip_results(result):
    for label, e in result.entries.items():
        for name, r in e["clips"].items():
            if r is not None:
                yield label, name, r


def _clips_csv(result) -> str:
    rows = []
    for label, name, r in _clip_results(result):
        cost = r.get("cost") or {}
        scores = [r["metrics"].get(m) for m in result.metrics]
        rows.append(
            [label, name, r["status"], r["num_frames"], *scores, cost.get("wall_seconds"), r["error"]]
        )
    return _csv(rows, ["method", "clip", "status", "frames", *result.metrics, "wall_seconds", "error"])


def _frames_csv(result) -> str:
    rows = [
        [label, name, f["frame"], f["name"], *(f.get(m) for m in result.metrics)]
        for label, name, r in _clip_results(result)
        for f in r["frames"]
    ]
    return _csv(rows, ["method", "clip", "frame", "name", *result.metrics])


def _write_csvs(result, out: Path) -> None:
    atomic_write_text(out / "summary.csv", _summary_csv(result))
    atomic_write_text(out / "clips.csv", _clips_csv(result))
    atomic_write_text(out / "frames.csv", _frames_csv(result))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _psnr_plot(result, clip: str) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    drawn = False
    for label, e in result.entries.items():
        r = e["clips"].get(clip)
        if r and r["status"] == "ok":
            pts = [(f["frame"], f["psnr"]) for f in r["frames"] if f.get("psnr") not in (None, float("inf"))]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=label)
                drawn = True
    if drawn:
        ax.set(xlabel="frame", ylabel="PSNR (dB)", title=f"{result.dataset} / {clip}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    data = _png(fig) if drawn else None
    plt.close(fig)
    return data


def profile_image(panels: list[tuple[str, np.ndarray]], min_height: int = 120) -> np.ndarray:
    """Temporal profiles side by side, each under a title bar; every frame's row is repeated so
    short clips stay visible. ``panels``: (title, (T, W, 3) uint8)."""
    t = panels[0][1].shape[0]
    rep = max(1, -(-min_height // t))
    columns = []
    for title, img in panels:
        header = np.full((22, img.shape[1], 3), 255, np.uint8)
        cv2.putText(header, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate([header, np.repeat(img, rep, axis=0)], axis=0))
        columns.append(np.full((columns[-1].shape[0], 6, 3), 255, np.uint8))
    return np.concatenate(columns[:-1], axis=1)


def _profile_panels(result, store: ClipStore, clip: str) -> list[tuple[str, np.ndarray]]:
    panels = [("GT", store.load_profile(GT_LABEL, clip))]
    for label, e in result.entries.items():
        r = e["clips"].get(clip)
        if r and r["status"] == "ok":
            panels.append((label, store.load_profile(label, clip)))
    return [(t, img) for t, img in panels if img is not None]


def _images(result, store: ClipStore, out: Path) -> dict[str, dict[str, str]]:
    images: dict[str, dict[str, str]] = {}
    for clip in result.clips:
        entry = images.setdefault(clip, {})
        if "psnr" in result.metrics:
            data = _psnr_plot(result, clip)
            if data:
                rel = f"plots/psnr_{safe_name(clip)}.png"
                atomic_write_bytes(out / rel, data)
                entry["psnr"] = rel
        panels = _profile_panels(result, store, clip)
        if len(panels) > 1:
            rel = f"profiles/{safe_name(clip)}.png"
            ok, buf = cv2.imencode(".png", cv2.cvtColor(profile_image(panels), cv2.COLOR_RGB2BGR))
            atomic_write_bytes(out / rel, buf.tobytes())
            entry["profile"] = rel
    return images


def published_table(result) -> tuple[list[str], list[list[str]]] | None:
    """Published rows for this dataset, marked as such, or None when there are none."""
    rows = published_rows(result.dataset)
    if not rows:
        return None
    header = ["method", "setting", "metric", "value", "source", "status"]
    body = [
        [
            r.method,
            r.setting,
            METRICS[r.metric].title if r.metric in METRICS else r.metric.upper(),
            format(r.value, METRICS[r.metric].fmt) if r.metric in METRICS else str(r.value),
            r.source,
            "published, not measured here",
        ]
        for r in rows
    ]
    return header, body


def _markdown(result, images) -> str:
    parts = [f"# vsrzoo bench: {result.dataset}", "", *_describe(result), "", summary_table(result), ""]
    published = published_table(result)
    if published:
        parts += ["## Published results (published, not measured here)", "", markdown_table(*published), ""]
    for m in result.metrics:
        parts += [f"## {METRICS[m].title} per clip", "", clip_table(result, m), ""]
    failed = [(x, c, err) for x, e in result.entries.items() for c, err in e["failed"].items()]
    if failed:
        parts += ["## Failed clips", ""] + [f"- {x} / {c}: {err}" for x, c, err in failed] + [""]
    for clip, imgs in images.items():
        if imgs:
            parts += [f"## {clip}", ""] + [f"![{k} {clip}]({rel})" for k, rel in imgs.items()] + [""]
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(result, images) -> str:
    items = "".join(f"<li>{html.escape(line[2:]).replace('`', '')}</li>" for line in _describe(result))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>vsrzoo bench: {html.escape(result.dataset)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%;margin:4px}</style></head><body>",
        f"<h1>vsrzoo bench: {html.escape(result.dataset)}</h1><ul>{items}</ul>",
        "<div style='display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start'><div><h2>Measured here</h2>",
        _html_table(*summary_rows(result)),
        "</div>",
    ]
    published = published_table(result)
    if published:
        parts += ["<div><h2>Published, not measured here</h2>", _html_table(*published), "</div>"]
    parts.append("</div>")
    for clip, imgs in images.items():
        if imgs:
            parts.append(f"<h2>{html.escape(clip)}</h2>")
            parts += [f"<img src='{html.escape(rel)}' alt='{html.escape(k)}'>" for k, rel in imgs.items()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_report(result, store: ClipStore) -> Path:
    """Write every report file of a complete run under ``result.out_dir``; returns the folder."""
    out = Path(result.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(result.to_dict(), indent=1, default=_json_default))
    _write_csvs(result, out)
    images = _images(result, store, out)
    tables = [summary_table(result), ""] + [clip_table(result, m) + "\n" for m in result.metrics]
    atomic_write_text(out / "results.md", "\n".join(tables))
    atomic_write_text(out / "report.md", _markdown(result, images))
    atomic_write_text(out / "report.html", _html(result, images))
    return out
