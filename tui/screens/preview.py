"""(placeholder being replaced)"""

from tui.step import StepScreen


class PreviewScreen(StepScreen):
    STEP = "preview"
