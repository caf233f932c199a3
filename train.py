"""Train a lifting model: ``python train.py --model=repgan|asn|baseline --model_dir=...``.

Run again with the same ``--model_dir`` to resume where it stopped: flags not
given keep the run's stored settings; a given flag that would change what the
weights are trained to is refused (``tfpose.training.check_resumable``).
"""

import os
import sys

from absl import flags

from tfpose import cli

FLAGS = flags.FLAGS


def define_flags():
    cli.define_config_flags()
    cli.define_data_location_flags()
    flags.DEFINE_string("model_dir", None, "Where checkpoints, config, history and logs go.")
    flags.mark_flag_as_required("model_dir")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                      "tf.distribute strategy (multi_worker: set TF_CONFIG on each machine).")
    flags.DEFINE_integer("max_steps", None, "Stop after this many global steps in total.")
    flags.DEFINE_bool("restart_schedule", False, "On a resume with a new length (--epochs) "
                      "under a cosine/linear schedule: anneal again from the current step to "
                      "the new end (else such a resume is refused).")
    flags.DEFINE_bool("export", False, "Export SavedModel + TFLite to model_dir/export at the end.")


def config_from_flags():
    """A new run: every config flag; a resume: the stored config with the given flags applied."""
    from tfpose import training
    from tfpose.config import ExperimentConfig

    if os.path.exists(os.path.join(FLAGS.model_dir, training.CONFIG_FILE)):
        return training.read_config(FLAGS.model_dir).replace(
            **cli.config_flag_values(explicit_only=True))
    # Only the flags given: the config's defaults and the recipe's settings fill in the rest.
    return ExperimentConfig.from_flat(**cli.config_flag_values(explicit_only=True))


def main(argv):
    del argv
    from tfpose import training

    try:
        config = config_from_flags()
        strategy = training.make_strategy(FLAGS.strategy)
        training.fit(config, FLAGS.model_dir, manual_dir=FLAGS.manual_dir,
                     data_dir=FLAGS.data_dir, strategy=strategy,
                     command_line=" ".join(sys.argv), max_steps=FLAGS.max_steps,
                     restart_schedule=FLAGS.restart_schedule)
        if FLAGS.export and strategy.extended.should_checkpoint:  # the chief alone
            from tfpose import export
            out = export.export_model_dir(FLAGS.model_dir, os.path.join(FLAGS.model_dir, "export"))
            print(f"exported to {out}")
    except (ValueError, training.TrainingError) as e:
        cli.fail("train.py", e)


def run(argv=None):
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run()
