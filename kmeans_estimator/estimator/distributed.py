"""Parameter-server training across processes, on TensorFlow's own gRPC runtime.

Each process is one task of the cluster that TF_CONFIG describes (`RunConfig` reads
it). Every task serves its address with a `tf.distribute.Server`. Training graphs
are built under a `replica_device_setter`, so the variables, the global step
included, live on the ps tasks and every worker's steps update them. The chief
initializes (or restores) the model, and writes checkpoints and summaries; the
other workers wait for it and then train on their own input.

Training run by `train_and_evaluate` (through `Estimator.train_and_report_end`) is the
task's last, and two things differ from tf.estimator, whose ps tasks served for ever and
whose last checkpoint missed the steps workers ran after the chief stopped (a script calling
`train()` itself may call it again, so there ps tasks serve until killed and the chief does
not wait, as with tf.estimator):
- when a chief or worker finishes training normally, it puts a token naming itself
  in a queue on every ps task (`DoneReportHook`); a ps task returns once every
  training task has reported, or `STRAGGLER_SECS` after the chief has (a worker
  that died and was never restarted does not keep it alive for ever);
- the chief writes its last checkpoint only after the other workers have reported
  too (`WorkersDoneHook`), or `STRAGGLER_SECS` have passed, so that the model
  directory holds every worker's steps.
"""
import time

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import checkpoints, tf_config

# How often a task waiting for the chief (to initialize the model, or a model's own first
# step) checks again; TensorFlow's own SessionManager waits 30 s between checks.
CHIEF_POLL_SECS = 0.5

# How long the chief (for its last checkpoint) and the ps tasks (before they exit)
# wait for workers that have not finished when the chief has.
STRAGGLER_SECS = 60

# tf.estimator staggered worker i's start by min(max delay, 5 * (i + 1)) seconds.
_DELAY_SECS_PER_WORKER = 5

# The servers this process started, by (job, task index): a server cannot be
# stopped, and its port stays taken until the process exits.
_servers = {}


def is_distributed(config):
    """Whether `config` is a task of a multi-task training cluster (so it needs a server)."""
    return bool(config.master)


def own_task_device(config):
    """This task's device on a cluster (for state no other task reads), or None locally."""
    if not is_distributed(config):
        return None
    return tf_config.task_device(config.task_type, config.task_id)


def wait_for_chief(is_ready, max_wait_secs=None):
    """Calls `is_ready()` every `CHIEF_POLL_SECS` until it returns a true value; returns it.

    A non-chief task waits this way for what the chief does first: initialize (or restore)
    the model, or, in a model's first step, anything the other tasks then read.

    Args:
      is_ready: a callable taking no arguments; a true result ends the wait.
      max_wait_secs: give up once the next check would come after this many seconds;
        None waits for ever.

    Returns:
      The first true result of `is_ready()`.

    Raises:
      tf.errors.DeadlineExceededError: `is_ready()` was still false after `max_wait_secs`.
    """
    started = time.monotonic()
    while True:
        result = is_ready()
        if result:
            return result
        if max_wait_secs is not None and time.monotonic() - started + CHIEF_POLL_SECS > max_wait_secs:
            raise tf.errors.DeadlineExceededError(
                None, None, f"the chief was not ready after waiting {max_wait_secs} s")
        time.sleep(CHIEF_POLL_SECS)


def start_server(config):
    """Starts this task's `tf.distribute.Server`, once per process; returns it.

    Raises:
      ValueError: this process already serves another task, or the address is taken.
    """
    key = (config.task_type, config.task_id)
    if key in _servers:
        return _servers[key]
    if _servers:
        (job, index), = _servers
        raise ValueError(
            f"this process already serves task {job}:{index} of the cluster and cannot also "
            f"serve {config.task_type}:{config.task_id}; run one task per process"
        )
    address = config.cluster_spec.task_address(config.task_type, config.task_id)
    try:
        server = tf.distribute.Server(
            config.cluster_spec, job_name=config.task_type, task_index=config.task_id,
            protocol=config.protocol or "grpc", start=True)
    except (tf.errors.UnknownError, tf.errors.UnavailableError, tf.errors.InvalidArgumentError) as error:
        raise ValueError(
            f"could not start the TensorFlow server of task {config.task_type}:{config.task_id} "
            f"at {address} (is the port taken, or the host not this machine?): {error.message}"
        ) from None
    log.info("Started the TensorFlow server of task %s:%d at %s", config.task_type, config.task_id, address)
    _servers[key] = server
    return server


def replica_device_fn(config):
    """The default device function of distributed training graphs, or None locally.

    Variables go round-robin to the ps tasks; every other op runs on this task.
    """
    if not is_distributed(config) or config.num_ps_replicas == 0:
        return None
    return tf.compat.v1.train.replica_device_setter(
        ps_tasks=config.num_ps_replicas,
        worker_device=own_task_device(config),
        merge_devices=True,
        cluster=config.cluster_spec,
    )


def device_filters(config):
    """The devices a training session of this task may use: the ps tasks and its own.

    Without them a session waits for every task of the cluster, so a chief could not
    start while a worker is down, and the reverse.
    """
    own = tf_config.task_device(config.task_type, config.task_id)
    if config.task_type == tf_config.PS:
        return [own]
    return ["/job:" + tf_config.PS, own]


def delay_worker_start(config):
    """Sleeps as `RunConfig.experimental_max_worker_delay_secs` asks (non-chief workers only)."""
    max_delay = config.experimental_max_worker_delay_secs
    if max_delay is None or config.is_chief or config.task_type != tf_config.WORKER:
        return
    delay = min(max_delay, _DELAY_SECS_PER_WORKER * (config.task_id + 1))
    log.info("Waiting %d s before starting worker %d", delay, config.task_id)
    time.sleep(delay)


class WorkerSessionCreator(tf.compat.v1.train.SessionCreator):
    """Creates a non-chief worker's session once the chief has initialized the model.

    TensorFlow's `WorkerSessionCreator` checks every 30 s, so a worker started a moment
    before the chief lost half a minute; this one checks every `CHIEF_POLL_SECS`
    (`wait_for_chief`), each check a new session that is closed unless the model is ready.

    Args:
      scaffold: the training `tf.compat.v1.train.Scaffold`.
      master: this task's session target.
      config: the session's `ConfigProto`.
      max_wait_secs: give up (DeadlineExceededError) after this long.
    """

    def __init__(self, scaffold, master, config, max_wait_secs):
        self._scaffold = scaffold
        self._master = master
        self._config = config
        self._max_wait_secs = max_wait_secs

    def create_session(self):
        self._scaffold.finalize()
        manager = tf.compat.v1.train.SessionManager(
            local_init_op=self._scaffold.local_init_op,
            ready_op=self._scaffold.ready_op,
            ready_for_local_init_op=self._scaffold.ready_for_local_init_op,
            graph=tf.compat.v1.get_default_graph(),
            recovery_wait_secs=CHIEF_POLL_SECS,
            local_init_feed_dict=self._scaffold.local_init_feed_dict,
        )

        def ready_session():
            # With no time to wait, the manager tries once and raises when not ready.
            try:
                return manager.wait_for_session(self._master, config=self._config, max_wait_secs=0)
            except tf.errors.DeadlineExceededError:
                return None

        return wait_for_chief(ready_session, self._max_wait_secs)


def _task_name(job, index):
    return f"{job}:{index}"


def _done_queue(ps_index):
    """The queue on ps task `ps_index` that training tasks report their end into."""
    with tf.device(tf_config.task_device(tf_config.PS, ps_index)):
        return tf.queue.FIFOQueue(
            capacity=1024, dtypes=[tf.string], shapes=[[]],
            shared_name=f"kmeans_estimator_done_ps{ps_index}", name=f"done_queue_ps{ps_index}")


def _workers_done_queue():
    """The queue on ps task 0 that non-chief workers report their end into, for the chief."""
    with tf.device(tf_config.task_device(tf_config.PS, 0)):
        return tf.queue.FIFOQueue(
            capacity=1024, dtypes=[tf.string], shapes=[[]],
            shared_name="kmeans_estimator_workers_done", name="workers_done_queue")


class DoneReportHook(tf.compat.v1.train.SessionRunHook):
    """Tells every ps task (and, from a worker, the chief), when training ends
    normally, that this task is done."""

    def __init__(self, config):
        self._config = config
        self._reports = None

    def begin(self):
        config = self._config
        if config.num_ps_replicas == 0:
            self._reports = []
            return
        name = tf.constant(_task_name(config.task_type, config.task_id))
        with tf.name_scope("report_done"):
            self._reports = [_done_queue(index).enqueue(name) for index in range(config.num_ps_replicas)]
            if not config.is_chief:
                self._reports.append(_workers_done_queue().enqueue(name))

    def end(self, session):
        if self._reports:
            session.run(self._reports)
            log.info("Reported the end of training to %d ps task(s)", self._config.num_ps_replicas)


def _take_until(session, take, expected, deadline_secs, what):
    """Takes names from a done queue until all `expected` are in, or the deadline passes."""
    wait_once = tf.compat.v1.RunOptions(timeout_in_ms=1000)
    reported = set()
    started = time.monotonic()
    while not expected <= reported:
        if deadline_secs is not None and time.monotonic() - started > deadline_secs:
            log.warning("%s: stopped waiting after %d s; never reported: %s",
                        what, deadline_secs, sorted(expected - reported))
            break
        try:
            reported.add(session.run(take, options=wait_once).decode())
        except tf.errors.DeadlineExceededError:
            continue
        log.info("%s: %d of %d tasks finished", what, len(reported & expected), len(expected))
    return reported


class WorkersDoneHook(tf.compat.v1.train.SessionRunHook):
    """Chief hook: at the end of training, waits until the other workers have finished.

    Put before the checkpoint hook, so that the last checkpoint holds their steps.
    """

    def __init__(self, config):
        self._config = config
        self._take = None

    def begin(self):
        if self._config.num_ps_replicas:
            self._take = _workers_done_queue().dequeue()

    def end(self, session):
        if self._take is None:
            return
        workers = _training_tasks(self._config.cluster_spec) - {_chief_task(self._config.cluster_spec)}
        _take_until(session, self._take, workers, STRAGGLER_SECS, "chief")


def _chief_task(cluster_spec):
    """The chief's name: the chief or master task, or worker 0 of a cluster without either."""
    return _task_name(tf_config.chief_job(cluster_spec), 0)


def _training_tasks(cluster_spec):
    return {
        _task_name(job, index)
        for job in tf_config.TRAINING_JOBS if job in cluster_spec.jobs
        for index in range(cluster_spec.num_tasks(job))
    }


def run_ps(estimator, train_spec):
    """Serves this ps task until every training task has reported its end.

    Returns once every chief and worker has reported, or `STRAGGLER_SECS` after the
    chief has; at once, without serving, when the latest checkpoint in `model_dir` is
    already at `train_spec.max_steps` (training is over, and no task will report).
    """
    config = estimator.config
    if train_spec.max_steps is not None:
        step = checkpoints.checkpoint_global_step(estimator.latest_checkpoint())
        if step >= train_spec.max_steps:
            log.info("ps %d: nothing to serve, the model is at step %d >= max_steps=%d",
                     config.task_id, step, train_spec.max_steps)
            return
    server = start_server(config)
    expected = _training_tasks(config.cluster_spec)
    chief = _chief_task(config.cluster_spec)
    graph = tf.Graph()
    with graph.as_default():
        take = _done_queue(config.task_id).dequeue()
    options = tf.compat.v1.ConfigProto(device_filters=device_filters(config))
    with tf.compat.v1.Session(server.target, graph=graph, config=options) as session:
        # Without a deadline until the chief is done; then for STRAGGLER_SECS.
        reported = _take_until(session, take, {chief}, None, f"ps {config.task_id}")
        _take_until(session, take, expected - reported, STRAGGLER_SECS, f"ps {config.task_id}")


def run_training_task(estimator, train_spec):
    """Runs this chief, master or worker task of the cluster: trains until
    `train_spec.max_steps`, as the task's last training, so that its end is reported."""
    start_server(estimator.config)
    delay_worker_start(estimator.config)
    estimator.train_and_report_end(
        train_spec.input_fn,
        hooks=train_spec.hooks,
        max_steps=train_spec.max_steps,
        saving_listeners=train_spec.saving_listeners,
    )
