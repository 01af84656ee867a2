"""Feature extractors: items table -> feature matrix (one row per kept item).

One file per feature set (mfcc_stats, mel, audio_text, lyrics, hybrid; table for feature-table data),
built from conf/features/<name>.yaml. Shared pieces: base.py (interface, cached parallel per-clip
extraction), analysis.py (one STFT per clip), cache.py (on-disk cache), text_encoders.py.
"""
