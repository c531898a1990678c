/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/cli.h"

int
main(int argc, char **argv)
{
    return sdl_cli_main(argc, argv);
}
