"""(placeholder being replaced)"""

from tui.step import StepScreen


class ReviewScreen(StepScreen):
    STEP = "review"
