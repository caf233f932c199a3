"""Evaluate a trained model on the test split: ``python evaluate.py --model_dir=...``.

Prints protocol #1 and #2 per action in the layout of the papers' tables, plus
hard-joint errors, bone-length RMSE, 3DPCK/AUC, and writes ``results.json``.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_string("model_dir", None, "A train.py model directory.")
    flags.DEFINE_string("saved_model", None, "Or an exported directory (tfpose.export).")
    flags.DEFINE_string("dataset", None, "Dataset to test on (default: the training dataset).")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
    flags.DEFINE_string("manual_dir", None, "Raw data folder (see README).")
    flags.DEFINE_list("subjects", None, "Restrict test subjects (default: the whole test split).")
    flags.DEFINE_integer("frame_stride", 1, "Use every n-th test frame (1: all, as the papers).")
    flags.DEFINE_float("noise_std", 0.0, "Gaussian noise (pixels) added to the 2D test inputs.")
    flags.DEFINE_integer("noise_seed", 0, "Seed of that noise.")
    flags.DEFINE_integer("batch_size", 4096, "Inference batch size.")
    flags.DEFINE_string("backend", "saved_model", "With --saved_model: which runtime/file of "
                        "the export to evaluate (tfpose.export.BACKENDS: saved_model, "
                        "saved_model_xla, tflite, tflite_fp16, tflite_int8).")
    flags.DEFINE_string("output", None, "results.json path (default: <model_dir>/results.json).")
    flags.DEFINE_string("figures", None, "Folder for PNG figures: per-joint errors and "
                        "2D input / ground truth / prediction examples.")


def run(argv=None):
    _define_flags()
    app.run(main, argv=argv)


def main(argv):
    del argv
    from tfpose import evaluation

    logging.set_verbosity(logging.INFO)
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        sys.exit("evaluate.py: error: give exactly one of --model_dir or --saved_model")
    try:
        results, text = evaluation.run(
            model_dir=FLAGS.model_dir, saved_model=FLAGS.saved_model, dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir, subjects=FLAGS.subjects,
            frame_stride=FLAGS.frame_stride, noise_std=FLAGS.noise_std,
            noise_seed=FLAGS.noise_seed, batch_size=FLAGS.batch_size, output=FLAGS.output,
            command_line=" ".join(sys.argv), figures=FLAGS.figures, backend=FLAGS.backend)
    except (ValueError, RuntimeError) as e:
        sys.exit(f"evaluate.py: error: {e}")
    print(text)


if __name__ == "__main__":
    run()
