"""idseg's HTTP service: sessions, prompts, segment-everything and documents, and the page.

Needs the ``server`` extra (``pip install "idseg[server]"``). Start it with ``idseg serve``.
"""

from idseg.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from idseg.server.app import create_app

        return create_app
    raise AttributeError(name)
