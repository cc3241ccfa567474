"""The face tracker on synthetic boxes: association, when a face is embedded again, ageing,
caps, quality-weighted aggregation, the split of a track taken over by someone else, and that
a track's template does not outlive the track (privacy invariant 1, docs/privacy.md)."""

from __future__ import annotations

import numpy as np

from server.recognition.camera_tracks import CameraTracks
from server.recognition.engine import Face
from server.recognition.frame_faces import FrameFaces
from server.recognition.tracking import (
    QUALITY_GAIN,
    TrackHint,
    associate,
    face_quality,
    iou,
    wants_template,
)

DIM = 8


def face(x: float, y: float, size: float = 60.0, score: float = 0.9) -> Face:
    eye = y + 0.4 * size
    marks = ((x + 0.3 * size, eye), (x + 0.7 * size, eye), (x + 0.5 * size, eye + 0.2 * size),
             (x + 0.35 * size, y + 0.8 * size), (x + 0.65 * size, y + 0.8 * size))
    return Face(box=(x, y, x + size, y + size), landmarks=marks, score=score)


def unit(k: int) -> np.ndarray:
    """A template of person ``k``: different people are orthogonal (similarity 0)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[k % DIM] = 1.0
    return v


def hint(track_id: int, box: tuple[float, float, float, float],
         best_quality: float = 10.0, predicted: tuple[float, float, float, float] | None = None,
         ) -> TrackHint:
    return TrackHint(track_id, box, box if predicted is None else predicted, best_quality)


def frame(faces: list[Face], hints: list[TrackHint], vectors: dict[int, np.ndarray],
          quality: list[float]) -> FrameFaces:
    """A frame's result as the worker returns it: ``vectors`` maps the embedded faces."""
    assoc = associate(hints, faces)
    good = sorted(vectors)
    rows = (np.stack([vectors[i] for i in good]) if good
            else np.zeros((0, DIM), dtype=np.float32))
    return FrameFaces(faces, good, rows, tracked=True, track_ids=assoc.track_ids,
                      quality=quality, crops=[f"crop-{i}-{quality[i]}".encode() for i in good])


def test_iou_and_quality() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 0, 30, 10)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9
    big, small = face(0, 0, 80), face(0, 0, 40)
    assert face_quality(big, 300, score_is_probability=True) > face_quality(
        small, 300, score_is_probability=True)
    assert face_quality(big, 300, score_is_probability=True) > face_quality(
        big, 100, score_is_probability=True)
    # dlib's HOG score can be negative: the quality stays positive
    assert face_quality(face(0, 0, 60, score=-0.3), 300, score_is_probability=False) > 0


def test_association_follows_moving_faces_and_refuses_far_ones() -> None:
    tracks = [hint(7, (100, 100, 160, 160)), hint(9, (400, 100, 460, 160))]
    # both faces moved a little: each keeps its own track, with certainty
    near = associate(tracks, [face(410, 104), face(108, 96)])
    assert near.track_ids == [9, 7]
    assert near.strong == [True, True]
    # a walking face 1.2 face sizes away (no overlap) continues its track, uncertainly
    walked = associate(tracks, [face(172, 100)])
    assert walked.track_ids == [7]
    assert walked.strong == [False]
    # too far, or of a very different size: a new track
    assert associate(tracks, [face(250, 300)]).track_ids == [None]
    assert associate(tracks, [face(100, 100, size=150)]).track_ids == [None]
    # one track, two candidates: the closer face gets it, the other starts a track
    pair = associate(tracks[:1], [face(150, 100), face(104, 100)])
    assert pair.track_ids == [None, 7]
    assert associate([], [face(0, 0)]).track_ids == [None]
    # a face where the track's motion predicts it, or where it last was: either continues it
    moving = hint(3, (100, 100, 160, 160), predicted=(220, 100, 280, 160))
    assert associate([moving], [face(222, 100)]).strong == [True]
    assert associate([moving], [face(102, 100)]).strong == [True]


def test_a_face_is_embedded_again_only_when_it_must_be() -> None:
    known = hint(1, (0, 0, 60, 60), best_quality=40.0)
    assert wants_template(None, False, 10.0)  # starts a track
    assert wants_template(hint(1, (0, 0, 60, 60), 0.0), True, 10.0)  # no template yet
    assert wants_template(known, False, 10.0)  # uncertain association: check who it is
    assert not wants_template(known, True, 40.0 * QUALITY_GAIN)  # not better by the margin
    assert wants_template(known, True, 40.0 * QUALITY_GAIN + 0.1)  # a better view
    stale = TrackHint(1, (0, 0, 60, 60), (0, 0, 60, 60), 40.0, stale=True)
    assert wants_template(stale, True, 10.0)  # its last template is too old


def test_tracks_aggregate_weighted_by_quality_and_keep_the_best_crop() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8)
    a, b = unit(1), unit(2)
    seen = tracks.update(frame([face(100, 100)], tracks.hints(0.0), {0: a}, [10.0]), 0.0, -1.0)
    first = seen[0]
    seen = tracks.update(frame([face(104, 100)], tracks.hints(0.2), {0: b}, [30.0]), 0.2, -1.0)
    assert seen == [first]
    expected = 10.0 * a + 30.0 * b
    aggregate = first.aggregate()
    assert aggregate is not None
    assert np.allclose(aggregate, expected / np.linalg.norm(expected), atol=1e-6)
    assert first.best_crop == b"crop-0-30.0"
    assert (first.frames, first.templates, first.best_quality) == (2, 2, 30.0)
    # a worse view is folded in with its small weight and does not replace the crop
    tracks.update(frame([face(108, 100)], tracks.hints(0.4), {0: a}, [5.0]), 0.4, -1.0)
    assert first.best_crop == b"crop-0-30.0"
    assert first.templates == 3
    # the track moved right at 20 px/s: its predicted box follows
    assert tracks.hints(0.6)[0].predicted[0] > 108


def test_a_different_person_in_a_tracked_box_starts_a_track_of_their_own() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8)
    first = tracks.update(frame([face(100, 100)], tracks.hints(0.0), {0: unit(1)}, [10.0]),
                          0.0, 0.5)[0]
    # someone else, 40 px away (an uncertain association, so embedded and checked)
    other = tracks.update(frame([face(140, 100)], tracks.hints(0.2), {0: unit(2)}, [10.0]),
                          0.2, 0.5)[0]
    assert other is not first
    assert len(tracks) == 2
    assert first.templates == 1
    assert other.templates == 1


def test_tracks_end_when_unseen_too_old_or_too_many() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=5.0, max_tracks=2)
    tracks.update(frame([face(100, 100)], tracks.hints(0.0), {0: unit(1)}, [10.0]), 0.0, -1.0)
    assert len(tracks.hints(0.9)) == 1
    assert tracks.hints(1.1) == []  # unseen for longer than max_age_s
    # seen in every frame, a track still ends max_life_s after it started
    start = tracks.update(frame([face(100, 100)], [], {0: unit(1)}, [10.0]), 2.0, -1.0)[0]
    t = 2.0
    while t < 7.5:
        t += 0.5
        seen = tracks.update(frame([face(100, 100)], tracks.hints(t), {}, [10.0]), t, -1.0)
    assert seen[0] is not start
    # at most max_tracks: the least recently seen one ends first
    tracks.clear()
    faces = [face(100 + 200 * k, 100) for k in range(3)]
    for k, f in enumerate(faces):
        tracks.update(frame([f], [], {0: unit(k)}, [10.0]), 10.0 + k, -1.0)
    assert sorted(t.box[0] for t in tracks) == [300.0, 500.0]


def test_a_strangers_template_does_not_outlive_its_track() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8)
    track = tracks.update(frame([face(100, 100)], [], {0: unit(3)}, [10.0]), 0.0, -1.0)[0]
    buffer = track.weighted
    assert buffer is not None
    assert np.any(buffer)
    tracks.hints(2.0)  # the stranger walked off: the next frame ends the track
    assert len(tracks) == 0
    assert not np.any(buffer), "the ended track's template buffer was not wiped"
    assert track.weighted is None
    assert track.best_crop == b""
    # the same on clear() (camera gone, deployment over)
    track = tracks.update(frame([face(100, 100)], [], {0: unit(4)}, [10.0]), 3.0, -1.0)[0]
    buffer = track.weighted
    assert buffer is not None
    tracks.clear()
    assert not np.any(buffer)
    assert track.weighted is None
    assert len(tracks) == 0


def test_unseen_is_measured_in_capture_time_and_life_in_server_time() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=5.0, max_tracks=8)
    first = tracks.update(frame([face(100, 100)], tracks.hints(0.0, 0.0), {0: unit(1)},
                                [10.0]), 0.0, -1.0, at=0.0)[0]
    # the server takes 2 s a frame, the camera captured them 0.2 s apart: the track goes on
    for k in range(1, 3):
        now, at = 2.0 * k, 0.2 * k
        seen = tracks.update(frame([face(100 + 4 * k, 100)], tracks.hints(now, at), {},
                                   [10.0]), now, -1.0, at=at)
        assert seen == [first]
    # ... but not past its life in server time
    assert tracks.hints(5.5, 0.6) == []
    # a capture clock that goes back ends every track
    tracks.update(frame([face(100, 100)], [], {0: unit(2)}, [10.0]), 6.0, -1.0, at=50.0)
    assert len(tracks.hints(6.2, 50.2)) == 1
    assert tracks.hints(6.4, 10.0) == []


def test_a_tracks_template_is_refreshed_after_refresh_s() -> None:
    tracks = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8, refresh_s=0.5)
    tracks.update(frame([face(100, 100)], tracks.hints(0.0), {0: unit(1)}, [10.0]), 0.0, -1.0)
    assert [h.stale for h in tracks.hints(0.4)] == [False]
    assert [h.stale for h in tracks.hints(0.5)] == [True]
    tracks.update(frame([face(100, 100)], tracks.hints(0.5), {0: unit(1)}, [10.0]), 0.5, -1.0)
    assert [h.stale for h in tracks.hints(0.6)] == [False]
    never = CameraTracks(max_age_s=1.0, max_life_s=30.0, max_tracks=8)
    never.update(frame([face(100, 100)], never.hints(0.0), {0: unit(1)}, [10.0]), 0.0, -1.0)
    assert [h.stale for h in never.hints(0.9)] == [False]
