"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy (TF_CONFIG):
a worker killed mid-run stops the other with a clear error, the chief's last
checkpoint is intact, and the resumed two-worker job ends where a one-process
run at the same global batch ends. Only the chief writes to model_dir.

The workers train on ``data.synthetic_frames`` (train.py reads TFDS data) with
the strategy train.py builds for ``--strategy=multi_worker``.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import tensorflow as tf

from tfpose import data, training
from tfpose.config import ExperimentConfig

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = dict(model="baseline", dataset="human36m/sh", epochs=2, batch_size=64, width=32,
              dropout=0.0, val_stride=0, seed=3, checkpoint_every=4, steps_per_call=2)
NUM_FRAMES = 640  # 10 global steps of 64 rows per epoch
# How long the surviving worker may take to notice a dead peer (TensorFlow's
# coordination service misses its heartbeats; about 20 s here).
LOST_WORKER_TIMEOUT_S = 90
START_TIMEOUT_S = 300

WORKER = textwrap.dedent("""
    import json, sys, time
    import tensorflow as tf
    from absl import logging
    tf.config.threading.set_intra_op_parallelism_threads(1)
    from tfpose import checkpointing, data, training
    from tfpose.config import ExperimentConfig
    logging.set_verbosity(logging.INFO)
    model_dir, config, seconds_after_save = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    strategy = training.make_strategy("multi_worker")  # what train.py --strategy=multi_worker uses
    if seconds_after_save:  # slow the run down so that it can be killed midway
        real_save = checkpointing.Saver.save
        def save(self, number):
            path = real_save(self, number)
            time.sleep(seconds_after_save)
            return path
        checkpointing.Saver.save = save
    cfg = ExperimentConfig.from_flat(**config)
    frames = data.synthetic_frames(%d, cfg.data.dataset, seed=0)
    try:
        training.fit(cfg, model_dir, strategy=strategy, train_frames=frames, val_frames=None,
                     measure_hardware=False, command_line="worker")
    except training.TrainingError as e:
        sys.exit(f"worker: error: {e}")
    print("DONE replicas=%%d chief=%%s" %% (strategy.num_replicas_in_sync,
                                          strategy.extended.should_checkpoint), flush=True)
""" % NUM_FRAMES)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """Two worker processes (task 0 is the chief) with their logs; always cleaned up."""

    def __init__(self, root: pathlib.Path, name: str, model_dir, seconds_after_save=0.0):
        hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
        self.procs, self.logs, self.tmp = [], [], []
        for index in range(2):
            tmp = root / f"{name}-tmp{index}"  # each worker's TMPDIR (its throwaway saves)
            tmp.mkdir()
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO),
                   "TMPDIR": str(tmp), "TF_CONFIG": json.dumps(
                       {"cluster": {"worker": hosts}, "task": {"type": "worker",
                                                               "index": index}})}
            out, err = root / f"{name}-{index}.out", root / f"{name}-{index}.err"
            with open(out, "w") as o, open(err, "w") as e:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(model_dir), json.dumps(CONFIG),
                     str(seconds_after_save)], stdout=o, stderr=e, env=env, cwd=REPO))
            self.logs.append((out, err))
            self.tmp.append(tmp)

    def wait(self, index, timeout):
        return self.procs[index].wait(timeout)

    def stderr(self, index):
        return self.logs[index][1].read_text()

    def stdout(self, index):
        return self.logs[index][0].read_text()

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _predictions(model_dir, pose_2d):
    return training.predict(training.restore_task(str(model_dir)), pose_2d)


def test_two_workers_survive_a_killed_worker_and_match_one_process(tmp_path):
    frames = data.synthetic_frames(NUM_FRAMES, CONFIG["dataset"], seed=0)
    reference = tmp_path / "one_process"
    training.fit(ExperimentConfig.from_flat(**CONFIG), str(reference), train_frames=frames,
                 val_frames=None, measure_hardware=False)
    model_dir = tmp_path / "two_workers"
    ckpt_dir = model_dir / "ckpt"

    # 1. Kill the non-chief worker once the chief has written a checkpoint.
    killed = Cluster(tmp_path, "killed", model_dir, seconds_after_save=3.0)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while tf.train.latest_checkpoint(str(ckpt_dir)) is None:
            assert time.monotonic() < deadline, killed.stderr(0)[-3000:]
            assert killed.procs[0].poll() is None, killed.stderr(0)[-3000:]
            time.sleep(0.1)
        killed.procs[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        code = killed.wait(0, LOST_WORKER_TIMEOUT_S)
        noticed_after = time.monotonic() - killed_at
    finally:
        killed.stop()
    error = killed.stderr(0).strip().splitlines()[-1]
    assert code == 1, killed.stderr(0)[-3000:]
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    assert error.startswith("worker: error: training stopped at global step "), error
    assert "lost contact with another worker of the cluster (/job:worker/replica:0/task:1" \
        in error, error
    assert error.endswith(f"the last checkpoint {latest} is intact: start every worker again "
                          "with the same command to resume from it"), error
    assert noticed_after < LOST_WORKER_TIMEOUT_S
    stopped_at = int(error.split("global step ")[1].split(":")[0])
    assert 4 <= int(latest.rsplit("-", 1)[1]) <= stopped_at < 20
    assert all(np.isfinite(w.numpy()).all()
               for w in training.restore_task(str(model_dir)).model.weights)  # intact

    # 2. Resume the two-worker job: it continues from that checkpoint to the end.
    resumed = Cluster(tmp_path, "resumed", model_dir)
    try:
        codes = [resumed.wait(i, START_TIMEOUT_S) for i in range(2)]
    finally:
        resumed.stop()
    assert codes == [0, 0], resumed.stderr(0)[-3000:] + resumed.stderr(1)[-3000:]
    assert resumed.stdout(0).split() == ["DONE", "replicas=2", "chief=True"]
    assert resumed.stdout(1).split() == ["DONE", "replicas=2", "chief=False"]
    for index in range(2):
        assert f"restored {latest}: " in resumed.stderr(index)

    # 3. Same global batch, same result as one process (float rounding of the all-reduce).
    want = _predictions(reference, frames.pose_2d[:64])
    got = _predictions(model_dir, frames.pose_2d[:64])
    scale = np.abs(want).mean()
    assert np.abs(got - want).max() < 1e-3 * scale, np.abs(got - want).max() / scale

    # 4. Only the chief wrote: one events file per chief process, one set of
    #    checkpoints, the run's files and the chief's run lock; the other worker's throwaway saves
    #    are gone.
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "ckpt", "config.json", "history.json", "logs", "normalization.json", "train.lock"]
    assert len(list((model_dir / "logs").iterdir())) == 2
    assert all(p.name == "checkpoint" or p.name.startswith("ckpt-") for p in ckpt_dir.iterdir())
    assert sorted(training.read_history(str(model_dir))) == ["1", "2"]
    assert training.read_history(str(model_dir))["2"]["steps"] == 20
    assert not list(resumed.tmp[1].iterdir()), list(resumed.tmp[1].iterdir())


HEARTBEAT_LOST = (
    "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at ...\n"
    "Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks "
    "are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have "
    "crashed. Check the task logs for an earlier error, or scheduler events (e.g. preemption, "
    "eviction) to debug further.\n\t [[{{node CollectiveReduceV2}}]] [Op:__inference_train_calls]")
CHIEF_GONE = (
    "Graph execution error:\n\nCollective ops is aborted by: recvmsg:Connection reset by peer\n"
    "Additional GRPC error information from remote target /job:worker/replica:0/task:0 while "
    "calling /tensorflow.WorkerService/RecvBuf:\n:UNKNOWN:Error received from peer "
    "{grpc_status:14, grpc_message:\"recvmsg:Connection reset by peer\"}\n"
    "The error could be from a previous operation. Restart your program to reset.")

LEADER_GONE = (
    "Graph execution error:\n\nCollective ops is aborted by: Failed to send RPC to coordination "
    "service. Either the leader task was preempted/died/restarted unexpectedly or this task is "
    "experiencing network issues. Check earlier logs from 1) this task, 2) the leader (usually "
    "slice 0 task 0), and 3) cluster scheduler to debug further.\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:0 while calling "
    "/tensorflow.CoordinationService/PollForError")


def test_a_lost_worker_is_one_line_naming_it_and_the_checkpoint():
    """The messages TensorFlow 2.21 gave when a worker (heartbeats) or the chief (gRPC,
    coordination service) was killed, in the test above and by hand."""
    from tfpose import cluster

    lost = tf.errors.UnavailableError(None, None, HEARTBEAT_LOST)
    assert cluster.is_peer_failure(lost)
    assert cluster.lost_worker_message(lost, 12, "/runs/x/ckpt/ckpt-8") == (
        "training stopped at global step 12: lost contact with another worker of the cluster "
        "(/job:worker/replica:0/task:1: stopped sending heartbeats); the last checkpoint "
        "/runs/x/ckpt/ckpt-8 is intact: start every worker again with the same command to "
        "resume from it")
    gone = cluster.lost_worker_message(tf.errors.UnavailableError(None, None, CHIEF_GONE), 3,
                                       None)
    assert "(/job:worker/replica:0/task:0: recvmsg:Connection reset by peer)" in gone
    assert "the last checkpoint (none yet) is intact" in gone and "\n" not in gone
    leader = cluster.lost_worker_message(tf.errors.UnavailableError(None, None, LEADER_GONE), 3,
                                         None)
    assert "(/job:worker/replica:0/task:0: Failed to send RPC to coordination service.); " \
        in leader  # TensorFlow's advice after the first sentence is left out
    # A bug in a kernel is not a lost worker; a peer's abort reported as INTERNAL is.
    assert not cluster.is_peer_failure(tf.errors.InternalError(None, None, "Dst tensor is "
                                                               "not initialized."))
    assert cluster.is_peer_failure(tf.errors.InternalError(None, None, CHIEF_GONE))
    assert cluster.num_workers(tf.distribute.get_strategy()) == 1
    cluster.check_same_step(tf.distribute.get_strategy(), 5)  # one process: nothing to compare
