"""The "pools" URL namespace under /creator/: the dashboard (web.creator), the factory pages
(pools.urls) and the dataset pages (datasets.urls). One module, because Django reverses a
namespace through one included URLconf only; the names are the ones the pages always had."""

from django.urls import path

from datasets.urls import urlpatterns as dataset_patterns
from pools.urls import urlpatterns as factory_patterns

from . import creator

app_name = "pools"

urlpatterns = [
    path("", creator.dashboard, name="dashboard"),
    path("balance/", creator.balance, name="balance"),
    path("balance/withdrawals/", creator.balance_withdraw, name="balance-withdraw"),
    path("balance/fund/", creator.balance_fund, name="balance-fund"),
    *factory_patterns,
    *dataset_patterns,
]
