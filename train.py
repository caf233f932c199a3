"""Train a lifting model: ``python train.py --model=repgan|asn|baseline``.

Run again with the same ``--model_dir`` to resume where it stopped.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
_D = None  # filled lazily to avoid importing TF before flags parse


def _define_flags():
    from tfpose.training import TrainConfig
    d = TrainConfig()
    flags.DEFINE_enum("model", d.model, ["baseline", "asn", "repgan"], "Which method to train.")
    flags.DEFINE_enum("dataset", d.dataset, ["human36m/gt", "human36m/sh", "humaneva/gt"],
                      "TFDS dataset/config: gt = ground-truth 2D, sh = Stacked Hourglass 2D.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: TFDS's).")
    flags.DEFINE_string("manual_dir", None,
                        "Raw data folder (else $TFPOSE_H36M_DIR / $TFPOSE_HUMANEVA_DIR, "
                        "else the TFDS default manual dir).")
    flags.DEFINE_string("model_dir", None, "Where checkpoints, config and logs go.", required=True)
    flags.DEFINE_integer("epochs", d.epochs, "Epochs (ASN: 300 on H36M, 200 on HumanEva).")
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size.")
    flags.DEFINE_float("learning_rate", None, "Adam learning rate (default 1e-3; RepGAN 8e-5).")
    flags.DEFINE_float("lr_decay_rate", d.lr_decay_rate, "Exponential decay rate (baseline/ASN).")
    flags.DEFINE_integer("lr_decay_steps", d.lr_decay_steps, "Steps per decay_rate factor.")
    flags.DEFINE_integer("frame_stride", d.frame_stride, "Use every n-th training frame.")
    flags.DEFINE_integer("seed", d.seed, "Random seed (weights, order of batches, dropout).")
    flags.DEFINE_list("subjects", None, "Restrict training subjects, e.g. S1 (quick runs).")
    flags.DEFINE_integer("checkpoint_every", d.checkpoint_every, "Checkpoint every n steps "
                         "(and at the end of each epoch).")
    flags.DEFINE_integer("steps_per_call", d.steps_per_call,
                         "Training steps per tf.function call (cuts per-step overhead).")
    flags.DEFINE_bool("jit_compile", d.jit_compile, "Compile the step with XLA.")
    flags.DEFINE_bool("fused_adam", d.fused_adam, "Update weights with TF's fused Adam kernel "
                      "(same formula as Keras's Adam, one pass per weight).")
    flags.DEFINE_bool("fast_dropout", d.fast_dropout, "Dropout masks from 8 random bits per "
                      "unit (rate rounded to 1/256; exact for 0.5) instead of a float each.")
    flags.DEFINE_enum("mixed_precision", d.mixed_precision, ["none", "bfloat16"],
                      "Run the dense trunks in bfloat16 (variables, heads, losses stay float32).")
    flags.DEFINE_integer("val_stride", d.val_stride, "Validate each epoch on every n-th test "
                         "frame (0: no validation).")
    flags.DEFINE_float("noise_std", d.noise_std, "Gaussian noise (pixels) on 2D training inputs.")
    flags.DEFINE_integer("width", d.width, "Hidden width of the fully connected layers.")
    flags.DEFINE_float("dropout", d.dropout, "Dropout rate.")
    flags.DEFINE_bool("max_norm", d.max_norm, "Max-norm constraint on weights (Martinez).")
    flags.DEFINE_enum("asn_variant", d.asn_variant,
                      ["basic", "basic+ref", "basic+ref+AM*", "basic+ref+AM", "basic+ref+AM+REM"],
                      "ASN ablation (Table 2 rows).")
    flags.DEFINE_enum("kcs", d.kcs, ["wkcs", "kcs", "none"], "RepGAN critic's KCS input.")
    flags.DEFINE_bool("synchronous", d.synchronous,
                      "RepGAN: train the reprojector with the GAN (else separately).")
    flags.DEFINE_enum("lipschitz", d.lipschitz, ["gp", "clip"],
                      "RepGAN critic constraint: gradient penalty or weight clipping.")
    flags.DEFINE_float("gp_weight", d.gp_weight, "Gradient penalty weight.")
    flags.DEFINE_float("clip_value", d.clip_value, "Weight clipping bound.")
    flags.DEFINE_float("lambda_angle", None, "Weight of L_angle (RepGAN eq. 13); default 1 "
                       "where the 2D joints include the nose (human36m/gt), else 0.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                      "tf.distribute strategy.")
    flags.DEFINE_integer("max_steps", None, "Stop after this many global steps in total.")
    flags.DEFINE_bool("export", False, "Export SavedModel + TFLite to model_dir/export at the end.")


def run(argv=None):
    _define_flags()
    app.run(main, argv=argv)


def main(argv):
    del argv
    import dataclasses

    from tfpose import training

    logging.set_verbosity(logging.INFO)
    fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
    values = {name: FLAGS[name].value for name in fields if name in FLAGS}
    try:
        config = training.TrainConfig(**values)
        strategy = training.make_strategy(FLAGS.strategy)
        training.fit(config, FLAGS.model_dir, manual_dir=FLAGS.manual_dir, data_dir=FLAGS.data_dir,
                     strategy=strategy, command_line=" ".join(sys.argv),
                     max_steps=FLAGS.max_steps)
        if FLAGS.export:
            from tfpose import export
            out = export.export_model_dir(FLAGS.model_dir, os.path.join(FLAGS.model_dir, "export"))
            logging.info("exported to %s", out)
    except (ValueError, training.TrainingError) as e:
        logging.error("%s", e)
        sys.exit(f"train.py: error: {e}")


if __name__ == "__main__":
    run()
