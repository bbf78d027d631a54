// callhook parse | validate | normalize | schema: the payload commands.
#include <charconv>
#include <ctime>
#include <string>

#include "callhook/pipeline.h"
#include "cli_io.h"
#include "commands.h"
#include "json_writer.h"

#if defined(__unix__) || defined(__wasi__) || defined(__APPLE__)
#include <unistd.h>
#define CALLHOOK_HAVE_ISATTY 1
#endif

namespace callhook::cli {
namespace {

constexpr std::string_view kPayloadOptions = R"(
Input:
  FILE | -              the payload (a form body or a JSON body); '-' or nothing reads stdin
  --url URL             take the payload from the query of a GET URL instead
  --content-type TYPE   the body's media type (application/x-www-form-urlencoded or
                        application/json); without it the body is sniffed
  --max-body N, --max-fields N, --max-name N, --max-value N
                        limits in bytes/fields (defaults 65536, 200, 256, 8192)
)";

constexpr std::string_view kCheckOptions = R"(Checking:
  --lenient             unknown fields and fields not allowed on the event are warnings
                        (the default)
  --strict              ...they are errors, and so is a Property.Type other than Site
  --sender NAME         read it as NAME's webhook: voice-webhooks (the default), twilio,
                        callrail, ctm or ringba (the README maps each onto the canonical event)
  --webhook WORD        which of the sender's webhooks it is, as the path word after
                        /hook/SOURCE/ says (callrail: pre-call, post-call, ...; ctm: start, end)
  --ndjson              one payload per input line (a form body, a JSON object or a URL),
                        one JSON result per output line; blank lines are skipped
)";

struct PayloadArgs {
  PipelineOptions options;
  SenderSettings sender;  // options.sender points here when --sender names one
  std::string webhook;
  std::optional<std::string> url;
  std::optional<std::string> content_type;
  std::string path = "-";
  bool ndjson = false;
};

bool read_limit(Args& args, std::string_view name, std::size_t& target, std::string& problem) {
  const auto text = args.option(name);
  if (!text) return true;
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value == 0 || value > 1u << 30) {
    problem = std::string(name) + " takes a positive whole number, not '" + *text + "'";
    return false;
  }
  target = value;
  return true;
}

// Parses the options shared by parse/validate/normalize; nullopt after printing a usage error.
std::optional<PayloadArgs> read_payload_args(std::string_view command, Args& args, bool checking) {
  PayloadArgs out;
  if (checking) {
    const bool strict = args.flag("--strict");
    const bool lenient = args.flag("--lenient");
    if (strict && lenient) {
      usage_error(command, "--strict and --lenient exclude each other");
      return std::nullopt;
    }
    out.options.mode = strict ? Mode::strict : Mode::lenient;
    out.ndjson = args.flag("--ndjson");
    if (const auto name = args.option("--sender")) {
      const auto sender = parse_sender_format(*name);
      if (!sender) {
        usage_error(
            command,
            "--sender takes voice-webhooks, twilio, callrail, ctm or ringba, not '" + *name + "'");
        return std::nullopt;
      }
      out.sender.sender = *sender;
      out.sender.source = *name;
      out.sender.mode = out.options.mode;
    }
    if (const auto word = args.option("--webhook")) out.webhook = *word;
    out.options.now = static_cast<std::int64_t>(std::time(nullptr));
  }
  out.url = args.option("--url");
  out.content_type = args.option("--content-type");
  std::string problem;
  Limits& limits = out.options.limits;
  if (!read_limit(args, "--max-body", limits.max_body_bytes, problem) ||
      !read_limit(args, "--max-fields", limits.max_fields, problem) ||
      !read_limit(args, "--max-name", limits.max_name_bytes, problem) ||
      !read_limit(args, "--max-value", limits.max_value_bytes, problem)) {
    usage_error(command, problem);
    return std::nullopt;
  }
  if (args.missing_value()) {
    usage_error(command, *args.missing_value() + " needs a value");
    return std::nullopt;
  }
  if (const auto unknown = args.unknown()) {
    usage_error(command, "unknown option " + *unknown);
    return std::nullopt;
  }
  const auto rest = args.positionals();
  if (rest.size() > 1) {
    usage_error(command, "takes at most one input file");
    return std::nullopt;
  }
  if (!rest.empty()) out.path = rest[0];
  if (out.url && !rest.empty()) {
    usage_error(command, "give either --url or an input file, not both");
    return std::nullopt;
  }
  if (out.url && out.ndjson) {
    usage_error(command, "--ndjson reads lines from a file, not --url");
    return std::nullopt;
  }
  return out;
}

PayloadSource source_for(const PayloadArgs& a, std::string_view body) {
  PayloadSource source;
  if (a.url) {
    source.method = "GET";
    source.url = *a.url;
  } else {
    source.body = body;
    if (a.content_type) source.content_type = *a.content_type;
  }
  return source;
}

// An NDJSON line may be a URL (its query is the payload) or a body.
PayloadSource source_for_line(const PayloadArgs& a, std::string_view line) {
  PayloadSource source;
  if (!a.content_type && (line.starts_with("http://") || line.starts_with("https://") ||
                          line.starts_with('/') || line.starts_with('?'))) {
    source.method = "GET";
    source.url = line;
  } else {
    source.body = line;
    if (a.content_type) source.content_type = *a.content_type;
  }
  return source;
}

enum class Verb { validate, normalize };

// Writes one result; true when the payload was valid.
bool write_result(Verb verb, const Inspection& inspection, const PipelineOptions& options,
                  std::string& out) {
  if (verb == Verb::normalize &&
      write_inspected_json(inspection.fields, inspection.report, options, out)) {
    return true;
  }
  write_report_json(inspection.report, out);
  return inspection.report.valid;
}

int run_ndjson(Verb verb, const PayloadArgs& a, std::string_view command) {
  LineReader input;
  if (!input.open(command, a.path)) return kExitUsage;
#ifdef CALLHOOK_HAVE_ISATTY
  const bool progress = isatty(2) != 0;
#else
  const bool progress = false;
#endif
  Output output;
  Inspection inspection;
  std::size_t seen = 0;
  std::size_t invalid = 0;
  std::string_view line;
  while (input.next(line)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    inspect(source_for_line(a, line), a.options, inspection);
    if (!write_result(verb, inspection, a.options, output.buffer())) ++invalid;
    output.buffer().push_back('\n');
    output.maybe_flush();
    ++seen;
    if (progress && seen % 16384 == 0) {
      std::fprintf(stderr, "\r%zu payloads, %zu invalid", seen, invalid);
    }
  }
  output.flush();
  if (progress) std::fprintf(stderr, "\r%zu payloads, %zu invalid\n", seen, invalid);
  if (input.failed()) return kExitUsage;
  return invalid == 0 ? kExitOk : kExitRejected;
}

int run_check(Verb verb, int argc, char** argv) {
  const std::string_view command = verb == Verb::validate ? "validate" : "normalize";
  Args args(argc, argv, 2);
  auto a = read_payload_args(command, args, true);
  if (!a) return kExitUsage;
  if (!a->sender.source.empty()) {
    a->options.sender = &a->sender;
    a->options.path_event = a->webhook;
  }
  if (a->ndjson) return run_ndjson(verb, *a, command);
  std::string body;
  if (!a->url) {
    auto input = read_input(command, a->path);
    if (!input) return kExitUsage;
    body = std::move(*input);
  }
  Inspection inspection;
  inspect(source_for(*a, body), a->options, inspection);
  Output output;
  const bool valid = write_result(verb, inspection, a->options, output.buffer());
  output.buffer().push_back('\n');
  return valid ? kExitOk : kExitRejected;
}

}  // namespace

int cmd_validate(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        std::string("Usage: callhook validate [--strict|--lenient] [--content-type TYPE] "
                    "[--url URL] [--ndjson] [FILE|-]\n\n"
                    "Checks a Voice Webhooks payload and prints the verdict:\n"
                    "  {\"valid\": bool, \"event\": \"Call.Complete\" or null,\n"
                    "   \"errors\": [{\"field\", \"code\", \"message\"}], \"warnings\": [...]}\n") +
        std::string(kPayloadOptions) + std::string(kCheckOptions) +
        "\nExit status: 0 valid, 1 invalid (any line with --ndjson), 2 usage or I/O error.\n");
    return kExitOk;
  }
  return run_check(Verb::validate, argc, argv);
}

int cmd_normalize(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        std::string("Usage: callhook normalize [--strict|--lenient] [--content-type TYPE] "
                    "[--url URL] [--ndjson] [FILE|-]\n\n"
                    "Prints the canonical call event of a valid payload (see "
                    "core/schema/call-event.schema.json);\nan invalid payload prints the "
                    "validate verdict instead.\n") +
        std::string(kPayloadOptions) + std::string(kCheckOptions) +
        "\nExit status: 0 valid, 1 invalid (any line with --ndjson), 2 usage or I/O error.\n");
    return kExitOk;
  }
  return run_check(Verb::normalize, argc, argv);
}

int cmd_parse(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(std::string("Usage: callhook parse [--content-type TYPE] [--url URL] [FILE|-]\n\n"
                           "Decodes a payload and prints its parameters, in order and with "
                           "duplicates,\nas a JSON array of [name, value] pairs.\n") +
               std::string(kPayloadOptions) +
               "\nExit status: 0 decoded, 1 refused (limit, media type, bad JSON; reason on "
               "stderr),\n2 usage or I/O error.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto a = read_payload_args("parse", args, false);
  if (!a) return kExitUsage;
  std::string body;
  if (!a->url) {
    auto input = read_input("parse", a->path);
    if (!input) return kExitUsage;
    body = std::move(*input);
  }
  FieldList fields;
  const Decoded decoded = decode_payload(source_for(*a, body), a->options.limits, fields);
  if (decoded.error) {
    std::fprintf(stderr, "callhook parse: %s: %s\n", decoded.error->code.c_str(),
                 decoded.error->message.c_str());
    return kExitRejected;
  }
  Output output;
  JsonWriter w(output.buffer());
  w.begin_array();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    w.begin_array().string(fields.name(i)).string(fields.value(i)).end_array();
  }
  w.end_array();
  output.buffer().push_back('\n');
  return kExitOk;
}

int cmd_schema(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook schema event|fields|sender NAME\n\n"
        "event        the JSON Schema of the canonical call event, generated from the spec table\n"
        "fields       the spec table as Markdown: parameter, type, presence per event, canonical "
        "path\n"
        "sender NAME  a sender's table as Markdown (twilio, callrail, ctm, ringba): field, type,\n"
        "             presence per event, the parameter it fills, how it is read\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto rest = args.positionals();
  if (args.unknown()) return usage_error("schema", "unknown option " + *args.unknown());
  if (rest.size() == 2 && rest[0] == "sender") {
    const auto sender = parse_sender_format(rest[1]);
    if (!sender || *sender == SenderFormat::voice_webhooks) {
      return usage_error("schema", "name a sender: twilio, callrail, ctm or ringba");
    }
    Output output;
    output.buffer() = sender_fields_markdown(*sender);
    return kExitOk;
  }
  if (rest.size() != 1 || (rest[0] != "event" && rest[0] != "fields")) {
    return usage_error("schema", "name what to print: event, fields or sender NAME");
  }
  Output output;
  output.buffer() = rest[0] == "event" ? canonical_event_schema() : spec_fields_markdown();
  return kExitOk;
}

}  // namespace callhook::cli
