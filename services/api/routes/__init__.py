"""The API's routers, one module per resource."""

from services.api.routes import (
    alert_routes,
    alerts,
    auth,
    camera_status,
    cameras,
    devices,
    events,
    live,
    ops,
    plates,
    replay,
    review,
    stats,
    training,
    users,
    watchlists,
)

ROUTERS = [
    ops.router,
    auth.router,
    users.router,
    events.router,
    plates.router,
    stats.router,
    replay.router,
    live.router,
    camera_status.router,
    cameras.router,
    devices.router,
    alert_routes.router,
    watchlists.router,
    review.router,
    alerts.router,
    training.router,
]
