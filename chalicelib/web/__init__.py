"""Server-rendered pages: one layout and one kit of components (templates/kit.html) that every
page uses (the citizen's tracking page, the public record; the staff workbench and the city
dashboard build on the same kit), rendered with Jinja2, styled by one vendored stylesheet."""
