#!/usr/bin/env python3
"""A stand-in for the host's SMS relay in the quickstart smoke test: accepts
POST { "to", "body" } on 127.0.0.1:<port> and writes each body to <dir>/NNN.json."""
import http.server
import os
import sys
import threading

port, outdir = int(sys.argv[1]), sys.argv[2]
os.makedirs(outdir, exist_ok=True)
# Texts may arrive at once (several instances): number them one at a time.
numbering = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with numbering:
            count = len([f for f in os.listdir(outdir) if f.endswith(".json")])
            path = os.path.join(outdir, f"{count:03d}.json")
            with open(path + ".part", "wb") as out:
                out.write(body)
            os.rename(path + ".part", path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
