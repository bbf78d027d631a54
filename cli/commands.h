// The commands of the callhook program; each returns the process exit status.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "callhook/engine.h"

namespace callhook::cli {

int cmd_parse(int argc, char** argv);
int cmd_validate(int argc, char** argv);
int cmd_normalize(int argc, char** argv);
int cmd_schema(int argc, char** argv);
int cmd_check_config(int argc, char** argv);
int cmd_match(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_handle(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_attempt(int argc, char** argv);
int cmd_seal(int argc, char** argv);
int cmd_unseal(int argc, char** argv);
int cmd_rerender(int argc, char** argv);
int cmd_replay(int argc, char** argv);
int cmd_deadletters(int argc, char** argv);
int cmd_erase(int argc, char** argv);
int cmd_check_destination(int argc, char** argv);

/// `${NAME}` secrets for the CLI: the environment.
std::optional<std::string> environment_secret(std::string_view name);
/// Reads and checks a config file; prints every problem and returns nullopt when it is bad.
std::optional<Engine> load_engine(std::string_view command, const std::string& path);
/// A request as JSON: {"method", "url", "headers": {...} or [[name, value]], "body" or
/// "body_base64"}.
std::optional<Request> parse_request(const nlohmann::json& doc, std::string& problem);

/// True when the command's arguments ask for help (-h or --help).
bool wants_help(int argc, char** argv);
void print_help(std::string_view text);

}  // namespace callhook::cli
