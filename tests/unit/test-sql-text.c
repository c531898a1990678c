/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/redact.h"
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
