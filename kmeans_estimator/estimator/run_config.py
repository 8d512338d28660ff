"""RunConfig: where an Estimator writes, how often it checkpoints, and which task it is.

The cluster fields are read once, at construction, from the ``TF_CONFIG``
environment variable; the Estimator itself only ever runs on one machine.
"""
import json
import numbers
import os

import tensorflow as tf

_TF_CONFIG_ENV = "TF_CONFIG"
_DEFAULT_CHECKPOINT_SECS = 600
_LOCAL_MASTER = ""
_CHIEF_TASK_TYPES = ("chief", "master")
_EVALUATOR = "evaluator"

# Marks "argument not given", so that an explicit None can mean "disabled".
_NOT_GIVEN = object()

_USER_FIELDS = (
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

_CLUSTER_FIELDS = (
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


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_integer(name, value, minimum, allow_none):
    """Returns `value` as an int after checking it is an integer >= `minimum`."""
    if value is None and allow_none:
        return None
    if not _is_integer(value) or value < minimum:
        kind = "a non-negative integer" if minimum == 0 else "a positive integer"
        suffix = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {kind}{suffix}, got {value!r}")
    return int(value)


def _check_model_dir(model_dir):
    if model_dir is None:
        return None
    if not isinstance(model_dir, (str, os.PathLike)):
        raise TypeError(
            f"model_dir must be a str, an os.PathLike or None, got {type(model_dir).__name__}"
        )
    path = os.fspath(model_dir)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError("model_dir must be a non-empty path or None, got ''")
    return path


def _check_checkpoint_secs(secs):
    if secs is None:
        return None
    if not isinstance(secs, numbers.Real) or isinstance(secs, bool) or not secs >= 0:
        raise ValueError(
            f"save_checkpoints_secs must be a non-negative number or None, got {secs!r}"
        )
    return secs


def _check_every_n_hours(hours):
    if not isinstance(hours, numbers.Real) or isinstance(hours, bool) or not hours > 0:
        raise ValueError(
            f"keep_checkpoint_every_n_hours must be a positive number, got {hours!r}"
        )
    return hours


def _resolve_checkpoint_schedule(steps, secs):
    """Applies tf.estimator's rule: 600 s unless steps are given; never both."""
    if steps is _NOT_GIVEN:
        steps = None
    if secs is _NOT_GIVEN:
        secs = None if steps is not None else _DEFAULT_CHECKPOINT_SECS
    steps = _check_integer("save_checkpoints_steps", steps, 0, allow_none=True)
    secs = _check_checkpoint_secs(secs)
    if steps is not None and secs is not None:
        raise ValueError(
            "save_checkpoints_steps and save_checkpoints_secs cannot both be set, got "
            f"save_checkpoints_steps={steps!r} and save_checkpoints_secs={secs!r}; "
            "pass None for one of them"
        )
    return steps, secs


def _read_tf_config():
    """Returns the parsed TF_CONFIG dict, or {} when the variable is unset or blank."""
    raw = os.environ.get(_TF_CONFIG_ENV, "")
    if not raw.strip():
        return {}
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {raw!r}") from None
    if not isinstance(tf_config, dict):
        raise ValueError(
            f"TF_CONFIG must be a JSON object, got a {type(tf_config).__name__}: {raw!r}"
        )
    return tf_config


def _parse_cluster(cluster):
    if cluster is None:
        cluster = {}
    if not isinstance(cluster, dict):
        raise ValueError(
            f'TF_CONFIG "cluster" must be an object mapping job names to address '
            f"lists, got {cluster!r}"
        )
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
            isinstance(address, str) for address in addresses
        ):
            raise ValueError(
                f'TF_CONFIG "cluster" job {job!r} must be a list of "host:port" strings, '
                f"got {addresses!r}"
            )
    chief_jobs = [job for job in _CHIEF_TASK_TYPES if job in cluster]
    if len(chief_jobs) > 1:
        raise ValueError(
            f'TF_CONFIG "cluster" may have a "chief" or a "master" job, not both, '
            f"got {sorted(cluster)}"
        )
    for job in chief_jobs:
        if len(cluster[job]) != 1:
            raise ValueError(
                f'TF_CONFIG "cluster" job {job!r} must have exactly one task, '
                f"got {cluster[job]!r}"
            )
    return tf.train.ClusterSpec(cluster)


def _parse_task(task, cluster):
    """Returns (task_type, task_id) after checking they name a task of `cluster`."""
    if task is None:
        task = {}
    if not isinstance(task, dict):
        raise ValueError(f'TF_CONFIG "task" must be an object, got {task!r}')
    task_type = task.get("type", "worker")
    if not isinstance(task_type, str) or not task_type:
        raise ValueError(
            f'TF_CONFIG "task" type must be a non-empty string, got {task_type!r}'
        )
    task_id = task.get("index", 0)
    if isinstance(task_id, str) and task_id.isdigit():
        task_id = int(task_id)
    if not _is_integer(task_id) or task_id < 0:
        raise ValueError(
            f'TF_CONFIG "task" index must be a non-negative integer, got {task_id!r}'
        )
    # The evaluator watches the training cluster from outside it.
    if task_type == _EVALUATOR:
        if _EVALUATOR in cluster:
            raise ValueError(
                'TF_CONFIG "cluster" must not list the "evaluator" task, which runs '
                "outside the training cluster"
            )
        return task_type, task_id
    if not cluster:
        if task_type != "worker" or task_id != 0:
            raise ValueError(
                f'TF_CONFIG "task" is {task_type!r} index {task_id} but TF_CONFIG has '
                'no "cluster"; without a cluster the task must be worker 0'
            )
        return task_type, task_id
    if task_type not in cluster:
        raise ValueError(
            f'TF_CONFIG "task" type {task_type!r} is not a job of the cluster, '
            f"whose jobs are {sorted(cluster)}"
        )
    if task_id >= len(cluster[task_type]):
        raise ValueError(
            f'TF_CONFIG "task" index {task_id} is out of range for job {task_type!r}, '
            f"which has {len(cluster[task_type])} task(s)"
        )
    return task_type, task_id


def _settings_without_cluster(task_type, task_id, service):
    """The cluster fields of a task that talks to no other: worker 0 of a local run, or
    the evaluator, which is outside the training cluster and only reads checkpoints."""
    evaluator = task_type == _EVALUATOR
    return dict(
        cluster_spec=tf.train.ClusterSpec({}),
        task_type=task_type,
        task_id=task_id,
        is_chief=not evaluator,
        master=_LOCAL_MASTER,
        num_ps_replicas=0,
        num_worker_replicas=0 if evaluator else 1,
        evaluation_master=_LOCAL_MASTER,
        service=service,
        global_id_in_cluster=None if evaluator else 0,
    )


def _cluster_settings(tf_config):
    """Returns the cluster-field values described by a parsed TF_CONFIG dict."""
    cluster = tf_config.get("cluster") or {}
    cluster_spec = _parse_cluster(cluster)
    task_type, task_id = _parse_task(tf_config.get("task"), cluster)
    service = tf_config.get("service")
    if service is not None and not isinstance(service, dict):
        raise ValueError(f'TF_CONFIG "service" must be an object, got {service!r}')

    if task_type == _EVALUATOR or not cluster:
        return _settings_without_cluster(task_type, task_id, service)

    has_chief = any(job in cluster for job in _CHIEF_TASK_TYPES)
    if task_type in _CHIEF_TASK_TYPES:
        is_chief = True
    else:
        is_chief = task_type == "worker" and task_id == 0 and not has_chief
    num_tasks = sum(len(addresses) for addresses in cluster.values())
    # A one-task cluster is a local run: talking to oneself over gRPC only costs time.
    if num_tasks == 1:
        master = _LOCAL_MASTER
    else:
        master = "grpc://" + cluster_spec.task_address(task_type, task_id)
    return dict(
        cluster_spec=cluster_spec,
        task_type=task_type,
        task_id=task_id,
        is_chief=is_chief,
        master=master,
        num_ps_replicas=len(cluster.get("ps", [])),
        num_worker_replicas=sum(
            len(cluster.get(job, [])) for job in ("chief", "master", "worker")
        ),
        evaluation_master=_LOCAL_MASTER,
        service=service,
        global_id_in_cluster=_global_id(cluster, task_type, task_id),
    )


def _global_id(cluster, task_type, task_id):
    """This task's rank among all tasks of the training cluster, as tf.estimator numbered them.

    The chief (or master, or worker 0 of a cluster without either) is 0; the other
    tasks follow job by job in alphabetical order, ps tasks last.
    """
    first = next((job for job in _CHIEF_TASK_TYPES if job in cluster), "worker")
    order = [first] + sorted(job for job in cluster if job not in (first, "ps"))
    if "ps" in cluster:
        order.append("ps")
    offset = 0
    for job in order:
        if job == task_type:
            return offset + task_id
        offset += len(cluster[job])
    raise AssertionError(f"task {task_type!r} is not in the cluster {sorted(cluster)}")


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
        self._set_user_fields(
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
        for name, value in _cluster_settings(_read_tf_config()).items():
            setattr(self, "_" + name, value)

    def _set_user_fields(self, **fields):
        if fields["tf_random_seed"] is not None and not _is_integer(fields["tf_random_seed"]):
            raise ValueError(
                f"tf_random_seed must be an integer or None, got {fields['tf_random_seed']!r}"
            )
        session_config = fields["session_config"]
        if session_config is not None and not isinstance(
            session_config, tf.compat.v1.ConfigProto
        ):
            raise TypeError(
                "session_config must be a tf.compat.v1.ConfigProto or None, "
                f"got {type(session_config).__name__}"
            )
        device_fn = fields["device_fn"]
        if device_fn is not None and not callable(device_fn):
            raise TypeError(
                f"device_fn must be a callable or None, got {type(device_fn).__name__}"
            )
        steps, secs = _resolve_checkpoint_schedule(
            fields["save_checkpoints_steps"], fields["save_checkpoints_secs"]
        )
        seed = fields["tf_random_seed"]
        self._model_dir = _check_model_dir(fields["model_dir"])
        self._tf_random_seed = None if seed is None else int(seed)
        self._save_summary_steps = _check_integer(
            "save_summary_steps", fields["save_summary_steps"], 0, allow_none=True
        )
        self._save_checkpoints_steps = steps
        self._save_checkpoints_secs = secs
        self._session_config = session_config
        self._keep_checkpoint_max = _check_integer(
            "keep_checkpoint_max", fields["keep_checkpoint_max"], 0, allow_none=True
        )
        self._keep_checkpoint_every_n_hours = _check_every_n_hours(
            fields["keep_checkpoint_every_n_hours"]
        )
        self._log_step_count_steps = _check_integer(
            "log_step_count_steps", fields["log_step_count_steps"], 0, allow_none=True
        )
        self._device_fn = device_fn
        for name in ("train_distribute", "eval_distribute"):
            if fields[name] is not None:
                raise ValueError(
                    f"{name} must be None, got {type(fields[name]).__name__}: tf.distribute "
                    "strategies are not supported; TF_CONFIG parameter-server training "
                    "(see train_and_evaluate) needs no strategy"
                )
        self._train_distribute = None
        self._eval_distribute = None
        protocol = fields["protocol"]
        if protocol is not None and (not isinstance(protocol, str) or not protocol.startswith("grpc")):
            raise ValueError(
                f"protocol must be None or a gRPC protocol name such as 'grpc', got {protocol!r}"
            )
        self._protocol = protocol
        self._experimental_max_worker_delay_secs = _check_integer(
            "experimental_max_worker_delay_secs", fields["experimental_max_worker_delay_secs"],
            0, allow_none=True,
        )
        self._session_creation_timeout_secs = _check_integer(
            "session_creation_timeout_secs", fields["session_creation_timeout_secs"], 1,
            allow_none=False,
        )

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
        unknown = sorted(set(kwargs) - set(_USER_FIELDS))
        if unknown:
            raise ValueError(
                f"replace() got unknown RunConfig argument(s) {unknown}; "
                f"allowed are {list(_USER_FIELDS)}"
            )
        fields = {name: getattr(self, name) for name in _USER_FIELDS}
        fields.update(kwargs)
        if kwargs.get("save_checkpoints_steps") is not None and (
            "save_checkpoints_secs" not in kwargs
        ):
            fields["save_checkpoints_secs"] = None
        if kwargs.get("save_checkpoints_secs") is not None and (
            "save_checkpoints_steps" not in kwargs
        ):
            fields["save_checkpoints_steps"] = None
        new = object.__new__(type(self))
        new._set_user_fields(**fields)
        for name in _CLUSTER_FIELDS:
            setattr(new, "_" + name, getattr(self, name))
        return new

    def __repr__(self):
        def shown(name):
            value = getattr(self, name)
            if name == "session_config" and value is not None:
                return "ConfigProto<" + " ".join(str(value).split()) + ">"
            if name == "cluster_spec":
                return repr(value.as_dict())
            return repr(value)

        settings = ", ".join(
            f"{name}={shown(name)}" for name in _USER_FIELDS + _CLUSTER_FIELDS
        )
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
        return self._task_type

    @property
    def task_id(self):
        """This task's index within its job (0 without TF_CONFIG)."""
        return self._task_id

    @property
    def is_chief(self):
        """Whether this task writes checkpoints and summaries."""
        return self._is_chief

    @property
    def master(self):
        """Session target: '' for a local run, else 'grpc://host:port' of this task."""
        return self._master

    @property
    def num_ps_replicas(self):
        """Number of parameter-server tasks in the cluster."""
        return self._num_ps_replicas

    @property
    def num_worker_replicas(self):
        """Number of chief, master and worker tasks (1 for a local run)."""
        return self._num_worker_replicas

    @property
    def evaluation_master(self):
        """Session target for evaluation; always '' (local)."""
        return self._evaluation_master

    @property
    def service(self):
        """TF_CONFIG's "service" object, or None."""
        return self._service

    @property
    def global_id_in_cluster(self):
        """This task's unique rank in the training cluster: 0 for the chief (and for a
        local run), then the other jobs' tasks in alphabetical job order, ps tasks last;
        None for the evaluator, which is outside the cluster."""
        return self._global_id_in_cluster

    @property
    def train_distribute(self):
        """Always None: no tf.distribute strategy is used."""
        return self._train_distribute

    @property
    def eval_distribute(self):
        """Always None: no tf.distribute strategy is used."""
        return self._eval_distribute

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
