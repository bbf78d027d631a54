// The commands of the callhook program; each returns the process exit status.
#pragma once

#include <string_view>

namespace callhook::cli {

int cmd_parse(int argc, char** argv);
int cmd_validate(int argc, char** argv);
int cmd_normalize(int argc, char** argv);
int cmd_schema(int argc, char** argv);
int cmd_check_config(int argc, char** argv);
int cmd_match(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_handle(int argc, char** argv);

/// True when the command's arguments ask for help (-h or --help).
bool wants_help(int argc, char** argv);
void print_help(std::string_view text);

}  // namespace callhook::cli
