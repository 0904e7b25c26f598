"""Clustering reports in HTML and PDF (TLC-4), without personal data (TLC-11/12).

Household ids are replaced by pseudonyms ``HH-<8 hex>``: an HMAC-SHA256 of the id keyed by the
``pseudonym_salt`` setting, so the same household keeps its pseudonym between runs but cannot
be linked back without the salt. The report shows cluster sizes, silhouette per cluster,
centroid profiles (plots), the scalar features per cluster and the (pseudonymous) members.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from analytics.clustering.engine import ClusterResult
from analytics.settings import analytics_settings


def pseudonym(household_id: str, salt: str) -> str:
    """Stable pseudonym of a household id (HMAC-SHA256 keyed by ``salt``)."""
    digest = hmac.new(salt.encode(), household_id.encode(), hashlib.sha256).hexdigest()
    return f"HH-{digest[:8]}"


def _centroid_figure(result: ClusterResult, min_size: int = 0) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    for c in range(result.k):
        if result.sizes[c] < min_size:
            continue
        ax.plot(range(24), result.centroid_profiles[c],
                label=f"cluster {c} (n={result.sizes[c]})", marker="o", markersize=3)
    ax.set_xlabel("local hour")
    ax.set_ylabel("load / daily mean")
    ax.set_title(f"Centroid daily profiles ({result.metric}, k={result.k}, "
                 f"silhouette {result.silhouette:.2f})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _silhouette_figure(result: ClusterResult) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3))
    clusters = list(range(result.k))
    ax.bar([str(c) for c in clusters], [result.silhouette_per_cluster[c] for c in clusters])
    ax.axhline(result.silhouette, color="k", linestyle="--", label="mean")
    ax.set_xlabel("cluster")
    ax.set_ylabel("silhouette")
    ax.legend()
    fig.tight_layout()
    return fig


def render_html(
    result: ClusterResult,
    members: dict[int, list[str]] | None,
    figures: list[Figure] | None = None,
    min_size: int = 0,
) -> str:
    """The HTML report. ``members``: pseudonyms per cluster, or None to leave members out
    (the version served by REST); clusters smaller than ``min_size`` show only their size and
    silhouette (their profile and feature means would describe a few households)."""
    own = figures is None
    figs = figures if figures is not None else [_centroid_figure(result, min_size),
                                                _silhouette_figure(result)]
    images = []
    for fig in figs:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        images.append(base64.b64encode(buf.getvalue()).decode())
    if own:
        for fig in figs:
            plt.close(fig)
    n_scalar = len(result.scalar_means.columns)

    def cells(c: int) -> str:
        if result.sizes[c] < min_size:
            return f"<td colspan=\"{n_scalar}\">withheld (fewer than {min_size} households)</td>"
        return "".join(f"<td>{v:.3g}</td>" for v in result.scalar_means.loc[c])

    rows = "".join(
        f"<tr><td>{c}</td><td>{result.sizes[c]}</td>"
        f"<td>{result.silhouette_per_cluster[c]:.3f}</td>"
        + cells(c)
        + (f"<td>{html.escape(' '.join(members[c]))}</td>" if members is not None else "")
        + "</tr>"
        for c in range(result.k)
    )
    scalar_heads = "".join(f"<th>{html.escape(str(c))}</th>"
                           for c in result.scalar_means.columns)
    member_head = "<th>members</th>" if members is not None else ""
    member_note = ("Household ids are pseudonyms." if members is not None
                   else "Members are not listed: only cluster sizes.")
    k_scores = ", ".join(f"k={k}: {v:.3f}" for k, v in result.k_scores.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Household clusters</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
td,th{{border:1px solid #ccc;padding:4px;font-size:12px;vertical-align:top}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Household clusters</h1>
<p>{len(result.household_ids)} households, metric {html.escape(result.metric)}, k = {result.k}
(chosen by silhouette; {html.escape(k_scores)}), mean silhouette {result.silhouette:.3f}.
{member_note}</p>
<img alt="centroid profiles" src="data:image/png;base64,{images[0]}">
<img alt="silhouette per cluster" src="data:image/png;base64,{images[1]}">
<table><tr><th>cluster</th><th>size</th><th>silhouette</th>{scalar_heads}{member_head}</tr>
{rows}</table></body></html>
"""


def write_report(
    result: ClusterResult, folder: Path | None = None, salt: str | None = None,
    name: str = "clustering",
) -> tuple[Path, Path]:
    """Write ``<name>.html`` and ``<name>.pdf`` into ``folder`` (default: the reports setting).

    Returns the two paths. No household id appears in either file, only pseudonyms.
    """
    settings = analytics_settings()
    folder = Path(folder) if folder is not None else settings.reports_dir
    salt = salt if salt is not None else settings.pseudonym_salt
    folder.mkdir(parents=True, exist_ok=True)
    members = {c: sorted(pseudonym(h, salt) for h in ids)
               for c, ids in result.members().items()}
    figures = [_centroid_figure(result), _silhouette_figure(result)]

    pdf_path = folder / f"{name}.pdf"
    with PdfPages(pdf_path) as pdf:
        for fig in figures:
            pdf.savefig(fig)
        fig, ax = plt.subplots(figsize=(8.3, 11.7))
        ax.axis("off")
        lines = [f"Households: {len(result.household_ids)}   k = {result.k}   "
                 f"silhouette = {result.silhouette:.3f}   metric = {result.metric}", ""]
        for c in range(result.k):
            lines.append(f"Cluster {c}: {result.sizes[c]} households, silhouette "
                         f"{result.silhouette_per_cluster[c]:.3f}")
            row = result.scalar_means.loc[c]
            lines.append("  " + ", ".join(f"{k}={v:.3g}" for k, v in row.items()))
            ids = members[c]
            for i in range(0, len(ids), 6):
                lines.append("  " + " ".join(ids[i:i + 6]))
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=7)
        pdf.savefig(fig)
        figures.append(fig)

    page = render_html(result, members, figures=figures[:2])
    for fig in figures:
        plt.close(fig)
    html_path = folder / f"{name}.html"
    html_path.write_text(page)
    return html_path, pdf_path
