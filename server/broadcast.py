"""A session's avatar for its audience: each finished frame, rendered once, handed to
every viewer's track.

`Broadcast.publish` puts the frame into each subscriber's own latest-frame slot, so a slow
viewer drops frames without holding back the performer or the other viewers; `finish`
ends every viewer's track. Each viewer's connection encodes on its own (aiortc keeps an
encoder per sender), which is what a viewer costs.
"""

from __future__ import annotations

import logging

from engine.pipeline import LiveFrame
from server.tracks import AvatarTrack

log = logging.getLogger(__name__)


class ViewerTrack(AvatarTrack):
    """The avatar as one viewer receives it (frame codes drawn as for the performer)."""

    def __init__(self, broadcast: Broadcast) -> None:
        super().__init__()
        self.broadcast = broadcast

    def finish(self) -> None:
        """The stream ended: the track ends after its last frame, and says "finished"
        (its viewer closes then, even before the track was ever read)."""
        super().finish()
        self.emit("finished")

    def stop(self) -> None:
        self.broadcast.unsubscribe(self)
        super().stop()


class Broadcast:
    """The frames of one stream, fanned out to its viewers' tracks."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._viewers: set[ViewerTrack] = set()
        self.finished = False
        self.frames = 0

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def subscribe(self) -> ViewerTrack:
        """A new viewer's track; already ended when the stream has finished."""
        track = ViewerTrack(self)
        if self.finished:
            track.finish()
        else:
            self._viewers.add(track)
        return track

    def unsubscribe(self, track: ViewerTrack) -> None:
        self._viewers.discard(track)

    async def publish(self, frame: LiveFrame) -> None:
        """Hand `frame` to every viewer (each keeps only its newest)."""
        self.frames += 1
        for track in list(self._viewers):
            await track.sink(frame)

    def finish(self) -> None:
        """The stream ended: every viewer's track ends after its last frame."""
        self.finished = True
        for track in list(self._viewers):
            track.finish()
        self._viewers.clear()
