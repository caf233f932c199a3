"""``python -m tfpose.pretrained pack|list``: pack a trained model for shipping, list shipped ones.

::

    python -m tfpose.pretrained pack --model_dir=runs/asn_sh --name=asn-h36m-sh \\
        [--precision=auto|float16|int8] [--nomeasure] [--manual_dir=... | --data_dir=...]
    python -m tfpose.pretrained list
"""

from __future__ import annotations

import json
import os
import sys

from tfpose import cli  # before TensorFlow: keeps its start-up log quiet
cli.quiet_tensorflow()

from absl import flags  # noqa: E402

import tfpose.pretrained as pretrained  # noqa: E402

PROG = "python -m tfpose.pretrained"
COMMANDS = ("pack", "list")


def define_flags():
    cli.define_data_location_flags()
    flags.DEFINE_string("model_dir", None, "pack: the trained model directory (train.py).")
    flags.DEFINE_string("name", None, "pack: the shipped name, e.g. asn-h36m-sh.")
    flags.DEFINE_enum("precision", "auto", ["auto", "float16", "int8"],
                      "pack: kernel storage; auto = int8 if its measured accuracy cost is "
                      "under 0.5 mm, else float16 (float16 when not measuring).")
    flags.DEFINE_bool("measure", True, "pack: measure protocols #1/#2 on the test split with "
                      "the float32 and the packed weights (needs the data).")
    flags.DEFINE_list("subjects", None, "pack: restrict the measurement to these test "
                      "subjects (quick checks; shipped numbers use the whole split).")
    flags.DEFINE_integer("frame_stride", 1, "pack: measure on every n-th test frame.")
    flags.DEFINE_string("root", None, f"Folder of the pretrained models (default: "
                        f"${pretrained.ROOT_ENV}, else the installed package's).")


def _list(root_dir) -> str:
    lines = []
    for name in pretrained.available(root_dir):
        meta = pretrained.read_folder(os.path.join(pretrained.root(root_dir), name),
                                      check_hashes=False)
        ev = meta.get("evaluation") or {}
        scores = ", ".join(f"{p} {ev[p]['metric']} {ev[p]['avg']:.1f} mm"
                           for p in ("protocol1", "protocol2") if p in ev) or "not measured"
        lines.append(f"{name}: {meta['model_kind']} on {meta['dataset']}, "
                     f"{len(meta['joint_names_2d'])} -> {len(meta['joint_names_3d'])} joints, "
                     f"{meta['units']}, {meta['weights']['precision']}; {scores}")
    return "\n".join(lines) or pretrained.describe_available(root_dir)


def main(argv):
    FLAGS = flags.FLAGS
    if len(argv) != 2 or argv[1] not in COMMANDS:
        cli.fail(PROG, f"expected one command, {' or '.join(COMMANDS)}; got "
                       f"{' '.join(argv[1:]) or 'none'}")
    try:
        if argv[1] == "list":
            print(_list(FLAGS.root))
            return
        if not FLAGS.model_dir or not FLAGS.name:
            cli.fail(PROG, "pack needs --model_dir and --name")
        from tfpose.pretrained import pack

        folder = pack.pack(FLAGS.model_dir, FLAGS.name, precision=FLAGS.precision,
                           root_dir=FLAGS.root, measure=FLAGS.measure, data_dir=FLAGS.data_dir,
                           manual_dir=FLAGS.manual_dir, subjects=FLAGS.subjects,
                           frame_stride=FLAGS.frame_stride, command_line=" ".join(sys.argv))
        with open(os.path.join(folder, pretrained.METADATA_FILE)) as f:
            meta = json.load(f)
        print(f"packed {FLAGS.model_dir} as {FLAGS.name} in {folder}: "
              f"{meta['compaction']['chosen']}; "
              f"{sum(meta['sizes'].values()) / 1e6:.2f} MB")
    except (ValueError, OSError, RuntimeError) as e:  # PretrainedError, TrainingError, data
        cli.fail(PROG, e)


def run(argv=None):
    cli.run(main, define_flags, argv)


if __name__ == "__main__":
    run()
