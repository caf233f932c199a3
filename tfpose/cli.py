"""What every command-line tool shares: flags defined once, quiet start-up, one error exit.

The training flags are generated from :mod:`tfpose.config` (one flag per
config field, with its help text and choices), so ``train.py`` and the
benchmark cannot drift apart from the configuration they fill in.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
from typing import Callable, Dict, List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up noise

import contextlib  # noqa: E402
import tempfile  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from tfpose import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS


def _define(name: str, default, typ, help_text: str, choices=None) -> None:
    if name in FLAGS:
        return
    origin = typing.get_origin(typ)
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if origin is typing.Union and len(args) == 1:  # Optional[X]
        typ = args[0]
        origin = typing.get_origin(typ)
    if choices is not None:
        flags.DEFINE_enum(name, default, list(choices), help_text)
    elif typ is bool:
        flags.DEFINE_bool(name, default, help_text)
    elif typ is int:
        flags.DEFINE_integer(name, default, help_text)
    elif typ is float:
        flags.DEFINE_float(name, default, help_text)
    elif typ is str:
        flags.DEFINE_string(name, default, help_text)
    elif origin in (list, List):
        flags.DEFINE_list(name, default, help_text)
    else:
        raise TypeError(f"no flag type for config field {name} ({typ})")


def define_config_flags() -> None:
    """One flag per field of :class:`tfpose.config.ExperimentConfig`."""
    for part, cls in config_lib.PARTS:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            _define(config_lib.flag_name(f), default, hints[f.name], f.metadata["help"],
                    f.metadata.get("choices"))


def config_flag_values(explicit_only: bool = False) -> Dict[str, object]:
    """Flag name -> value of the config flags (only those given on the command line)."""
    return {name: FLAGS[name].value for name in config_lib.flag_fields()
            if name in FLAGS and (FLAGS[name].present or not explicit_only)}


def define_data_location_flags() -> None:
    """Where TFDS data and the raw files are (train, evaluate, bench)."""
    _define("data_dir", None, str, "TFDS data_dir (default: TFDS's).")
    _define("manual_dir", None, str, "Raw data folder (else $TFPOSE_H36M_DIR / "
            "$TFPOSE_HUMANEVA_DIR, else the TFDS default manual dir).")


@contextlib.contextmanager
def _stderr_captured():
    """Point file descriptor 2 at a temporary file; on an exception, replay it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow and find its devices with their start-up lines muted.

    TensorFlow's C++ start-up lines (oneDNN, CUDA stubs, cuInit) are written
    before its logging reads ``TF_CPP_MIN_LOG_LEVEL``, so that variable
    cannot silence them; they go to a discarded buffer instead (replayed if
    the import fails). Does nothing once TensorFlow is imported.
    """
    if "tensorflow" in sys.modules:
        return
    with _stderr_captured():
        import tensorflow as tf
        tf.config.list_physical_devices()


def fail(prog: str, error: BaseException | str) -> typing.NoReturn:
    """The one-line error exit every CLI uses."""
    sys.exit(f"{prog}: error: {error}")


def run(main: Callable[[List[str]], Optional[int]], define_flags: Callable[[], None],
        argv: Optional[List[str]] = None) -> None:
    """Define the flags, then ``absl.app.run(main)`` with INFO logging (a console script)."""
    define_flags()
    quiet_tensorflow()

    def wrapped(args):
        logging.set_verbosity(logging.INFO)
        return main(args)

    app.run(wrapped, argv=argv)
