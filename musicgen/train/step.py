"""The distributed train step: strategy, optimizer and one exact data-parallel update.

Why our own step: Keras 3 ``fit`` fails under MultiWorkerMirroredStrategy (keras#20585). Why our
own clipping: Keras 3 applies ``clipnorm`` to each replica's *partial* gradient before it
all-reduces them, so with N workers it would not clip the summed gradient. So the replica step
all-reduces the gradient itself, clips the full gradient per tensor (tf_slim's
``clip_gradient_norms``, Magenta's ``clip_norm``) or globally, and hands it to an Adam that does
not all-reduce again (:class:`~musicgen.train.optimizer.AllReducedAdam`): one exchange of the
gradient per step. Every replica divides its loss sum by the *global* weight, so 1 or N workers
compute the same update for the same global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from musicgen.models.family import LOSS_SUM, WEIGHT, ModelFamily
from musicgen.train.config import OptimizerConfig

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

Stats = dict[str, "tf.Tensor"]


def make_strategy(world_size: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy across Ray's workers (TF_CONFIG set by Ray), else default.

    Must run before any other TensorFlow op in the process.
    """
    import tensorflow as tf

    if world_size > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def build_optimizer(cfg: OptimizerConfig, mixed_precision: bool) -> keras.optimizers.Optimizer:
    """Adam with Magenta's epsilon, taking the all-reduced gradient; wrapped for dynamic loss
    scaling under float16.

    No ``clipnorm`` here: :func:`clip` clips the all-reduced gradient (module docstring).
    """
    import keras

    from musicgen.train.optimizer import AllReducedAdam

    adam = AllReducedAdam(learning_rate=cfg.learning_rate, epsilon=cfg.epsilon)
    return keras.optimizers.LossScaleOptimizer(adam) if mixed_precision else adam


def optimizer_state(optimizer: keras.optimizers.Optimizer) -> dict[str, float]:
    """The optimizer's update count and, under loss scaling, its loss scale.

    Reads variables back to the host: for progress lines and worker records, never per step.
    """
    import keras

    state = {"optimizer_iterations": float(optimizer.iterations.numpy())}
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        state["loss_scale"] = float(optimizer.dynamic_scale.numpy())
    return state


def clip(grads: list[tf.Tensor], cfg: OptimizerConfig) -> list[tf.Tensor]:
    """Per-tensor ``clip_by_norm`` (clip_norm) or ``clip_by_global_norm`` (global_clip_norm)."""
    import tensorflow as tf

    if cfg.clip_norm is not None:
        return [tf.clip_by_norm(g, cfg.clip_norm) for g in grads]
    if cfg.global_clip_norm is not None:
        clipped, _ = tf.clip_by_global_norm(grads, cfg.global_clip_norm)
        return list(clipped)
    return grads


def make_train_step(
    strategy: tf.distribute.Strategy,
    family: ModelFamily,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    cfg: OptimizerConfig,
    element_spec: Any,
) -> Callable[[Any], Mapping[str, tf.Tensor]]:
    """A ``tf.function`` taking one distributed batch, returning every stat summed globally."""
    import keras
    import tensorflow as tf

    sum_op = tf.distribute.ReduceOp.SUM
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(batch: Mapping[str, tf.Tensor]) -> Stats:
        ctx = tf.distribute.get_replica_context()
        if ctx is None:
            raise RuntimeError("replica_step runs inside strategy.run")
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            stats = {k: tf.cast(v, tf.float32) for k, v in family.batch_stats(
                model, batch, training=True).items()}  # fmt: skip
            global_weight = ctx.all_reduce(sum_op, stats[WEIGHT])
            loss = stats[LOSS_SUM] / tf.maximum(global_weight, 1.0)
            target = optimizer.scale_loss(loss) if scaled else loss
        grads = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
            for g, v in zip(tape.gradient(target, variables), variables, strict=True)
        ]
        grads = ctx.all_reduce(sum_op, grads)  # the full gradient, on every replica
        if scaled:
            scale = tf.cast(optimizer.dynamic_scale, tf.float32)
            grads = [g * scale for g in clip([g / scale for g in grads], cfg)]
        else:
            grads = clip(grads, cfg)
        optimizer.apply_gradients(list(zip(grads, variables, strict=True)))
        return stats

    @tf.function(input_signature=[element_spec])
    def train_step(batch: Any) -> Stats:
        per_replica = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce(sum_op, v, axis=None) for k, v in per_replica.items()}

    return train_step


def make_eval_step(
    family: ModelFamily, model: keras.Model
) -> Callable[[Mapping[str, tf.Tensor]], Mapping[str, tf.Tensor]]:
    """A ``tf.function`` scoring one local batch (no distribution: rank 0 evaluates alone)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def eval_step(batch: Mapping[str, tf.Tensor]) -> Stats:
        stats = family.batch_stats(model, batch, training=False)
        return {k: tf.cast(v, tf.float32) for k, v in stats.items()}

    return eval_step
