"""The resampler: rules, warm-up gate, determinism, out-of-order/duplicate stamps, clock jumps, past-limit
policies (frame k is always at t0 + k/fps: a segment ends rather than a tick being dropped), report."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lerobot_ros_record.resample import Frame, Resampler, SegmentEnd, StreamConfig

MS = 1_000_000
S = 1_000_000_000


def joints(rule="interpolate", **kw) -> StreamConfig:
    return StreamConfig("joints", rule, **kw)


def camera(**kw) -> StreamConfig:
    return StreamConfig("camera", "nearest", **{"tolerance": 0.02, **kw})


def run(resampler: Resampler, samples) -> list:
    """Frames and segment ends, as pushed samples decide them; a sample may carry its receive time."""
    out = []
    for stream, stamp, value, *receive in samples:
        resampler.push(stream, stamp, value, *receive)
        out += resampler.pop_frames()
    return out + resampler.flush()


def segments(items) -> list[list[Frame]]:
    """Frames per segment; checks that every segment's frame k is at its first tick + k/fps."""
    out: list[list[Frame]] = [[]]
    for item in items:
        if isinstance(item, SegmentEnd):
            out.append([])
        else:
            out[-1].append(item)
    for frames in out:
        assert [f.index for f in frames] == list(range(len(frames)))
        if frames:
            period = (frames[-1].tick_ns - frames[0].tick_ns) / max(len(frames) - 1, 1)
            assert all(abs(f.tick_ns - frames[0].tick_ns - f.index * period) <= 1 for f in frames)
    return out


def ends(items) -> list[SegmentEnd]:
    return [item for item in items if isinstance(item, SegmentEnd)]


def stream_samples(name, start_ns, period_ns, count, value=float):
    return [(name, start_ns + k * period_ns, value(k)) for k in range(count)]


def test_resample_interpolates_linearly_on_fixed_ticks():
    resampler = Resampler(10, [joints(max_age=0.1)])
    samples = stream_samples("joints", 1 * S, 30 * MS, 40, value=lambda k: np.array([k * 30.0]))  # value = ms
    frames = run(resampler, samples)
    ticks = [f.tick_ns for f in frames]
    assert ticks == [1 * S + k * 100 * MS for k in range(len(frames))]
    np.testing.assert_allclose([f.values["joints"][0] for f in frames], [k * 100.0 for k in range(len(frames))])
    assert [f.index for f in frames] == list(range(len(frames)))


def test_resample_warm_up_gate_waits_for_every_stream():
    resampler = Resampler(10, [joints(), camera()])
    for k in range(20):
        resampler.push("joints", 1 * S + k * 10 * MS, np.array([float(k)]))
    assert resampler.pop_frames() == [] and not resampler.started
    resampler.push("camera", 1 * S + 150 * MS, "img0")
    resampler.push("camera", 1 * S + 250 * MS, "img1")
    resampler.push("joints", 1 * S + 300 * MS, np.array([30.0]))
    frames = resampler.pop_frames()
    assert frames[0].tick_ns == 1 * S + 150 * MS  # t0 = the last stream's first stamp
    assert [f.values["camera"] for f in frames] == ["img0", "img1"]


def test_resample_hold_respects_max_age_and_nearest_tolerance():
    resampler = Resampler(10, [joints("hold", max_age=0.15), camera(tolerance=0.02)])
    samples = [("joints", 0, "j0"), ("camera", 0, "c0"), ("camera", 100 * MS + 15 * MS, "c1")]
    samples += [("camera", 215 * MS, "c2"), ("camera", 300 * MS, "c3"), ("joints", 290 * MS, "j1")]
    samples += [("joints", 400 * MS, "j2"), ("camera", 400 * MS, "c4")]
    items = run(resampler, samples)
    # tick 0: j0/c0; 100 ms: j0 (age 100) + c1 (15 ms off); 200 ms: j0 too old (200 > 150): the segment
    # ends; the next starts when every stream has data again (j1, 290 ms): j1 + c3 (10 ms off), j1 + c4.
    first, second = segments(items)
    assert [(f.tick_ns // MS, f.values["joints"], f.values["camera"]) for f in first] == [
        (0, "j0", "c0"),
        (100, "j0", "c1"),
    ]
    assert [(f.tick_ns // MS, f.values["joints"], f.values["camera"]) for f in second] == [
        (290, "j1", "c3"),
        (390, "j1", "c4"),
    ]
    [end] = ends(items)
    assert not end.failed and end.report.frames == 2 and end.report.ended == end.reason
    assert "no usable sample from joints (latest 200 ms old, hold max_age 150 ms) at 0.200 s (frame 2)" in end.reason
    assert end.report.streams["joints"].limit_hits == 1 and not end.report.healthy
    assert resampler.report.frames == 2 and resampler.report.ended is None  # the open segment


def test_resample_same_frames_whatever_the_interleaving():
    def samples():
        out = stream_samples("joints", 0, 10 * MS, 300, value=lambda k: np.array([np.sin(k / 10)]))
        out += stream_samples("camera", 3 * MS, 33 * MS, 90, value=lambda k: f"img{k}")
        return out

    ordered = sorted(samples(), key=lambda s: s[1])
    # delivered in 0.5 s blocks, each stream's block at once (one stream lagging the other)
    blocks = sorted(samples(), key=lambda s: (s[1] // (500 * MS), s[0]))
    rng = random.Random(0)
    delivered: dict[str, int] = {}
    jittered = []  # random transport delays (0..40 ms), each stream staying in order
    for sample in samples():
        delivered[sample[0]] = max(delivered.get(sample[0], 0), sample[1] + rng.randint(0, 40) * MS)
        jittered.append((delivered[sample[0]], sample))
    jittered = [sample for _, sample in sorted(jittered, key=lambda item: item[0])]
    results = []
    for order in (ordered, blocks, jittered):
        resampler = Resampler(30, [joints(), camera(tolerance=0.02)], deadline=10.0)
        items = run(resampler, order)
        results.append(
            [
                item.reason
                if isinstance(item, SegmentEnd)
                else (item.index, item.tick_ns, item.values["joints"].tobytes(), item.values["camera"])
                for item in items
            ]
        )
    assert len(results[0]) > 80
    assert results[0] == results[1] == results[2]


def test_resample_duplicates_out_of_order_and_late_samples():
    resampler = Resampler(10, [joints(max_age=0.2)], deadline=10.0)
    resampler.push("joints", 0, np.array([0.0]))
    resampler.push("joints", 200 * MS, np.array([20.0]))
    resampler.push("joints", 200 * MS, np.array([99.0]))  # duplicate: first kept
    resampler.push("joints", 100 * MS, np.array([5.0]))  # out of order, still in time
    frames = resampler.pop_frames()
    assert [f.values["joints"][0] for f in frames] == [0.0, 5.0, 20.0]
    resampler.push("joints", 150 * MS, np.array([7.0]))  # its ticks are written: too late
    stats = resampler.report.streams["joints"]
    assert stats.out_of_order == 1
    assert stats.rejected == {"duplicate stamp": 1, "late: its frame was already written": 1}
    assert stats.messages_received == 5


def test_resample_backward_clock_jump_ends_the_segment():
    resampler = Resampler(10, [joints(), camera(tolerance=0.06)], deadline=10.0)
    first = stream_samples("joints", 100 * S, 50 * MS, 20) + stream_samples("camera", 100 * S, 100 * MS, 10)
    second = stream_samples("joints", 5 * S, 50 * MS, 20) + stream_samples("camera", 5 * S, 100 * MS, 10)
    items = run(resampler, sorted(first, key=lambda s: s[1]) + sorted(second, key=lambda s: s[1]))
    old, new = segments(items)
    [end] = ends(items)
    jumps = end.report.clock_jumps
    assert len(jumps) == 1 and jumps[0].direction == "backward"
    assert jumps[0].from_s == pytest.approx(100.95) and jumps[0].to_s == pytest.approx(5.0)
    assert end.reason.startswith("clock jump backward on joints")
    assert all(f.tick_ns >= 100 * S for f in old) and len(old) == 10  # the old clock, up to its last tick
    assert all(f.tick_ns < 10 * S for f in new) and len(new) == 10
    assert not end.report.healthy and resampler.report.clock_jumps == []


def test_resample_samples_from_the_old_clock_are_dropped_after_a_jump():
    resampler = Resampler(10, [joints(), camera(tolerance=0.06)], deadline=10.0)
    run(resampler, [("joints", 100 * S, np.array([0.0])), ("camera", 100 * S, "c")])
    resampler.push("joints", 1 * S, np.array([1.0]))  # sim reset: joints first
    resampler.push("camera", 100 * S + 100 * MS, "old")  # camera still on the old clock
    assert resampler.report.streams["camera"].rejected == {"sample from before a clock jump": 1}


def test_resample_forward_jump_is_reported():
    resampler = Resampler(10, [joints()], max_forward_jump=5.0, deadline=10.0)
    items = run(resampler, stream_samples("joints", 0, 50 * MS, 10) + stream_samples("joints", 60 * S, 50 * MS, 10))
    [end] = ends(items)
    assert [j.direction for j in end.report.clock_jumps] == ["forward"]
    old, new = segments(items)
    assert len(old) == 5 and new[0].tick_ns == 60 * S and len(new) == 5


def test_resample_clock_leap_of_every_stream_is_one_clock_jump():
    """Header stamps leap 5 s while receive times go on: one clock jump, not 150 ticks without data."""
    resampler = Resampler(30, [joints(), camera(tolerance=0.02)])
    samples = []
    for k in range(200):  # joints 100 Hz, camera 30 Hz; receive time = real time, stamps leap at 1 s
        now = 10 * S + k * 10 * MS
        leap = 5 * S if now >= 11 * S else 0
        samples.append(("joints", now + leap, np.array([float(k)]), now))
        if k % 3 == 0:
            samples.append(("camera", now + 1 * MS + leap, f"img{k}", now + 1 * MS))
    items = run(resampler, samples)
    [end] = ends(items)
    assert [(j.direction, j.stream) for j in end.report.clock_jumps] == [("forward", "joints")]
    assert end.reason.startswith("clock jump forward on joints: 10.990 s → 16.000 s")
    old, new = segments(items)
    assert all(s.limit_hits == 0 for s in end.report.streams.values())
    assert all(s.limit_hits == 0 for s in resampler.report.streams.values())
    assert old[-1].tick_ns < 11 * S and new[0].tick_ns >= 16 * S
    assert len(old) + len(new) >= 56  # 2 s at 30 fps, less a few ticks of warm-up after the jump
    assert resampler.report.clock_jumps == [] and resampler.report.ended is None


def stalled_camera(past_limit: str):
    """Joints at 100 Hz for 2 s; the camera at 10 Hz stalls from 0.4 to 1.5 s; deadline-decided ticks."""
    resampler = Resampler(
        10, [joints(max_age=0.1, gap=0.1), camera(tolerance=0.02, past_limit=past_limit)], deadline=0.3
    )
    samples = stream_samples("joints", 0, 10 * MS, 200) + stream_samples("camera", 0, 100 * MS, 5)
    samples += stream_samples("camera", 1500 * MS, 100 * MS, 5)
    return resampler, run(resampler, sorted(samples, key=lambda s: s[1]))


def test_resample_stalled_stream_splits_never_renumbers():
    resampler, items = stalled_camera("split")
    first, second = segments(items)
    assert [f.tick_ns // (100 * MS) for f in first] == [0, 1, 2, 3, 4]
    assert [f.tick_ns // (100 * MS) for f in second] == [15, 16, 17, 18, 19]
    [end] = ends(items)
    camera_stats = end.report.streams["camera"]
    assert camera_stats.limit_hits == 1 and camera_stats.padded == 0
    assert (
        "no usable sample from camera (latest 100 ms old, nearest tolerance 20 ms) at 0.500 s (frame 5)" in end.reason
    )
    report = end.report.to_dict()
    assert report["frames"] == 5 and report["ended"] == end.reason
    assert report["streams"]["joints"]["staleness_max"] == 0.0
    assert "ended: no usable sample from camera" in end.report.summary()
    assert resampler.report.streams["camera"].gaps == 1  # the open segment saw the gap's end
    assert resampler.report.streams["camera"].max_gap == pytest.approx(1.1)


def test_resample_stalled_stream_padded_keeps_one_segment():
    resampler, items = stalled_camera("pad")
    [frames] = segments(items)
    assert [f.tick_ns // (100 * MS) for f in frames] == list(range(20))
    assert [f.values["camera"] for f in frames[4:16]] == [4.0] * 11 + [0.0]  # the latest, then fresh again
    stats = resampler.report.streams["camera"]
    assert stats.padded == stats.limit_hits == 10 and resampler.report.frames_padded == 10
    assert "10 padded" in resampler.report.summary() and not resampler.report.healthy


def test_resample_stalled_stream_fails_with_the_reason():
    resampler, items = stalled_camera("fail")
    [end] = ends(items)
    assert end.failed and "no usable sample from camera" in end.reason and "(past_limit: fail)" in end.reason
    assert items[-1] is end and len([i for i in items if isinstance(i, Frame)]) == 5
    resampler.push("camera", 2 * S, 1.0)
    assert resampler.pop_frames() == [] and resampler.flush() == []


def test_resample_hold_counts_held_frames():
    """A camera missing single frames: held within max_age (counted), the clock goes on."""
    resampler = Resampler(10, [joints(), StreamConfig("camera", "hold", max_age=0.3)])
    samples = stream_samples("joints", 0, 10 * MS, 100)
    samples += [s for s in stream_samples("camera", 0, 100 * MS, 10) if s[2] not in (3.0, 6.0, 7.0)]
    [frames] = segments(run(resampler, sorted(samples, key=lambda s: s[1])))
    assert [f.values["camera"] for f in frames] == [0.0, 1.0, 2.0, 2.0, 4.0, 5.0, 5.0, 5.0, 8.0, 9.0]
    assert resampler.report.streams["camera"].held == 3 and resampler.report.frames_held == 3
    assert resampler.report.streams["camera"].limit_hits == 0


def test_resample_flush_never_goes_beyond_the_slowest_stream():
    resampler = Resampler(10, [joints(), camera(tolerance=0.06)], deadline=100.0)
    samples = stream_samples("joints", 0, 10 * MS, 100) + stream_samples("camera", 0, 100 * MS, 4)
    frames = run(resampler, sorted(samples, key=lambda s: s[1]))
    assert frames[-1].tick_ns == 300 * MS


def test_resample_staleness_percentiles():
    resampler = Resampler(10, [joints("hold", max_age=1.0)], deadline=100.0)
    run(resampler, stream_samples("joints", 0, 250 * MS, 9))
    p50, p95, worst = resampler.report.streams["joints"].staleness_percentiles()
    assert worst == pytest.approx(0.2) and 0.0 <= p50 <= p95 <= worst


def test_end_at_stops_the_clock_there_and_says_when_every_frame_before_it_is_decided():
    resampler = Resampler(10, [joints(max_age=0.2), camera(tolerance=0.05)])
    resampler.push("camera", 1 * S, "early")
    resampler.push("camera", 1 * S + 300 * MS, "c0")
    resampler.push("joints", 1 * S + 300 * MS, np.array([0.0]))  # the late stream sets t0
    frames = resampler.pop_frames()
    assert resampler.clock_start_ns == 1 * S + 300 * MS
    resampler.end_at(resampler.clock_start_ns + 500 * MS)  # 5 ticks at 10 fps
    for k in range(1, 20):  # both streams run well past the end
        resampler.push("camera", 1 * S + k * 100 * MS + 300 * MS, f"c{k}")
        resampler.push("joints", 1 * S + 300 * MS + k * 100 * MS, np.array([float(k)]))
        frames += resampler.pop_frames()
        if k == 3:
            assert not resampler.reached_end
    assert resampler.reached_end
    frames += resampler.flush()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.values["joints"][0] for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0]
