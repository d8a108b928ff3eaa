"""`routing` sub-commands for the app's typer CLI: `classify [--dedupe]`, `evaluate FILE.jsonl`,
`export-corrections`; the model's `train`, `versions`, `rollback`, `retrain` are in routing/train_cli.py."""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Optional

import typer

from .engine import Router
from .evaluate import evaluate as run_evaluation, load_labelled, report
from .stream import classify_stream, default_data_dir
from .yamlsrc import RulesError

routing_cli = typer.Typer(help="Routing engine: classify reports, score the rules on a labelled set.",
                          no_args_is_help=True)


def _router(data_dir: Optional[Path], model: bool = True) -> Router:
    """The rules, with the learned model: DATABASE_URL's active version when that database exists and has
    one, else the shipped model (no server needed; `--rules-only` leaves the model out). Coordinates are
    located by the kelurahan boundaries the city imported into that database, else by the shipped ones."""
    from domain.config import Settings

    from .geo import polygons_from_url

    try:
        router = Router.load(data_dir or default_data_dir(), polygons_from_url(Settings.from_env().database_url))
    except RulesError as exc:
        typer.echo(f"invalid routing rules: {exc}", err=True)
        raise typer.Exit(2)
    if model:
        from .shipped import cache_key, cache_path, ensure_cached
        from .train_cli import attach_model

        attach_model(router)
        try:
            if not cache_path(cache_key(router)).exists():  # `init-db` trains it ahead; say why we wait
                ensure_cached(router, lambda text: typer.echo(text, err=True, nl=False))
        except ImportError:  # scikit-learn missing: the rules alone
            pass
    return router


@routing_cli.command("classify")
def classify(
    infile: Optional[Path] = typer.Option(None, "--in", help="JSON lines to read (default: stdin)"),
    outfile: Optional[Path] = typer.Option(None, "--out", help="where to write (default: stdout)"),
    dedupe: bool = typer.Option(False, "--dedupe", help="add duplicate_of for repeated incidents"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="reference data (default: ./data)"),
    rules_only: bool = typer.Option(False, "--rules-only", help="the rules alone, without the learned model"),
) -> None:
    """Classify JSON-lines reports: one output line per input line; bad lines get an "error" key."""
    router = _router(data_dir, model=not rules_only)
    fin = infile if infile else io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    fout = outfile if outfile else sys.stdout
    errors = classify_stream(fin, fout, dedupe=dedupe, router=router)
    if errors:
        typer.echo(f"{errors} line(s) could not be classified (see their 'error' key)", err=True)


@routing_cli.command("evaluate")
def evaluate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="labelled JSON lines"),
    misses: bool = typer.Option(False, "--misses", help="also list every wrong field"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="reference data (default: ./data)"),
    rules_only: bool = typer.Option(False, "--rules-only", help="score the rules alone, without the model"),
) -> None:
    """Accuracy per field, confusion matrices, calibration (reliability table, ECE) and the risk-coverage
    table of selective automation on a labelled file."""
    router = _router(data_dir, model=not rules_only)
    typer.echo(report(run_evaluation(router, load_labelled(file)), misses=misses))


# ---------------------------------------------------------------- on the stored queue (need the database)
def _services():
    from app import Services
    from domain.config import Settings

    services = Services(Settings.from_env())
    services.init_db()
    return services


@routing_cli.command("export-corrections")
def export_corrections(
    file: Path = typer.Argument(..., dir_okay=False, help="JSON lines to write (- for stdout)"),
    since: Optional[str] = typer.Option(None, "--since", help="only corrections from this ISO date/time on"),
) -> None:
    """Write the operators' corrections as a labelled set for `routing evaluate`."""
    from .corrections import export_corrections as write
    from .engine import parse_time

    try:
        start = parse_time(since) if since else None
    except ValueError:
        typer.echo(f"error: --since {since!r} is not an ISO 8601 date/time", err=True)
        raise typer.Exit(2)
    services = _services()
    try:
        out = sys.stdout if str(file) == "-" else open(file, "w", encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {file}: {exc.strerror}", err=True)
        raise typer.Exit(1)
    try:
        with services.sessions() as s:
            count = write(s, out, since=start)
    finally:
        if out is not sys.stdout:
            out.close()
    typer.echo(f"{count} labelled report(s) written", err=True)


geo_cli = typer.Typer(help="Kelurahan boundaries for point-in-polygon location.", no_args_is_help=True)


def _props(value: Optional[str], default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip()) if value else default


@geo_cli.command("import")
def geo_import(
    file: Path = typer.Argument(..., help="GeoJSON FeatureCollection of kelurahan polygons (lon, lat)"),
    code_prop: Optional[str] = typer.Option(None, "--code-prop", help="property(ies) with the Kemendagri code, "
                                            "comma-separated (default: kode,KDEPUM)"),
    kelurahan_prop: Optional[str] = typer.Option(None, "--kelurahan-prop", help="property(ies) with the kelurahan "
                                                 "name (default: kelurahan,nama,WADMKD)"),
    kecamatan_prop: Optional[str] = typer.Option(None, "--kecamatan-prop", help="property(ies) with the kecamatan "
                                                 "name (default: kecamatan,WADMKC)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="match and report, store nothing"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list every unmatched feature"),
) -> None:
    """Store each matched kelurahan boundary; they replace the shipped default for those kelurahan in
    point-in-polygon location (`classify` reads them at once; restart the app and the worker)."""
    from .geo import GeoImportError, import_boundaries, load_features

    try:
        features = load_features(file)
    except GeoImportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    services = _services()
    with services.sessions.begin() as s:
        result = import_boundaries(
            s, features, code_props=_props(code_prop, ("kode", "KDEPUM")),
            kel_props=_props(kelurahan_prop, ("kelurahan", "nama", "WADMKD")),
            kec_props=_props(kecamatan_prop, ("kecamatan", "WADMKC")), dry_run=dry_run)
    typer.echo(f"matched: {sum(result.matched.values())} feature(s) -> {len(result.matched)} kelurahan")
    typer.echo(f"unmatched: {len(result.unmatched)}")
    for index, why in result.unmatched[: None if verbose else 20]:
        typer.echo(f"  feature {index}: {why}")
    if not verbose and len(result.unmatched) > 20:
        typer.echo(f"  ... {len(result.unmatched) - 20} more (--verbose lists them all)")
    if dry_run:
        typer.echo("dry run: nothing stored")


from . import train_cli as _train_cli  # noqa: E402  (registers train, versions, rollback, retrain)

_train_cli.register(routing_cli)
