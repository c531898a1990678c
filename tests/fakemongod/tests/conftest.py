import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pymongo  # noqa: E402
from harness import start_fakemongod  # noqa: E402

FP_OFF = {"configureFailPoint": "failCommand", "mode": "off"}


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One fakemongod for the whole run (tests use their own databases)."""
    m = start_fakemongod(tmp_path_factory.mktemp("fakemongod-shared"))
    yield m
    assert m.stop() == 0, "fakemongod must exit cleanly on SIGTERM"


@pytest.fixture
def fresh(tmp_path):
    """A private fakemongod (for restarts, kill -9, parameters)."""
    m = start_fakemongod(tmp_path)
    yield m
    if m.proc is not None:
        m.stop()


def make_client(uri, **kw):
    kw.setdefault("serverSelectionTimeoutMS", 10000)
    return pymongo.MongoClient(uri, **kw)


@pytest.fixture
def client(server):
    c = make_client(server.uri)
    yield c
    c.admin.command(FP_OFF)
    c.close()


@pytest.fixture
def db(client):
    name = "t_" + uuid.uuid4().hex[:12]
    yield client[name]
    client.drop_database(name)
