"""Marks onnxruntime's folder in the frozen app: onnxruntime-genai looks up its capi/ libraries
through importlib's find_spec("onnxruntime"). The onnxruntime Python API is not in the build."""

raise ImportError("the onnxruntime Python API is not part of the Phi-4 Studio build")
