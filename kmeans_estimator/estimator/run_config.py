"""RunConfig: where an Estimator writes, how often it checkpoints, and which task it is.

The user's settings are checked here, each by its own keyword; the cluster fields come from
the ``TF_CONFIG`` environment variable, parsed once, at construction, by `tf_config`.
"""
import copy
import os

import tensorflow as tf

from kmeans_estimator.estimator import tf_config
from kmeans_estimator.estimator.checks import (
    check_optional_int,
    check_optional_non_negative_int,
    check_optional_non_negative_number,
    check_positive_int,
    check_positive_number,
    type_name,
)

_DEFAULT_CHECKPOINT_SECS = 600

# Marks "argument not given", so that an explicit None can mean "disabled".
_NOT_GIVEN = object()

# The constructor's arguments, in its order: what `replace` accepts and `repr` shows first.
_SETTINGS = (
    "model_dir",
    "tf_random_seed",
    "save_summary_steps",
    "save_checkpoints_steps",
    "save_checkpoints_secs",
    "session_config",
    "keep_checkpoint_max",
    "keep_checkpoint_every_n_hours",
    "log_step_count_steps",
    "train_distribute",
    "device_fn",
    "protocol",
    "eval_distribute",
    "experimental_max_worker_delay_secs",
    "session_creation_timeout_secs",
)

# The properties read from TF_CONFIG, which `replace` keeps.
_CLUSTER_PROPERTIES = (
    "cluster_spec",
    "task_type",
    "task_id",
    "is_chief",
    "master",
    "num_ps_replicas",
    "num_worker_replicas",
    "evaluation_master",
    "service",
    "global_id_in_cluster",
)


def _check_model_dir(model_dir):
    """`model_dir` as a str, or None."""
    if model_dir is None:
        return None
    if not isinstance(model_dir, (str, os.PathLike)):
        raise TypeError(f"model_dir must be a str, an os.PathLike or None, got {type_name(model_dir)}")
    path = os.fspath(model_dir)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError("model_dir must be a non-empty path or None, got ''")
    return path


def _check_schedule(steps, secs):
    """Applies tf.estimator's rule: 600 s unless steps are given; never both."""
    if steps is _NOT_GIVEN:
        steps = None
    if secs is _NOT_GIVEN:
        secs = None if steps is not None else _DEFAULT_CHECKPOINT_SECS
    steps = check_optional_non_negative_int("save_checkpoints_steps", steps)
    secs = check_optional_non_negative_number("save_checkpoints_secs", secs)
    if steps is not None and secs is not None:
        raise ValueError(
            "save_checkpoints_steps and save_checkpoints_secs cannot both be set, got "
            f"save_checkpoints_steps={steps!r} and save_checkpoints_secs={secs!r}; "
            "pass None for one of them"
        )
    return steps, secs


def _check_no_strategy(name, value):
    if value is not None:
        raise ValueError(
            f"{name} must be None, got {type_name(value)}: tf.distribute strategies are not "
            "supported; TF_CONFIG parameter-server training (see train_and_evaluate) needs no strategy"
        )


def _check_protocol(protocol):
    if protocol is not None and (not isinstance(protocol, str) or not protocol.startswith("grpc")):
        raise ValueError(f"protocol must be None or a gRPC protocol name such as 'grpc', got {protocol!r}")
    return protocol


class RunConfig:
    """Settings for one Estimator: model directory, checkpoints, summaries, cluster.

    Mirrors `tf.estimator.RunConfig` for everything a single-machine Estimator
    uses. If neither `save_checkpoints_steps` nor `save_checkpoints_secs` is
    given, a checkpoint is written every 600 seconds; passing None for both
    turns checkpointing off (as does 0).

    The cluster properties (`cluster_spec`, `task_type`, `task_id`, `is_chief`,
    `master`, `num_ps_replicas`, `num_worker_replicas`, `evaluation_master`,
    `service`, `global_id_in_cluster`) come from the ``TF_CONFIG`` environment variable, a JSON object
    ``{"cluster": {job: ["host:port", ...]}, "task": {"type": job, "index": i}}``,
    read when the RunConfig is built. Without TF_CONFIG this is worker 0 of a
    one-machine run and the chief. An ``"evaluator"`` task is accepted outside
    the cluster, as in tf.estimator; it is never the chief, and its config describes no
    cluster (empty `cluster_spec`, no ps or worker replicas, local master).

    Args:
      model_dir: directory for checkpoints and event files (str or PathLike,
        stored as str), or None to let the Estimator choose.
      tf_random_seed: integer graph-level random seed, or None.
      save_summary_steps: write summaries every this many steps; 0 or None
        disables them.
      save_checkpoints_steps: checkpoint every this many steps, or None.
      save_checkpoints_secs: checkpoint every this many seconds, or None.
      session_config: a `tf.compat.v1.ConfigProto` for the sessions, or None.
      keep_checkpoint_max: how many recent checkpoints to keep; 0 or None
        keeps them all.
      keep_checkpoint_every_n_hours: additionally keep one checkpoint per this
        many hours (positive number).
      log_step_count_steps: log the global step and steps/sec every this many
        steps; 0 or None disables the log.
      train_distribute, eval_distribute: must be None (tf.distribute strategies are
        not supported; parameter-server training runs from TF_CONFIG).
      device_fn: a callable `op -> device string` used as the graph's device
        function, or None. With ps tasks in TF_CONFIG and no `device_fn`, training
        graphs are built under `tf.compat.v1.train.replica_device_setter`.
      protocol: the TensorFlow server protocol ('grpc', the default, or e.g.
        'grpc+verbs'), or None.
      experimental_max_worker_delay_secs: see the property; None starts workers at once.
      session_creation_timeout_secs: how long non-chief workers wait for the chief.

    Raises:
      ValueError: if a number is out of range, both checkpoint schedules are
        set, or TF_CONFIG is malformed or names a task outside its cluster.
      TypeError: if model_dir, session_config or device_fn has the wrong type.
    """

    def __init__(
        self,
        model_dir=None,
        tf_random_seed=None,
        save_summary_steps=100,
        save_checkpoints_steps=_NOT_GIVEN,
        save_checkpoints_secs=_NOT_GIVEN,
        session_config=None,
        keep_checkpoint_max=5,
        keep_checkpoint_every_n_hours=10000,
        log_step_count_steps=100,
        train_distribute=None,
        device_fn=None,
        protocol=None,
        eval_distribute=None,
        experimental_max_worker_delay_secs=None,
        session_creation_timeout_secs=7200,
    ):
        self._configure(
            model_dir=model_dir,
            tf_random_seed=tf_random_seed,
            save_summary_steps=save_summary_steps,
            save_checkpoints_steps=save_checkpoints_steps,
            save_checkpoints_secs=save_checkpoints_secs,
            session_config=session_config,
            keep_checkpoint_max=keep_checkpoint_max,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
            log_step_count_steps=log_step_count_steps,
            train_distribute=train_distribute,
            device_fn=device_fn,
            protocol=protocol,
            eval_distribute=eval_distribute,
            experimental_max_worker_delay_secs=experimental_max_worker_delay_secs,
            session_creation_timeout_secs=session_creation_timeout_secs,
        )
        self._task = tf_config.from_environment()
        self._cluster_spec = self._task.cluster_spec()

    def _configure(
        self, *, model_dir, tf_random_seed, save_summary_steps, save_checkpoints_steps,
        save_checkpoints_secs, session_config, keep_checkpoint_max, keep_checkpoint_every_n_hours,
        log_step_count_steps, train_distribute, device_fn, protocol, eval_distribute,
        experimental_max_worker_delay_secs, session_creation_timeout_secs,
    ):
        """Checks every setting, then stores them all (nothing is stored when one is bad)."""
        seed = check_optional_int("tf_random_seed", tf_random_seed)
        if session_config is not None and not isinstance(session_config, tf.compat.v1.ConfigProto):
            raise TypeError(
                f"session_config must be a tf.compat.v1.ConfigProto or None, got {type_name(session_config)}")
        if device_fn is not None and not callable(device_fn):
            raise TypeError(f"device_fn must be a callable or None, got {type_name(device_fn)}")
        steps, secs = _check_schedule(save_checkpoints_steps, save_checkpoints_secs)
        model_dir = _check_model_dir(model_dir)
        summary_steps = check_optional_non_negative_int("save_summary_steps", save_summary_steps)
        keep_max = check_optional_non_negative_int("keep_checkpoint_max", keep_checkpoint_max)
        every_n_hours = check_positive_number("keep_checkpoint_every_n_hours", keep_checkpoint_every_n_hours)
        log_steps = check_optional_non_negative_int("log_step_count_steps", log_step_count_steps)
        _check_no_strategy("train_distribute", train_distribute)
        _check_no_strategy("eval_distribute", eval_distribute)
        protocol = _check_protocol(protocol)
        max_delay = check_optional_non_negative_int(
            "experimental_max_worker_delay_secs", experimental_max_worker_delay_secs)
        timeout = check_positive_int("session_creation_timeout_secs", session_creation_timeout_secs)

        self._model_dir = model_dir
        self._tf_random_seed = seed
        self._save_summary_steps = summary_steps
        self._save_checkpoints_steps = steps
        self._save_checkpoints_secs = secs
        self._session_config = session_config
        self._keep_checkpoint_max = keep_max
        self._keep_checkpoint_every_n_hours = every_n_hours
        self._log_step_count_steps = log_steps
        self._device_fn = device_fn
        self._protocol = protocol
        self._experimental_max_worker_delay_secs = max_delay
        self._session_creation_timeout_secs = timeout

    def replace(self, **kwargs):
        """Returns a copy with some settings changed; the cluster fields are kept.

        Giving only one of `save_checkpoints_steps` / `save_checkpoints_secs`
        (not None) switches the schedule: the other one becomes None.

        Args:
          **kwargs: new values for any of the constructor arguments.

        Returns:
          A new `RunConfig`.

        Raises:
          ValueError: if a key is not a constructor argument or a value is
            invalid (same checks as the constructor).
        """
        unknown = sorted(set(kwargs) - set(_SETTINGS))
        if unknown:
            raise ValueError(
                f"replace() got unknown RunConfig argument(s) {unknown}; allowed are {list(_SETTINGS)}"
            )
        settings = {name: getattr(self, name) for name in _SETTINGS}
        settings.update(kwargs)
        if kwargs.get("save_checkpoints_steps") is not None and "save_checkpoints_secs" not in kwargs:
            settings["save_checkpoints_secs"] = None
        if kwargs.get("save_checkpoints_secs") is not None and "save_checkpoints_steps" not in kwargs:
            settings["save_checkpoints_steps"] = None
        new = copy.copy(self)
        new._configure(**settings)
        return new

    def __repr__(self):
        def shown(name):
            value = getattr(self, name)
            if name == "session_config" and value is not None:
                return "ConfigProto<" + " ".join(str(value).split()) + ">"
            if name == "cluster_spec":
                return repr(value.as_dict())
            return repr(value)

        settings = ", ".join(f"{name}={shown(name)}" for name in _SETTINGS + _CLUSTER_PROPERTIES)
        return f"{type(self).__name__}({settings})"

    @property
    def model_dir(self):
        """Directory for checkpoints and event files, as a str, or None."""
        return self._model_dir

    @property
    def tf_random_seed(self):
        """Graph-level random seed, or None."""
        return self._tf_random_seed

    @property
    def save_summary_steps(self):
        """Steps between summary writes; 0 or None means never."""
        return self._save_summary_steps

    @property
    def save_checkpoints_steps(self):
        """Steps between checkpoints, or None."""
        return self._save_checkpoints_steps

    @property
    def save_checkpoints_secs(self):
        """Seconds between checkpoints, or None."""
        return self._save_checkpoints_secs

    @property
    def session_config(self):
        """The `tf.compat.v1.ConfigProto` for sessions, or None."""
        return self._session_config

    @property
    def keep_checkpoint_max(self):
        """How many recent checkpoints to keep; 0 or None keeps all."""
        return self._keep_checkpoint_max

    @property
    def keep_checkpoint_every_n_hours(self):
        """Keep one checkpoint per this many hours in addition to the recent ones."""
        return self._keep_checkpoint_every_n_hours

    @property
    def log_step_count_steps(self):
        """Steps between step-rate log lines; 0 or None means never."""
        return self._log_step_count_steps

    @property
    def device_fn(self):
        """Callable `op -> device string`, or None."""
        return self._device_fn

    @property
    def cluster_spec(self):
        """The `tf.train.ClusterSpec` from TF_CONFIG; empty when there is none."""
        return self._cluster_spec

    @property
    def task_type(self):
        """This task's job name ('worker' without TF_CONFIG)."""
        return self._task.task_type

    @property
    def task_id(self):
        """This task's index within its job (0 without TF_CONFIG)."""
        return self._task.task_id

    @property
    def is_chief(self):
        """Whether this task writes checkpoints and summaries."""
        return self._task.is_chief

    @property
    def master(self):
        """Session target: '' for a local run, else 'grpc://host:port' of this task."""
        return self._task.master

    @property
    def num_ps_replicas(self):
        """Number of parameter-server tasks in the cluster."""
        return self._task.num_ps_replicas

    @property
    def num_worker_replicas(self):
        """Number of chief, master and worker tasks (1 for a local run)."""
        return self._task.num_worker_replicas

    @property
    def evaluation_master(self):
        """Session target for evaluation; always '' (local)."""
        return self._task.evaluation_master

    @property
    def service(self):
        """TF_CONFIG's "service" object, or None."""
        return self._task.service

    @property
    def global_id_in_cluster(self):
        """This task's unique rank in the training cluster: 0 for the chief (and for a
        local run), then the other jobs' tasks in alphabetical job order, ps tasks last;
        None for the evaluator, which is outside the cluster."""
        return self._task.global_id_in_cluster

    @property
    def train_distribute(self):
        """Always None: no tf.distribute strategy is used."""
        return None

    @property
    def eval_distribute(self):
        """Always None: no tf.distribute strategy is used."""
        return None

    @property
    def protocol(self):
        """The protocol of this task's TensorFlow server; None means 'grpc'."""
        return self._protocol

    @property
    def experimental_max_worker_delay_secs(self):
        """Upper bound of the start delay of non-chief workers, or None for no delay.

        tf.estimator delayed worker i by min(this, 5 * (i + 1)) seconds (60 s at most
        when unset) so that the chief could initialize first. Workers here wait for the
        chief's initialization by polling twice a second, so without this setting they
        start at once; given, the same staggered delay applies.
        """
        return self._experimental_max_worker_delay_secs

    @property
    def session_creation_timeout_secs(self):
        """How long a non-chief worker waits for the chief to initialize the model."""
        return self._session_creation_timeout_secs
