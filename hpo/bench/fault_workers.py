"""Worker processes of ``hpo bench faults`` (run as ``python -m hpo.bench.fault_workers ROLE JSON``).

Each worker appends one JSON line to its journal (fsync'd) for every ``tell`` that
*returned*, so the benchmark knows what was told independently of the store:
``{"number": n, "value": v, "state": "COMPLETE", "returned": m}`` where ``returned``
is the number of the trial the store says now holds the result (the retry, for a
late result that completed it).

Roles:
- ``optimize``: ``study.optimize`` with heartbeats (killed at random by the driver);
- ``slow``: ``optimize`` whose trial 0 of each run sleeps ``pause`` seconds (paused by the driver);
- ``asktell``: ask(heartbeat=True) / tell with no heartbeat thread and a random delay, so some
  trials expire while their worker still tells them (the reclaim race);
- ``reclaim``: calls ``study.reclaim_stale()`` in a loop;
- ``writer``: ask/tell in a loop until the study is deleted; exits 3 on ``StudyNotFoundError``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import warnings
from typing import Any, TextIO

__all__ = ["main"]

#: Exit code of a writer that got StudyNotFoundError (the clear error the benchmark expects).
STUDY_GONE = 3


class Journal:
    def __init__(self, path: str) -> None:
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at exit

    def told(self, number: int, value: float | None, state: str, returned: int) -> None:
        self._file.write(json.dumps({"number": number, "value": value, "state": state, "returned": returned}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


def _value(params: dict[str, Any]) -> float:
    return round(float(params.get("x", params.get("lr", 0.0))), 12)


def _optimize(study: Any, journal: Journal, args: dict[str, Any], pause_first: bool) -> None:
    def objective(trial: Any) -> float:
        if pause_first and trial.number == 0:
            open(args["flag"], "w").close()  # noqa: SIM115 - the driver pauses us now
            time.sleep(float(args["pause"]))
        time.sleep(float(args.get("work", 0.01)))
        return _value(trial.params)

    def record(_study: Any, frozen: Any) -> None:
        value = (frozen.values or {}).get("value")
        journal.told(int(frozen.attrs.get("late_result_of", frozen.number)), value, frozen.state.value, frozen.number)

    study.optimize(objective, n_trials=int(args.get("n_trials", 10**9)), callbacks=[record], show_progress_bar=False)


def _asktell(study: Any, journal: Journal, args: dict[str, Any]) -> None:
    rng = random.Random(int(args["seed"]))
    deadline = time.monotonic() + float(args["seconds"])
    while time.monotonic() < deadline:
        trial = study.ask(heartbeat=True)  # promised heartbeats that never come: the lease is stale_after
        time.sleep(rng.uniform(0.0, float(args["max_delay"])))
        value = _value(trial.params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frozen = study.tell(trial, value)
        journal.told(trial.number, value, "COMPLETE", frozen.number)


def _reclaim(study: Any, args: dict[str, Any]) -> None:
    deadline = time.monotonic() + float(args["seconds"])
    while time.monotonic() < deadline:
        study.reclaim_stale()
        time.sleep(0.005)


def _writer(study: Any, journal: Journal) -> int:
    from hpo.errors import StudyNotFoundError

    try:
        while True:
            trial = study.ask()
            value = _value(trial.params)
            frozen = study.tell(trial, value)
            journal.told(trial.number, value, "COMPLETE", frozen.number)
            time.sleep(0.005)
    except StudyNotFoundError as exc:
        print(f"writer stopped: {exc}", file=sys.stderr)
        return STUDY_GONE


def main(argv: list[str] | None = None) -> int:
    role, raw = (argv if argv is not None else sys.argv[1:])[:2]
    args = json.loads(raw)
    import hpo

    study = hpo.load_study(args["study"], args["url"])
    journal = Journal(args["journal"]) if "journal" in args else None
    if role == "optimize":
        _optimize(study, journal, args, pause_first=False)
    elif role == "slow":
        _optimize(study, journal, args, pause_first=True)
    elif role == "asktell":
        _asktell(study, journal, args)
    elif role == "reclaim":
        _reclaim(study, args)
    elif role == "writer":
        return _writer(study, journal)
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
