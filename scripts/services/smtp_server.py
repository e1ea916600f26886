"""An SMTP server for the email notifier's tests (scripts/services/smtp.sh).

Debian's aiosmtpd (1.4) serves two ports that deliver to one maildir:

  --port    plain SMTP that requires STARTTLS, then AUTH (PLAIN or LOGIN),
            before MAIL FROM (as a submission server on 587 does)
  --smtps   implicit TLS from the first byte (SMTPS, as on 465), then AUTH

aiosmtpd's own command line has STARTTLS but no AUTH, hence this script.
Two recipients answer as a real server may, for the tests of the replies:

  tempfail@...   RCPT TO gets 450 4.2.1 (try again later)
  nouser@...     RCPT TO gets 550 5.1.1 (no such mailbox)

It writes --ready once both ports listen, and stops on SIGTERM or SIGINT.
Run it with Debian's /usr/bin/python3, where python3-aiosmtpd is.
"""

import argparse
import logging
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "tempfail":
            return "450 4.2.1 Mailbox busy, try again later"
        if local == "nouser":
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def authenticator(user, password):
    want = LoginPassword(user.encode(), password.encode())

    def check(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data == want:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: smtp_AUTH answers 535 5.7.8 itself.
        return AuthResult(success=False, handled=False)

    return check


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--smtps", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--ready", required=True)
    a = p.parse_args()

    with open(a.password_file) as f:
        password = f.read().strip()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(a.cert, a.key)
    common = dict(
        authenticator=authenticator(a.user, password),
        auth_required=True,
        server_hostname="localhost",
    )

    submission = Controller(
        Handler(a.maildir), hostname=a.host, port=a.port,
        tls_context=tls, require_starttls=True, auth_require_tls=True, **common)
    # aiosmtpd 1.4 counts only STARTTLS as TLS for auth_require_tls; an
    # SMTPS connection is TLS from its first byte, so AUTH is safe there.
    # Hence no warning about it (aiosmtpd both logs it and warns).
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    smtps = Controller(
        Handler(a.maildir), hostname=a.host, port=a.smtps,
        ssl_context=tls, auth_require_tls=False, **common)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    submission.start()
    smtps.start()
    with open(a.ready, "w") as f:
        f.write("ready\n")
    print(f"smtp_server: STARTTLS on {a.host}:{a.port}, SMTPS on {a.host}:{a.smtps}", file=sys.stderr, flush=True)
    stop.wait()
    smtps.stop()
    submission.stop()


if __name__ == "__main__":
    main()
