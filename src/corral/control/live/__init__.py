"""What the control plane tells open sockets as it happens: session events, changed lists and
cut-offs, each a feed over one `Broker`.

`LocalBroker` serves one control plane process; the feeds and their callers depend only on
`Broker`, so a broker between processes can be added later without touching them.
"""

from corral.control.live.broker import Broker, LocalBroker
from corral.control.live.changes import ChangeFeed, ChangeSubscription, tracked_db_session_factory
from corral.control.live.sessions import SessionHub, Subscription
from corral.control.live.viewers import Viewer, ViewerSockets

__all__ = [
    "Broker",
    "ChangeFeed",
    "ChangeSubscription",
    "LocalBroker",
    "SessionHub",
    "Subscription",
    "Viewer",
    "ViewerSockets",
    "tracked_db_session_factory",
]
