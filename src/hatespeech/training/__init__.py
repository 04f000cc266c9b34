"""Training: the recipe (:mod:`.recipe`) and its parts, one module each.

- :mod:`.data_mix`: the training mix (balanced sample + natural text + extra rows), author-grouped folds,
  class-balanced epochs;
- :mod:`.batches`: token limit, length-bucketed batches, scoring;
- :mod:`.step`: the optimisation step and its regularisers (FGM, R-Drop);
- :mod:`.averaging`: epoch averages, model soups, WiSE-FT interpolation;
- :mod:`.distillation`: a teacher model's scores as soft targets;
- :mod:`.outputs`: what goes into the model dir.
"""

from hatespeech.training.recipe import TrainResult, train

__all__ = ["TrainResult", "train"]
