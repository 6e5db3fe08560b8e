"""What a person looks at: the sweep's live board in the terminal (rich), and the sweep's plots
drawn from its Optuna study (plotly and matplotlib). Views draw; they decide nothing and record
nothing."""

from __future__ import annotations

from tunelab.views._board import Board
from tunelab.views._plots import NOT_DRAWN, VIEWS, draw_views, draw_views_into, prewarm_views
from tunelab.views._population import POPULATION_VIEW, draw_population
from tunelab.views._process import ViewsProcess

__all__ = [
    "NOT_DRAWN",
    "POPULATION_VIEW",
    "VIEWS",
    "Board",
    "ViewsProcess",
    "draw_population",
    "draw_views",
    "draw_views_into",
    "prewarm_views",
]
