"""Reading back the scalar summaries of real event files, as TensorBoard would."""
import glob
import os

import tensorflow as tf


def scalars_by_step(directory):
    """{global step: {tag: value}} of the scalar summaries in `directory`'s event files."""
    found = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    found.setdefault(event.step, {})[value.tag] = value.simple_value
    return found
