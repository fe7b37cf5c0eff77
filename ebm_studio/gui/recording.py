"""Recording the landscape view to an animation (GIF always, MP4 with the video extra).

While recording, every drawn frame offers the view to the ``Recorder``, which keeps a bounded,
downscaled set of frames (``gui/export.py``); the file is written after the recording stops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from .export import has_mp4, write_failure

NOTHING_TO_SAVE = "Nothing to save: the recording has fewer than two frames."


class RecordingActions:
    """Mixed into ``MainWindow``: Record / Stop recording; uses its ``recorder``,
    ``record_action``, ``landscape``, ``recent`` and ``show_error``."""

    recording_axes = None  # the AxesFrame saved frames are placed into (recording_frame.py)

    def start_recording(self) -> None:
        from .recording_frame import data_area, view_axes_frame

        self.recorder.start()
        axes = view_axes_frame(self.landscape)
        self.recording_axes = None if axes is None else axes[0]
        self.recorder.region = None if axes is None else data_area(self.landscape, axes[1])
        if self.last_frame is not None:
            self.recorder.capture(self.landscape)
        self.record_action.setChecked(True)
        self.record_action.setText("Stop recording")
        self.statusBar().showMessage("Recording the landscape view...", 5000)

    def stop_recording(self) -> list[np.ndarray]:
        frames = self.recorder.stop()
        self.record_action.setChecked(False)
        self.record_action.setText("Record")
        return frames

    def save_recording(self, path: str | Path) -> bool:
        """Write the recorded frames as GIF (always) or MP4 (with the video extra)."""
        from ..core.figures import write_animation

        frames = self.recorder.frames
        if len(frames) < 2:
            self.show_error(NOTHING_TO_SAVE)
            return False
        if Path(path).suffix.lower() == ".mp4" and not has_mp4():
            self.show_error(
                "MP4 needs the video extra (pip install 'ebm-studio[video]'); save as .gif."
            )
            return False
        from .recording_frame import placed

        axes = self.recording_axes
        try:
            shown = frames if axes is None else placed(axes, frames)
            write_animation(shown, path, fps=self.recorder.frame_rate)
        except ValueError as e:
            self.show_error(str(e))
            return False
        except OSError as e:
            self.show_error(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Saved {len(frames)} frames to {path}", 8000)
        return True

    def toggle_recording(self, checked: bool) -> None:
        if checked:
            self.start_recording()
            return
        frames = self.stop_recording()
        if len(frames) < 2:
            self.show_error(NOTHING_TO_SAVE)
            return
        filters = "GIF animation (*.gif)" + (";;MP4 video (*.mp4)" if has_mp4() else "")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save recording", self.recent.last_dir(), filters
        )
        if not path:
            self.statusBar().showMessage("Recording discarded", 5000)
            return
        if not Path(path).suffix:
            path += ".mp4" if chosen.startswith("MP4") else ".gif"
        self.save_recording(path)


__all__ = ["RecordingActions"]
