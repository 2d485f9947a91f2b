"""(placeholder being replaced)"""

from tui.step import StepScreen


class LoraScreen(StepScreen):
    STEP = "lora"
