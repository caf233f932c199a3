"""Training on several machines (``MultiWorkerMirroredStrategy``): what one worker
needs to know about the others.

Every worker reads the run's ``model_dir`` (a shared file system or ``gs://``)
to resume; only the chief writes there. When a worker dies, the others' next
collective fails: TensorFlow's coordination service notices the missing
heartbeats of a dead worker, and the chief's death breaks the others' gRPC
connections. :func:`lost_worker_message` turns that error into one line.
"""

from __future__ import annotations

import re

import tensorflow as tf

# Errors a collective raises when a peer died or the cluster aborted the step.
PEER_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                 tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.InternalError,
                 tf.errors.UnknownError)
# The last three also report ordinary bugs; these words say a peer is the cause.
_PEER_WORDS = ("Collective ops is aborted", "unhealthy", "heartbeat", "Connection reset",
               "Socket closed", "failed to connect", "UNAVAILABLE")


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Processes (chief and workers) the strategy spans; 1 off a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


def check_same_step(strategy: tf.distribute.Strategy, step: int) -> None:
    """Refuse to train when the workers restored different checkpoints.

    A worker that cannot see the chief's ``model_dir`` would start from step 0
    while the chief resumes: its data order and variables would silently
    disagree with the chief's."""
    if num_workers(strategy) <= 1:
        return

    @tf.function
    def every_replicas(value):
        return strategy.gather(strategy.run(lambda v: tf.reshape(v, [1]), args=(value,)), axis=0)

    steps = every_replicas(tf.constant(step, tf.int64)).numpy()
    low, high = int(steps.min()), int(steps.max())
    if low != high:
        raise ValueError(
            f"the workers restored different checkpoints (global steps {low} to {high}; this "
            f"one: {step}): every worker must read the chief's model_dir (a shared file "
            "system or gs://) to resume")


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error`` (raised by a collective) means another worker failed."""
    if isinstance(error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                          tf.errors.AbortedError)):
        return True
    text = getattr(error, "message", None) or str(error)
    return isinstance(error, PEER_FAILURES) and any(w in text for w in _PEER_WORDS)


def lost_worker_message(error: BaseException, step: int, latest_checkpoint) -> str:
    """One line: which peer failed (as TensorFlow reports it), where training stopped,
    which checkpoint to resume from."""
    text = getattr(error, "message", None) or str(error)
    tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", text)))
    reason = next((line.split("aborted by:", 1)[1].strip() for line in text.splitlines()
                   if "aborted by:" in line), None)
    if reason is None:
        reason = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if "stopped sending heartbeats" in text:
        reason = "stopped sending heartbeats"
    if len(reason) > 120 and ". " in reason:  # TensorFlow's advice follows the first sentence
        reason = reason[:reason.index(". ") + 1]
    who = ", ".join(tasks) or "a peer"
    return (f"training stopped at global step {step}: lost contact with another worker of the "
            f"cluster ({who}: {reason[:200]}); the last checkpoint "
            f"{latest_checkpoint or '(none yet)'} is intact: start every worker again with the "
            "same command to resume from it")
