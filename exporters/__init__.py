"""Exporters to ONNX (torch.onnx for PyTorch, tf2onnx for Keras), the manifest and the parity check."""

OPSET = 18  # the highest opset tf2onnx 1.17 writes; both exporters use it so their files compare
