"""`routing` sub-commands for the app's typer CLI: `classify [--dedupe]` and `evaluate FILE.jsonl`."""
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


def _router(data_dir: Optional[Path]) -> Router:
    try:
        return Router.load(data_dir or default_data_dir())
    except RulesError as exc:
        typer.echo(f"invalid routing rules: {exc}", err=True)
        raise typer.Exit(2)


@routing_cli.command("classify")
def classify(
    infile: Optional[Path] = typer.Option(None, "--in", help="JSON lines to read (default: stdin)"),
    outfile: Optional[Path] = typer.Option(None, "--out", help="where to write (default: stdout)"),
    dedupe: bool = typer.Option(False, "--dedupe", help="add duplicate_of for repeated incidents"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="reference data (default: ./data)"),
) -> None:
    """Classify JSON-lines reports: one output line per input line; bad lines get an "error" key."""
    router = _router(data_dir)
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
) -> None:
    """Accuracy per field and confusion matrices for category and agency on a labelled file."""
    router = _router(data_dir)
    typer.echo(report(run_evaluation(router, load_labelled(file)), misses=misses))
