"""The Streamlit dashboard over a study store (``hpo dashboard --storage URL``).

Read-only: the store is opened with a read-only connection and never written,
migrated or created. Streamlit and Plotly are imported only when the dashboard
runs; ``import hpo`` never imports this package.

Pages: studies, study (history, parallel coordinates, slices, importance, trial
table), learning curves, Pareto front (with hypervolume over time) and seeds.
Learning curves are coloured by trial state or by the trial attribute
``decision`` (``hpo.dashboard.reader.DECISION_KEY``) that a scheduler sets.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["APP_PATH", "STORAGE_ENV", "launch"]

#: The Streamlit script.
APP_PATH = Path(__file__).with_name("app.py")
#: The environment variable the script reads the store URL from.
STORAGE_ENV = "HPO_DASHBOARD_STORAGE"


def _check_port_free(address: str, port: int) -> None:
    """Refuse a port another program listens on, suggesting ``--port`` (Streamlit only says it is not available).

    Raises:
        ConfigError: ``address:port`` cannot be bound.
    """
    import socket

    from hpo.errors import ConfigError

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server binds
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise ConfigError(f"port: {address}:{port} is in use or not available ({exc.strerror or exc}); "
                              f"another dashboard may be running there: pick a free port with --port, e.g. "
                              f"hpo dashboard --port {port + 1 if port < 65535 else 8502}") from None


def launch(storage: str, port: int = 8501, address: str = "127.0.0.1") -> None:
    """Serve the dashboard over ``storage`` until interrupted (blocks).

    The store is checked first (it must exist and hold an hpo schema), so a bad
    URL fails here with a clear error instead of in the browser.

    Raises:
        StorageError: the store cannot be opened read-only or holds no hpo schema.
        ConfigError: ``port`` is not in 1-65535, or Streamlit or Plotly is not installed.
    """
    import os

    from hpo.dashboard.reader import DashboardReader
    from hpo.errors import ConfigError
    from hpo.validators import is_int

    if not is_int(port) or not 0 < port < 65536:
        raise ConfigError(f"port: must be an integer in 1-65535, but got {port!r}")
    import importlib.util

    missing = [name for name in ("streamlit", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"the dashboard needs {missing}, which are not installed: pip install 'hpo-platform[dashboard]'"
        )
    DashboardReader(storage)  # validates the URL and the schema, read-only
    _check_port_free(address, port)
    os.environ[STORAGE_ENV] = storage
    from streamlit.web import bootstrap

    flags = {
        "server.address": address,
        "server.port": port,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "client.toolbarMode": "viewer",
    }
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(APP_PATH), False, [], flags)
