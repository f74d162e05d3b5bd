"""Imports every domain's tables so Base.metadata (and Alembic) sees them all."""

from live.accounts import models as accounts_models  # noqa: F401
from live.chat import models as chat_models  # noqa: F401
from live.rooms import models as rooms_models  # noqa: F401
from live.cart import models as cart_models  # noqa: F401
from live.share import models as share_models  # noqa: F401
from live.growth import models as growth_models  # noqa: F401
from live.webhooks import models as webhooks_models  # noqa: F401
from live.stats import models as stats_models  # noqa: F401
