"""Notes each import in $FW_IMPORT_LOG, slowly, so concurrent first requests overlap."""

import os
import time

with open(os.environ["FW_IMPORT_LOG"], "a") as f:
    f.write("%d\n" % os.getpid())
time.sleep(0.3)  # widen the window in which a second import could start


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"counted"]
