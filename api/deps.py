"""Request dependencies, exported as ``Annotated`` aliases for the routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.auth import API_KEY_HEADER, ApiKey, KeyRing, Role, authorise
from api.feature_service import FeatureService
from api.metrics import ApiMetrics
from api.reload_signal import ReloadWatcher
from api.settings import ApiSettings
from api.store_access import StoreGateway

_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey")


def get_settings(request: Request) -> ApiSettings:
    """The app's settings."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_features(request: Request) -> FeatureService:
    """The feature service."""
    service: FeatureService = request.app.state.features
    return service


def get_gateway(request: Request) -> StoreGateway:
    """The store gateway."""
    gateway: StoreGateway = request.app.state.gateway
    return gateway


def get_metrics(request: Request) -> ApiMetrics:
    """The app's metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def get_reload_watcher(request: Request) -> ReloadWatcher | None:
    """The watcher of the run directory's reload signal (``None`` without a run directory)."""
    watcher: ReloadWatcher | None = request.app.state.reload_watcher
    return watcher


def authenticated(request: Request, secret: str | None) -> ApiKey:
    """The key of the request (401 if missing or unknown)."""
    keys: KeyRing = request.app.state.keys
    return keys.authenticate(secret)


def require_role(*roles: Role) -> Callable[[Request, str | None], ApiKey]:
    """A dependency admitting keys of ``roles`` (admin always): 401 / 403 otherwise."""
    allowed = frozenset(roles)

    def dependency(request: Request, secret: str | None = Security(_key_header)) -> ApiKey:
        return authorise(authenticated(request, secret), allowed)

    return dependency


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
FeaturesDep = Annotated[FeatureService, Depends(get_features)]
GatewayDep = Annotated[StoreGateway, Depends(get_gateway)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ReloadWatcherDep = Annotated[ReloadWatcher | None, Depends(get_reload_watcher)]
ScorerKey = Annotated[ApiKey, Depends(require_role(Role.SCORER))]
InvestigatorKey = Annotated[ApiKey, Depends(require_role(Role.INVESTIGATOR))]
AdminKey = Annotated[ApiKey, Depends(require_role(Role.ADMIN))]
