"""Machine observers of a Turing study: programs, never people, that answer its test pairs.

Their fooling rates say how far simple colour statistics alone tell a model's colours from a photo's.
They are kept apart from the study's participants everywhere: never a row of ``participants`` or
``answers``, never the human ``turing_fooling_rate`` promote reads. No MLflow and no Ray here
(``tracking/turing_results.py`` logs their figures); no TensorFlow either, so ``turing.create`` (which
colorizes) is not imported.
"""
