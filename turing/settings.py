"""A study's protocol, one setting per number (defaults as Colorful Image Colorization ran it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StudySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    display_ms: int = Field(1000, ge=100, le=10_000, description="how long a pair is shown before it is hidden")
    practice_trials: int = Field(10, ge=0, description="with feedback, excluded from analysis")
    test_trials: int = Field(40, ge=1, description="without feedback: the fooling rate is measured on these")
    attention_checks: int = Field(4, ge=0, description="pairs whose fake is a grayscale copy, among the tests")
    max_attention_failures: int = Field(1, ge=0, description="a participant who fails more is excluded")
    control_arm: bool = Field(False, description="also a real-versus-real arm, which should land near 50%")
    image_size: int = Field(256, ge=64, le=1024, multiple_of=16, description="side of each square image, px")
    jpeg_quality: int = Field(92, ge=50, le=100)
    require_token: bool = Field(False, description="participants need the study's link token")
    seed: int = 0

    @model_validator(mode="after")
    def _failures_possible(self) -> StudySettings:
        if self.attention_checks and self.max_attention_failures >= self.attention_checks:
            raise ValueError(
                f"--max-attention-failures {self.max_attention_failures} excludes nobody with "
                f"--attention-checks {self.attention_checks}; allow fewer failures or add checks"
            )
        return self
