// callhook check-config | match | verify | handle | sweep | attempt | seal | unseal: the engine
// commands.
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "callhook/auth.h"
#include "callhook/engine.h"
#include "callhook/filter.h"
#include "callhook/validate.h"
#include "cli_io.h"
#include "commands.h"
#include "crypto.h"
#include "json_writer.h"

namespace callhook::cli {

using nlohmann::json;

// Secrets come from the environment, as on every platform that has one.
std::optional<std::string> environment_secret(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

namespace {

bool read_epoch(Args& args, std::string_view command, std::int64_t& now) {
  now = static_cast<std::int64_t>(std::time(nullptr));
  const auto text = args.option("--now");
  if (!text) return true;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), now);
  if (ec != std::errc() || end != text->data() + text->size() || now < 0) {
    usage_error(command, "--now takes seconds since the Unix epoch, not '" + *text + "'");
    return false;
  }
  return true;
}

void print_diagnostics(std::string_view command, const std::vector<Diagnostic>& errors,
                       const char* kind = "") {
  for (const Diagnostic& d : errors) {
    std::fprintf(stderr, "callhook %.*s: %s%s: %s (%s)\n", static_cast<int>(command.size()),
                 command.data(), kind, d.field.empty() ? "(document)" : d.field.c_str(),
                 d.message.c_str(), d.code.c_str());
  }
}

// What a valid config may still hold that is worth a look: route filters with operands that
// make their operator false (they are not errors, as in Hookdeck).
std::vector<Diagnostic> config_warnings(const Config& config) {
  std::vector<Diagnostic> out;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    for (Diagnostic& d : check_filter_warnings(config.routes[i].when)) {
      d.field = "/routes/" + std::to_string(i) + "/when" + d.field;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace

std::optional<Engine> load_engine(std::string_view command, const std::string& path) {
  const auto text = read_input(command, path);
  if (!text) return std::nullopt;
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(*text, environment_secret, &errors);
  if (!engine) {
    print_diagnostics(command, errors);
    std::fprintf(stderr, "callhook %.*s: %s has %zu problem%s\n", static_cast<int>(command.size()),
                 command.data(), path.c_str(), errors.size(), errors.size() == 1 ? "" : "s");
  }
  return engine;
}

std::optional<Request> parse_request(const json& doc, std::string& problem) {
  if (!doc.is_object()) {
    problem = "the request must be a JSON object {method, url, headers, body}";
    return std::nullopt;
  }
  Request request;
  request.method = doc.value("method", std::string("POST"));
  request.url = doc.value("url", std::string("/"));
  if (const auto it = doc.find("headers"); it != doc.end()) {
    if (it->is_object()) {
      for (const auto& [name, value] : it->items()) {
        if (!value.is_string()) {
          problem = "header " + name + " must be a string";
          return std::nullopt;
        }
        request.headers.push_back({name, value.get<std::string>()});
      }
    } else if (it->is_array()) {
      for (const json& pair : *it) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
          problem = "headers must be an object or an array of [name, value] string pairs";
          return std::nullopt;
        }
        request.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
      }
    } else {
      problem = "headers must be an object or an array of [name, value] pairs";
      return std::nullopt;
    }
  }
  if (const auto it = doc.find("body_base64"); it != doc.end() && it->is_string()) {
    auto bytes = crypto::base64_decode(it->get<std::string>());
    if (!bytes) {
      problem = "body_base64 is not valid base64";
      return std::nullopt;
    }
    request.body = std::move(*bytes);
  } else if (const auto body = doc.find("body"); body != doc.end()) {
    if (!body->is_string()) {
      problem = "body must be a string (or use body_base64)";
      return std::nullopt;
    }
    request.body = body->get<std::string>();
  }
  return request;
}

namespace {

std::optional<Request> request_from_json(std::string_view text, std::string& problem) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    problem = "the request file is not valid JSON";
    return std::nullopt;
  }
  return parse_request(doc, problem);
}

}  // namespace

int cmd_check_config(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook check-config [--json] FILE\n\n"
        "Checks a config file (schema: core/schema/config.schema.json). Secrets referenced as\n"
        "${NAME} are read from the environment; a missing one is a problem.\n\n"
        "  --json   print {\"valid\", \"errors\": [{\"field\", \"code\", \"message\"}],\n"
        "           \"warnings\": [...]} (and the route and destination counts when valid) on\n"
        "           stdout instead\n\n"
        "Warnings (a valid config: route filter operands that make their operator false) go\n"
        "to stderr and leave the exit status alone.\n\n"
        "Exit status: 0 valid, 1 invalid (every problem on stderr with its JSON Pointer),\n"
        "2 usage or I/O error.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const bool as_json = args.flag("--json");
  if (const auto unknown = args.unknown())
    return usage_error("check-config", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (rest.size() != 1) return usage_error("check-config", "takes one config file");
  const auto text = read_input("check-config", rest[0]);
  if (!text) return kExitUsage;
  const ConfigResult result = parse_config(*text, environment_secret);
  const std::vector<Diagnostic> warnings =
      result.config ? config_warnings(*result.config) : std::vector<Diagnostic>{};
  if (as_json) {
    Output output;
    JsonWriter w(output.buffer());
    w.begin_object().key("valid").boolean(result.config.has_value());
    if (result.config) {
      w.key("routes").number(static_cast<std::int64_t>(result.config->routes.size()));
      w.key("destinations").number(static_cast<std::int64_t>(result.config->destinations.size()));
    }
    w.key("errors");
    write_diagnostics(w, result.errors);
    w.key("warnings");
    write_diagnostics(w, warnings);
    w.end_object();
    output.buffer().push_back('\n');
    return result.config ? kExitOk : kExitRejected;
  }
  if (!result.config) {
    print_diagnostics("check-config", result.errors);
    return kExitRejected;
  }
  print_diagnostics("check-config", warnings, "warning: ");
  const Config& c = *result.config;
  std::printf("%s: valid (%zu route%s, %zu destination%s)\n", rest[0].c_str(), c.routes.size(),
              c.routes.size() == 1 ? "" : "s", c.destinations.size(),
              c.destinations.size() == 1 ? "" : "s");
  return kExitOk;
}

int cmd_match(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook match FILTER_JSON [FILE|-]\n\n"
        "Evaluates a filter in Hookdeck's syntax (given inline as JSON) against a JSON document\n"
        "and prints true or false. An operand its operator cannot use ({\"$gt\": [1, 2]}) makes\n"
        "that operator false, with a warning on stderr.\n\n"
        "  callhook match '{\"call\": {\"duration\": {\"$gte\": 30}}}' event.json\n\n"
        "Exit status: 0 either way, 2 on a bad filter, bad document or usage error.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  if (const auto unknown = args.unknown())
    return usage_error("match", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (rest.empty() || rest.size() > 2)
    return usage_error("match", "takes a filter and at most one file");
  const json filter = json::parse(rest[0], nullptr, false);
  if (filter.is_discarded()) return usage_error("match", "the filter is not valid JSON");
  const auto problems = check_filter(filter);
  if (!problems.empty()) {
    print_diagnostics("match", problems);
    return kExitUsage;
  }
  print_diagnostics("match", check_filter_warnings(filter), "warning: ");
  const auto text = read_input("match", rest.size() == 2 ? rest[1] : "-");
  if (!text) return kExitUsage;
  const json document = json::parse(*text, nullptr, false);
  if (document.is_discarded()) return usage_error("match", "the document is not valid JSON");
  std::printf("%s\n", filter_matches(filter, document) ? "true" : "false");
  return kExitOk;
}

int cmd_verify(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook verify --scheme NAME --secret SECRET [--url URL] [--header 'Name: "
        "value']...\n"
        "                       [--now EPOCH_SECONDS] [--public-url URL] [BODY_FILE|-]\n\n"
        "Checks a webhook signature over the body as received. Schemes: standard-webhooks\n"
        "(also svix: whsec_ secrets check v1 HMACs, whpk_ public keys v1a Ed25519 signatures),\n"
        "twilio, callrail, ctm, hmac (hmac: sha256, hex, header X-Signature).\n\n"
        "Exit status: 0 genuine, 1 not genuine (reason on stderr), 2 usage or I/O error.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto scheme_name = args.option("--scheme");
  const auto secret = args.option("--secret");
  const auto url = args.option("--url");
  const auto public_url = args.option("--public-url");
  const auto headers = args.options("--header");
  std::int64_t now = 0;
  if (!read_epoch(args, "verify", now)) return kExitUsage;
  if (args.missing_value()) return usage_error("verify", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error("verify", "unknown option " + *unknown);
  if (!scheme_name || !secret) return usage_error("verify", "--scheme and --secret are required");
  const auto scheme = parse_signature_scheme(*scheme_name);
  if (!scheme) return usage_error("verify", "unknown scheme '" + *scheme_name + "'");
  const auto rest = args.positionals();
  if (rest.size() > 1) return usage_error("verify", "takes at most one body file");
  Request request;
  request.url = url.value_or("/");
  for (const std::string& h : headers) {
    const std::size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return usage_error("verify", "--header takes 'Name: value', not '" + h + "'");
    }
    std::size_t value = colon + 1;
    while (value < h.size() && (h[value] == ' ' || h[value] == '\t')) ++value;
    request.headers.push_back({h.substr(0, colon), h.substr(value)});
  }
  const auto body = read_input("verify", rest.empty() ? "-" : rest[0]);
  if (!body) return kExitUsage;
  request.body = *body;
  AuthConfig config;
  SignatureAuth signature;
  signature.scheme = *scheme;
  signature.secret = *secret;
  signature.public_url = public_url.value_or("");
  config.signatures.push_back(signature);
  const AuthResult result = authenticate(config, request, now);
  if (!result.ok) {
    std::fprintf(stderr, "callhook verify: %s: %s\n", result.code.c_str(), result.message.c_str());
    return kExitRejected;
  }
  std::printf("genuine (%s)\n", std::string(to_string(*scheme)).c_str());
  return kExitOk;
}

namespace {

// Prints an outcome as `handle` and `sweep` do. With `record_out`, the record to store is first
// written there byte for byte, as a shell stores it (the file is left as it is when there is
// none), so the next run can pass it back with --record.
int print_outcome(std::string_view command, const Outcome& outcome,
                  const std::optional<std::string>& record_out) {
  if (record_out && outcome.record && !write_file(*record_out, *outcome.record)) {
    std::fprintf(stderr, "callhook %.*s: cannot write %s\n", static_cast<int>(command.size()),
                 command.data(), record_out->c_str());
    return kExitUsage;
  }
  Output output;
  write_outcome_json(outcome, output.buffer());
  output.buffer().push_back('\n');
  return kExitOk;
}

}  // namespace

int cmd_handle(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook handle --config FILE [--now EPOCH_SECONDS] [--record FILE]\n"
        "                       [--record-out FILE] REQUEST_FILE\n\n"
        "Runs one request through the engine and prints the Outcome as JSON: the response the\n"
        "sender gets, the deliveries to send, the route decisions, the verdict, the canonical\n"
        "event, the record to store and the log line. REQUEST_FILE is JSON\n"
        "{\"method\", \"url\", \"headers\": {...}, \"body\"} (or \"body_base64\"). Secrets come "
        "from\n"
        "the environment. --now defaults to the current time.\n\n"
        "  --record FILE      the call's stored correlation record, as is\n"
        "  --record-out FILE  write the record to store to FILE byte for byte (left as it is\n"
        "                     when there is nothing to store); may be the --record file\n\n"
        "Exit status: 0 when handled (whatever the response), 2 on a bad config, request or "
        "usage.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  const auto record_path = args.option("--record");
  const auto record_out = args.option("--record-out");
  std::int64_t now = 0;
  if (!read_epoch(args, "handle", now)) return kExitUsage;
  if (args.missing_value()) return usage_error("handle", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error("handle", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (!config_path) return usage_error("handle", "--config is required");
  if (rest.size() != 1) return usage_error("handle", "takes one request file");
  const auto engine = load_engine("handle", *config_path);
  if (!engine) return kExitUsage;
  const auto text = read_input("handle", rest[0]);
  if (!text) return kExitUsage;
  std::string problem;
  const auto request = request_from_json(*text, problem);
  if (!request) return usage_error("handle", problem);
  std::optional<std::string> record;
  if (record_path) {
    record = read_input("handle", *record_path);
    if (!record) return kExitUsage;
  }
  return print_outcome("handle", engine->handle(*request, now, record), record_out);
}

int cmd_sweep(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook sweep --config FILE [--now EPOCH_SECONDS] [--record-out FILE] "
        "RECORD_FILE\n\n"
        "Looks at a call's stored correlation record at --now, as a shell's timer does: an\n"
        "Initiate whose Complete is overdue (the record's sweep_at has passed) becomes an\n"
        "abandoned call and fires the `abandoned` routes once. Prints the Outcome as JSON, as\n"
        "handle does; its response status is 0 (nobody is answered) and its record is null when\n"
        "nothing was due. Secrets come from the environment. --now defaults to the current "
        "time.\n\n"
        "  --record-out FILE  write the record to store to FILE byte for byte (left as it is\n"
        "                     when there is nothing to store); may be RECORD_FILE\n\n"
        "Exit status: 0 when swept (whatever was due), 2 on a bad config or usage.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  const auto record_out = args.option("--record-out");
  std::int64_t now = 0;
  if (!read_epoch(args, "sweep", now)) return kExitUsage;
  if (args.missing_value()) return usage_error("sweep", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error("sweep", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (!config_path) return usage_error("sweep", "--config is required");
  if (rest.size() != 1) return usage_error("sweep", "takes one record file");
  const auto engine = load_engine("sweep", *config_path);
  if (!engine) return kExitUsage;
  const auto record = read_input("sweep", rest[0]);
  if (!record) return kExitUsage;
  return print_outcome("sweep", engine->sweep(*record, now), record_out);
}

int cmd_attempt(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook attempt --config FILE [ATTEMPT_FILE|-]\n\n"
        "Asks the engine what follows one attempt of a delivery, as every shell does after it\n"
        "sent one: delivered, retry at a time, or dead with a reason. ATTEMPT_FILE is JSON\n"
        "{\"route\", \"destination\", \"idempotency_key\", \"attempt\" (1 for the first),\n"
        " \"now_ms\", \"random\" (in [0, 1): the jitter's source),\n"
        " \"not_after_ms\" (optional: the delivery's deadline), \"fresh_token\" (optional: its\n"
        " OAuth token was minted for this attempt),\n"
        " \"answer\": {\"status\", \"headers\", \"body\"} or {\"timeout\": true} or {\"error\": "
        "TEXT}}.\n"
        "Prints {\"verdict\", \"code\", \"reason\", \"retry_at_ms\", \"delay_ms\", "
        "\"retry_after\",\n"
        "\"drop_token\", \"log\"}. The destination's `delivery` settings and format decide (see\n"
        "the README).\n\n"
        "Exit status: 0 when decided (whatever the verdict), 2 on a bad config, attempt or "
        "usage.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  if (args.missing_value()) return usage_error("attempt", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error("attempt", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (!config_path) return usage_error("attempt", "--config is required");
  if (rest.size() > 1) return usage_error("attempt", "takes one attempt file");
  const auto engine = load_engine("attempt", *config_path);
  if (!engine) return kExitUsage;
  const auto text = read_input("attempt", rest.empty() ? "-" : rest[0]);
  if (!text) return kExitUsage;
  std::string problem;
  const auto input = parse_attempt_json(*text, problem);
  if (!input) return usage_error("attempt", problem);
  Output output;
  write_attempt_verdict_json(engine->attempt_result(*input), output.buffer());
  output.buffer().push_back('\n');
  return kExitOk;
}

namespace {

// seal and unseal: one delivery or sealed text in (a file or standard input), one out.
struct SealArgs {
  std::optional<Engine> engine;
  std::string text;
};

std::optional<SealArgs> seal_args(std::string_view command, int argc, char** argv,
                                  std::string_view what) {
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  if (args.missing_value()) {
    usage_error(command, *args.missing_value() + " needs a value");
    return std::nullopt;
  }
  if (const auto unknown = args.unknown()) {
    usage_error(command, "unknown option " + *unknown);
    return std::nullopt;
  }
  const auto rest = args.positionals();
  if (!config_path) {
    usage_error(command, "--config is required");
    return std::nullopt;
  }
  if (rest.size() > 1) {
    usage_error(command, "takes one " + std::string(what));
    return std::nullopt;
  }
  SealArgs out;
  out.engine = load_engine(command, *config_path);
  if (!out.engine) return std::nullopt;
  auto text = read_input(command, rest.empty() ? "-" : rest[0]);
  if (!text) return std::nullopt;
  out.text = std::move(*text);
  return out;
}

}  // namespace

int cmd_seal(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook seal --config FILE [DELIVERY_FILE|-]\n\n"
        "Prints a delivery as a shell keeps it at rest: one JSON text {\"sealed\": 1, ...} whose\n"
        "method, URL, header values and body hold the config's secrets (from the environment)\n"
        "as ${NAME} references, never their values, and every $ of their own as $$.\n"
        "DELIVERY_FILE is one delivery as `handle` prints each of its \"deliveries\".\n\n"
        "Exit status: 0 when sealed, 2 on a bad config, delivery or usage.\n");
    return kExitOk;
  }
  auto args = seal_args("seal", argc, argv, "delivery file");
  if (!args) return kExitUsage;
  std::string problem;
  const auto delivery = parse_delivery_json(args->text, problem);
  if (!delivery) return usage_error("seal", problem);
  Output output;
  output.line(args->engine->seal(*delivery));
  return kExitOk;
}

int cmd_unseal(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook unseal --config FILE [SEALED_FILE|-]\n\n"
        "Prints the delivery a `seal` text holds, with the secrets' values of now (from the\n"
        "environment): the request a shell sends.\n\n"
        "Exit status: 0 when unsealed; 1 when the text names a secret the config no longer\n"
        "sets (missing_secret) or is not a sealed delivery (bad_sealed), said on stderr; 2 on a\n"
        "bad config or usage.\n");
    return kExitOk;
  }
  auto args = seal_args("unseal", argc, argv, "sealed file");
  if (!args) return kExitUsage;
  const Unsealed unsealed = args->engine->unseal(args->text);
  if (!unsealed.delivery) {
    std::fprintf(stderr, "callhook unseal: %s (%s)\n", unsealed.error.message.c_str(),
                 unsealed.error.code.c_str());
    return kExitRejected;
  }
  Output output;
  write_delivery_json(*unsealed.delivery, output.buffer());
  output.buffer().push_back('\n');
  return kExitOk;
}

}  // namespace callhook::cli
