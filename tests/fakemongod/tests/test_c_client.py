"""The libmongoc 1.23 transaction client (c/txn-client.c) against fakemongod."""
import os
import shlex
import subprocess

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def txn_client(tmp_path_factory):
    build = os.environ.get("SDL_BUILD_DIR")
    if build:
        exe = os.path.join(build, "tests", "fakemongod", "fakemongod-txn-client")
        assert os.access(exe, os.X_OK), "SDL_BUILD_DIR is set but %s was not built" % exe
        return exe
    exe = str(tmp_path_factory.mktemp("cbuild") / "fakemongod-txn-client")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmongoc-1.0"], check=True,
                           capture_output=True, text=True).stdout
    cmd = ["cc", "-std=c11", "-Wall", "-Werror", "-O1", "-o", exe, os.path.join(HERE, "c", "txn-client.c")]
    cmd += shlex.split(flags)
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, "building the C client failed:\n%s" % p.stderr
    return exe


def test_libmongoc_transaction_survives_faults(fresh, txn_client):
    p = subprocess.run([txn_client, fresh.uri], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "txn-client failed:\nstdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[-1] == "ok all"
    assert "ok batch 2 committed (body attempts: 2)" in lines
    assert any(line.startswith("ok exactly once") for line in lines)
    # the fail points really fired: the server log shows the injected faults
    log = open(fresh.log).read()
    assert "commitTransaction" in log and "closeConnection" in log and " wce" in log
    assert "err 112 WriteConflict labels=TransientTransactionError" in log


def test_libmongoc_pooled_streaming_monitor_sees_primary(fresh, tmp_path):
    """A pooled libmongoc client (streaming awaitable hello) selects the primary and writes."""
    src = tmp_path / "pooled.c"
    src.write_text(r'''
#include <mongoc/mongoc.h>
#include <stdio.h>
int main (int argc, char **argv) {
  mongoc_init ();
  mongoc_uri_t *uri = mongoc_uri_new (argv[1]);
  mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_HEARTBEATFREQUENCYMS, 500);
  mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
  mongoc_client_t *c = mongoc_client_pool_pop (pool);
  bson_error_t err;
  int ok = 1;
  for (int i = 0; i < 3 && ok; i++) {
    mongoc_collection_t *coll = mongoc_client_get_collection (c, "p", "c");
    bson_t *d = BCON_NEW ("i", BCON_INT32 (i));
    ok = mongoc_collection_insert_one (coll, d, NULL, NULL, &err);
    if (!ok) fprintf (stderr, "insert: %s\n", err.message);
    bson_destroy (d);
    mongoc_collection_destroy (coll);
    _mongoc_usleep (700 * 1000);
  }
  mongoc_client_pool_push (pool, c);
  mongoc_client_pool_destroy (pool);
  mongoc_uri_destroy (uri);
  mongoc_cleanup ();
  return ok ? 0 : 1;
}
''')
    exe = str(tmp_path / "pooled")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmongoc-1.0"], check=True,
                           capture_output=True, text=True).stdout
    subprocess.run(["cc", "-o", exe, str(src)] + shlex.split(flags), check=True)
    p = subprocess.run([exe, fresh.uri], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    log = open(fresh.log).read()
    assert log.count(" hello") >= 2, "the streaming monitor must have received hello replies"
