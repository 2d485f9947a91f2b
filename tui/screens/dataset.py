"""(placeholder being replaced)"""

from tui.step import StepScreen


class DatasetScreen(StepScreen):
    STEP = "dataset"
