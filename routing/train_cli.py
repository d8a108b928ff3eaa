"""The model's commands under `python app.py routing`:

    train FILE [--map FILE] [--by NAME]   learn a city's labelled history together with the shipped corpus
    versions                              the stored versions with their scores
    rollback VERSION [--by NAME]          make an earlier version active again (`shipped`: none)
    retrain [--force]                     the corrections job now (the worker runs it by itself)

Bad input is one line on stderr (`error: ...`), exit code 2, and nothing is stored.
"""
from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Optional

import typer


def attach_model(router) -> None:
    """DATABASE_URL's active version when that database exists and has one, else the shipped model."""
    from .registry import attach

    attach(router, _existing_database_sessions())


def _existing_database_sessions():
    from sqlalchemy.engine import make_url

    from domain.config import Settings
    from domain.db import make_engine, session_factory

    url = Settings.from_env().database_url
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL: the shipped model
        return None
    if parsed.get_backend_name() == "sqlite" and (not parsed.database or not Path(parsed.database).exists()):
        return None  # never create a database just to classify
    return session_factory(make_engine(url))


def _services():
    from app import Services
    from domain.config import Settings

    services = Services(Settings.from_env())
    services.init_db()
    return services


def _who(by: Optional[str]) -> str:
    if by and by.strip():
        return by.strip()[:64]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return os.environ.get("USER", "cli")


def _fail(message: str, code: int = 2):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("versions")(versions)
    app.command("rollback")(rollback)
    app.command("retrain")(retrain)


def train(
    file: Path = typer.Argument(..., help="labelled history: JSON lines, CSV or XLSX with text and category"),
    map_file: Optional[Path] = typer.Option(None, "--map", help="the city's topic names -> our category codes"),
    by: Optional[str] = typer.Option(None, "--by", help="who trains (default: the system user)"),
    activate: bool = typer.Option(True, "--activate/--no-activate", help="make the new version active"),
) -> None:
    """Learn a city's labelled history together with the shipped corpus; store and activate a new version."""
    from domain.actors import Actor
    from domain.lifecycle import Role

    from .corpus import CorpusError, read_city, read_mapping
    from .engine import Router
    from .stream import default_data_dir
    from .training import train_version

    data_dir = Path(os.environ.get("DATA_DIR") or default_data_dir())
    router = Router.load(data_dir)
    try:
        mapping = read_mapping(map_file) if map_file else None
        city = read_city(file, router.rules.categories, mapping, group=f"city:{Path(file).stem}")
    except CorpusError as exc:
        _fail(str(exc))
    if city.unmapped:
        typer.echo(f"not learned: {sum(city.unmapped.values())} row(s) whose topic --map does not place:")
        for topic, count in sorted(city.unmapped.items(), key=lambda kv: -kv[1]):
            typer.echo(f"  {count:>6}  {topic}")
    if city.dropped_blank:
        typer.echo(f"not learned: {city.dropped_blank} row(s) with an empty category")
    typer.echo(f"learning {len(city.examples)} row(s) of {file} with the shipped corpus")
    try:
        trained = train_version(router, city.examples, source="train",
                                meta={"file": str(file), "trained_by": _who(by)})
    except ValueError as exc:
        _fail(str(exc))
    _print_training(trained, city.examples)
    services = _services()
    actor = Actor(_who(by), Role.ADMIN)
    trained.summary["file"] = Path(file).name
    trained.summary["unmapped"] = city.unmapped
    with services.sessions.begin() as s:
        from .registry import store_version

        row = store_version(s, trained.model, trained_by=actor.name, source="train", summary=trained.summary,
                            scores=trained.scores, actor=actor, activate=activate,
                            reason=f"routing train {Path(file).name} ({len(city.examples)} rows)")
        version = row.id
    typer.echo(f"stored model version {version}" + (" (active)" if activate else " (not active)"))


def _print_training(trained, city_rows) -> None:
    from collections import Counter

    counts = Counter(e.category for e in city_rows)
    typer.echo("rows per category (this file / with the shipped corpus):")
    total = trained.summary["per_category"]
    for code in sorted(set(counts) | {c for c in total if c != "NONE"}):
        typer.echo(f"  {code:<16} {counts.get(code, 0):>6} / {total.get(code, 0):>6}")
    s = trained.scores
    new = s.get("heldout_new_rows") or {}
    if new:
        typer.echo(f"held out (this file, {new['n']} rows, 5-fold): accuracy {new['category_accuracy']:.1%}, "
                   f"macro-F1 {new['category_macro_f1']:.3f}"
                   + (f", kind {new['kind_accuracy']:.1%}" if new.get("kind_accuracy") is not None else ""))
    h = s["heldout"]
    typer.echo(f"held out (all {h['n']} rows, 5-fold): accuracy {h['category_accuracy']:.1%}, "
               f"macro-F1 {h['category_macro_f1']:.3f}")
    f = s.get("frozen_holdout") or {}
    if f:
        typer.echo(f"frozen holdout of the shipped corpus ({f['n']} rows): accuracy {f['category_accuracy']:.1%}, "
                   f"macro-F1 {f['category_macro_f1']:.3f}, ECE {f['ece']:.3f}")
    typer.echo(f"trained in {s['train_seconds']:.1f} s")


def versions() -> None:
    """The stored model versions, newest first, with their scores."""
    from .registry import list_versions

    services = _services()
    with services.sessions() as s:
        rows = list_versions(s)
    if not rows:
        typer.echo("no trained version: the shipped model is active")
        return
    for r in rows:
        f = (r["scores"] or {}).get("frozen_holdout") or {}
        typer.echo(f"{'*' if r['is_active'] else ' '} v{r['id']:<4} {r['status']:<9} {r['source']:<12} "
                   f"{r['trained_by']:<16} {r['created_at']:%Y-%m-%d %H:%M} rows {(r['summary'] or {}).get('rows', '?')}"
                   + (f"  holdout acc {f['category_accuracy']:.1%} F1 {f['category_macro_f1']:.3f}" if f else ""))


def rollback(
    version: str = typer.Argument(..., help="the version number to make active, or 'shipped'"),
    by: Optional[str] = typer.Option(None, "--by", help="who decides (default: the system user)"),
    reason: Optional[str] = typer.Option(None, "--reason"),
) -> None:
    """Make an earlier model version active again (or the shipped model)."""
    from domain.actors import Actor
    from domain.lifecycle import DomainError, Role

    from .registry import deactivate_all, rollback as do_rollback

    actor = Actor(_who(by), Role.ADMIN)
    services = _services()
    try:
        with services.sessions.begin() as s:
            if version.strip().lower() == "shipped":
                deactivate_all(s, actor, reason or "rolled back to the shipped model")
            else:
                if not version.strip().isdigit():
                    _fail(f"version must be a number or 'shipped', got {version!r}")
                do_rollback(s, int(version), actor, reason)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"active: {version}")


def retrain(force: bool = typer.Option(False, "--force", help="train even with few new corrections")) -> None:
    """Train a candidate from the operators' corrections now; promoted only if not worse."""
    from .learning import retrain_from_corrections

    services = _services()
    router = services.queue.classifier.router
    result = retrain_from_corrections(services, router, force=force)
    typer.echo(", ".join(f"{k}: {v}" for k, v in result.items()))
