"""Jiesu's HTTP API: wiring only (the Chalice app, its blueprints and error mapping)."""
from chalice import Chalice

from chalicelib.api import admin, intake, staff
from chalicelib.api import open311

app = Chalice(app_name="jiesu")
app.api.binary_types = []  # every route speaks text (JSON, XML, form)
app.register_blueprint(intake.bp)
app.register_blueprint(staff.bp)
app.register_blueprint(open311.bp)
app.register_blueprint(admin.bp)
