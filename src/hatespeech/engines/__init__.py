"""The engines: each runs a model dir's forward pass on this CPU; everything else they share.

- :mod:`.base`: tokenization, long texts in parts, logits to predictions (``BaseEngine``, ``Prediction``);
- :mod:`.onnx_runtime`, :mod:`.openvino`, :mod:`.ctranslate2`: one module per engine;
- :mod:`.registry`: the one set of names (``EngineName``), ``resolve`` (a setting to an exact engine) and
  ``open_engine``;
- :mod:`.choice`: what ``auto`` serves, measured per CPU (parity gate, speed, a cache).
"""
