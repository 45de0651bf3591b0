"""An S3-compatible server on loopback for ecap's tests: moto's server mode, with conditional writes made atomic.

Moto checks `If-None-Match: *` and then stores the object in two steps; its threaded server can interleave two
requests between them, and then both writers "win" a version, which S3 itself never allows. One lock around the
handlers that create objects makes the check and the store one step, as on S3; reads and listings stay concurrent.

Usage: s3_server.py PORT
"""

import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_create_lock = threading.Lock()


def _serialised(method):
    def locked(self, *args, **kwargs):
        with _create_lock:
            return method(self, *args, **kwargs)

    return locked


# put_object: PutObject (and its If-None-Match); _key_response_post: CompleteMultipartUpload (and its If-None-Match).
for name in ("put_object", "_key_response_post"):
    setattr(S3Response, name, _serialised(getattr(S3Response, name)))

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
