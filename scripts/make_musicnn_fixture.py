"""Record the ORIGINAL musicnn's outputs (TensorFlow) on a few real clips: tests/fixtures/musicnn_ref.npz.

Runs in a separate throwaway environment, never the project's (musicnn pins old numpy; TensorFlow is not a
project dependency):

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.*" librosa soundfile soxr
    pip download musicnn==0.1.0 --no-deps -d /tmp/mnn
    unzip -q /tmp/mnn/musicnn-0.1.0-py3-none-any.whl -d /tmp/mnn/src
    /tmp/tfenv/bin/python scripts/make_musicnn_fixture.py --musicnn /tmp/mnn/src

It imports musicnn's own extractor.py/models.py unchanged (from the unpacked wheel, not installed; no patch
was needed with TF 2.15, numpy 1.26, librosa 0.11). It writes tests/fixtures/tiny_ckpt/model.* (a tiny
checkpoint saved by TensorFlow, for the reader's test) and, per model and clip, the taggram (sigmoid tag
outputs per 3-s patch) and the penultimate layer of the first patch (musicnn 0.1.0's extractor returns that
first row again for every later patch: a bug there). tests/test_musicnn.py compares the PyTorch port with it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("gtzan_mini/genres_original/metal/metal.00001.wav",
         "gtzan_mini/genres_original/classical/classical.00002.wav",
         "gtzan_mini/genres_original/hiphop/hiphop.00003.wav",
         "songs_en_de/audio/TRYJSKN12903CC0339.mp3")
MODELS = ("MSD_musicnn", "MTT_musicnn")


def tiny_checkpoint(prefix: Path) -> None:
    """A tiny checkpoint written by TensorFlow itself, for the pure-python reader's unit test."""
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.compat.v1.variable_scope("block"):
        tf.compat.v1.get_variable("kernel", initializer=np.arange(24, dtype=np.float32).reshape(2, 3, 1, 4) / 7)
        tf.compat.v1.get_variable("bias", initializer=np.array([-1.5, 0.0, 2.5], np.float64))
    tf.compat.v1.get_variable("step", initializer=np.int64(123456789012))
    tf.compat.v1.get_variable("name", initializer=tf.constant("skipped"))  # strings are not read
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().save(sess, str(prefix), write_meta_graph=False, write_state=False)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--musicnn", required=True, help="folder holding the unpacked wheel's musicnn/ package")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "tests" / "fixtures" / "musicnn_ref.npz"))
    args = ap.parse_args(argv)
    tiny_checkpoint(Path(args.out).parent / "tiny_ckpt" / "model")
    sys.path.insert(0, args.musicnn)
    from musicnn.extractor import extractor  # noqa: E402 - the reference implementation itself

    out = {"clips": np.array(CLIPS)}
    for model in MODELS:
        for i, clip in enumerate(CLIPS):
            taggram, _, feats = extractor(str(Path(args.data) / clip), model=model, extract_features=True)
            out[f"{model}/{i}/taggram"] = np.asarray(taggram, np.float32)
            # only the first patch: extractor() repeats the first patch's penultimate row for later patches
            out[f"{model}/{i}/penultimate0"] = np.asarray(feats["penultimate"], np.float32)[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
