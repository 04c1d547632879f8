"""The base of every recipe section: unknown keys are errors, assignments are validated."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # allow_inf_nan=False: TOML spells `inf` and `nan`, and `lr = inf` trained a model of NaNs.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False)
