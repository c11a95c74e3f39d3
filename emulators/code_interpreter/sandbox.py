"""One session's sandbox: host-side directories, limits, and the bubblewrap command line.

Layout on the host, under ``<state_dir>/<session id>/``::

    fs/        a tmpfs mounted with size=workspace_mb when we may mount (root), else a dir
      ws/      the workspace  -> <sandbox_workdir> inside (read-write, the working directory)
      tmp/     scratch        -> /tmp inside (shares the tmpfs quota)
      logs/    kernel log, command and background task output (not visible inside; counted
               against the same quota so a chatty task cannot fill the host disk)
    run/       kernel connection file + IPC sockets -> /run/emulator inside

Every process of the session (the kernel, each command) is its own ``bwrap`` invocation
binding the same ``fs/ws`` and ``fs/tmp``: they share files, never the host's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from .cgroups import kill_cgroup, make_cgroups, remove_cgroup
from .config import EmulatorConfig
from .exceptions import ValidationException

__all__ = ["SANDBOX_UID", "Sandbox", "bwrap_available", "bwrap_problem", "run_on_spawner"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_SANDBOX_ENTRY = Path(__file__).with_name("sandbox_entry.py")
_INNER_RUN = "/run/emulator"
_INNER_SANDBOX_ENTRY = "/opt/emulator/sandbox_entry.py"
SANDBOX_UID = 1000  # the uid and gid of sandboxed code
_ETC_FILES = (
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
    "/etc/os-release",
)
# bwrap --die-with-parent uses PR_SET_PDEATHSIG, which fires when the *thread* that forked
# it exits. All sandbox processes are therefore forked from this one long-lived thread, not
# from short-lived HTTP request threads.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


def run_on_spawner(spawn: Callable[[], T]) -> T:
    """Run ``spawn`` (a process start) on the one long-lived thread that forks sandboxes."""
    return _SPAWNER.submit(spawn).result()


def bwrap_available() -> bool:
    """True when bubblewrap is installed."""
    return shutil.which("bwrap") is not None


def bwrap_problem() -> str | None:
    """Why sandboxes cannot be created here (None when a trial sandbox runs)."""
    if not bwrap_available():
        return "bubblewrap (bwrap) is not installed"
    trial = [
        "bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true",
    ]  # fmt: skip
    try:
        res = subprocess.run(trial, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not run: {e}"
    if res.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {res.stderr.strip()}"
    return None


class Sandbox:
    """Directories, mounts, cgroups and command lines of one session's sandbox."""

    def __init__(self, session_id: str, config: EmulatorConfig, state_root: Path) -> None:
        self.session_id = session_id
        self.config = config
        self.root = state_root / session_id
        self.fs = self.root / "fs"
        self.workspace = self.fs / "ws"
        self.tmp = self.fs / "tmp"
        self.run_dir = self.root / "run"
        self.logs = self.fs / "logs"
        self.isolated = not config.unisolated
        self.quota_mounted = False  # True when fs/ is a size-limited tmpfs
        self.cgroups: list[Path] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._destroyed = False
        self._procs_lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------

    def create(self) -> None:
        """Create directories, the tmpfs quota mount and the cgroups."""
        for d in (self.fs, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.quota_mounted = self._mount_tmpfs()
        self.logs.mkdir(exist_ok=True)
        self.workspace.mkdir(exist_ok=True)
        self.tmp.mkdir(exist_ok=True)
        os.chmod(self.tmp, 0o1777)
        (self.run_dir / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\nuser:x:{SANDBOX_UID}:{SANDBOX_UID}:user:"
            f"{self.inner_workdir}:/bin/bash\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        )
        (self.run_dir / "group").write_text(f"root:x:0:\nuser:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
        if self.isolated:
            self.cgroups = make_cgroups(self.session_id, self.config)

    def destroy(self) -> None:
        """Kill every process of the sandbox and delete all its files."""
        with self._procs_lock:
            self._destroyed = True
        for proc in self._procs:
            _kill_group(proc)
        for cg in self.cgroups:
            kill_cgroup(cg)
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("sandbox %s: pid %s did not exit", self.session_id, proc.pid)
        self._procs.clear()
        for cg in self.cgroups:
            remove_cgroup(cg)
        if self.quota_mounted:
            subprocess.run(["umount", "-l", str(self.fs)], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> list[int]:
        """The host pids of the sandbox's processes still running (kernel, commands, tasks)."""
        with self._procs_lock:
            return [p.pid for p in self._procs if p.poll() is None]

    # --- paths --------------------------------------------------------------------------

    @property
    def inner_workdir(self) -> str:
        """The workspace path as the sandboxed code sees it."""
        return self.config.sandbox_workdir if self.isolated else str(self.workspace)

    @property
    def inner_tmp(self) -> str:
        return "/tmp" if self.isolated else str(self.tmp)

    @property
    def inner_run(self) -> str:
        return _INNER_RUN if self.isolated else str(self.run_dir)

    def locate(self, path: str, *, field: str = "path") -> tuple[Path, tuple[str, ...]]:
        """Map a sandbox path to (host root, components below it).

        Relative paths are relative to the workspace; absolute ones must lie under the
        workspace or /tmp; ``..`` is refused. The caller walks the components without
        following symlinks (see ``file_transfer.py``), so links planted by sandboxed code can
        never lead the emulator to host files.
        """
        if not path or "\x00" in path:
            raise ValidationException(f"Invalid {field}: {path!r}", field=field)
        pure = PurePosixPath(path)
        if not pure.is_absolute():
            pure = PurePosixPath(self.inner_workdir) / pure
        for inner, host in ((self.inner_workdir, self.workspace), (self.inner_tmp, self.tmp)):
            try:
                rel = pure.relative_to(inner)
            except ValueError:
                continue
            if ".." not in rel.parts:
                return host, tuple(p for p in rel.parts if p != ".")
            break
        raise ValidationException(
            f"Path {path!r} is outside the session workspace ({self.inner_workdir}) and /tmp",
            field=field,
        )

    def usage_bytes(self) -> int:
        """Bytes used by the workspace and /tmp together."""
        if self.quota_mounted:
            st = os.statvfs(self.fs)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        total = 0
        for dirpath, _dirs, files in os.walk(self.fs):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total

    # --- processes ----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The whole environment of sandboxed processes (nothing leaks from the host)."""
        venv_bin = str(Path(sys.executable).parent)
        return {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": self.inner_workdir,
            "USER": "user",
            "LOGNAME": "user",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": self.inner_tmp,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{self.inner_tmp}/.matplotlib",
            "IPYTHONDIR": f"{self.inner_tmp}/.ipython",
            "JUPYTER_RUNTIME_DIR": f"{self.inner_tmp}/.jupyter",
            "XDG_CACHE_HOME": f"{self.inner_tmp}/.cache",
            "MALLOC_ARENA_MAX": "2",
            "OPENBLAS_NUM_THREADS": "2",
            "OMP_NUM_THREADS": "2",
            "TERM": "dumb",
        }

    def limits(self) -> dict[str, int]:
        """The rlimits of every sandboxed process (``sandbox_entry.py``'s flags; 0: unchanged)."""
        c = self.config
        return {
            "as": c.memory_bytes,
            "cpu": c.cpu_seconds,
            "nproc": c.max_processes,
            "nofile": c.max_open_files,
            "fsize": c.workspace_bytes,
        }

    def command(self, argv: list[str], bwrap_extra: tuple[str, ...] = ()) -> list[str]:
        """Wrap ``argv`` in ``sandbox_entry.py`` (rlimits) and, when isolated, in bubblewrap."""
        launcher = _INNER_SANDBOX_ENTRY if self.isolated else str(_SANDBOX_ENTRY)
        flags = [a for name, value in self.limits().items() for a in (f"--{name}", str(value))]
        limited = [sys.executable, "-S" if self.isolated else "-I", launcher, *flags, "--", *argv]
        if not self.isolated:
            return limited
        return [*self._bwrap_args(), *bwrap_extra, "--", *limited]

    def popen(
        self,
        argv: list[str],
        *,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        info_fd: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the sandbox (in the workspace) and track it for :meth:`destroy`.

        ``info_fd``: bubblewrap writes the sandbox's JSON info (its ``child-pid``) there.
        """
        extra = ("--info-fd", str(info_fd)) if info_fd is not None else ()
        cmd = self.command(argv, extra)
        if self.cgroups:
            joins = " && ".join(
                f"echo $$ > {shlex.quote(str(cg / 'cgroup.procs'))}" for cg in self.cgroups
            )
            cmd = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *cmd]

        def _spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                cmd,
                cwd=str(self.workspace),
                env=self.env(),
                start_new_session=True,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=() if info_fd is None else (info_fd,),
            )

        with self._procs_lock:
            if self._destroyed:
                raise RuntimeError(f"sandbox {self.session_id} is destroyed")
            proc = run_on_spawner(_spawn)
            self._procs = [p for p in self._procs if p.poll() is None]
            self._procs.append(proc)
        return proc

    def _bwrap_args(self) -> list[str]:
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        args = [
            "bwrap",
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--unsetenv", "JPY_PARENT_PID",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            top = Path("/") / name
            if top.is_symlink():
                args += ["--symlink", os.readlink(top), str(top)]
            elif top.is_dir():
                args += ["--ro-bind", str(top), str(top)]
        # /tmp first: a Python prefix may live under /tmp (a virtualenv in a fresh clone
        # there), and a later /tmp mount would hide it from the kernel.
        args += self._tmp_args()
        for p in sorted(prefixes):
            if not p.startswith("/usr/"):
                args += ["--ro-bind", p, p]
        for f in _ETC_FILES:
            args += ["--ro-bind-try", f, f]
        args += [
            "--ro-bind", str(self.run_dir / "passwd"), "/etc/passwd",
            "--ro-bind", str(self.run_dir / "group"), "/etc/group",
            "--proc", "/proc",
            "--dev", "/dev",
            "--bind", str(self.workspace), self.config.sandbox_workdir,
            "--bind", str(self.run_dir), _INNER_RUN,
            "--ro-bind", str(_SANDBOX_ENTRY), _INNER_SANDBOX_ENTRY,
            "--remount-ro", "/",
            "--chdir", self.config.sandbox_workdir,
        ]  # fmt: skip
        return args

    def _tmp_args(self) -> list[str]:
        if self.quota_mounted:  # /tmp shares the session's size-limited tmpfs
            return ["--bind", str(self.tmp), "/tmp"]
        # no host mount allowed: a size-limited tmpfs per process (not shared between the
        # kernel and commands, and file tools see only the workspace's /tmp dir)
        return ["--size", str(self.config.workspace_bytes), "--tmpfs", "/tmp"]

    # --- limits -------------------------------------------------------------------------

    def _mount_tmpfs(self) -> bool:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            return False
        opts = f"size={self.config.workspace_bytes},mode=0755,nosuid,nodev"
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(self.fs)],
            check=False,
            capture_output=True,
        )
        if res.returncode != 0:
            log.info("tmpfs quota mount unavailable (%s); quota is soft", res.stderr.strip())
        return res.returncode == 0


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
