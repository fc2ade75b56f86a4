"""The ``hpo`` command line.

    hpo run study.yaml [--storage URL] [--n-trials N]   run (or resume) a study from a config file
    hpo studies [--storage URL]                          list the studies in a store
    hpo status NAME [--storage URL]                      trials by state, the best and the failed trials
    hpo trials NAME [--state failed] [--limit N]         a table of trials
    hpo trial NAME NUMBER                                one trial, with its traceback
    hpo export NAME --format csv|json [--output FILE]    every trial as a table
    hpo export NAME --format optuna --to URL             copy a study into an Optuna storage
    hpo import optuna --from URL [--study NAME | --all]  copy Optuna studies into the store
    hpo delete NAME [--yes]                              delete a study and its trials
    hpo demo [--n-trials 30]                             the demo study (make demo)
    hpo db upgrade|current|stamp [--storage URL]         schema migrations
    hpo bench store [--quick]                            benchmarks, written to benchmarks/results/
    hpo dashboard [--storage URL] [--port 8501]          the Streamlit dashboard (read-only, 127.0.0.1)
    hpo pfn train [--config FILE] | hpo pfn eval          train / evaluate the PFN surrogate

``--storage`` defaults to ``$HPO_STORAGE`` or ``sqlite:///hpo.db``. Errors in
input exit with status 2 and a message naming the field; ``hpo run`` exits with 3
when every trial of the run failed. ``-v`` / ``-q`` (before the command): debug
logging / warnings only (default: one line per finished trial on standard error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from hpo.errors import HpoError

__all__ = ["main", "format_table"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.6g}" if math.isfinite(v) else str(v)
        return "" if v is None else str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in text]
    return "\n".join(out)


def _storage(args: argparse.Namespace) -> str:
    from hpo.store import DEFAULT_STORAGE

    return args.storage or os.environ.get("HPO_STORAGE") or DEFAULT_STORAGE


def _load(name: str, storage: str, read_only: bool = True) -> Any:
    """Load a study to read (read-only: nothing is created or written) or to delete it.

    No sampler is needed (a custom one could not be rebuilt).
    """
    from hpo.samplers import RandomSampler
    from hpo.store import open_store
    from hpo.study_setup import load_study

    return load_study(name, open_store(storage, read_only=read_only), sampler=RandomSampler())


def _where(storage: str) -> str:
    """A SQLite URL's file as an absolute path; other URLs without their password."""
    from hpo.store.engine import normalize_url

    url = normalize_url(storage)
    if url.get_backend_name() == "sqlite":
        from pathlib import Path

        return str(Path(url.database).expanduser().resolve())
    return url.render_as_string(hide_password=True)


def _best_table(study: Any, top: int = 5) -> str:
    from hpo.records import TrialState

    completed = study.get_trials([TrialState.COMPLETE])
    done = [t for t in completed if t.is_feasible(study.constraints)]
    if not done:
        if completed:
            return f"(no feasible trials yet: {len(completed)} completed, none meets the constraints)"
        return "(no completed trials yet)"
    # "40 completed trials" or "40 completed trials, 38 feasible": every COMPLETE trial is counted.
    counted = f"{len(completed)} completed trials" + (f", {len(done)} feasible" if len(done) < len(completed) else "")
    if len(study.objectives) == 1:
        obj = study.objectives[0]
        best = sorted(done, key=lambda t: (obj.sign * t.values[obj.name], t.number))[:top]
        title = f"best {len(best)} of {counted} ({obj.name}, {obj.direction.value}):"
    else:
        first = study.objectives[0]
        front = sorted(study.pareto_front(), key=lambda t: (first.sign * t.values[first.name], t.number))
        best = front[:top]
        title = f"Pareto front: {len(front)} of {counted}"
        if len(best) < len(front):
            title += (f"; {len(best)} shown (best {first.name} first), {len(front) - len(best)} left out "
                      f"(--top N shows more)")
        title += ":"
    names = list(study.space.names)
    headers = ["trial"] + [o.name for o in study.objectives] + names
    rows = [[t.number] + [t.values[o.name] for o in study.objectives] + [t.params.get(n) for n in names] for t in best]
    return title + "\n" + format_table(headers, rows)


def _state_line(study: Any) -> str:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no trials"


# -- commands ---------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    """Run what the study still lacks: the config's (or ``--n-trials``) ``n_trials`` is the study's total."""
    from hpo.cli_trials import run_and_report
    from hpo.config import load_config, resolve_objective

    _check_count("--n-trials", args.n_trials, 0)
    cfg = load_config(args.config)
    objective = resolve_objective(cfg.objective, cfg.base_dir)
    storage = args.storage or cfg.storage
    study = cfg.create_study(storage)
    n_total = args.n_trials if args.n_trials is not None else cfg.n_trials
    study.reclaim_stale()
    done = study.count_done()
    remaining = None if n_total is None else max(n_total - done, 0)
    if remaining == 0:
        print(f"study {study.name!r} in {_where(study.store.url)} already has {done} of {n_total} trials: nothing to run "
              "(n_trials is the study's total; a larger --n-trials runs more)")
        print(_best_table(study))
        return 0
    goal = f" (to reach n_trials={n_total}, the study's total)" if n_total is not None else ""
    print(f"study {study.name!r} in {_where(study.store.url)}: {done} trial(s) done, running "
          f"{remaining if remaining is not None else 'until timeout'}{goal}")
    return run_and_report(study, objective, dict(
        n_trials=remaining,
        timeout=cfg.timeout,
        n_workers=cfg.execution["n_workers"],
        backend=cfg.executor(),
        show_progress_bar=not args.no_progress,
        fail_fast=args.fail_fast,
    ), _best_table)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The test phase of the config's protocol (:func:`hpo.protocols.evaluate.evaluate_config`)."""
    from hpo.protocols.evaluate import evaluate_config

    _check_count("--top-k", args.top_k, 1), _check_count("--n-jobs", args.n_jobs, 1)
    return evaluate_config(args.config, args.storage, args.top_k, args.n_jobs)


def cmd_studies(args: argparse.Namespace) -> int:
    from hpo.store import open_store
    from hpo.study_setup import list_studies

    summaries = list_studies(open_store(_storage(args), read_only=True))
    if not summaries:
        print(f"no studies in {_storage(args)}")
        return 0
    rows = [
        [
            s.name,
            s.n_trials,
            ", ".join(f"{k}={v}" for k, v in sorted(s.states.items())),
            s.created_at.strftime("%Y-%m-%d %H:%M") if s.created_at else "",
            s.last_activity.strftime("%Y-%m-%d %H:%M:%S") if s.last_activity else "",
        ]
        for s in summaries
    ]
    print(format_table(["name", "trials", "states", "created", "last activity"], rows))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _check_count("--top", args.top, 1)
    study = _load(args.name, _storage(args))
    print(f"study {study.name!r} in {study.store.url}")
    print("objectives: " + ", ".join(f"{o.name} ({o.direction.value})" for o in study.objectives))
    print(f"sampler: {study.settings.get('sampler', {}).get('name')}   seed: {study.seed}")
    print(f"trials: {_state_line(study)}")
    print(_best_table(study, top=args.top))
    from hpo.cli_trials import failed_lines

    failed = failed_lines(study.trials)
    if failed:
        print(f"failed trials (hpo trial {study.name} N shows the traceback):")
        print("\n".join(failed))
    from hpo.protocols.report import status_section

    section = status_section(study.store, study.record)
    if section:
        print(section)
    return 0


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
CSV_FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A string cell starting with a formula character, prefixed with ``'`` (numbers are left as they are)."""
    return "'" + value if isinstance(value, str) and value.startswith(CSV_FORMULA_CHARS) else value


def _csv_safe(frame: Any) -> Any:
    """The frame with every string cell and column name passed through :func:`_csv_cell`."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    safe = frame.rename(columns={c: _csv_cell(c) for c in frame.columns})
    for column in safe.columns:
        if is_object_dtype(safe[column].dtype) or is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(_csv_cell).astype(object)
    return safe


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "optuna" or args.to:
        from hpo.integrations.optuna_io import export_cli

        return export_cli(args, _storage(args))
    study = _load(args.name, _storage(args))
    frame = study.trials_dataframe()
    if args.format == "csv":
        # RFC 4180 line ends: a cell holding a CR is then quoted too (with "\n" alone, csv leaves it bare).
        text = _csv_safe(frame).to_csv(index=False, lineterminator="\r\n")
    else:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        text = json.dumps({"study": study.name, "objectives": [o.to_dict() for o in study.objectives],
                           "space": study.space.to_dict(), "trials": records}, indent=2)
    if args.output:
        from hpo.errors import ConfigError

        try:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:  # a missing folder, no permission, a directory, a full disk
            raise ConfigError(f"--output: cannot write {args.output!r}: {exc.strerror or exc}; give a file in a "
                              "folder that exists, or leave --output out to write to standard output") from None
        print(f"wrote {len(frame)} trial(s) to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from hpo.integrations.optuna_io import import_cli

    return import_cli(args, _storage(args))


def cmd_delete(args: argparse.Namespace) -> int:
    from hpo.study_setup import delete_study

    study = _load(args.name, _storage(args), read_only=False)
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"error: refusing to delete {args.name!r} without --yes (no terminal to confirm)", file=sys.stderr)
            return 2
        answer = input(f"delete study {args.name!r} with {len(study.trials)} trial(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    delete_study(args.name, _storage(args))
    print(f"deleted study {args.name!r}")
    return 0


def _hpo_command() -> str:
    """How to type ``hpo`` in a fresh shell: ``hpo`` when it is on PATH, else this console script's path
    (``.venv/bin/hpo`` relative to the current folder when it is below it)."""
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "hpo"
    found = shutil.which("hpo")
    if found is not None and Path(found).resolve() == script.resolve():
        return "hpo"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hpo.demo import THREADS_ENV, demo_threads, expected_seconds, run_demo

    _check_count("--n-trials", args.n_trials, 1)
    storage = _storage(args)
    threads = demo_threads()
    print(f"Tuning HistGradientBoosting on scikit-learn's digits (3-fold CV accuracy), {args.n_trials} trials")
    seconds = expected_seconds(args.n_trials, threads)
    expected = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
    print(f"{threads} thread(s) per trial (${THREADS_ENV}, default 1); expected duration: about {expected} on an "
          f"idle machine (about {expected_seconds(1, threads):.0f} s a trial; longer on a busy one)", flush=True)
    study = run_demo(n_trials=args.n_trials, storage=storage, sampler=args.sampler, seed=args.seed,
                     show_progress_bar=not args.no_progress, threads=threads)
    print()
    print(_best_table(study))
    print()
    hpo_cmd = _hpo_command()
    print(f"store:  {_where(storage)}  (study {study.name!r}; trials: {_state_line(study)})")
    if hpo_cmd != "hpo":
        activate = str(Path(hpo_cmd).parent / "activate")
        print(f"In a new shell, run these from this folder (or `source {activate}` first, then type just `hpo`):")
    print(f"look at it:  {hpo_cmd} status {study.name} --storage {storage}")
    print(f"export it:   {hpo_cmd} export {study.name} --format csv --storage {storage}")
    print(f"watch it:    {hpo_cmd} dashboard --storage {storage}   (then open http://127.0.0.1:8501)")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """``upgrade`` and ``stamp`` write (creating a new store); ``current`` only reads."""
    import sqlalchemy as sa

    from hpo.store.engine import get_engine
    from hpo.store.migrate import check_schema, current_revision, known_revisions, stamp, upgrade
    from hpo.store.schema import SCHEMA_REVISION

    engine = get_engine(_storage(args), read_only=args.action == "current")
    if args.action == "upgrade":
        upgrade(engine)
    elif args.action == "stamp":
        stamp(engine)
    with engine.connect() as conn:
        revision = current_revision(conn)
        empty = not sa.inspect(conn).get_table_names()
    if revision is None and empty:
        print("schema revision: (empty database)")
        return 0
    print(f"schema revision: {revision or '(none)'}")
    if revision is None or revision not in known_revisions():
        check_schema(engine, read_only=True)  # a foreign, newer or unrevisioned store: says which (exit 2)
    elif revision != SCHEMA_REVISION:
        print(f"older than this hpo's {SCHEMA_REVISION!r}: run `hpo db upgrade` to migrate it")
    return 0


def cmd_pfn(args: argparse.Namespace) -> int:
    from hpo.surrogates.pfn.cli import run

    return run(args)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from hpo.dashboard import launch

    storage = _storage(args)
    print(f"hpo dashboard: http://127.0.0.1:{args.port}  (store {_where(storage)}, read-only; Ctrl+C stops it)",
          flush=True)
    launch(storage, port=args.port)
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hpo-platform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _check_count(option: str, value: int | None, minimum: int) -> None:
    """Refuse an integer option below ``minimum`` (a ConfigError: exit 2, naming the option)."""
    from hpo.errors import ConfigError

    if value is not None and value < minimum:
        raise ConfigError(f"{option}: must be an integer >= {minimum}, but got {value}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpo", description="Bayesian / hyperparameter optimisation studies.")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="count", default=0,
                           help="debug logging (default: one line per finished trial on standard error)")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument("--version", action="version", version=f"hpo {_version()}",
                        help="print the installed version (of the hpo-platform distribution) and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Any, help_text: str, storage: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if storage:
            p.add_argument("--storage", help="store URL (default: $HPO_STORAGE or sqlite:///hpo.db)")
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "run or resume a study from a YAML config (n_trials is the study's total)")
    p.add_argument("config", help="path to the study's YAML file")
    p.add_argument("--n-trials", type=int, help="override the config's total number of trials")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--fail-fast", type=int, default=5, metavar="K",
                   help="stop (exit 3) when the first K trials of the run all fail with the same error "
                   "(default 5; 0 turns it off)")
    p = add("evaluate", cmd_evaluate, "re-run a protocol study's best tuning configurations on its test seeds or "
            "evaluation data set, storing the test results (resumable: runs only what is missing)")
    p.add_argument("config", help="path to the study's YAML file (with a protocol: block)")
    p.add_argument("--top-k", type=int, default=5, help="how many of the best tuning trials to re-run (default 5)")
    p.add_argument("--n-jobs", type=int, help="runs at once (default: the config's execution.n_workers)")
    add("studies", cmd_studies, "list the studies in the store")
    p = add("status", cmd_status, "show a study's trials by state and its best trials")
    p.add_argument("name", help="the study's name (hpo studies lists them)")
    p.add_argument("--top", type=int, default=5, help="how many best trials (several objectives: Pareto-optimal "
                   "trials) to show")
    from hpo.cli_trials import add_trial_commands

    add_trial_commands(add)
    p = add("export", cmd_export, "export a study's trials (CSV: a text cell that starts with =, +, -, @, a tab or "
            "a carriage return gets a leading ' so spreadsheets do not run it as a formula, and lines end in CRLF "
            "(RFC 4180); JSON: unchanged)")
    p.add_argument("name", help="the study's name (hpo studies lists them)")
    p.add_argument("--format", choices=["csv", "json", "optuna"], default="csv",
                   help="csv (default), json, or optuna (copy the study into the Optuna storage given by --to)")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.add_argument("--to", help="optuna: the Optuna storage URL to copy into (sqlite:///optuna.db, postgresql://..., "
                   "journal:FILE)")
    p = add("import", _cmd_import, "copy studies from another tool's storage into the store (hpo import optuna "
            "--from URL --study NAME | --all)")
    from hpo.integrations.optuna_io import add_import_arguments

    add_import_arguments(p)
    p = add("delete", cmd_delete, "delete a study and all its trials")
    p.add_argument("name", help="the study's name (hpo studies lists them)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = add("demo", cmd_demo, "tune HistGradientBoosting on scikit-learn's digits (a new study each run)")
    p.add_argument("--n-trials", type=int, default=30, help="how many trials (default 30)")
    p.add_argument("--sampler", default="gp", help="any sampler name (default: gp, Bayesian optimisation)")
    p.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = add("db", cmd_db, "schema migrations of a store")
    p.add_argument("action", choices=["upgrade", "current", "stamp"],
                   help="upgrade: migrate (or create) the store; current: print its revision; stamp: record this "
                   "hpo's revision in a store that has hpo's tables but lost its revision record")
    p = add("dashboard", cmd_dashboard, "serve the Streamlit dashboard over a store (read-only, on 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")
    from hpo.bench.cli import add_arguments as add_bench_arguments
    from hpo.bench.cli import cmd_bench

    add_bench_arguments(add("bench", cmd_bench, "run a benchmark and write its report under benchmarks/results/",
                            storage=False))
    p = add("pfn", cmd_pfn, "train or evaluate the PFN surrogate (hpo pfn train|eval)", storage=False)
    from hpo.surrogates.pfn.cli import add_arguments as add_pfn_arguments

    add_pfn_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hpo.cli_trials import setup_logging

    setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except HpoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: running trials were marked FAILED; completed trials are in the store", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
