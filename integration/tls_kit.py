"""Certificates for the TLS cases, made with the openssl CLI at test time (none is committed), and
small TLS probes: the certificate a PostgreSQL-protocol peer presents after an SSLRequest.

    kit = tls_kit.kit()            # made once per process (once per test module), removed at exit
    kit.path("server.crt")         # or kit.server_cert, kit.client("scramuser") -> (crt, key)

What it makes, all EC P-256:
    ca.crt/ca.key                  the test CA
    other_ca.crt/other_ca.key      an unrelated CA
    server.crt/.key                CA-signed, CN=localhost, SAN DNS:localhost, IP:127.0.0.1
    wrong_host.crt/.key            CA-signed, SAN DNS:wrong.example only
    expired.crt/.key               CA-signed, valid 2020-01-01 .. 2021-01-01 (SAN as server.crt)
    unknown_ca.crt/.key            signed by other_ca, SAN as server.crt
    client_<user>.crt/.key         CA-signed, CN=<user>, for each cluster user
    other_client_scramuser.crt/.key  signed by other_ca, CN=scramuser
Keys are 0600."""

import atexit
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
SERVER_SAN = "DNS:localhost,IP:127.0.0.1"
DEFAULT_USERS = ("scramuser", "md5user", "plainuser", "trustuser")

# One config for every openssl call, so the system's openssl.cnf (and its default extensions)
# plays no part. Sections name the extensions each kind of certificate gets.
OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${ENV::KIT_SAN}
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[ca]
default_ca = kit_ca
[kit_ca]
dir = ${ENV::KIT_CA_DIR}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
"""


class TlsKit:
    """The certificates of one directory. generate() makes them; the properties name them."""

    def __init__(self, directory, users=DEFAULT_USERS):
        self.dir = directory
        self.users = tuple(users)
        self.cnf = os.path.join(directory, "openssl.cnf")
        self._generations = 0

    # --- names ---

    def path(self, name):
        return os.path.join(self.dir, name)

    ca_cert = property(lambda self: self.path("ca.crt"))
    ca_key = property(lambda self: self.path("ca.key"))
    other_ca_cert = property(lambda self: self.path("other_ca.crt"))
    server_cert = property(lambda self: self.path("server.crt"))
    server_key = property(lambda self: self.path("server.key"))

    def pair(self, stem):
        """(cert, key) paths of `stem`.crt / `stem`.key."""
        return self.path(stem + ".crt"), self.path(stem + ".key")

    def client(self, user):
        """(cert, key) of the CA-signed client certificate with CN=user."""
        return self.pair(f"client_{user}")

    def other_client(self, user="scramuser"):
        """(cert, key) of a client certificate with CN=user signed by the unrelated CA."""
        return self.pair(f"other_client_{user}")

    # --- making them ---

    def _openssl(self, *args, env=None):
        full_env = dict(os.environ, KIT_SAN=SERVER_SAN, KIT_CA_DIR=self.dir)
        full_env.update(env or {})
        proc = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=60, env=full_env)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} exited {proc.returncode}:\n"
                               f"{proc.stdout}{proc.stderr}")
        return proc.stdout

    def _request(self, stem, cn):
        """A new key (0600) and a CSR for CN=cn; returns the CSR's path."""
        key, csr = self.path(stem + ".key"), self.path(stem + ".csr")
        self._openssl("req", "-config", self.cnf, "-new", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                      "-out", csr, "-subj", f"/CN={cn}")
        os.chmod(key, 0o600)
        return csr

    def _ca(self, stem, cn):
        crt, key = self.pair(stem)
        self._openssl("req", "-config", self.cnf, "-x509", "-new", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                      "-out", crt, "-subj", f"/CN={cn}", "-days", "3650",
                      "-extensions", "ca_ext", "-set_serial", self._serial())
        os.chmod(key, 0o600)

    @staticmethod
    def _serial():
        return "0x" + secrets.token_hex(12)

    def sign(self, stem, cn, kind="server", ca="ca", san=SERVER_SAN):
        """Makes `stem`.crt/.key for CN=cn signed by `ca` (the stem of a CA pair), with the
        server or client extensions; returns (cert, key)."""
        csr = self._request(stem, cn)
        crt = self.path(stem + ".crt")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.path(ca + ".crt"),
                      "-CAkey", self.path(ca + ".key"), "-set_serial", self._serial(),
                      "-days", "3650", "-sha256", "-extfile", self.cnf,
                      "-extensions", f"{kind}_ext", "-out", crt, env={"KIT_SAN": san})
        os.remove(csr)
        return crt, self.path(stem + ".key")

    def _sign_expired(self, stem, cn):
        # `openssl x509 -req` cannot date a certificate in the past; `openssl ca` can.
        csr = self._request(stem, cn)
        with open(self.path("index.txt"), "w"):
            pass
        with open(self.path("serial"), "w") as f:
            f.write(secrets.token_hex(12) + "\n")
        crt = self.path(stem + ".crt")
        self._openssl("ca", "-config", self.cnf, "-batch", "-notext", "-in", csr, "-out", crt,
                      "-cert", self.ca_cert, "-keyfile", self.ca_key,
                      "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
                      "-extensions", "server_ext")
        os.remove(csr)
        for name in os.listdir(self.dir):  # openssl ca's bookkeeping and its copy of the cert
            if name.startswith(("index.txt", "serial")) or name.endswith(".pem"):
                os.remove(self.path(name))

    def generate(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.cnf, "w") as f:
            f.write(OPENSSL_CNF)
        self._ca("ca", "pooler integration test CA")
        self._ca("other_ca", "unrelated test CA")
        self.sign("server", "localhost")
        self.sign("wrong_host", "wrong.example", san="DNS:wrong.example")
        self._sign_expired("expired", "localhost")
        self.sign("unknown_ca", "localhost", ca="other_ca")
        for user in self.users:
            self.sign(f"client_{user}", user, kind="client")
        self.sign("other_client_scramuser", "scramuser", kind="client", ca="other_ca")
        return self

    def new_server_pair(self):
        """A fresh CA-signed server pair like server.crt (new key, new serial), under a new name
        each call: for replacing a running pooler's certificate. Returns (cert, key)."""
        self._generations += 1
        return self.sign(f"server_gen{self._generations}", "localhost")

    def key_copy(self, key, mode, owner=None, name=None):
        """A copy of the key file `key` with the given mode and (optionally) owner user name;
        returns its path."""
        dest = self.path(name or f"copy_{secrets.token_hex(4)}_{os.path.basename(key)}")
        shutil.copyfile(key, dest)
        if owner is not None:
            ent = pwd.getpwnam(owner)
            os.chown(dest, ent.pw_uid, ent.pw_gid)
        os.chmod(dest, mode)
        return dest

    def copy_into(self, directory, names, owner=None):
        """Copies kit files into directory (keys 0600, certs 0644), owned by `owner` if given,
        as a server that checks its key's owner and mode wants them. Returns {name: path}."""
        out = {}
        ent = pwd.getpwnam(owner) if owner else None
        for name in names:
            dest = os.path.join(directory, name)
            shutil.copyfile(self.path(name), dest)
            if ent:
                os.chown(dest, ent.pw_uid, ent.pw_gid)
            os.chmod(dest, 0o600 if name.endswith(".key") else 0o644)
            out[name] = dest
        return out


# --- certificate facts ---

def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def fingerprint(cert):
    """SHA-256 of a certificate: `cert` is a PEM file's path or DER bytes."""
    der = der_of(cert) if isinstance(cert, str) else cert
    return hashlib.sha256(der).hexdigest()


# --- probes ---

def client_context(alpn=None, verify=False, ca=None, minimum=None, maximum=None):
    """An ssl client context; by default it checks nothing (the probes read what is presented)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def starttls(host, port, ctx=None, timeout=10, server_hostname="localhost"):
    """A TCP connection that sent an SSLRequest, read 'S' and completed the TLS handshake: the
    ssl socket. Raises AssertionError if the peer answered anything but 'S'."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(SSL_REQUEST)
        answer = sock.recv(1)
        if answer != b"S":
            raise AssertionError(f"SSLRequest answered {answer!r}, not b'S'")
        return (ctx or client_context()).wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


def presented_cert(host, port, timeout=10):
    """DER of the certificate a PostgreSQL-protocol peer presents after an SSLRequest."""
    with starttls(host, port, timeout=timeout) as tls:
        return tls.getpeercert(binary_form=True)


_kits = {}


def kit(users=DEFAULT_USERS):
    """The process's kit for these users: generated on first use into a temp dir that is
    removed when the process exits (POOLER_KEEP_TMP=1 keeps it)."""
    users = tuple(users)
    if users not in _kits:
        directory = tempfile.mkdtemp(prefix="pooler-itest-tls-")
        os.chmod(directory, 0o755)  # the postgres user reads the certificates copied from it
        if not os.environ.get("POOLER_KEEP_TMP"):
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _kits[users] = TlsKit(directory, users).generate()
    return _kits[users]
