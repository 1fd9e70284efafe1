"""ONNX export of the three models and ONNX Runtime scoring.

Every graph takes one float32 matrix named ``input`` (n x len(inputs)). Segment: the
whole scikit-learn pipeline, output ``label`` (int64, n). Escalation and NBA: LightGBM
converted by onnxmltools (registered with skl2onnx, zipmap off), then a few nodes that
take column 1 of the probabilities and, when the escalation model is calibrated, apply
``sigmoid(a·logit(p) + b)``; output ``probability`` (float32, n) = P(class 1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
import yaml
from lightgbm import Booster, LGBMClassifier
from onnx import TensorProto, helper, numpy_helper
from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from sklearn.pipeline import Pipeline

from modelio.context import ACTION_INPUTS, ESCALATION_INPUTS, SEGMENT_INPUTS
from modelio.manifest import ModelFile, sha256_file
from modelio.policy import PolicyConfig

INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITY_OUTPUT = "probability"
OPSET = {"": 17, "ai.onnx.ml": 3}
ModelKind = Literal["segment", "escalation", "nba"]
POLICY_FILE = Path(__file__).parents[1] / "policy.yaml"
_registered = False


def register_lightgbm() -> None:
    """Teach skl2onnx to convert LGBMClassifier with onnxmltools' converter (once)."""
    global _registered
    if not _registered:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        _registered = True


def _floor32(value: float) -> float:
    """The largest float32 ≤ ``value`` (as a Python float)."""
    f = np.float32(value)
    if float(f) > value:
        f = np.nextafter(f, np.float32(-np.inf), dtype=np.float32)
    return float(f)


def snap_thresholds(model: LGBMClassifier) -> LGBMClassifier:
    """Round every split threshold down to float32, in place; predictions do not change.

    LightGBM compares ``x <= t`` in double, ONNX's TreeEnsemble in float32 with ``t``
    rounded to nearest, which can flip a split when ``t`` falls between two float32
    values and so move a probability by 1e-2. For float32 inputs ``x <= t`` equals
    ``x <= floor32(t)``, so with snapped thresholds both runtimes take the same path.
    """
    # tree_sizes (byte offsets) would no longer hold; LightGBM parses trees without it.
    lines = [
        line
        for line in model.booster_.model_to_string().split("\n")
        if not line.startswith("tree_sizes=")
    ]
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            values = (repr(_floor32(float(v))) for v in line[len("threshold=") :].split())
            lines[i] = "threshold=" + " ".join(values)
    model._Booster = Booster(model_str="\n".join(lines))
    return model


def _input(n_inputs: int) -> list[tuple[str, FloatTensorType]]:
    return [(INPUT_NAME, FloatTensorType([None, n_inputs]))]


def segment_onnx(pipeline: Pipeline, n_inputs: int) -> onnx.ModelProto:
    """StandardScaler → PCA → KMeans as one graph with the int64 ``label`` output only."""
    proto = convert_sklearn(pipeline, initial_types=_input(n_inputs), target_opset=OPSET)
    return _keep_outputs(proto, {LABEL_OUTPUT})


def _keep_outputs(proto: onnx.ModelProto, keep: set[str]) -> onnx.ModelProto:
    outputs = [o for o in proto.graph.output if o.name in keep]
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)
    return proto


def lgbm_onnx(
    model: LGBMClassifier, n_inputs: int, calibration: tuple[float, float] | None = None
) -> onnx.ModelProto:
    """LightGBM binary classifier → graph with the float32 ``probability`` output (n,)."""
    register_lightgbm()
    proto = convert_sklearn(
        model,
        initial_types=_input(n_inputs),
        target_opset=OPSET,
        options={id(model): {"zipmap": False}},
    )
    probs = next(o.name for o in proto.graph.output if o.name != LABEL_OUTPUT)
    nodes, inits, last = _positive_column(probs)
    if calibration is not None:
        more_nodes, more_inits, last = _platt(last, *calibration)
        nodes += more_nodes
        inits += more_inits
    nodes.append(helper.make_node("Identity", [last], [PROBABILITY_OUTPUT]))
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(inits)
    del proto.graph.output[:]
    proto.graph.output.append(
        helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.FLOAT, [None])
    )
    onnx.checker.check_model(proto)
    return proto


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def _positive_column(probs: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Gather column 1 of the (n, 2) probabilities → (n,)."""
    index = _const("post_class1", np.array(1, dtype=np.int64))
    node = helper.make_node("Gather", [probs, index.name], ["post_p1"], axis=1)
    return [node], [index], "post_p1"


def _platt(p: str, a: float, b: float) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """sigmoid(a · (log q - log(1 - q)) + b) with q = clip(p, 1e-7, 1 - 1e-7)."""
    inits = [
        _const("post_lo", np.array(1e-7, dtype=np.float32)),
        _const("post_hi", np.array(1 - 1e-7, dtype=np.float32)),
        _const("post_one", np.array(1.0, dtype=np.float32)),
        _const("post_a", np.array(a, dtype=np.float32)),
        _const("post_b", np.array(b, dtype=np.float32)),
    ]
    make = helper.make_node
    nodes = [
        make("Clip", [p, "post_lo", "post_hi"], ["post_q"]),
        make("Sub", ["post_one", "post_q"], ["post_1mq"]),
        make("Log", ["post_q"], ["post_logq"]),
        make("Log", ["post_1mq"], ["post_log1mq"]),
        make("Sub", ["post_logq", "post_log1mq"], ["post_logit"]),
        make("Mul", ["post_logit", "post_a"], ["post_scaled"]),
        make("Add", ["post_scaled", "post_b"], ["post_z"]),
        make("Sigmoid", ["post_z"], ["post_cal"]),
    ]
    return nodes, inits, "post_cal"


def save(proto: onnx.ModelProto, path: Path) -> Path:
    """Write the serialized graph to ``path``."""
    path.write_bytes(proto.SerializeToString())
    return path


def session(path: Path) -> ort.InferenceSession:
    """A single-threaded CPU ONNX Runtime session (as the server runs it)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def predictor(path: Path, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """``x → output`` of the ONNX model at ``path`` (x: float32 matrix)."""
    sess = session(path)

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run([output], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]

    return run


def model_file(path: Path, inputs: tuple[str, ...], output: str) -> ModelFile:
    """Manifest entry of one exported graph (relative path, sha256, ordered inputs)."""
    return ModelFile(
        path=path.name,
        sha256=sha256_file(path),
        inputs=list(inputs),
        input_name=INPUT_NAME,
        output=output,
    )


def load_policy(path: Path = POLICY_FILE) -> PolicyConfig:
    """The policy file (training/policy.yaml) as a validated PolicyConfig."""
    return PolicyConfig(**(yaml.safe_load(path.read_text()) or {}))


def export_models(
    version_dir: Path,
    protos: dict[ModelKind, onnx.ModelProto],
    escalation_inputs: tuple[str, ...] = ESCALATION_INPUTS,
) -> dict[ModelKind, ModelFile]:
    """Write segment/escalation/nba graphs into ``version_dir``; return manifest entries.

    ``escalation_inputs`` is the models' layout (with or without the conversation
    inputs); the reward model's is that + the action one-hots."""
    inputs = {
        "segment": SEGMENT_INPUTS,
        "escalation": escalation_inputs,
        "nba": escalation_inputs + ACTION_INPUTS,
    }
    out: dict[ModelKind, ModelFile] = {}
    for kind, proto in protos.items():
        path = save(proto, version_dir / f"{kind}.onnx")
        output = LABEL_OUTPUT if kind == "segment" else PROBABILITY_OUTPUT
        out[kind] = model_file(path, inputs[kind], output)
    return out
