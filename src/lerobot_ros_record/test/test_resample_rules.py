"""The resampler: rules, warm-up gate, determinism, out-of-order/duplicate stamps, clock jumps, report."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from lerobot_ros_record.resample import Resampler, StreamConfig

MS = 1_000_000
S = 1_000_000_000


def joints(rule="interpolate", **kw) -> StreamConfig:
    return StreamConfig("joints", rule, **kw)


def camera(**kw) -> StreamConfig:
    return StreamConfig("camera", "nearest", **{"tolerance": 0.02, **kw})


def run(resampler: Resampler, samples) -> list:
    frames = []
    for stream, stamp, value in samples:
        resampler.push(stream, stamp, value)
        frames += resampler.pop_frames()
    return frames + resampler.flush()


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
    frames = run(resampler, samples)
    # tick 0: j0/c0; 100 ms: j0 (age 100) + c1 (15 ms off); 200 ms: j0 too old (200 > 150) → dropped;
    # 300 ms: j1 (age 10) + c3; 400 ms: j2 + c4.
    assert [(f.tick_ns // MS, f.values["joints"], f.values["camera"]) for f in frames] == [
        (0, "j0", "c0"),
        (100, "j0", "c1"),
        (300, "j1", "c3"),
        (400, "j2", "c4"),
    ]
    report = resampler.report
    assert report.frames == 4 and report.frames_dropped == 1
    assert report.streams["joints"].frames_dropped == 1
    assert report.drop_reasons == {"no usable sample from joints": 1}


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
        frames = run(resampler, order)
        results.append([(f.index, f.tick_ns, f.values["joints"].tobytes(), f.values["camera"]) for f in frames])
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


def test_resample_backward_clock_jump_restarts_warm_up():
    resampler = Resampler(10, [joints(), camera(tolerance=0.06)], deadline=10.0)
    first = stream_samples("joints", 100 * S, 50 * MS, 20) + stream_samples("camera", 100 * S, 100 * MS, 10)
    second = stream_samples("joints", 5 * S, 50 * MS, 20) + stream_samples("camera", 5 * S, 100 * MS, 10)
    frames = run(resampler, sorted(first, key=lambda s: s[1]) + sorted(second, key=lambda s: s[1]))
    jumps = resampler.report.clock_jumps
    assert len(jumps) == 1 and jumps[0].direction == "backward"
    assert jumps[0].from_s == pytest.approx(100.95) and jumps[0].to_s == pytest.approx(5.0)
    ticks = [f.tick_ns for f in frames]
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(b > a for a, b in itertools.pairwise(ticks) if a < 50 * S)
    assert any(t < 10 * S for t in ticks) and any(t > 100 * S for t in ticks)
    assert not resampler.report.healthy


def test_resample_samples_from_the_old_clock_are_dropped_after_a_jump():
    resampler = Resampler(10, [joints(), camera(tolerance=0.06)], deadline=10.0)
    run(resampler, [("joints", 100 * S, np.array([0.0])), ("camera", 100 * S, "c")])
    resampler.push("joints", 1 * S, np.array([1.0]))  # sim reset: joints first
    resampler.push("camera", 100 * S + 100 * MS, "old")  # camera still on the old clock
    assert resampler.report.streams["camera"].rejected == {"sample from before a clock jump": 1}


def test_resample_forward_jump_is_reported():
    resampler = Resampler(10, [joints()], max_forward_jump=5.0, deadline=10.0)
    frames = run(resampler, stream_samples("joints", 0, 50 * MS, 10) + stream_samples("joints", 60 * S, 50 * MS, 10))
    assert [j.direction for j in resampler.report.clock_jumps] == ["forward"]
    assert frames[-1].tick_ns >= 60 * S and len(frames) == 10


def test_resample_stalled_stream_drops_frames_after_deadline_and_reports_gap():
    resampler = Resampler(10, [joints(max_age=0.1, gap=0.1), camera(tolerance=0.02)], deadline=0.3)
    samples = stream_samples("joints", 0, 10 * MS, 200) + stream_samples("camera", 0, 100 * MS, 5)
    samples += stream_samples("camera", 1500 * MS, 100 * MS, 5)
    frames = run(resampler, sorted(samples, key=lambda s: s[1]))
    written = [f.tick_ns // (100 * MS) for f in frames]
    assert written == [0, 1, 2, 3, 4, 15, 16, 17, 18, 19]
    camera_stats = resampler.report.streams["camera"]
    assert camera_stats.frames_dropped == 10 and camera_stats.gaps == 1
    assert camera_stats.max_gap == pytest.approx(1.1)
    report = resampler.report.to_dict()
    assert report["frames"] == 10 and report["frames_dropped"] == 10
    assert report["streams"]["joints"]["staleness_max"] == 0.0
    assert "camera" in resampler.report.summary()


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
