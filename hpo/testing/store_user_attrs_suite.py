"""The user-attribute part of the store contract (a base of :class:`hpo.testing.store_suite.StoreConformance`):
``set_trial_user_attr`` / ``set_study_user_attr`` keep every key, survive ``finish_trial``, and refuse a
finished trial."""

from __future__ import annotations

import threading

import pytest

from hpo.errors import StudyNotFoundError, TrialNotFoundError, TrialStateError
from hpo.records import TrialState
from hpo.store import StudyStore

__all__ = ["UserAttrsConformance"]


class UserAttrsConformance:
    """Tests of the store's user attributes; needs the ``store`` fixture and ``make_study``."""

    def test_trial_user_attrs_merge_and_survive_tell(self, store: StudyStore) -> None:
        from hpo.testing.store_suite import make_study

        study = make_study(store)
        trial = store.create_trial(study.study_id, {"x": 0.5}, TrialState.RUNNING, attrs={"budget": 3})
        store.set_trial_user_attr(study.study_id, trial.number, "acc", 0.9)
        store.set_trial_user_attr(study.study_id, trial.number, "tags", ["a", {"b": None}])
        store.set_trial_user_attr(study.study_id, trial.number, "acc", 0.95)
        done = store.finish_trial(study.study_id, trial.number, TrialState.COMPLETE, {"loss": 1.0})
        for got in (done, store.get_trial(study.study_id, trial.number), store.get_trials(study.study_id)[0]):
            assert got.user_attrs == {"acc": 0.95, "tags": ["a", {"b": None}]}
            assert got.attrs["budget"] == 3
        with pytest.raises(TrialStateError, match="COMPLETE"):
            store.set_trial_user_attr(study.study_id, trial.number, "late", 1)
        with pytest.raises(TrialNotFoundError):
            store.set_trial_user_attr(study.study_id, 99, "k", 1)

    def test_concurrent_trial_user_attrs_keep_every_key(self, store: StudyStore) -> None:
        from hpo.testing.store_suite import make_study

        study = make_study(store)
        trial = store.create_trial(study.study_id, {"x": 0.5}, TrialState.RUNNING)
        errors: list[BaseException] = []

        def put(i: int) -> None:
            try:
                for j in range(5):
                    store.set_trial_user_attr(study.study_id, trial.number, f"k{i}_{j}", j)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=put, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert store.get_trial(study.study_id, trial.number).user_attrs == {
            f"k{i}_{j}": j for i in range(4) for j in range(5)}

    def test_study_user_attrs_merge_into_settings(self, store: StudyStore) -> None:
        from hpo.testing.store_suite import make_study

        study = make_study(store)
        store.set_study_user_attr(study.study_id, "owner", "ana")
        settings = store.set_study_user_attr(study.study_id, "dataset", {"name": "digits", "n": 1797})
        assert settings["user_attrs"] == {"owner": "ana", "dataset": {"name": "digits", "n": 1797}}
        again = store.get_study("s")
        assert again.settings["user_attrs"] == settings["user_attrs"] and again.settings["seed"] == 1
        store.delete_study("s")
        with pytest.raises(StudyNotFoundError):
            store.set_study_user_attr(study.study_id, "owner", "bo")
