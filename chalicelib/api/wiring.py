"""The API's one Platform (chalicelib.bootstrap): every route hands it to the service it calls.
Tests that need another clock or a fake put theirs here (`wiring.PLATFORM = bootstrap(...)`)."""
from chalicelib.bootstrap import bootstrap

PLATFORM = bootstrap()
