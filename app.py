"""Jiesu's HTTP API: wiring only (the Chalice app, its blueprints and error mapping)."""
from chalice import Chalice

from chalicelib.api import admin, analytics, index, intake, pages, signin, staff, workbench
from chalicelib.api import open311, openapi, security
from chalicelib.api import archive as archive_api
from chalicelib.api.errors import refuse_other_methods

app = Chalice(app_name="jiesu")
app.api.binary_types = []  # every route speaks text (JSON, XML, form)
app.register_blueprint(intake.bp)
app.register_blueprint(staff.bp)
app.register_blueprint(open311.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(index.bp)
app.register_blueprint(pages.bp)
app.register_blueprint(analytics.bp)
app.register_blueprint(signin.bp)
app.register_blueprint(workbench.bp)
app.register_blueprint(archive_api.bp)  # 归档: sealed dossiers
app.register_blueprint(openapi.bp)
app.register_blueprint(security.bp)  # security headers on every response
refuse_other_methods(app)  # last: it sees every route
