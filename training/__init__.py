"""The offline side: simulator, data contract, model fitting, ONNX export, erasure, CLI."""
