"""The demo application: `fastwsgi serve examples/hello.wsgi`."""


def application(environ, start_response):
    body = b"Hello from fastwsgi (process group %s)\n" % environ["mod_wsgi.process_group"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
