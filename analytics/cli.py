"""Command line of the analytics tools: ``train``, ``forecast``, ``backtest``, ``cluster`` and the
two benchmarks. Mounted by the main ``bright`` CLI; every command prints JSON (or CSV) on stdout
and progress on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from analytics.forecasting.domain import Horizon, Target

app = typer.Typer(help="Forecasting (EFT) and household clustering (TLC) on real home data.",
                  no_args_is_help=True)


def _emit(payload: object) -> None:
    typer.echo(json.dumps(payload, default=str))


@app.command()
def train(
    target: Annotated[list[Target] | None, typer.Option(help="Targets (default: all).")] = None,
    horizon: Annotated[list[Horizon] | None, typer.Option(help="Horizons (default: all).")
                       ] = None,
    homes_model: Annotated[bool, typer.Option(
        "--homes/--no-homes", help="Also train the pooled per-home models.")] = False,
    backtest: Annotated[bool, typer.Option(help="Backtest first and save the scores.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    models_dir: Annotated[Path | None, typer.Option(help="Override the models folder.")
                          ] = None,
) -> None:
    """(Re)train the forecasting models on the real homes and save them with their scores."""
    from analytics.forecasting.service import MODEL_TARGETS, train_models

    saved = train_models(
        targets=target or list(MODEL_TARGETS),
        horizons=horizon or [Horizon.INTRADAY, Horizon.DAY_AHEAD],
        scopes=["community", "homes"] if homes_model else ["community"],
        models_dir=models_dir, with_backtest=backtest, seed=seed,
    )
    _emit(saved)


@app.command()
def forecast(
    horizon: Annotated[Horizon, typer.Option(help="intraday or day_ahead.")] = Horizon.DAY_AHEAD,
    origin: Annotated[str | None, typer.Option(
        help="Origin, ISO time in UTC (default: the latest the data allows).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    models_dir: Annotated[Path | None, typer.Option(help="Override the models folder.")
                          ] = None,
) -> None:
    """Community forecast (consumption, PV, flexibility) at 900 s intervals from saved models."""
    from analytics.forecasting.service import forecast_community

    start = pd.Timestamp(origin, tz="UTC") if origin else None
    frame = forecast_community(start, horizon, models_dir=models_dir)
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        _emit(frame.to_dict(orient="records"))


@app.command("backtest")
def backtest_cmd(
    target: Annotated[Target, typer.Option(help="consumption or pv.")] = Target.CONSUMPTION,
    horizon: Annotated[Horizon, typer.Option(help="intraday or day_ahead.")] = Horizon.DAY_AHEAD,
    per_home: Annotated[bool, typer.Option(help="Pooled per-home model instead of the "
                                           "community aggregate.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Rolling-origin backtest (final quarter held out) against the baselines; JSON scores."""
    from analytics.forecasting.backtest import backtest
    from analytics.forecasting.engine import ForecastConfig
    from analytics.forecasting.service import load_community_data

    data = load_community_data()
    cfg = ForecastConfig(target=target, horizon=horizon, seed=seed)
    result = backtest(data.series(target, "homes" if per_home else "community"), data.weather,
                      cfg, progress=True)
    payload: dict[str, object] = {"scores": result.scores, "test_start": str(result.test_start)}
    if per_home:
        payload["per_home"] = result.per_series().round(4).to_dict(orient="index")
    _emit(payload)


@app.command()
def cluster(
    homes: Annotated[int, typer.Option(help="Households: 17 real, more are synthetic.")] = 17,
    metric: Annotated[str, typer.Option(help="euclidean (k-means) or dtw (tslearn).")
                      ] = "euclidean",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    report: Annotated[bool, typer.Option(help="Write the HTML and PDF report.")] = True,
    reports_dir: Annotated[Path | None, typer.Option(help="Override the reports folder.")
                           ] = None,
    store: Annotated[bool, typer.Option(
        help="Store the result as the latest, served by the API at GET /clusters.")] = True,
    clusters_dir: Annotated[Path | None, typer.Option(
        help="Override the folder of the stored result.")] = None,
) -> None:
    """Cluster households by behaviour; k by silhouette; writes an anonymised report."""
    from analytics.clustering.engine import ClusterConfig, cluster_households
    from analytics.clustering.report import pseudonym, write_report
    from analytics.data import citylearn
    from analytics.data.synthetic import synthetic_community
    from analytics.settings import analytics_settings

    if metric not in ("euclidean", "dtw"):
        raise typer.BadParameter("metric must be euclidean or dtw")
    community = synthetic_community(homes, seed=seed)
    infos = {h.home_id: h for h in citylearn.homes()}
    result = cluster_households(
        community.load_kwh, community.pv_kwh, citylearn.load_weather()["temp_c"],
        {k: v.battery_kwh for k, v in infos.items()}, {k: v.battery_kw for k, v in infos.items()},
        ClusterConfig(metric=metric, seed=seed))
    salt = analytics_settings().pseudonym_salt
    payload: dict[str, object] = {
        "households": len(result.household_ids), "k": result.k,
        "silhouette": round(result.silhouette, 4), "sizes": result.sizes,
        "silhouette_per_cluster": {c: round(v, 4) for c, v in
                                   result.silhouette_per_cluster.items()},
        "members": {c: sorted(pseudonym(h, salt) for h in ids)
                    for c, ids in result.members().items()},
        "seconds": round(result.seconds, 3),
    }
    if store:
        from analytics.clustering.store import clusters_dir as stored_in
        from analytics.clustering.store import save_result

        save_result(result, clusters_dir)
        payload["stored_in"] = str(stored_in(clusters_dir))
    if report:
        html_path, pdf_path = write_report(result, reports_dir)
        payload["report_html"] = str(html_path)
        payload["report_pdf"] = str(pdf_path)
    _emit(payload)


@app.command("bench-forecast")
def bench_forecast_cmd(seed: Annotated[int, typer.Option(help="Random seed.")] = 0) -> None:
    """Forecast benchmark (backtest table, per-home errors, community forecast seconds)."""
    from analytics.bench import bench_forecast

    _emit(bench_forecast(seed))


@app.command("bench-clustering")
def bench_clustering_cmd(
    homes: Annotated[int, typer.Option(help="Households in the community.")] = 100,
    metric: Annotated[str, typer.Option(help="euclidean or dtw.")] = "euclidean",
) -> None:
    """Clustering benchmark (seconds, chosen k, silhouette)."""
    from analytics.bench import bench_clustering

    _emit(bench_clustering(homes, metric=metric))


if __name__ == "__main__":
    app()
