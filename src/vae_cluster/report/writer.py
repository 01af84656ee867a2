"""ReportWriter (config group `report`): what a run writes for people to read and listen to."""
from __future__ import annotations

import logging
from pathlib import Path

from vae_cluster.report.facets import write_facets_json
from vae_cluster.report.listen import write_map_data
from vae_cluster.report.run_report import ReportOptions, write_run_report

log = logging.getLogger(__name__)


class ReportWriter(ReportOptions):
    """Writes map.csv/map.json (the interactive map and cluster cards), facets.json (cross-tabs of a model's
    facets) and report.md/report.html.

    embed_audio: cluster-card players hold `preview_seconds` of mono ogg at `preview_sample_rate` inside
    report.html (shareable without the audio files); otherwise they link to the audio relative to the run
    folder. The map's click-to-play always links."""

    def write(self, art) -> list[Path]:
        """`art`: pipeline.RunArtifacts. Never raises: a broken map or report is logged."""
        try:
            write_map_data(art, self.projection, self.seed, self.lyrics_chars)
        except Exception as err:  # noqa: BLE001 - the run's results are already on disk
            log.warning("interactive map data could not be written: %s: %s", type(err).__name__, err)
        try:
            write_facets_json(art, min(self.n_examples, 3))
        except Exception as err:  # noqa: BLE001 - the run's results are already on disk
            log.warning("facet cross-tabs could not be written: %s: %s", type(err).__name__, err)
        return write_run_report(Path(art.out_dir), items=art.items, options=self)
