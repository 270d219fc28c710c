"""One Exotel account's settings: its credentials, region (hosts) and time zone."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

REGION_HOSTS: dict[str, tuple[str, str]] = {
    # region: (v1 host, v3 CCM host)
    "singapore": ("https://api.exotel.com", "https://ccm-api.exotel.com"),
    "mumbai": ("https://api.in.exotel.com", "https://ccm-api.in.exotel.com"),
}


class AccountSettings(BaseModel):
    """One Exotel account. ``api_token`` is a secret and never printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sid: str = Field(min_length=1, max_length=128)
    api_key: str = Field(min_length=1, max_length=256)
    api_token: SecretStr
    region: Literal["singapore", "mumbai"] = "singapore"
    # An explicit base URL (e.g. the simulator) replaces both regional hosts.
    base_url: AnyHttpUrl | None = None
    caller_id: str | None = Field(default=None, description="default CallerId / virtual number")
    # Exotel's timestamps (DateCreated …) are local to the account: IST for Exotel India.
    utc_offset_minutes: int = Field(default=330, ge=-720, le=840)

    @field_validator("api_token")
    @classmethod
    def _token_not_empty(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value():
            raise ValueError("api_token must not be empty")
        return v

    @property
    def v1_base_url(self) -> str:
        return str(self.base_url).rstrip("/") if self.base_url else REGION_HOSTS[self.region][0]

    @property
    def v3_base_url(self) -> str:
        return str(self.base_url).rstrip("/") if self.base_url else REGION_HOSTS[self.region][1]

