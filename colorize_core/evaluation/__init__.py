"""Evaluation: quality scores on images (``scores``), held-out scoring for promotion (``held_out``),
whole photos under a stated protocol with intervals (``photos``), and sample grids people look at
(``grids``)."""
