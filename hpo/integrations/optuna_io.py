"""Copy studies between Optuna storages and hpo's store: ``hpo import optuna`` and ``hpo export NAME --format optuna``.

Both directions go through :class:`~hpo.integrations.optuna.HpoStorage` and Optuna's own ``copy_study``, so
what is copied is exactly what Optuna copies: directions, study user and system attributes, and every trial
with its state, values, params and distributions, intermediate values, user and system attributes
(constraints are Optuna's system attribute ``constraints``) and start / end times. A study made through
Optuna round-trips unchanged. What one side cannot represent is listed in the returned
:class:`CopyReport` (and printed by the commands); nothing is dropped silently.

Optuna storage URLs: an RDB URL (``sqlite:///optuna.db``, ``postgresql://...``, ``mysql://...``) or a
journal file (``journal:PATH``, or a path ending in ``.log``, ``.jsonl`` or ``.journal``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError, DuplicateStudyError, StudyNotFoundError

__all__ = ["CopyReport", "open_optuna_storage", "import_optuna", "export_optuna"]

_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")


@dataclass
class CopyReport:
    """One copied study: its name, its number of trials, and what the other side cannot represent."""

    study: str
    n_trials: int
    not_represented: list[str] = field(default_factory=list)

    def lines(self, verb: str, source: str, target: str) -> list[str]:
        out = [f"{verb} study {self.study!r} ({self.n_trials} trials) from {source} to {target}"]
        out += [f"  not represented: {note}" for note in self.not_represented]
        return out


def _journal_path(url: str) -> Path | None:
    if url.startswith("journal:"):
        return Path(url[len("journal:"):].removeprefix("//"))
    if "://" not in url and url.endswith(_JOURNAL_SUFFIXES):
        return Path(url)
    return None


def open_optuna_storage(url: str, must_exist: bool) -> Any:
    """An Optuna storage for ``url`` (see the module's docstring).

    Raises:
        ConfigError: the URL is neither an RDB URL nor a journal file; ``must_exist`` and no such file; or the
            database is an hpo store (give it as ``--storage``, not as an Optuna storage).
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"optuna storage: expected a URL such as 'sqlite:///optuna.db' or 'journal:FILE', "
                          f"but got {url!r}"[:300])
    journal = _journal_path(url)
    if journal is not None:
        if must_exist and not journal.is_file():
            raise ConfigError(f"optuna storage: no journal file at {str(journal)!r} (nothing was read)")
        return JournalStorage(JournalFileBackend(str(journal)))
    if "://" not in url:
        raise ConfigError(f"optuna storage: {url[:200]!r} is neither a database URL (sqlite:///FILE, "
                          "postgresql://...) nor a journal file (journal:FILE, or a path ending in .log/.jsonl)")
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises ArgumentError or ValueError
        raise ConfigError(f"optuna storage: {url[:200]!r} is not a database URL: {str(exc)[:200]}") from None
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if must_exist and not path.is_file():
            raise ConfigError(f"optuna storage: no SQLite file at {str(path)!r} (nothing was read or created)")
        if path.is_file():
            engine = sa.create_engine(parsed)
            try:
                tables = set(sa.inspect(engine).get_table_names())
            finally:
                engine.dispose()
            from hpo.store.migrate import HPO_TABLES

            if "evaluations" in tables and HPO_TABLES <= tables:
                raise ConfigError(f"optuna storage: {str(path)!r} is an hpo store, not an Optuna storage; give it "
                                  "as --storage (hpo's store) and an Optuna storage as --from / --to")
    return optuna.storages.RDBStorage(url)


def _study_names(source: Any, study: str | None, every: bool) -> list[str]:
    names = [s.study_name for s in source.get_all_studies()]
    if every:
        return names
    if study is None:
        raise ConfigError(f"--study / --all: give one study (--study NAME) or --all; the source holds {names[:20]}")
    if study not in names:
        raise StudyNotFoundError(f"--study: no study named {study!r} in the Optuna storage; it holds {names[:20]}")
    return [study]


def _copy(name: str, source: Any, target: Any) -> None:
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        optuna.copy_study(from_study_name=name, from_storage=source, to_storage=target, to_study_name=name)
    except DuplicatedStudyError:
        raise DuplicateStudyError(f"study {name!r} already exists in the target; nothing was copied for it. Delete "
                                  "it there first (hpo delete NAME, or optuna.delete_study) or copy another study"
                                  ) from None


def _hpo_view_notes(storage: Any, name: str) -> list[str]:
    """What hpo's own views (space, values, reports) show differently from the Optuna study just imported."""
    record = storage.store.get_study(name)
    notes: list[str] = []
    trials = storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)
    names = {p for t in trials for p in t.params}
    outside = sorted(names - set(record.space))
    if outside:
        notes.append(f"parameters {outside} have distributions hpo's space cannot hold (kept for Optuna, missing "
                     "from hpo's space and its tables)")
    infinite = sum(1 for t in trials if t.values and any(math.isinf(v) for v in t.values))
    if infinite:
        notes.append(f"{infinite} trial(s) with an infinite value: hpo's views show +-1.797e308 (Optuna reads the "
                     "exact value)")
    nan = sum(1 for t in trials for v in t.intermediate_values.values() if not math.isfinite(v))
    if nan:
        notes.append(f"{nan} non-finite intermediate value(s): null in hpo's reports (Optuna reads them exactly)")
    return notes


def import_optuna(from_url: str, storage: str, study: str | None = None, every: bool = False) -> list[CopyReport]:
    """Copy ``study`` (or every study, ``every``) from the Optuna storage at ``from_url`` into hpo's ``storage``."""
    from hpo.integrations.optuna import HpoStorage

    source = open_optuna_storage(from_url, must_exist=True)
    target = HpoStorage(storage)
    out = []
    for name in _study_names(source, study, every):
        _copy(name, source, target)
        n = target.get_n_trials(target.get_study_id_from_name(name))
        out.append(CopyReport(name, n, _hpo_view_notes(target, name)))
    return out


def _export_notes(storage: Any, name: str) -> list[str]:
    """What Optuna cannot represent of an hpo study (nothing for a study made through Optuna)."""
    from hpo.params import param_from_dict

    store = storage.store
    record = store.get_study(name)
    found = store.get_trials(record.study_id)
    native = [t for t in found if not isinstance(t.attrs.get("optuna"), dict)]
    notes: list[str] = []
    if not native:
        return notes
    fixed = sorted(n for n, spec in record.space.items() if spec.get("type") == "fixed")
    if fixed:
        notes.append(f"fixed parameters {fixed} become one-choice categorical distributions")
    conditional = sorted(n for n, spec in record.space.items() if param_from_dict(spec, n).active_if)
    if conditional:
        notes.append(f"the conditions of {conditional} (active_if): Optuna records only the params a trial has")
    reports = store.get_reports(record.study_id)
    first = record.objectives[0].name
    dropped = sum(1 for r in reports if not float(r.step).is_integer())
    if dropped:
        notes.append(f"{dropped} report(s) at fractional steps (Optuna's steps are integers): not exported")
    others = sorted({k for r in reports for k in r.values} - {"value", first})
    if others:
        notes.append(f"report metrics {others} (Optuna keeps one intermediate value per step, here {first!r})")
    evaluations = store.get_evaluations(record.study_id)
    if evaluations:
        notes.append(f"{len(evaluations)} seeded evaluation(s) (tuning/test splits): Optuna has no such record")
    failed_values = sum(1 for t in native if t.state.value == "FAILED" and t.values)
    if failed_values:
        notes.append(f"the values of {failed_values} FAILED trial(s) (Optuna's failed trials have none)")
    hpo_attrs = sum(1 for t in native if set(t.attrs) - {"user_attrs"})
    if hpo_attrs:
        notes.append(f"hpo's own trial attributes (reclaimed, retries, late results) of {hpo_attrs} trial(s)")
    settings = sorted(k for k in ("sampler", "scheduler", "fidelity", "prior") if record.settings.get(k)) + (
        ["fidelity"] if record.fidelity and not record.settings.get("fidelity") else [])
    if settings:
        notes.append(f"the study's {', '.join(settings)} settings")
    numbers = [t.number for t in found]
    if numbers != list(range(len(numbers))):
        notes.append("trial numbers: Optuna numbers trials 0, 1, 2, ... (hpo's left gaps); they are renumbered")
    return notes


def export_optuna(name: str, storage: str, to_url: str) -> CopyReport:
    """Copy hpo's study ``name`` into the Optuna storage at ``to_url`` (created if needed)."""
    from hpo.integrations.optuna import HpoStorage

    source = HpoStorage(storage)
    source.store.get_study(name)  # StudyNotFoundError listing the studies present
    notes = _export_notes(source, name)
    target = open_optuna_storage(to_url, must_exist=False)
    _copy(name, source, target)
    n = target.get_n_trials(target.get_study_id_from_name(name))
    return CopyReport(name, n, notes)


# -- the CLI (wired in hpo/cli.py) -------------------------------------------------------------
def add_import_arguments(parser: Any) -> None:
    """``hpo import optuna --from URL [--study NAME | --all]`` (Optuna is imported only when it runs)."""
    parser.add_argument("source", choices=["optuna"], help="the tool whose storage to read (optuna)")
    parser.add_argument("--from", dest="from_url", required=True,
                        help="the Optuna storage URL: sqlite:///optuna.db, postgresql://..., or a journal file "
                        "(journal:FILE, or a path ending in .log / .jsonl)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--study", help="the study to copy")
    which.add_argument("--all", action="store_true", help="copy every study of the Optuna storage")


def import_cli(args: Any, storage: str) -> int:
    reports = import_optuna(args.from_url, storage, study=args.study, every=args.all)
    from hpo.store.engine import normalize_url

    where = normalize_url(storage).render_as_string(hide_password=True)
    for report in reports:
        print("\n".join(report.lines("imported", args.from_url, where)))
    if not reports:
        print(f"no studies in {args.from_url}")
    return 0


def export_cli(args: Any, storage: str) -> int:
    if args.format != "optuna" or not args.to:
        raise ConfigError(f"--format optuna needs --to URL (an Optuna storage), and --to needs --format optuna; "
                          f"got --format {args.format} --to {args.to!r}")
    report = export_optuna(args.name, storage, args.to)
    from hpo.store.engine import normalize_url

    print("\n".join(report.lines("exported", normalize_url(storage).render_as_string(hide_password=True), args.to)))
    return 0
