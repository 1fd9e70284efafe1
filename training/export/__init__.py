"""What ships: ONNX graphs of the three models, their parity checks and the model card."""
