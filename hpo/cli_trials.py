"""The ``hpo`` commands that show trials, and what the CLI says about failures.

    hpo trials NAME [--state failed] [--limit N]   a table of trials (newest last)
    hpo trial NAME NUMBER                          one trial: params, values, state, budget, attrs,
                                                   reports and the full traceback
    -v / -q (before the command)                   DEBUG / warnings only; default: one line per
                                                   finished trial (INFO) on standard error
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

__all__ = ["setup_logging", "failed_lines", "run_and_report", "cmd_trials", "cmd_trial", "add_trial_commands", "EXIT_ALL_FAILED"]

#: ``hpo run`` exit status when every trial of the run failed.
EXIT_ALL_FAILED = 3


class _TqdmHandler(logging.Handler):
    """Writes to the standard error of the moment through ``tqdm.write``, so log lines do not break a
    progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(verbose: int, quiet: bool) -> None:
    """Configure the ``hpo`` logger for the command line: INFO (default), DEBUG (``-v``) or WARNING (``-q``)."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logger = logging.getLogger("hpo")
    for handler in [h for h in logger.handlers if isinstance(h, _TqdmHandler)]:
        logger.removeHandler(handler)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("[hpo] %(message)s" if level > logging.DEBUG
                                           else "[%(name)s %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def failed_lines(trials: list[Any], shown: int = 5) -> list[str]:
    """``trial N: <error's last line>`` for the first ``shown`` failed trials, then ``+K more``."""
    failed = [t for t in trials if t.state.value == "FAILED"]
    lines = [f"  trial {t.number}: {t.error_line or 'failed'}" for t in failed[:shown]]
    if len(failed) > shown:
        lines.append(f"  +{len(failed) - shown} more (hpo trials NAME --state failed)")
    return lines


def run_and_report(study: Any, objective: Any, options: dict[str, Any], best_table: Any) -> int:
    """``study.optimize(objective, **options)``, then the best trials and a line on the run's failures;
    the exit status: :data:`EXIT_ALL_FAILED` when every trial of the run failed (or ``fail_fast`` stopped it)."""
    import warnings

    from hpo.errors import AllTrialsFailedError, TrialFailuresWarning

    before = {t.number for t in study.trials if t.state.is_finished}
    stopped: AllTrialsFailedError | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialFailuresWarning)  # said below, on standard output
        try:
            study.optimize(objective, **options)
        except AllTrialsFailedError as exc:
            stopped = exc
    new = [t for t in study.trials if t.state.is_finished and t.number not in before]
    failed = [t for t in new if t.state.value == "FAILED"]
    print(best_table(study))
    if stopped is not None:
        print(f"stopped: {stopped}")
    if failed:
        first = failed[0]
        print(f"{len(failed)} of {len(new)} trials of this run failed; first error (trial {first.number}): "
              f"{first.error_line or 'failed'}; see `hpo trial {study.name} {first.number}`")
        print("\n".join(failed_lines(failed)))
    if new and len(failed) == len(new):
        print(f"every trial of this run failed (exit status {EXIT_ALL_FAILED})", file=sys.stderr)
        return EXIT_ALL_FAILED
    return 0


def _value_cell(t: Any) -> str:
    if t.values:
        return ", ".join(f"{k}={v:.6g}" for k, v in t.values.items())
    if t.state.value == "FAILED":
        return t.error_line[:80]
    return ""


def cmd_trials(args: argparse.Namespace) -> int:
    from hpo.cli import _load, _storage, format_table
    from hpo.errors import ConfigError
    from hpo.records import TrialState

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be an integer >= 1, but got {args.limit}")
    study = _load(args.name, _storage(args))
    found = study.get_trials(None if args.state is None else [TrialState.parse(args.state)])
    total = len(found)
    if args.limit is not None:
        found = found[-args.limit:]
    if not found:
        print(f"study {study.name!r}: no trials" + (f" in state {args.state.upper()}" if args.state else ""))
        return 0
    names = list(study.space.names)
    rows = [[t.number, t.state.value, _value_cell(t)] + [t.params.get(n) for n in names]
            + [None if t.duration is None else round(t.duration.total_seconds(), 3)] for t in found]
    print(format_table(["trial", "state", "values / error"] + names + ["duration_s"], rows))
    if len(found) < total:
        print(f"({len(found)} of {total} shown, the newest; --limit N shows more)")
    return 0


def cmd_trial(args: argparse.Namespace) -> int:
    from hpo.cli import _load, _storage

    study = _load(args.name, _storage(args))
    t = study.store.get_trial(study.study_id, args.number)
    print(f"study {study.name!r}, trial {t.number}: {t.state.value}")
    print(f"params:   {json.dumps(t.params, default=str)}")
    print(f"values:   {json.dumps(t.values)}")
    if t.constraint_values:
        print(f"constraints: {json.dumps(t.constraint_values)}")
    if "budget" in t.attrs:
        print(f"budget:   {t.attrs['budget']}")
    times = [f"{k} {v.isoformat()}" for k, v in (("started", t.started_at), ("finished", t.finished_at)) if v]
    if t.duration is not None:
        times.append(f"duration {t.duration.total_seconds():.3f} s")
    print(f"times:    {', '.join(times) or '-'}")
    print(f"worker:   {t.worker_id or '-'}")
    attrs = {k: v for k, v in t.attrs.items() if k != "user_attrs"}
    print(f"attrs:    {json.dumps(attrs, default=str)}")
    print(f"user attrs: {json.dumps(t.user_attrs, default=str)}")
    reports = study.store.get_reports(study.study_id, [t.number])
    print(f"reports:  {len(reports)}")
    for r in reports:
        print(f"  step {r.step:g}: {json.dumps(r.values)}")
    if t.error:
        print("error:")
        sys.stdout.write(t.error if t.error.endswith("\n") else t.error + "\n")
    return 0


def add_trial_commands(add: Any) -> None:
    """Register ``hpo trials`` and ``hpo trial`` with the parser's ``add(name, func, help)``."""
    p = add("trials", cmd_trials, "list a study's trials (number, state, values or the error's last line, params)")
    p.add_argument("name", help="the study's name")
    p.add_argument("--state", choices=["waiting", "running", "complete", "pruned", "failed"], type=str.lower,
                   help="only trials in this state")
    p.add_argument("--limit", type=int, help="show only the newest N trials")
    p = add("trial", cmd_trial, "show one trial: params, values, state, budget, attrs, reports and its traceback")
    p.add_argument("name", help="the study's name")
    p.add_argument("number", type=int, help="the trial's number")
