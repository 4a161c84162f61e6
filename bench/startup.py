#!/usr/bin/env python3
"""Start-up time of each function: process start to its first poll of the Lambda Runtime
API (GET /2018-06-01/runtime/invocation/next), against a hello-world lambda_runtime binary
built with the same profile, measured in the same run, interleaved.

    python3 bench/startup.py [--profile release] [--runs 30]

A stub Runtime API on a loopback port records the moment of the first poll; the process is
then stopped. Environment as in a deployment (dummy values; nothing is called at start-up).
"""
import argparse, http.server, os, socket, statistics, subprocess, sys, threading, time

FUNCTIONS = ["render", "comment-submit", "spam-verify", "moderate", "signup", "linkbacks", "linkback-verify", "supporter-mail"]

first_poll = {}
lock = threading.Condition()


class Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            with lock:
                first_poll.setdefault("t", time.perf_counter())
                lock.notify_all()
            # Hold the poll open; the process is killed before it could get an event.
            time.sleep(5)
        self.send_response(500)
        self.end_headers()

    def do_POST(self):
        self.send_response(202)
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="release")
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.path.join(root, "target", args.profile)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % port, "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "s", "AWS_LAMBDA_LOG_GROUP_NAME": "g",
        "AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
        "TABLE_NAME": "t", "CONTENT_BUCKET": "c", "SITE_BUCKET": "s", "STATE_PREFIX": "_state/",
        "FORM_KEY": "ab" * 32, "IDENTITY_KEY": "ac" * 32, "MODERATION_KEY": "ad" * 32,
        "SUPPORTER_KEY": "ae" * 32, "HCAPTCHA_SECRET": "0x" + "1" * 40, "RATE_LIMIT": "5",
        "MAIL_FROM": "site@example.org", "MODERATOR_EMAIL": "mod@example.org",
        "RUST_LOG": "warn",
    })
    names = ["hello-lambda"] + FUNCTIONS
    times = {n: [] for n in names}
    for _ in range(args.runs):
        for n in names:  # interleaved: machine drift hits all alike
            first_poll.clear()
            t0 = time.perf_counter()
            p = subprocess.Popen([os.path.join(target, n)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with lock:
                lock.wait_for(lambda: "t" in first_poll, timeout=10)
            t1 = first_poll.get("t")
            p.kill(); p.wait()
            if t1 is None:
                sys.exit("%s never polled the Runtime API" % n)
            times[n].append((t1 - t0) * 1000)
    base = statistics.median(times["hello-lambda"])
    print("start-up (process start -> first GET /next), median of %d, profile %s:" % (args.runs, args.profile))
    for n in names:
        m = statistics.median(times[n])
        print("  %-16s %6.2f ms  (%.2fx hello-world)" % (n, m, m / base))


if __name__ == "__main__":
    main()
