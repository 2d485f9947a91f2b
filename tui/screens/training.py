"""(placeholder being replaced)"""

from tui.step import StepScreen


class TrainingScreen(StepScreen):
    STEP = "training"
