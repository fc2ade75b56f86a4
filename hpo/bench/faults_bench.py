"""``hpo bench faults``: does the store keep every result under faults? Both backends, four scenarios.

1. **SIGKILL**: three ``optimize`` workers (heartbeat 0.1 s, stale_after 0.5 s) are killed with SIGKILL
   at random moments and restarted; the killed workers' trials must be reclaimed exactly once.
2. **Paused worker**: a worker is SIGSTOPped mid-trial for longer than ``stale_after``; another
   process reclaims its trial; then it is SIGCONTinued and must finish its run and keep its result.
3. **Concurrent reclaimers**: four processes reclaim in a loop while two workers ask with a promised
   heartbeat that never comes and tell after a random delay, so many trials expire while (or just
   before) their worker tells them.
4. **Deleted-study writers**: a worker writes to study S while the driver deletes S and creates T with
   another space; the worker must stop with ``StudyNotFoundError`` and write nothing into T.

The truth is kept outside the store: each worker journals (fsync) every ``tell`` that returned. Counted
per scenario and backend: trials told, lost (told but neither COMPLETE with that value nor kept as a
late result), overwritten (told COMPLETE, stored FAILED), duplicated (a trial told twice), re-queued more
than once, left RUNNING, written into the wrong study, workers crashed. Targets: 0 for all but ``told``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FaultRun", "run_faults_benchmark"]

HEARTBEAT, STALE = 0.1, 0.5


@dataclass
class FaultRun:
    scenario: str
    backend: str
    told: int = 0
    lost: int = 0
    overwritten: int = 0
    duplicated: int = 0
    requeued_twice: int = 0
    left_running: int = 0
    wrong_study: int = 0
    crashed: int = 0
    faults: int = 0  # kills, pauses, reclaimer processes or deletions injected
    late_kept: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _spawn(role: str, **args: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpo.bench.fault_workers", role, json.dumps(args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, run: FaultRun, expected: tuple[int, ...] = (0,), timeout: float = 120.0) -> int:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        run.notes.append("a worker hung and was killed")
    if proc.returncode not in expected:
        run.crashed += 1
        tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        run.notes.append(f"worker exit {proc.returncode}: {tail[0][:300]}")
    return int(proc.returncode)


def _new_study(url: str, name: str, space: dict[str, Any] | None = None) -> Any:
    import hpo

    return hpo.create_study(name=name, storage=url, space=space or {"x": hpo.Float(0.0, 1.0)}, sampler="random",
                            seed=0, heartbeat_interval=HEARTBEAT, stale_after=STALE)


def _journal(paths: list[Path]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:  # the last line of a killed worker may be cut
                    continue
    return lines


def _tally(run: FaultRun, study: Any, journals: list[Path]) -> None:
    """Compare what the workers were told with what the store holds; add the counts to ``run``."""
    from hpo.records import TrialState

    study.reclaim_stale()
    trials = {t.number: t for t in study.trials}
    told = _journal(journals)
    run.told += len(told)
    run.duplicated += sum(n - 1 for n in Counter(j["number"] for j in told).values() if n > 1)
    for entry in told:
        holder, own = trials.get(entry["returned"]), trials.get(entry["number"])
        late = (own.attrs.get("late_result") or {}) if own is not None else {}
        kept = holder is not None and holder.state is TrialState.COMPLETE and \
            (holder.values or {}).get("value") == entry["value"]
        if late.get("state") == "COMPLETE" and (late.get("values") or {}).get("value") == entry["value"]:
            kept = True
            run.late_kept += 1
        if not kept:
            run.lost += 1
            if own is not None and own.state is TrialState.FAILED and not late:
                run.overwritten += 1
    retries = Counter(t.attrs["retry_of"] for t in trials.values() if "retry_of" in t.attrs)
    run.requeued_twice += sum(1 for n in retries.values() if n > 1)
    run.left_running += sum(1 for t in trials.values() if t.state is TrialState.RUNNING)


def _sigkill(url: str, workdir: Path, run: FaultRun, kills: int, rng: random.Random) -> None:
    study = _new_study(url, "sigkill")
    journals = [workdir / f"kill-{i}.jsonl" for i in range(3)]
    spawn = lambda i: _spawn("optimize", url=url, study="sigkill", journal=str(journals[i]), work=0.02)  # noqa: E731
    procs = [spawn(i) for i in range(3)]
    for _ in range(kills):
        time.sleep(rng.uniform(0.2, 0.8))
        i = rng.randrange(3)
        procs[i].send_signal(signal.SIGKILL)
        procs[i].wait()
        if procs[i].returncode not in (-signal.SIGKILL,):
            _finish(procs[i], run, expected=(-signal.SIGKILL,))
        run.faults += 1
        procs[i] = spawn(i)
    time.sleep(1.0)
    # On a loaded machine a restarted worker may still be importing when the time is up: wait (bounded)
    # for a first told result, so that the run always has something to tally.
    deadline = time.monotonic() + 120
    while not _journal(journals) and time.monotonic() < deadline:
        time.sleep(0.2)
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(STALE + 0.3)  # the last kills' trials expire, and the tally reclaims them
    _tally(run, study, journals)


def _paused(url: str, workdir: Path, run: FaultRun, rounds: int) -> None:
    for r in range(rounds):
        name = f"paused-{r}"
        study = _new_study(url, name)
        journal, flag = workdir / f"{name}.jsonl", workdir / f"{name}.flag"
        proc = _spawn("slow", url=url, study=name, journal=str(journal), flag=str(flag), pause=0.5, n_trials=4)
        deadline = time.monotonic() + 120
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(STALE + 0.6)
        if not study.reclaim_stale():
            run.notes.append(f"round {r}: nothing was reclaimed during the pause")
        os.kill(proc.pid, signal.SIGCONT)
        run.faults += 1
        _finish(proc, run)
        _tally(run, study, [journal])
        done = study.count_done()
        if done != 4:
            run.notes.append(f"round {r}: {done} of 4 trials done")


def _reclaimers(url: str, workdir: Path, run: FaultRun, seconds: float, seed: int) -> None:
    study = _new_study(url, "reclaimers")
    journals = [workdir / f"race-{i}.jsonl" for i in range(2)]
    reclaimers = [_spawn("reclaim", url=url, study="reclaimers", seconds=seconds + 1.0) for _ in range(4)]
    workers = [_spawn("asktell", url=url, study="reclaimers", journal=str(journals[i]), seconds=seconds,
                      max_delay=2 * STALE, seed=seed + i) for i in range(2)]
    run.faults = len(reclaimers)
    for proc in workers + reclaimers:
        _finish(proc, run, timeout=seconds + 120)
    _tally(run, study, journals)


def _deleted(url: str, workdir: Path, run: FaultRun, rounds: int) -> None:
    import hpo

    for r in range(rounds):
        name, successor = f"doomed-{r}", f"successor-{r}"
        study = _new_study(url, name)
        journal = workdir / f"{name}.jsonl"
        proc = _spawn("writer", url=url, study=name, journal=str(journal))
        deadline = time.monotonic() + 120
        while len(_journal([journal])) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        hpo.delete_study(name, url)
        new = _new_study(url, successor, space={"lr": hpo.Float(1e-4, 1e-1, log=True)})
        run.faults += 1
        time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
            run.notes.append(f"round {r}: the writer was still running 0.5 s after the deletion")
        _finish(proc, run, expected=(3, -signal.SIGKILL))
        run.told += len(_journal([journal]))
        run.wrong_study += sum(1 for t in new.trials if "x" in t.params)
        del study


def _backends(workdir: Path, wanted: tuple[str, ...] | None) -> tuple[list[tuple[str, Any]], Any]:
    counter = iter(range(10**6))
    backends: list[tuple[str, Any]] = [("sqlite", lambda: f"sqlite:///{workdir}/faults-{next(counter)}.db")]
    server = None
    if wanted is not None and "postgresql" not in wanted:
        return backends, server
    try:
        from hpo.testing.postgres import start_postgres

        server = start_postgres()
        backends.append(("postgresql", lambda: server.new_database(f"faults_{next(counter)}")))
    except Exception as exc:  # noqa: BLE001 - PostgreSQL not installed: report it, measure SQLite
        print(f"PostgreSQL unavailable, measuring SQLite only: {exc}", file=sys.stderr)
    return backends, server


def run_faults_benchmark(quick: bool = False, seed: int = 0, backends: tuple[str, ...] | None = None,
                         runs_log: Path | None = None) -> list[FaultRun]:
    """Run every scenario on every backend; ``runs_log`` (JSON lines) makes a rerun skip finished cells."""
    kills, rounds, seconds = (5, 1, 4.0) if quick else (40, 3, 20.0)
    done: dict[tuple[str, str], FaultRun] = {}
    if runs_log is not None and runs_log.exists():
        for line in runs_log.read_text().splitlines():
            cell = FaultRun(**json.loads(line))
            done[(cell.scenario, cell.backend)] = cell
    out: list[FaultRun] = []
    with tempfile.TemporaryDirectory(prefix="hpo-faults-") as tmp:
        available, server = _backends(Path(tmp), backends)
        try:
            for label, factory in available:
                if backends is not None and label not in backends:
                    continue
                for scenario in ("sigkill", "paused", "reclaimers", "deleted"):
                    if (scenario, label) in done:
                        out.append(done[(scenario, label)])
                        continue
                    run, rng, start = FaultRun(scenario, label), random.Random(seed), time.monotonic()
                    work = Path(tmp) / f"{scenario}-{label}"
                    work.mkdir()
                    url = factory()
                    print(f"bench faults: {scenario} on {label} ...", file=sys.stderr, flush=True)
                    if scenario == "sigkill":
                        _sigkill(url, work, run, kills, rng)
                    elif scenario == "paused":
                        _paused(url, work, run, rounds)
                    elif scenario == "reclaimers":
                        _reclaimers(url, work, run, seconds, seed)
                    else:
                        _deleted(url, work, run, rounds)
                    run.seconds = time.monotonic() - start
                    print(f"bench faults: {scenario} on {label}: told {run.told}, lost {run.lost}, "
                          f"re-queued twice {run.requeued_twice}, crashed {run.crashed} ({run.seconds:.0f} s)",
                          file=sys.stderr, flush=True)
                    out.append(run)
                    if runs_log is not None:
                        with runs_log.open("a") as log:
                            log.write(json.dumps(asdict(run)) + "\n")
        finally:
            if server is not None:
                server.stop()
    return out
