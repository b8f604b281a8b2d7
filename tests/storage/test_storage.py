"""Storage conformance: every test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from hpo.errors import StorageError, StudyExists, StudyNotFound, TrialNotFound
from hpo.model import Budget, Decision, Fidelity, Objective, Report, SchedulerSpec, StudySpec
from hpo.model import TrialState as S
from hpo.space import Categorical, Float, SearchSpace
from hpo.storage import SQLStorage
from hpo.storage.schema import studies
from hpo.storage.sql import HEAD_REVISION


def spec(name: str = "s") -> StudySpec:
    return StudySpec(
        name=name,
        space=SearchSpace({"lr": Float(1e-4, 1, log=True), "act": Categorical(["a", "b"])}),
        objectives=(Objective("loss", "min"), Objective("acc", "max")),
        fidelity=Fidelity("epoch", 1, 9),
        scheduler=SchedulerSpec("asha", {"eta": 3}),
        budget=Budget(max_trials=10, wall_time_s=60.0),
        metadata={"owner": "me"},
    )


def test_created_study_reads_back_equal(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    back = st.get_study("s")
    assert back.id == s.id
    assert back.space == spec().space
    assert back.objectives == spec().objectives
    assert back.fidelity == Fidelity("epoch", 1, 9)
    assert back.scheduler == SchedulerSpec("asha", {"eta": 3})
    assert back.budget == Budget(max_trials=10, wall_time_s=60.0)
    assert back.metadata == {"owner": "me"}
    assert st.get_study(s.id).name == "s"


def test_duplicate_study_name_is_rejected_and_exist_ok_returns_it(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with pytest.raises(StudyExists, match="already exists"):
        st.create_study(spec())
    assert st.create_study(spec(), exist_ok=True).id == s.id


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"space": SearchSpace({"lr": Float(1e-3, 1, log=True)})}, "space"),
        ({"objectives": (Objective("loss", "max"),)}, "objectives"),
        ({"fidelity": Fidelity("epoch", 1, 27)}, "fidelity"),
        ({"scheduler": SchedulerSpec("asha", {"eta": 2})}, "scheduler"),
        ({"budget": Budget(max_trials=11)}, "budget"),
    ],
)
def test_exist_ok_with_another_spec_raises_study_exists_naming_what_differs(
    storage_url: str, change: dict, differs: str
) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with pytest.raises(StudyExists, match=f"with another {differs}: the stored study's spec"):
        st.create_study(replace(spec(), **change), exist_ok=True)
    assert st.get_study("s") == s  # untouched
    # metadata is not part of what a study searches
    assert st.create_study(replace(spec(), metadata={"run": 2}), exist_ok=True).id == s.id


def test_exist_ok_does_not_compare_pinned_defaults_the_caller_left_out(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    mobster = replace(spec(), scheduler=SchedulerSpec("mobster", {"eta": 3}))
    s = st.create_study(mobster)
    assert "random_fraction" in s.scheduler.params  # pinned into the stored study
    # as if an older release had stored it, before random_fraction was pinned
    with st.engine.begin() as c:
        row = c.execute(sa.select(studies.c.spec).where(studies.c.id == s.id)).scalar_one()
        del row["scheduler"]["params"]["random_fraction"]
        c.execute(sa.update(studies).where(studies.c.id == s.id).values(spec=row))
    assert st.create_study(mobster, exist_ok=True).id == s.id
    given = replace(spec(), scheduler=SchedulerSpec("mobster", {"eta": 3, "random_fraction": 0.5}))
    with pytest.raises(StudyExists, match="another scheduler"):
        st.create_study(given, exist_ok=True)


def test_exist_ok_takes_a_schedulers_other_name_and_its_defaults_as_the_same(
    storage_url: str,
) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(replace(spec(), scheduler=SchedulerSpec("sha", {})))
    for same in (("successive_halving", {}), ("sha", {"eta": 3}), ("sha", {"seed": 0})):
        assert st.create_study(replace(spec(), scheduler=SchedulerSpec(*same)), exist_ok=True) == s
    with pytest.raises(StudyExists, match="another scheduler"):
        st.create_study(replace(spec(), scheduler=SchedulerSpec("sha", {"eta": 4})), exist_ok=True)


@pytest.mark.parametrize("key", [2**31, 2**63, 2**64, -(2**63) - 1])
def test_a_key_beyond_the_integer_columns_is_not_found(storage_url: str, key: int) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with pytest.raises(TrialNotFound, match=f"no trial {key}"):
        st.trial_id(s.id, key)
    with pytest.raises(TrialNotFound):
        st.get_trial(s.id, key)
    with pytest.raises(StudyNotFound):
        st.get_study(key)


def test_unknown_study_raises_study_not_found(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    with pytest.raises(StudyNotFound):
        st.get_study("nope")
    with pytest.raises(StudyNotFound):
        st.history(12345)


def test_delete_study_removes_trials_and_reports(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with st.write(s.id) as w:
        t = w.add_trial({"lr": 0.1, "act": "a"}, state=S.RUNNING, until=1)
        w.add_report(Report(t.id, 1, {"loss": 1.0, "acc": 0.1}, None, 0.0, Decision.CONTINUE))
    st.delete_study(s.id)
    assert st.list_studies() == []
    with st.engine.connect() as c:
        assert c.execute(sa.text("select count(*) from hpo_reports")).scalar() == 0


def test_trials_and_reports_round_trip_through_history(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with st.write(s.id) as w:
        t = w.add_trial({"lr": 0.1, "act": "b"}, state=S.RUNNING, until=3, bracket=1, worker="w1")
        w.add_report(Report(t.id, 1, {"loss": 0.5, "acc": 0.7}, 0.25, 0.0, Decision.CONTINUE))
        w.update_trial(t, state=S.PAUSED, checkpoint_step=1.0, last_step=1.0)
    h = st.history(s.id)
    (tr,) = h.trials()
    assert tr.config == {"lr": 0.1, "act": "b"}
    assert (tr.state, tr.until, tr.bracket, tr.checkpoint_step) == (S.PAUSED, 3, 1, 1.0)
    (r,) = h.reports(tr.id)
    assert (r.step, dict(r.metrics), r.cost_s, r.decision) == (
        1,
        {"loss": 0.5, "acc": 0.7},
        0.25,
        Decision.CONTINUE,
    )
    assert h.scores_at(1) == {tr.id: 0.5}


def test_a_report_for_the_same_trial_and_step_is_stored_once(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with st.write(s.id) as w:
        t = w.add_trial({"lr": 0.1, "act": "a"}, state=S.RUNNING, until=1)
        w.add_report(Report(t.id, 1, {"loss": 1.0, "acc": 0.0}))
    with pytest.raises(sa.exc.IntegrityError), st.write(s.id) as w:
        w.add_report(Report(t.id, 1, {"loss": 2.0, "acc": 0.0}))
    assert [dict(r.metrics) for r in st.history(s.id).reports(t.id)] == [{"loss": 1.0, "acc": 0.0}]


def test_a_second_storage_sees_changes_made_by_the_first(storage_url: str) -> None:
    a, b = SQLStorage(storage_url), SQLStorage(storage_url)
    s = a.create_study(spec())
    with b.write(s.id) as w:  # b caches the (empty) history
        assert w.history.n_trials == 0
    with a.write(s.id) as w:
        t = w.add_trial({"lr": 0.1, "act": "a"}, state=S.RUNNING, until=1)
        w.add_report(Report(t.id, 1, {"loss": 1.0, "acc": 0.0}))
    with a.write(s.id) as w:
        w.update_trial(w.history.trial(t.id), state=S.COMPLETED)
    with b.write(s.id) as w:  # incremental refresh picks up both transactions
        assert w.history.n_trials == 1
        assert w.history.trial(t.id).state is S.COMPLETED
        assert w.history.report_at(t.id, 1) is not None


def test_read_snapshots_are_cached_copies_that_see_every_later_write(storage_url: str) -> None:
    a, b = SQLStorage(storage_url), SQLStorage(storage_url)
    s = a.create_study(spec())
    first = a.history(s.id)  # a caches its snapshot
    assert first.n_trials == 0
    with b.write(s.id) as w:  # another replica writes
        t = w.add_trial({"lr": 0.1, "act": "a"}, state=S.RUNNING, until=1)
        w.add_report(Report(t.id, 1, {"loss": 1.0, "acc": 0.0}))
    b.set_study_finished(s.id, True)
    second = a.history(s.id)
    assert second.n_trials == 1 and second.report_at(t.id, 1) is not None
    assert second.study.finished  # the study row is read again too
    assert first.n_trials == 0  # earlier snapshots are copies, left alone
    second.apply_trial(replace(second.trial(t.id), state=S.FAILED))  # a caller's own change...
    assert a.history(s.id).trial(t.id).state is S.RUNNING  # ...does not leak into the cache
    assert a.trial_id(s.id, 0) == t.id
    with pytest.raises(TrialNotFound):
        a.trial_id(s.id, 5)
    b.delete_study(s.id)
    with pytest.raises(StudyNotFound):
        a.history(s.id)


def test_a_failed_write_leaves_nothing_behind(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    with pytest.raises(RuntimeError), st.write(s.id) as w:
        w.add_trial({"lr": 0.1, "act": "a"}, state=S.RUNNING, until=1)
        raise RuntimeError("boom")
    assert st.history(s.id).n_trials == 0
    with st.write(s.id) as w:  # the cached history was rebuilt, not left dirty
        assert w.history.n_trials == 0


def test_a_write_that_writes_nothing_does_not_bump_the_version(storage_url: str) -> None:
    st = SQLStorage(storage_url)
    s = st.create_study(spec())
    v0 = st.history(s.id).version
    for _ in range(3):
        with st.write(s.id):
            pass
    assert st.history(s.id).version == v0


def test_schema_is_at_the_alembic_head_revision(storage_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import hpo.storage.sql as sql

    cfg = Config()
    cfg.set_main_option("script_location", str(sql._MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    st = SQLStorage(storage_url)
    with st.engine.connect() as c:
        assert c.execute(sa.text("select version_num from alembic_version")).scalar() == (
            HEAD_REVISION
        )
    SQLStorage(storage_url)  # opening again is a no-op


def test_bad_urls_give_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        SQLStorage(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(StorageError):
        SQLStorage("nosuchdialect://x")


def test_default_url_is_hpo_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    SQLStorage().create_study(spec())
    assert (tmp_path / "hpo.db").exists()
    monkeypatch.setenv("HPO_STORAGE", str(tmp_path / "other.db"))
    assert SQLStorage().url == f"sqlite:///{tmp_path / 'other.db'}"


def test_a_database_at_revision_0001_is_upgraded_to_head_keeping_its_studies(tmp_path):
    """Opening an older database runs the missing migrations (0002: API tokens)."""
    import json

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from hpo.model import Objective, StudySpec
    from hpo.space import Float, SearchSpace
    from hpo.storage import SQLStorage
    from hpo.storage import sql as sqlmod

    old_spec = StudySpec("old", SearchSpace({"x": Float(0, 1)}), (Objective("loss"),))
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(sqlmod._MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO hpo_studies (project, name, spec, version, finished, created_at) "
                "VALUES ('default', 'old', :spec, 0, 0, 0)"
            ),
            {"spec": json.dumps(old_spec.to_dict())},
        )
    engine.dispose()
    st = SQLStorage(url)
    with st.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            sqlmod.HEAD_REVISION
        )
    assert st.has_tokens() is False
    assert [s.name for s in st.list_studies()] == ["old"]
