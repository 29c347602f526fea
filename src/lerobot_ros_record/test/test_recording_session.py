"""RecordingSession and open_dataset without ROS: states, events, create-or-resume, refusal and failure."""

from __future__ import annotations

import json

import pytest

from lerobot_ros_core.contract import ContractError, parse_contract
from lerobot_ros_record.dataset import WriterConfig
from lerobot_ros_record.session import (
    DatasetConfig,
    DatasetExistsError,
    EpisodeDiscarded,
    EpisodeFailed,
    EpisodeRefused,
    EpisodeSaved,
    EpisodeSplit,
    EpisodeStarted,
    Finalized,
    RecordingSession,
    SessionError,
    SessionState,
    open_dataset,
)

S = 1_000_000_000


def feed(session: RecordingSession, records) -> None:
    for topic, stamp, msg in records:
        session.push(session.convert(topic.lstrip("/"), msg, stamp))
        assert session.tick() == []


def new_session(tmp_path, tools, **config) -> RecordingSession:
    contract = parse_contract(tools.SMALL_CONTRACT)
    dataset = open_dataset(
        tmp_path / "ds",
        contract,
        DatasetConfig("local/ds", WriterConfig(fps=30, video_codec="h264"), **config),
        absent={"observation.force"},
    )
    return RecordingSession(dataset)


def test_session_episode_lifecycle_and_events(tmp_path, tools):
    session = new_session(tmp_path, tools)
    assert session.state == SessionState.IDLE and session.episode_index == 0
    assert "observation.force" not in session.contract.keys
    assert session.start("pick") == EpisodeStarted(0, "pick")
    with pytest.raises(SessionError, match="already being recorded"):
        session.start("again")
    feed(session, tools.synthetic_stream(10 * S, 0.5))
    [saved] = session.save()
    assert isinstance(saved, EpisodeSaved) and saved.task == "pick" and saved.episode.index == 0
    assert saved.episode.frames == saved.episode.report.frames > 10
    assert session.state == SessionState.IDLE and session.episodes_saved == 1
    assert session.report is saved.episode.report

    session.start("re-record")
    feed(session, tools.synthetic_stream(20 * S, 0.3))
    discarded = session.discard("operator")
    assert isinstance(discarded, EpisodeDiscarded) and discarded.index == 1 and discarded.report.frames > 0
    assert session.discard("twice") is None
    assert session.episode_index == 1  # the discarded index is reused

    session.start("no camera")
    feed(session, [r for r in tools.synthetic_stream(30 * S, 0.3) if "image" not in r[0]])
    [refused] = session.save()
    assert isinstance(refused, EpisodeRefused) and "no complete frame" in refused.reason
    assert session.state == SessionState.IDLE and session.episodes_saved == 1

    session.start("open at finalize")
    events = session.finalize()
    assert [type(e) for e in events] == [EpisodeDiscarded, Finalized] and events[-1].episodes == 1
    assert session.state == SessionState.FINALIZED and session.finalize() == []
    with pytest.raises(SessionError, match="finalized"):
        session.start("late")


def test_session_writer_failure_fails_the_episode_and_keeps_the_dataset(tmp_path, tools):
    session = new_session(tmp_path, tools)
    session.start("first")
    feed(session, tools.synthetic_stream(10 * S, 0.3))
    session.save()
    session.start("broken")
    session.dataset.writer.add_frame = lambda frame: (_ for _ in ()).throw(OSError("disk gone"))
    records = tools.synthetic_stream(20 * S, 0.3)
    events = []
    for topic, stamp, msg in records:
        session.push(session.convert(topic.lstrip("/"), msg, stamp))
        events += session.tick()
    [failed] = events
    assert isinstance(failed, EpisodeFailed) and failed.index == 1 and "disk gone" in failed.reason
    assert isinstance(failed.error, OSError)
    assert session.state == SessionState.ERROR and session.message == failed.reason
    assert session.episodes_saved == 1


def test_open_dataset_creates_resumes_and_refuses(tmp_path, tools):
    first = new_session(tmp_path, tools)
    first.start("one")
    feed(first, tools.synthetic_stream(10 * S, 0.3))
    first.save()
    first.finalize()
    with pytest.raises(DatasetExistsError, match="already holds a dataset"):
        new_session(tmp_path, tools, resume=False)
    resumed = new_session(tmp_path, tools)
    assert resumed.dataset.resumed and resumed.episode_index == 1
    resumed.finalize()
    other = parse_contract(tools.SMALL_CONTRACT.replace("observation.state:", "observation.other:"))
    with pytest.raises(ContractError, match="cannot append to"):
        open_dataset(tmp_path / "ds", other, DatasetConfig("local/ds", WriterConfig(fps=30, video_codec="h264")))


def test_session_sync_report_failure_keeps_the_committed_episode(tmp_path, tools):
    session = new_session(tmp_path, tools)
    session.start("pick")
    feed(session, tools.synthetic_stream(10 * S, 0.3))
    (tmp_path / "ds" / "meta" / "lerobot_ros_sync.json").mkdir()  # the report cannot be written there
    [saved] = session.save()
    assert isinstance(saved, EpisodeSaved) and saved.episode.index == 0
    assert "lerobot_ros_sync.json" in saved.episode.report_error
    assert session.state == SessionState.IDLE and session.episodes_saved == 1
    assert "sync report" in session.message
    session.finalize()
    assert json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())["total_episodes"] == 1


def gap_records(tools) -> list:
    return [r for r in tools.synthetic_stream(S, 3.0) if not ("image" in r[0] and 2 * S <= r[1] < 5 * S // 2)]


def run_all(session: RecordingSession, records) -> list:
    events = []
    for topic, stamp, msg in records:
        session.push(session.convert(topic.lstrip("/"), msg, stamp))
        events += session.tick()
    return events


def test_session_splits_at_a_stream_past_its_limit(tmp_path, tools):
    session = new_session(tmp_path, tools)
    session.start("gap")
    [split] = run_all(session, gap_records(tools))
    assert isinstance(split, EpisodeSplit) and split.episode.index == 0 and split.next_index == 1
    assert split.task == "gap" and "observation.images.front" in split.reason
    assert split.episode.report.ended == split.reason and session.recording and session.episode_index == 1
    assert "recording goes on as episode 1" in session.message
    [saved] = session.save()
    assert isinstance(saved, EpisodeSaved) and saved.episode.index == 1 and session.episodes_saved == 2


def test_session_fails_at_a_stream_past_its_limit_when_the_contract_says_so(tmp_path, tools):
    contract = parse_contract("past_limit: fail\n" + tools.SMALL_CONTRACT)
    config = DatasetConfig("local/ds", WriterConfig(fps=30, video_codec="h264"))
    session = RecordingSession(open_dataset(tmp_path / "ds", contract, config, absent={"observation.force"}))
    session.start("gap")
    [failed] = run_all(session, gap_records(tools))
    assert isinstance(failed, EpisodeFailed) and failed.index == 0 and "(past_limit: fail)" in failed.reason
    assert session.state == SessionState.ERROR and session.episodes_saved == 0
    assert session.start("again").index == 0  # nothing was written; recording can go on
