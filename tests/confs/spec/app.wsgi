def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ.get("mod_wsgi.process_group", "").encode()]
