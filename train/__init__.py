"""formcheck off the device: datasets, landmark extraction, synthetic motion and training."""
