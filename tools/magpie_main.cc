// magpie: the command-line client (DESIGN §7). All of it lives in magpie_cli_lib.
#include "tools/cli_app.h"

int main(int argc, char** argv) { return magpie::RunCli(argc, argv); }
