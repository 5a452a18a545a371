"""Rate-distortion evaluation: codecs to compare, sweeps over data sets, BD metrics and plots."""
