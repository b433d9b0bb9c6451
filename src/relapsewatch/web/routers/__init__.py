"""One router per resource; :data:`relapsewatch.web.app.ROUTERS` lists them all."""
