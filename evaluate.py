"""Evaluate a trained model on the test split: ``python evaluate.py --model_dir=...``
(or ``--saved_model=EXPORT_DIR``, or ``--pretrained=NAME`` for a shipped model,
compared with the protocols its metadata records).

Prints protocol #1 and #2 per action in the layout of the papers' tables, plus
hard-joint errors, bone-length RMSE, 3DPCK/AUC, and writes ``results.json``.
"""

import sys

from absl import flags

from tfpose import cli

FLAGS = flags.FLAGS


def define_flags():
    cli.define_data_location_flags()
    flags.DEFINE_string("model_dir", None, "A train.py model directory.")
    flags.DEFINE_string("saved_model", None, "Or an exported directory (tfpose.export).")
    flags.DEFINE_string("pretrained", None, "Or a shipped pretrained model's name (or folder); "
                        "the result is compared with its metadata.json.")
    flags.DEFINE_string("dataset", None, "Dataset to test on (default: the training dataset).")
    flags.DEFINE_list("subjects", None, "Restrict test subjects (default: the whole test split).")
    flags.DEFINE_bool("validation", False, "Test on the run's held-out validation subjects "
                      "(its --val_subjects, e.g. S8) instead of the test split: every protocol "
                      "where recipes are chosen (default output: results_validation.json).")
    flags.DEFINE_integer("frame_stride", 1, "Use every n-th test frame (1: all, as the papers).")
    flags.DEFINE_float("noise_std", 0.0, "Gaussian noise (pixels) added to the 2D test inputs.")
    flags.DEFINE_integer("noise_seed", 0, "Seed of that noise.")
    flags.DEFINE_bool("test_flip", False, "Average each prediction with that of the mirrored "
                      "input, mirrored back (test-time flip; ours, not the papers').")
    flags.DEFINE_integer("checkpoint", None, "With --model_dir: evaluate the checkpoint of "
                         "this global step (one the run keeps) instead of its newest; "
                         "results go to results_ckpt-<step>.json by default.")
    flags.DEFINE_bool("weight_average", True, "With --model_dir of a run trained with "
                      "--ema_decay: --noweight_average evaluates its raw weights instead "
                      "(results_raw.json by default).")
    flags.DEFINE_integer("batch_size", 4096, "Inference batch size.")
    flags.DEFINE_string("backend", "saved_model", "With --saved_model: which runtime/file of "
                        "the export to evaluate (saved_model, saved_model_xla, tflite, "
                        "tflite_fp16, tflite_int8).")
    flags.DEFINE_string("output", None, "results.json path (default: <model_dir>/results.json; "
                        "with --pretrained: ./results-<name>.json; --validation, "
                        "--checkpoint, --noweight_average, --noise_std and --test_flip add "
                        "_validation, _ckpt-<step>, _raw, _noise<std> and _flip to the name).")
    flags.DEFINE_string("figures", None, "Folder for PNG figures: per-joint errors and "
                        "2D input / ground truth / prediction examples.")


def main(argv):
    del argv
    from tfpose import evaluation

    if sum(bool(v) for v in (FLAGS.model_dir, FLAGS.saved_model, FLAGS.pretrained)) != 1:
        cli.fail("evaluate.py", "give exactly one of --model_dir, --saved_model or --pretrained")
    try:
        results, text = evaluation.run(
            model_dir=FLAGS.model_dir, saved_model=FLAGS.saved_model,
            pretrained=FLAGS.pretrained, dataset=FLAGS.dataset,
            data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir, subjects=FLAGS.subjects,
            frame_stride=FLAGS.frame_stride, noise_std=FLAGS.noise_std,
            noise_seed=FLAGS.noise_seed, batch_size=FLAGS.batch_size, output=FLAGS.output,
            command_line=" ".join(sys.argv), figures=FLAGS.figures, backend=FLAGS.backend,
            test_flip=FLAGS.test_flip, validation=FLAGS.validation,
            checkpoint=FLAGS.checkpoint, weight_average=FLAGS.weight_average)
    except (ValueError, RuntimeError) as e:
        cli.fail("evaluate.py", e)
    print(text)


def run(argv=None):
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run()
