/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "sdl/mysql/sql-text.h"

#include "sdltest.h"

static void
check(const char *in, const char *expect)
{
    sdl_arena arena;
    sdl_arena_init(&arena, 0);
    sdl_bytes out = sdl_redact_statement(SDL_BYTES(in, strlen(in)), &arena);
    ASSERT_MEM_STR_EQ(out.ptr, out.len, expect);
    sdl_arena_done(&arena);
}

TEST(redact_masks_account_passwords)
{
    check("CREATE USER 'repl'@'%' IDENTIFIED BY 'replpw'",
          "CREATE USER 'repl'@'%' IDENTIFIED BY '<redacted>'");
    check("ALTER USER u@h IDENTIFIED BY \"it's\" , v@h identified by 'x''y'",
          "ALTER USER u@h IDENTIFIED BY '<redacted>' , v@h identified by '<redacted>'");
    check("SET PASSWORD FOR 'u'@'h' = PASSWORD('secret')",
          "SET PASSWORD FOR 'u'@'h' = PASSWORD('<redacted>')");
    check("SET PASSWORD = 'secret'", "SET PASSWORD = '<redacted>'");
    check("CREATE USER u IDENTIFIED WITH mysql_native_password AS '*ABC'",
          "CREATE USER u IDENTIFIED WITH mysql_native_password AS '<redacted>'");
    check("CHANGE MASTER TO MASTER_PASSWORD='pw\\'x', MASTER_USER='r'",
          "CHANGE MASTER TO MASTER_PASSWORD='<redacted>', MASTER_USER='r'");
}

TEST(redact_keeps_other_statements_byte_for_byte)
{
    check("ALTER TABLE t ADD COLUMN password VARCHAR(10) DEFAULT 'x'",
          "ALTER TABLE t ADD COLUMN password VARCHAR(10) DEFAULT 'x'");
    check("CREATE TABLE `as` (a INT) COMMENT 'identified by'",
          "CREATE TABLE `as` (a INT) COMMENT 'identified by'");
    check("GRANT SELECT ON *.* TO 'u'@'%'", "GRANT SELECT ON *.* TO 'u'@'%'");
    check("", "");
    check("IDENTIFIED BY 'unterminated", "IDENTIFIED BY '<redacted>'");
}

TEST(redact_knows_plugin_forms_and_leaves_aliases)
{
    check("CREATE USER u IDENTIFIED VIA mysql_native_password USING '*ABC'",
          "CREATE USER u IDENTIFIED VIA mysql_native_password USING '<redacted>'");
    check("CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('pw')",
          "CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('<redacted>')");
    check("CREATE VIEW v AS SELECT 'a' AS 'b'", "CREATE VIEW v AS SELECT 'a' AS 'b'");
}

static void
check_target(const char *stmt, const char *defdb, const char *db, const char *table)
{
    sdl_arena arena;
    sdl_ddl_target t;
    sdl_arena_init(&arena, 0);
    bool ok = sdl_ddl_target_parse(SDL_BYTES(stmt, strlen(stmt)), SDL_BYTES(defdb, strlen(defdb)),
                                   &arena, &t);
    if (!db) {
        ASSERT_FALSE(ok);
    } else {
        ASSERT_TRUE(ok);
        ASSERT_MEM_STR_EQ(t.db.ptr, t.db.len, db);
        ASSERT_MEM_STR_EQ(t.table.ptr, t.table.len, table);
    }
    sdl_arena_done(&arena);
}

TEST(ddl_target_finds_tables_and_databases)
{
    check_target("ALTER TABLE shop.orders ADD x INT", "", "shop", "orders");
    check_target("alter online ignore table `my``db`.`t 1` drop y", "", "my`db", "t 1");
    check_target("CREATE TABLE IF NOT EXISTS t (a INT)", "shop", "shop", "t");
    check_target("CREATE OR REPLACE TEMPORARY TABLE s.t LIKE u", "", "s", "t");
    check_target("DROP TABLE IF EXISTS `a`.b, c", "x", "a", "b");
    check_target("TRUNCATE TABLE t", "d", "d", "t");
    check_target("truncate d2.t", "d", "d2", "t");
    check_target("RENAME TABLE old TO new", "d", "d", "old");
    check_target("CREATE UNIQUE INDEX i ON s.t (a)", "", "s", "t");
    check_target("DROP INDEX i ON t", "d", "d", "t");
    check_target("CREATE DATABASE IF NOT EXISTS shop", "", "shop", "");
    check_target("DROP SCHEMA `s`", "", "s", "");
    check_target("CREATE USER u IDENTIFIED BY 'x'", "", NULL, NULL);
    check_target("CREATE VIEW v AS SELECT 1", "", NULL, NULL);
    check_target("GRANT SELECT ON *.* TO u", "", NULL, NULL);
    check_target("ALTER TABLE", "", NULL, NULL);
    check_target("", "", NULL, NULL);
}

static sdl_statement_kind
kind(const char *s)
{
    return sdl_statement_classify(SDL_BYTES(s, strlen(s)));
}

TEST(statement_classify_tells_row_changes_from_ddl_and_markers)
{
    ASSERT_INT_EQ(kind("INSERT INTO shop.t VALUES (1)"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("  update t set a=1"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("DELETE FROM t"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("REPLACE INTO t VALUES (1)"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("LOAD DATA INFILE 'x' INTO TABLE t"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("/* app=42 */ INSERT INTO t VALUES (1)"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("-- note\nDELETE FROM t"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("# note\nCALL p()"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("WITH x AS (SELECT 1) UPDATE t JOIN x SET a=1"), SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("SET STATEMENT max_statement_time=60 FOR INSERT INTO t VALUES (1)"),
                  SDL_STATEMENT_DML);
    ASSERT_INT_EQ(kind("SET STATEMENT a=(1), b='for' FOR ALTER TABLE t ADD c INT"),
                  SDL_STATEMENT_DDL);

    ASSERT_INT_EQ(kind("CREATE TABLE t (a INT)"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("/*!40000 ALTER TABLE `t` DISABLE KEYS */"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("/*M!100100 DROP TABLE t */"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("CREATE /*!50017 DEFINER=`root`@`%`*/ TRIGGER tr BEFORE INSERT ON t "
                       "FOR EACH ROW SET NEW.a = 1"),
                  SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("GRANT SELECT ON *.* TO u"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("SET PASSWORD FOR u = PASSWORD('x')"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("SET DEFAULT ROLE r FOR u"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("truncate t"), SDL_STATEMENT_DDL);
    ASSERT_INT_EQ(kind("CREATE TABLE t2 (a INT) START TRANSACTION"), SDL_STATEMENT_DDL);

    ASSERT_INT_EQ(kind("BEGIN"), SDL_STATEMENT_BEGIN);
    ASSERT_INT_EQ(kind("START TRANSACTION"), SDL_STATEMENT_BEGIN);
    ASSERT_INT_EQ(kind("COMMIT"), SDL_STATEMENT_COMMIT);
    ASSERT_INT_EQ(kind("ROLLBACK"), SDL_STATEMENT_ROLLBACK);
    ASSERT_INT_EQ(kind("ROLLBACK TO SAVEPOINT s1"), SDL_STATEMENT_SAVEPOINT);
    ASSERT_INT_EQ(kind("ROLLBACK WORK TO s1"), SDL_STATEMENT_SAVEPOINT);
    ASSERT_INT_EQ(kind("SAVEPOINT `s1`"), SDL_STATEMENT_SAVEPOINT);
    ASSERT_INT_EQ(kind("RELEASE SAVEPOINT s1"), SDL_STATEMENT_SAVEPOINT);
    ASSERT_INT_EQ(kind("XA START 'x'"), SDL_STATEMENT_XA);

    /* never guessed */
    ASSERT_INT_EQ(kind(""), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("/* only a comment */"), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("SET @a = 1"), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("SET STATEMENT a=1"), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("BINLOG 'AAAA'"), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END"), SDL_STATEMENT_UNKNOWN);
    ASSERT_INT_EQ(kind("(SELECT 1)"), SDL_STATEMENT_UNKNOWN);
}

static void
check_head(const char *stmt, size_t cap, const char *expect)
{
    char buf[128];
    ASSERT_TRUE(cap <= sizeof(buf));
    ASSERT_STR_EQ(sdl_statement_head(SDL_BYTES(stmt, strlen(stmt)), buf, cap), expect);
}

TEST(statement_head_names_the_statement_without_its_values)
{
    check_head("INSERT INTO shop.t (id, v) VALUES (1, 'secret')", 128, "INSERT INTO shop.t");
    check_head("insert into `shop`.`t` values (1)", 128, "insert into `shop`.`t` values");
    check_head("/* c */ UPDATE t SET a = 'x'", 128, "UPDATE t SET a");
    check_head("DELETE FROM a.b WHERE id IN (1)", 128, "DELETE FROM a.b WHERE");
    check_head("'literal first'", 128, "");
    check_head("INSERT INTO verylongtablename", 12, "INSERT INTO");
    check_head("CALL `p\x01q`()", 128, "CALL `p?q`");
}

static void
check_targets(const char *stmt, const char *expect)
{
    sdl_arena arena;
    sdl_ddl_target t[4];
    char got[256] = "";
    sdl_arena_init(&arena, 0);
    size_t n =
        sdl_ddl_targets_parse(SDL_BYTES(stmt, strlen(stmt)), SDL_BYTES("d", 1), &arena, t, 4);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(got);
        (void)snprintf(got + len, sizeof(got) - len, "%s%.*s.%.*s", i ? " " : "", (int)t[i].db.len,
                       (const char *)t[i].db.ptr, (int)t[i].table.len,
                       (const char *)t[i].table.ptr);
    }
    ASSERT_STR_EQ(got, expect);
    sdl_arena_done(&arena);
}

TEST(ddl_targets_read_comments_set_statement_and_lists)
{
    check_targets("/* hello */ CREATE TABLE shop.cmt (id INT)", "shop.cmt");
    check_targets("/*!40000 ALTER TABLE `t` DISABLE KEYS */", "d.t");
    check_targets("CREATE /*!32312 TEMPORARY */ TABLE x.y (a INT)", "x.y");
    check_targets("SET STATEMENT max_statement_time=(60), x=1 FOR ALTER TABLE s.t ADD c INT",
                  "s.t");
    check_targets("DROP TABLE other.z, shop.cmt, `q`", "other.z shop.cmt d.q");
    check_targets("DROP TABLE IF EXISTS a /* generated by server */", "d.a");
    check_targets("RENAME TABLE a TO b.c, e.f TO g", "d.a b.c e.f d.g");
    check_targets("CREATE TABLE t (a INT), b", "d.t");            /* not a list */
    check_targets("DROP TABLE a, b, c, d, e", "d.a d.b d.c d.d"); /* at most @max */
    check_targets("GRANT ALL ON *.* TO u", "");
}
