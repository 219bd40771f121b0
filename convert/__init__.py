"""formcheck model conversion: Keras -> TFLite (int8/float16/float32) bundles with a parity gate."""
