"""A version's three models as ONE onnxruntime graph, built at load from the files.

Every onnxruntime ``run`` costs a fixed floor (binding inputs, the executor, the Python
wrapper) besides the trees themselves; three runs per batch paid it three times. The
combined graph holds the three graphs side by side (names prefixed ``segment/``,
``escalation/``, ``nba/``), with one input and one output each, so one run scores a
batch. The ONNX files stay the exported, hash-verified artifact: this only re-packs
their nodes, and tests/server/engine/test_golden.py holds the answers to be unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from onnx import GraphProto

Kind = Literal["segment", "escalation", "nba"]


def input_name(kind: Kind) -> str:
    """The combined graph's input for ``kind``'s matrix."""
    return f"{kind}/input"


def combine(files: Mapping[Kind, tuple[Path, str, str]]) -> bytes:
    """One serialized model from ``{kind: (path, input name, output name)}``: each
    graph's nodes, initializers and the one output the runner reads, prefixed by kind;
    the opset of each domain is the highest any of them uses."""
    import onnx
    from onnx import compose, helper

    graphs: list[GraphProto] = []
    opsets: dict[str, int] = {}
    ir_version = 0
    for kind, (path, source_input, output) in files.items():
        model = onnx.load(str(path))
        model = compose.add_prefix(model, prefix=f"{kind}/")
        graph = model.graph
        renamed = f"{kind}/{source_input}"
        (wanted,) = [o for o in graph.output if o.name == f"{kind}/{output}"]
        if [i.name for i in graph.input if i.name not in _initializers(graph)] != [renamed]:
            raise ValueError(f"{path}: expected one input {source_input!r}")
        graph.input[0].name = input_name(kind)
        for node in graph.node:
            node.input[:] = [input_name(kind) if n == renamed else n for n in node.input]
        del graph.output[:]
        graph.output.append(wanted)
        graphs.append(graph)
        for op in model.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
        ir_version = max(ir_version, model.ir_version)
    merged = helper.make_graph(
        nodes=[n for g in graphs for n in g.node],
        name="personalization_version",
        inputs=[i for g in graphs for i in g.input],
        outputs=[o for g in graphs for o in g.output],
        initializer=[t for g in graphs for t in g.initializer],
        value_info=[v for g in graphs for v in g.value_info],
    )
    opset_imports = [helper.make_opsetid(domain, version) for domain, version in opsets.items()]
    combined = helper.make_model(merged, opset_imports=opset_imports, ir_version=ir_version)
    onnx.checker.check_model(combined)
    return bytes(combined.SerializeToString())


def _initializers(graph: GraphProto) -> set[str]:
    return {t.name for t in graph.initializer}
