/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * `sdl snapshot --tables 'db.t,db2.*'`: asks the pipeline to snapshot tables (DESIGN.md §9):
 * the request is stored in the pipeline's offset document, and the running pipeline serves it
 * within a second or two (or at its next start), after the tables of a snapshot already under
 * way. Only tables the pipeline's filters include are read. Exit status: 0 stored, 1 the
 * target refused or is unreachable, 2 usage, 78 configuration (no offset yet).
 */

/* @argc/@argv start at "snapshot". */
int sdl_cmd_snapshot(int argc, char **argv);
