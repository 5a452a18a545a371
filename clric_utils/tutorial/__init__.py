"""Helpers of the tutorial notebooks, one module per purpose; the codec never needs them.

* ``session``: torch threads and seed, the training effort (a named one or a short one);
* ``inputs``: the image or data set a notebook works on (with the fast mode's centre crops);
* ``scores``: quality metrics that skip a metric whose backbone weights are not here;
* ``figures``: every figure of the notebooks, saved as PNG and shown inline (``show``);
* ``inspection``: a fitted model or a file taken apart (grid probabilities, bytes, MACs);
* ``rate_points``: one image at many rates, written as files and browsed with a slider.

The method itself (training loop, range coding, fixed-point layers) is written out in the
notebooks, not here.
"""
