"""The API's routers, one module per resource."""

from services.api.routes import (
    alerts,
    auth,
    cameras,
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
    cameras.router,
    watchlists.router,
    review.router,
    alerts.router,
    training.router,
]
