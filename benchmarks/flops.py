"""FLOPs of a compiled training step, counting only the operations that run.

TF's graph profiler (``model_analyzer.profile`` with ``float_operation()``) sums the registered
``flops`` statistic of every op in a graph. A traced step's graph also holds ops that never run:
``tf.gradients`` emits both halves of each conv's gradient (``Conv2DBackpropInput`` of the first
conv, whose input needs no gradient, is dead), and tracing leaves unused branches. TF's function
runtime prunes those before executing (``PruneFunctionBody``: keep what the outputs, the control
outputs and the stateful ops need), so we prune the same way and count the rest with the same
per-op statistic the profiler uses. The profiler iterates only the top-level ops, so a call into a
library function (``PartitionedCall``) would count zero; we count its body instead.

``ONEDNN_OPS`` are the op types that run as oneDNN convolution / inner-product / matmul kernels on
x86, the part of the count that oneDNN's verbose log can cross-check (``benchmarks.dnnl_profile``).
"""

from __future__ import annotations

from collections import defaultdict

# TF op types whose work oneDNN runs as convolution, inner_product or matmul primitives (Dense is
# MatMul; Conv2DTranspose is Conv2DBackpropInput).
ONEDNN_OPS = frozenset(
    {
        "Conv2D",
        "Conv2DBackpropInput",
        "Conv2DBackpropFilter",
        "Conv3D",
        "DepthwiseConv2dNative",
        "MatMul",
        "BatchMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
    }
)
_CALLS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_BRANCHING = frozenset({"If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase"})


def concrete_graph(step, example: dict):
    """The FuncGraph of ``step`` traced for ``example``'s shapes and dtypes (numpy or tensors)."""
    import tensorflow as tf

    spec = {k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype)) for k, v in example.items()}
    return step.get_concrete_function(spec).graph


def live_ops(graph) -> list:
    """The ops of ``graph`` that run: reverse reachability (data and control inputs) from its
    outputs, its control outputs and its stateful ops, as TF's function runtime prunes."""
    roots = [t.op for t in graph.outputs] + list(graph.control_outputs)
    for op in graph.get_operations():
        # Placeholders are the function's arguments (_Arg), which the runtime does not seed from.
        if op.type != "Placeholder" and (op.op_def is None or op.op_def.is_stateful):
            roots.append(op)
    seen, stack = set(), roots
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def _op_flops(graph, op) -> float:
    """The profiler's own per-op count (``ops.get_stats_for_node_def``); 0 where none is registered."""
    from tensorflow.python.framework import ops

    try:
        stats = ops.get_stats_for_node_def(graph, op.node_def, "flops")
    except ValueError:  # the profiler skips ops with incomplete shapes too; ours are all static
        raise ValueError(f"{op.name} ({op.type}): incomplete shapes, FLOPs unknown") from None
    return float(stats.value or 0) if stats is not None else 0.0


def _called_graph(graph, op):
    """The body of a function-call op: its FuncGraph from the outer graph's library."""
    name = op.get_attr("f").name if op.type in _CALLS else op.type
    g = graph
    while g is not None:  # a nested FuncGraph may find it in an enclosing graph's library
        fn = g._get_function(name)
        if fn is not None:
            return fn.graph
        g = getattr(g, "outer_graph", None)
    raise ValueError(f"{op.name}: function {name} not in the graph's library")


def flops_by_op(graph, live: bool = True) -> dict[str, float]:
    """FLOPs per op type over ``graph`` (only its live ops with ``live``), into called functions."""
    out: dict[str, float] = defaultdict(float)
    for op in live_ops(graph) if live else graph.get_operations():
        if op.type in _BRANCHING:
            # which branch / how many iterations run is data-dependent: no static count
            raise ValueError(f"{op.name}: {op.type} in the step, its FLOPs are not static")
        if op.type in _CALLS or op.op_def is None:
            for k, v in flops_by_op(_called_graph(graph, op), live).items():
                out[k] += v
        else:
            out[op.type] += _op_flops(graph, op)
    return {k: v for k, v in out.items() if v}


def live_flops_by_op(step, example: dict) -> dict[str, float]:
    """FLOPs per op type of one call of the compiled ``step``, counting only the ops that run."""
    return flops_by_op(concrete_graph(step, example), live=True)


def step_flops(step, example: dict) -> float:
    """Float operations of one call of a compiled step: the ops that run, as TF's profiler counts
    each op."""
    return sum(live_flops_by_op(step, example).values())


def graph_flops(step, example: dict) -> float:
    """The profiler's count over the whole traced graph, dead ops included (the old figure)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    graph = concrete_graph(step, example)
    return float(model_analyzer.profile(graph, options=opts).total_float_ops)


def onednn_flops(by_op: dict[str, float]) -> float:
    """The part of a per-op-type count that oneDNN runs as conv / inner-product / matmul kernels."""
    return sum(v for k, v in by_op.items() if k in ONEDNN_OPS)


def forward_flops(model) -> float:
    """Multiply-adds x 2 of the Conv2D and Dense layers of ``model``, per example."""
    import keras

    total = 0.0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2.0 * out[1] * out[2] * out[3] * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def _leaf_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
