"""``capex-rotation sweep``: a parameter grid through the fast engine."""

from __future__ import annotations

import itertools
import math
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from backtests.cli.options import DataDirOption, DebugOption, SetOption, WorkersOption, progress_bar
from data.errors import CapexRotationError, Interrupted

if TYPE_CHECKING:
    import pandas as pd

    from backtests.grid import Grid

out = Console()
err = Console(stderr=True)
DEFAULT_SWEEPS_DIR = Path("reports") / "sweeps"


class VerificationFailed(CapexRotationError):
    """The fast engine and backtrader disagree: a bug, not bad input."""

    exit_code = 1


def _heatmap_pairs(grid: Grid, requested: list[str] | None) -> list[tuple[str, str]]:
    from backtests.sweep import SweepError

    if requested:
        pairs = []
        for text in requested:
            parts = [p.strip() for p in text.split(",")]
            if len(parts) != 2 or any(p not in grid.keys for p in parts):
                raise SweepError(
                    f"--heatmap {text!r}: expected two grid keys X,Y among {', '.join(grid.keys)}"
                )
            pairs.append((parts[0], parts[1]))
        return pairs
    scalar = [
        key
        for k, key in enumerate(grid.keys)
        if len(set(grid.combinations[:, k].tolist())) > 1
        and not isinstance(grid.values[k][0], list)
    ]
    return list(itertools.combinations(scalar, 2))[:10]


def sweep(
    grid_file: Annotated[Path, typer.Argument(metavar="GRID.toml", help="Grid file.")],
    data_dir: DataDirOption = None,
    workers: WorkersOption = 1,
    executor: Annotated[str, typer.Option("--executor", help="local or dask.")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default reports/sweeps/...).")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="Metric to rank and map.")] = "sharpe",
    top: Annotated[int, typer.Option("--top", min=0, help="Rows in the top table.")] = 10,
    heatmaps: Annotated[
        list[str] | None,
        typer.Option("--heatmap", metavar="X,Y", help="Grid keys of a heatmap (repeatable)."),
    ] = None,
    verify_top: Annotated[
        int, typer.Option("--verify-top", min=0, help="Re-run the best K through backtrader.")
    ] = 0,
    select_configs: Annotated[
        list[int] | None,
        typer.Option(
            "--select-config",
            metavar="N",
            help="Also report PSR/DSR of config N (sweep.csv's config column; repeatable).",
        ),
    ] = None,
    selection: Annotated[
        bool,
        typer.Option(
            "--selection/--no-selection",
            help="Compute the selection statistics (PSR, DSR, SPA, reality check, PBO).",
        ),
    ] = True,
    reps: Annotated[
        int, typer.Option("--spa-reps", min=10, help="Bootstrap resamples of SPA and RC.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the SPA/RC bootstrap.")] = 0,
    pbo_blocks: Annotated[
        int, typer.Option("--pbo-blocks", min=2, help="CSCV blocks of PBO (even).")
    ] = 16,
    overrides: SetOption = None,
    debug: DebugOption = False,
) -> None:
    """Run every config of a grid through the fast engine; write sweep.parquet/csv, heatmaps and
    the selection statistics (selection.json, selection.md)."""
    from backtests.grid import load_grid
    from backtests.provenance import package_versions
    from backtests.sweep import (
        SweepError,
        dask_client,
        load_sweep_data,
        results_table,
        run_sweep,
    )
    from reports.metrics import RANKABLE
    from reports.output_folder import check_destination
    from reports.run_folder import InPlaceFolder
    from reports.selection_report import selection_markdown
    from reports.sweep_report import draw_heatmaps, rank, sweep_files

    if executor not in ("local", "dask"):
        raise SweepError(f"--executor {executor!r}: use local or dask")
    if scheduler and executor != "dask":
        raise SweepError("--scheduler needs --executor dask")
    if metric not in RANKABLE:
        raise SweepError(f"--metric {metric!r}: choose one of {', '.join(RANKABLE)}")
    if pbo_blocks % 2:
        raise SweepError(f"--pbo-blocks {pbo_blocks}: CSCV needs an even number of blocks")
    if select_configs and not selection:
        raise SweepError("--select-config needs the selection statistics; drop --no-selection")
    settings = {"data.source": "csv", "data.dir": str(data_dir)} if data_dir else None
    grid = load_grid(grid_file, overrides or [], settings)
    named = sorted(set(select_configs or []))
    for index in named:
        if not 0 <= index < len(grid):
            raise SweepError(
                f"--select-config {index}: {grid.path} has configs 0 to {len(grid) - 1} (the "
                "config column of sweep.csv)"
            )
    pairs = _heatmap_pairs(grid, heatmaps)
    folder = (out_dir or DEFAULT_SWEEPS_DIR / f"{grid.name}-{grid.digest}").resolve()
    check_destination(folder, "sweep", staged=False)  # before loading: a refusal costs nothing

    with ExitStack() as stack:
        # A scheduler is asked first: if it does not answer, nothing else is done.
        client = (
            stack.enter_context(dask_client(workers, scheduler)) if executor == "dask" else None
        )
        started = time.perf_counter()
        with err.status("loading prices and events"):
            data = load_sweep_data(grid)
        loaded = time.perf_counter()
        progress = progress_bar("sweep", err)
        try:
            with progress:
                task = progress.add_task("configs", total=len(grid))
                result = run_sweep(
                    grid,
                    data,
                    folder,
                    executor,
                    workers,
                    scheduler,
                    on_progress=lambda n: progress.advance(task, n),
                    client=client,
                )
        except KeyboardInterrupt:
            if not (folder / ".checkpoint").is_dir():
                raise Interrupted(
                    "interrupted before the sweep started; nothing was written"
                ) from None
            raise Interrupted(
                f"interrupted: finished configs are kept in {folder / '.checkpoint'}; rerun the "
                "same command to continue"
            ) from None
    computed_at = time.perf_counter()

    table = results_table(grid, result.table)
    table.attrs["trials"] = len(grid)
    ranked = rank(table, metric)
    chosen = None

    def select() -> None:
        nonlocal chosen
        chosen = _selection(
            grid,
            data,
            workers,
            metric,
            named,
            int(ranked["config"].iloc[0]),
            reps,
            seed,
            pbo_blocks,
        )

    # Heatmaps are most of the command's time after the engine and the selection statistics:
    # forked workers draw them while this process computes the statistics.
    pngs = draw_heatmaps(table, metric, pairs, meanwhile=select if selection else None)
    selected_at = time.perf_counter()
    elapsed = computed_at - loaded
    manifest = {
        "grid": grid.path,
        "grid_digest": grid.digest,
        "configs": len(grid),
        "trials": len(grid),
        "keys": list(grid.keys),
        "base_config": grid.base.resolved(),
        "executor": executor,
        "workers": workers,
        "inputs": [{"path": h.source, "sha256": h.sha256} for h in data.histories.values()]
        + [{"path": c.path, "sha256": c.sha256} for c in data.calendars.values()],
        "packages": package_versions(),
    }
    extra = {}
    if chosen is not None:
        result_selection, rows, document = chosen
        manifest["selection"] = {
            "file": "selection.json",
            "best_config": result_selection.best,
            "named_configs": named,
            **result_selection.settings,
        }
        extra = {
            "selection.json": result_selection.to_json(),
            "selection.md": selection_markdown(rows, document),
        }
    metadata = {"trials": len(grid), "metric": metric}
    with InPlaceFolder.open(folder, "sweep") as target:
        target.commit(sweep_files(table, pngs, metadata, extra), manifest)
    _print_top(ranked.head(top), grid, metric)
    if chosen is not None:
        _print_selection(chosen[1], chosen[2])
    out.print(
        f"{len(grid)} trials: {len(grid)} configs ({result.computed} computed, {result.resumed} "
        f"from the checkpoint) in {elapsed:.2f} s after {loaded - started:.2f} s of loading"
        + (
            f", selection statistics and heatmaps {selected_at - computed_at:.2f} s"
            if chosen
            else f", heatmaps {selected_at - computed_at:.2f} s"
        )
        + f"; results in {folder}"
    )
    if verify_top:
        _verify(grid, data, ranked.head(verify_top)["config"].tolist())


SHORT_NAMES = {
    "hold_sessions": "hold",
    "slippage_bps": "slip bp",
    "commission_bps": "comm bp",
    "borrow_bps": "borrow bp",
    "total_return": "return",
    "max_drawdown": "max dd",
    "winning_books": "won",
    "final_equity": "equity",
    "categories": "events",
}


def _short(key: str) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return SHORT_NAMES.get(leaf, leaf)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3g}"
    return str(value)


def _print_top(rows: pd.DataFrame, grid: Grid, metric: str) -> None:
    """The best configs (``rows``, ranked): a ruined config comes last and shows "RUINED" and
    the date of its ruin close instead of its (undefined) metrics."""
    from reports.sweep_report import ruined

    if rows.empty:
        return
    shown = list(dict.fromkeys((metric, "total_return", "max_drawdown", "books", "costs")))
    table = Table(title=f"Top configs by {metric}", box=box.SIMPLE_HEAD)
    bust = ruined(rows).to_numpy()
    lines = []
    for row, is_ruined in zip(rows.to_dict("records"), bust, strict=True):
        values = [_show(row[m]) for m in shown]
        if is_ruined:
            values = [f"RUINED {row['ruined_on']}"] + [""] * (len(shown) - 1)
        lines.append([_show(row["config"]), *(_show(row[k]) for k in grid.keys), *values])
    headers = ("id", *(_short(k) for k in grid.keys), *(_short(m) for m in shown))
    for k, name in enumerate(headers):
        table.add_column(name, justify="right", min_width=max(len(line[k]) for line in lines))
    for line in lines:
        table.add_row(*line)
    out.print(table)
    if bust.any():
        out.print(
            f"{int(bust.sum())} of the configs shown were ruined (equity <= 0 at a close, the run "
            "ended there): their metrics are undefined and they rank last."
        )


def _selection(
    grid: Grid,
    data,
    workers: int,
    metric: str,
    named: list[int],
    best: int,
    reps: int,
    seed: int,
    blocks: int,
):
    """Run the selection pass with a progress bar: (result, verdict rows, its document), or
    None, said in one line, when the grid cannot have them (one config, too few sessions)."""
    from backtests.research.selection_verdicts import selection_verdicts
    from backtests.research.sweep_selection import SelectionError, run_selection

    progress = progress_bar("selection", err)
    try:
        with progress:
            task = progress.add_task("configs", total=len(grid))
            result = run_selection(
                grid,
                data,
                workers,
                metric,
                named,
                best,
                reps=reps,
                seed=seed,
                blocks=blocks,
                on_progress=lambda n: progress.advance(task, n),
            )
    except SelectionError as exc:
        out.print(f"no selection statistics ({exc})")
        return None
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted during the selection statistics: the sweep's configs are kept in the "
            "checkpoint; rerun the same command to finish"
        ) from None
    document = result.document()
    return result, selection_verdicts(document), document


def _print_selection(rows: list[dict[str, Any]], document: dict[str, Any]) -> None:
    from reports.selection_report import verdict_lines

    s = document["settings"]
    table = Table(
        title=f"Selection over {document['n_trials']} trials (best by {document['metric']}: "
        f"config {document['best_config']})",
        box=box.SIMPLE_HEAD,
    )
    for name in ("test", "config", "statistic", "value", "kind"):
        table.add_column(name, justify="right" if name in ("config", "value") else "left")
    for cells in verdict_lines(rows):
        table.add_row(*cells)
    out.print(table)
    out.print(
        f"PSR/DSR: probability the true daily Sharpe beats the benchmark (DSR: beats the best of "
        f"{document['n_trials']} luck-only trials); SPA/RC: p-values, {s['spa_reps']} "
        f"resamples, seed {s['spa_seed']}; PBO: CSCV, {s['pbo_blocks']} blocks; "
        f"{document['ruined_configs']} ruined configs. Details: selection.md, selection.json."
    )


def _verify(grid: Grid, data, indices: list[int]) -> None:
    from backtests.sweep import VERIFY_TOLERANCE, verify

    with err.status(f"re-running {len(indices)} config(s) through backtrader"):
        checks = verify(grid, data, indices)
    table = Table(title="Fast engine vs backtrader (max relative equity difference)")
    table.add_column("config", justify="right")
    table.add_column("difference", justify="right")
    table.add_column("", justify="left")
    bad = []
    for index, diff in checks:
        ok = diff <= VERIFY_TOLERANCE
        table.add_row(str(index), f"{diff:.2e}", "ok" if ok else "DISAGREES")
        if not ok:
            bad.append(index)
    out.print(table)
    if bad:
        raise VerificationFailed(
            f"the fast engine and backtrader disagree beyond {VERIFY_TOLERANCE:g} on config(s) "
            f"{', '.join(map(str, bad))}; please report it with the grid file"
        )
