"""Load one model version (manifest + three ONNX files) and run it on float32 matrices.

Each model gets its own onnxruntime session pinned to one intra-op and one inter-op
thread with sequential execution: the server runs many requests in parallel threads
and batches rows itself, so extra ORT threads would only fight over the two cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelio.manifest import Manifest, ManifestError, current_version_dir, load_manifest
from server.errors import ModelLoadError
from server.models.combined import combine, input_name

Kind = Literal["segment", "escalation", "nba"]
KINDS: tuple[Kind, ...] = ("segment", "escalation", "nba")


def session_options() -> Any:
    """onnxruntime options shared by all sessions (one thread, sequential)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class _Model:
    """One ONNX session with its input name, output name and width."""

    def __init__(self, path: Path, kind: str, spec: Any) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise ModelLoadError(f"{path}: cannot load the {kind} model: {exc}") from exc
        self.kind = kind
        self.path = path
        self.input_name = spec.input_name
        self.outputs = [spec.output]
        self.width = len(spec.inputs)
        known = {o.name for o in self.session.get_outputs()}
        if spec.output not in known:
            raise ModelLoadError(
                f"{path}: {kind} model has no output {spec.output!r} (has {sorted(known)})"
            )

    def run(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.shape[0] == 1:
            # ORT's GEMM takes another code path for one row (last-bit differences in
            # linear/PCA nodes); two identical rows keep single == batch answers exact.
            return self.session.run(self.outputs, {self.input_name: np.repeat(matrix, 2, 0)})[0][:1]
        return self.session.run(self.outputs, {self.input_name: matrix})[0]


def _positive_class(out: np.ndarray) -> np.ndarray:
    """P(class=1) from a (n,), (n, 1) or (n, 2+) probability output."""
    if out.ndim == 2:
        out = out[:, 1] if out.shape[1] > 1 else out[:, 0]
    return out.astype(np.float64, copy=False)


class ModelRunner:
    """The three models of one version. Thread-safe (ORT sessions are)."""

    def __init__(self, version_dir: Path, manifest: Manifest) -> None:
        self.version_dir = version_dir
        self.manifest = manifest
        self._models = {
            kind: _Model(version_dir / manifest.models[kind].path, kind, manifest.models[kind])
            for kind in KINDS
        }
        self._combined = self._combine()
        self._smoke_test()

    @classmethod
    def load(cls, models_dir: Path) -> ModelRunner:
        """The version ``models_dir/current`` points at; raises :class:`ModelLoadError`."""
        try:
            version_dir = current_version_dir(models_dir)
        except ManifestError as exc:
            raise ModelLoadError(str(exc)) from exc
        return cls.load_version(version_dir)

    @classmethod
    def load_version(cls, version_dir: Path) -> ModelRunner:
        """Load and sha256-verify ``version_dir``; raises :class:`ModelLoadError`."""
        try:
            manifest = load_manifest(version_dir, verify=True)
        except ManifestError as exc:
            raise ModelLoadError(str(exc)) from exc
        return cls(version_dir, manifest)

    @property
    def version(self) -> str:
        return self.manifest.version

    def width(self, kind: Kind) -> int:
        return self._models[kind].width

    def segment(self, matrix: np.ndarray) -> np.ndarray:
        """Segment label (int64) per row of a (n, len(SEGMENT_INPUTS)) float32 matrix."""
        out = self._models["segment"].run(matrix)
        return out.reshape(-1).astype(np.int64, copy=False)

    def escalation(self, matrix: np.ndarray) -> np.ndarray:
        """P(escalation) per row."""
        return _positive_class(self._models["escalation"].run(matrix))

    def nba(self, matrix: np.ndarray) -> np.ndarray:
        """P(success) per (customer+turn, action) row."""
        return _positive_class(self._models["nba"].run(matrix))

    def run_all(
        self, segment: np.ndarray, escalation: np.ndarray, nba: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`segment`, :meth:`escalation` and :meth:`nba` in one onnxruntime run of
        the combined graph (``server.models.combined``): the same answers, one run's
        fixed cost instead of three."""
        if segment.shape[0] == 1:  # as _Model.run: one row takes another GEMM path
            segment, escalation = np.repeat(segment, 2, 0), np.repeat(escalation, 2, 0)
            rows = 1
        else:
            rows = segment.shape[0]
        feeds = {
            input_name("segment"): segment,
            input_name("escalation"): escalation,
            input_name("nba"): nba,
        }
        labels, risks, scores = self._combined.run(None, feeds)
        return (
            labels[:rows].reshape(-1).astype(np.int64, copy=False),
            _positive_class(risks[:rows]),
            _positive_class(scores),
        )

    def _combine(self) -> Any:
        import onnxruntime as ort

        files = {kind: (m.path, m.input_name, m.outputs[0]) for kind, m in self._models.items()}
        try:
            blob = combine(files)
            return ort.InferenceSession(
                blob, sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnx's checker or ORT refusing the combined graph
            raise ModelLoadError(
                f"{self.version_dir}: cannot combine the three models into one graph: {exc}"
            ) from exc

    def _smoke_test(self) -> None:
        """Run every model on two rows now, so a broken file fails at start, not per call;
        then the combined graph the engine serves with, which must answer exactly alike."""
        outputs = {}
        for kind, model in self._models.items():
            rows = np.zeros((2, model.width), dtype=np.float32)
            try:
                out = getattr(self, kind)(rows)
            except Exception as exc:
                raise ModelLoadError(
                    f"{model.path}: {kind} model failed a test run: {exc}"
                ) from exc
            if out.shape != (2,) or not np.all(np.isfinite(out)):
                raise ModelLoadError(
                    f"{model.path}: {kind} model returned shape {out.shape} / non-finite values"
                )
            if kind != "segment" and not np.all((out >= 0.0) & (out <= 1.0)):
                raise ModelLoadError(f"{model.path}: {kind} model output is not a probability")
            outputs[kind] = out
        widths = [np.zeros((2, self._models[k].width), dtype=np.float32) for k in KINDS]
        combined = self.run_all(*widths)
        for kind, got in zip(KINDS, combined, strict=True):
            if not np.array_equal(got, outputs[kind]):
                raise ModelLoadError(
                    f"{self.version_dir}: the combined graph's {kind} output differs from "
                    f"{self._models[kind].path.name}'s"
                )
