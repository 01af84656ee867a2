"""ReportWriter (config group `report`): what a run writes for people to read and listen to."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class ReportWriter:
    """Writes map.csv/map.json (the interactive map and cluster cards) and report.md/report.html.

    embed_audio: cluster-card players hold `preview_seconds` of mono ogg at `preview_sample_rate` inside
    report.html (shareable without the audio files); otherwise they link to the audio relative to the run
    folder. The map's click-to-play always links."""

    def __init__(self, embed_audio: bool = False, preview_seconds: float = 10.0, preview_sample_rate: int = 22050,
                 n_examples: int = 5, projection: str = "umap", seed: int = 0, lyrics_chars: int = 160):
        self.embed_audio = bool(embed_audio)
        self.preview_seconds, self.preview_sample_rate = float(preview_seconds), int(preview_sample_rate)
        self.n_examples, self.projection, self.seed = int(n_examples), projection, int(seed)
        self.lyrics_chars = int(lyrics_chars)

    def write(self, art) -> list[Path]:
        """`art`: pipeline.RunArtifacts. Never raises: a broken map or report is logged."""
        from vae_cluster.report.listen import write_map_data
        from vae_cluster.report.run_report import write_run_report

        try:
            write_map_data(art, self.projection, self.seed, self.lyrics_chars)
        except Exception as err:  # noqa: BLE001 - the run's results are already on disk
            log.warning("interactive map data could not be written: %s: %s", type(err).__name__, err)
        return write_run_report(Path(art.out_dir), items=art.items, options=self)
