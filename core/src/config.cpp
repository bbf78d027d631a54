#include "callhook/config.h"

#include <algorithm>

#include "callhook/filter.h"
#include "callhook/render.h"
#include "template.h"
#include "text_util.h"
#include "value_formats.h"

namespace callhook {
namespace {

using nlohmann::json;

std::string with_token(std::string pointer, std::string_view key) {
  detail::append_pointer_token(pointer, key);
  return pointer;
}

std::string_view type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "a value";
  }
}

bool is_secret_name_char(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// Reads one config document, collecting every problem rather than stopping at the first.
class Reader {
 public:
  Reader(const SecretLookup& secrets, std::vector<Diagnostic>& errors,
         UnboundConfig* unbound = nullptr)
      : secrets_(secrets), errors_(errors), unbound_(unbound) {}

  void error(const std::string& pointer, std::string_view code, std::string message) {
    // A setting whose secret is missing is reported once, as missing: the empty stand-in it
    // leaves behind is not a second problem.
    for (const Diagnostic& e : errors_) {
      if (e.field == pointer && e.code == "missing_secret") return;
    }
    errors_.push_back({pointer, std::string(code), std::move(message)});
  }

  // Checks that `object` has only the `allowed` keys.
  void only_keys(const json& object, const std::string& pointer,
                 std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, value] : object.items()) {
      bool known = false;
      for (const std::string_view a : allowed) known = known || key == a;
      if (!known) {
        std::string list;
        for (const std::string_view a : allowed) {
          if (a.starts_with('$')) continue;
          list += list.empty() ? "" : ", ";
          list += a;
        }
        error(with_token(pointer, key), "unknown_key",
              "Unknown setting '" + key + "'; expected one of: " + list + ".");
      }
    }
  }

  const json* member(const json& object, std::string_view key) {
    const auto it = object.find(std::string(key));
    return it == object.end() ? nullptr : &*it;
  }

  bool expect_object(const json& value, const std::string& pointer) {
    if (value.is_object()) return true;
    error(pointer, "wrong_type",
          "Expected an object, found " + std::string(type_name(value)) + ".");
    return false;
  }

  // A string setting with ${SECRET} references resolved. nullopt when absent or wrong.
  std::optional<std::string> string(const json& object, std::string_view key,
                                    const std::string& pointer, bool required) {
    const std::string at = with_token(pointer, key);
    const json* value = member(object, key);
    if (value == nullptr) {
      if (required) error(at, "missing", "The setting '" + std::string(key) + "' is required.");
      return std::nullopt;
    }
    if (!value->is_string()) {
      error(at, "wrong_type", "Expected a string, found " + std::string(type_name(*value)) + ".");
      return std::nullopt;
    }
    return resolve(value->get_ref<const std::string&>(), at);
  }

  std::optional<std::int64_t> integer(const json& object, std::string_view key,
                                      const std::string& pointer, std::int64_t min,
                                      std::int64_t max) {
    const std::string at = with_token(pointer, key);
    const json* value = member(object, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer()) {
      error(at, "wrong_type",
            "Expected a whole number, found " + std::string(type_name(*value)) + ".");
      return std::nullopt;
    }
    const auto n = value->get<std::int64_t>();
    if (n < min || n > max) {
      error(at, "out_of_range",
            "Expected a number from " + std::to_string(min) + " to " + std::to_string(max) + ".");
      return std::nullopt;
    }
    return n;
  }

  std::optional<bool> boolean(const json& object, std::string_view key,
                              const std::string& pointer) {
    const json* value = member(object, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) {
      error(with_token(pointer, key), "wrong_type",
            "Expected true or false, found " + std::string(type_name(*value)) + ".");
      return std::nullopt;
    }
    return value->get<bool>();
  }

  // Replaces every ${NAME} in `text` with the secret's value.
  std::optional<std::string> resolve(const std::string& text, const std::string& pointer) {
    std::string out;
    std::size_t pos = 0;
    bool ok = true;
    while (pos < text.size()) {
      const std::size_t open = text.find("${", pos);
      if (open == std::string::npos) break;
      std::size_t end = open + 2;
      while (end < text.size() && is_secret_name_char(text[end], end == open + 2)) ++end;
      if (end == open + 2 || end >= text.size() || text[end] != '}') {  // not a reference
        out.append(text, pos, open + 2 - pos);
        pos = open + 2;
        continue;
      }
      const std::string name = text.substr(open + 2, end - open - 2);
      out.append(text, pos, open - pos);
      if (unbound_ != nullptr) {
        out += stand_in(name, pointer);
        pos = end + 1;
        continue;
      }
      const std::optional<std::string> value = secrets_ ? secrets_(name) : std::nullopt;
      if (!value) {
        error(pointer, "missing_secret",
              "The secret " + name +
                  " is not set; provide it through the platform's secret "
                  "store or the environment.");
        ok = false;
      } else {
        out += *value;
        if (value->size() >= kScrubbedSecretBytes) resolved_.emplace_back(name, *value);
      }
      pos = end + 1;
    }
    out.append(text, pos, std::string::npos);
    if (!ok) return std::nullopt;
    return out;
  }

  // Read unbound, a reference is kStandIn, the index of its name, kStandIn: text no config can
  // hold (parse_config_unbound refuses one that writes the character).
  static constexpr char kStandIn = '\x01';

  std::string stand_in(const std::string& name, const std::string& pointer) {
    std::vector<std::string>& names = unbound_->names;
    const auto at = std::find(names.begin(), names.end(), name);
    const auto index = static_cast<std::size_t>(at - names.begin());
    if (at == names.end()) names.push_back(name);
    unbound_->resolved.push_back(index);
    references_.push_back({pointer, false});
    return kStandIn + std::to_string(index) + kStandIn;
  }

  // Whether `text`, the setting at `pointer`, passes `check`. Read unbound, a text holding a
  // reference passes, the check left to bind_config, and the references there are settled:
  // they sit where their value is used as it is.
  bool settle(const std::string& text, const std::string& pointer, SecretCheck check) {
    if (unbound_ == nullptr || text.find(kStandIn) == std::string::npos) {
      return passes(check, text);
    }
    for (Reference& r : references_) r.settled = r.settled || r.pointer == pointer;
    if (check != SecretCheck::none) unbound_->checks.emplace_back(text, check);
    return true;
  }

  // Settles every reference at `pointer` or under it.
  void settle_all(const std::string& pointer) {
    for (Reference& r : references_) {
      r.settled = r.settled || r.pointer == pointer ||
                  (r.pointer.starts_with(pointer) && r.pointer[pointer.size()] == '/');
    }
  }

  // Whether every reference was settled: one that was not is in a setting its value could
  // decide (a format, a name, a template...), so the config cannot be read unbound.
  [[nodiscard]] bool all_settled() const {
    return std::all_of(references_.begin(), references_.end(),
                       [](const Reference& r) { return r.settled; });
  }

  static bool passes(SecretCheck check, std::string_view text) {
    switch (check) {
      case SecretCheck::none:
        return true;
      case SecretCheck::nonempty:
        return !text.empty();
      case SecretCheck::http_uri:
        return detail::is_http_uri(text);
      case SecretCheck::header_value:
        return is_header_value(text);
      case SecretCheck::bearer_token:
        return !text.empty() && is_header_value(text);
      case SecretCheck::public_key:
        return !text.starts_with("whsk_");
    }
    return false;
  }

  void read_auth(const json& auth, const std::string& p, AuthConfig& into) {
    if (!expect_object(auth, p)) return;
    only_keys(auth, p, {"token", "basic", "signatures"});
    if (const json* token = member(auth, "token"); token && expect_object(*token, p + "/token")) {
      const std::string tp = p + "/token";
      only_keys(*token, tp, {"value", "in", "param"});
      TokenAuth t;
      const auto value = string(*token, "value", tp, true);
      t.token = value.value_or("");
      const std::string where = string(*token, "in", tp, false).value_or("path");
      if (where == "query") {
        t.where = TokenAuth::Where::query;
      } else if (where != "path") {
        error(tp + "/in", "bad_value", "Expected \"path\" or \"query\".");
      }
      t.param = string(*token, "param", tp, false).value_or("token");
      if (value && !settle(*value, tp + "/value", SecretCheck::nonempty)) {
        error(tp + "/value", "bad_value", "The token must not be empty.");
      }
      into.token = std::move(t);
    }
    if (const json* basic = member(auth, "basic"); basic && expect_object(*basic, p + "/basic")) {
      const std::string bp = p + "/basic";
      only_keys(*basic, bp, {"username", "password"});
      BasicAuth b;
      b.username = string(*basic, "username", bp, true).value_or("");
      b.password = string(*basic, "password", bp, true).value_or("");
      settle(b.username, bp + "/username", SecretCheck::none);
      settle(b.password, bp + "/password", SecretCheck::none);
      into.basic = std::move(b);
    }
    if (const json* list = member(auth, "signatures")) {
      const std::string sp = p + "/signatures";
      if (!list->is_array()) {
        error(sp, "wrong_type", "Expected an array of signature settings.");
      } else {
        for (std::size_t i = 0; i < list->size(); ++i)
          read_signature((*list)[i], sp + "/" + std::to_string(i), into);
      }
    }
  }

  void read_signature(const json& s, const std::string& p, AuthConfig& into) {
    if (!expect_object(s, p)) return;
    only_keys(s, p,
              {"scheme", "secret", "tolerance_seconds", "public_url", "algorithm", "encoding",
               "header", "prefix", "timestamp_header", "separator"});
    SignatureAuth sig;
    const auto scheme_name = string(s, "scheme", p, true);
    if (scheme_name) {
      const auto scheme = parse_signature_scheme(*scheme_name);
      if (!scheme) {
        error(p + "/scheme", "bad_value",
              "Unknown scheme; expected standard-webhooks (or svix), twilio, callrail, ctm or "
              "hmac.");
      } else {
        sig.scheme = *scheme;
      }
    }
    sig.secret = string(s, "secret", p, true).value_or("");
    if (!settle(sig.secret, p + "/secret",
                sig.scheme == SignatureScheme::standard_webhooks ? SecretCheck::public_key
                                                                 : SecretCheck::none)) {
      // The sender's signing key must never sit in a receiver's config; its public half does.
      error(p + "/secret", "bad_value",
            "This is a private signing key (whsk_); configure its public key (whpk_) instead.");
    }
    if (const auto t = integer(s, "tolerance_seconds", p, 1, 86400)) sig.tolerance_seconds = *t;
    sig.public_url = string(s, "public_url", p, false).value_or("");
    if (!sig.public_url.empty() && !detail::is_http_uri(sig.public_url)) {
      error(p + "/public_url", "bad_value", "Expected an absolute http(s) URL.");
    }
    if (const auto a = string(s, "algorithm", p, false)) {
      if (*a == "sha1") {
        sig.algorithm = SignatureAuth::Algorithm::sha1;
      } else if (*a != "sha256") {
        error(p + "/algorithm", "bad_value", "Expected \"sha1\" or \"sha256\".");
      }
    }
    if (const auto e = string(s, "encoding", p, false)) {
      if (*e == "base64") {
        sig.encoding = SignatureAuth::Encoding::base64;
      } else if (*e != "hex") {
        error(p + "/encoding", "bad_value", "Expected \"hex\" or \"base64\".");
      }
    }
    if (const auto h = string(s, "header", p, false)) sig.header = *h;
    if (const auto x = string(s, "prefix", p, false)) sig.prefix = *x;
    if (const auto t = string(s, "timestamp_header", p, false)) sig.timestamp_header = *t;
    if (const auto sep = string(s, "separator", p, false)) sig.separator = *sep;
    into.signatures.push_back(std::move(sig));
  }

  // `mode` of `object` at `p` ("lenient" or "strict") into `into`, when it is set.
  void read_mode(const json& object, const std::string& p, Mode& into) {
    if (const auto mode = string(object, "mode", p, false)) {
      if (const auto m = parse_mode(*mode)) {
        into = *m;
      } else {
        error(p + "/mode", "bad_value", "Expected \"lenient\" or \"strict\".");
      }
    }
  }

  // sources.NAME: a sender whose webhooks arrive at /hook/NAME.
  void read_source(const std::string& name, const json& s, Config& config) {
    const std::string p = with_token("/sources", name);
    bool good_name = !name.empty() && name.size() <= 40;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      good_name = good_name && (alnum || (i > 0 && (c == '-' || c == '_')));
    }
    if (!good_name) {
      error(p, "bad_value",
            "A source's name is its path, /hook/NAME: 1 to 40 lower-case letters, digits, '-' "
            "and '_', starting with a letter or digit.");
    }
    if (!expect_object(s, p)) return;
    only_keys(s, p, {"sender", "auth", "mode", "defaults", "fields"});
    Source source;
    source.name = name;
    source.reading.source = name;
    source.reading.mode = config.mode;
    if (const auto sender = string(s, "sender", p, true)) {
      if (const auto f = parse_sender_format(*sender)) {
        source.reading.sender = *f;
      } else {
        error(p + "/sender", "bad_value",
              "Unknown sender; expected voice-webhooks, twilio, callrail, ctm or ringba.");
      }
    }
    if (const json* auth = member(s, "auth")) read_auth(*auth, p + "/auth", source.auth);
    read_mode(s, p, source.reading.mode);
    if (const json* d = member(s, "defaults"); d && expect_object(*d, p + "/defaults")) {
      for (const auto& [key, value] : d->items()) {
        const std::string at = with_token(p + "/defaults", key);
        if (!find_spec_field(key) || key == "Action" || key == "Event") {
          error(at, "bad_value",
                "Defaults fill Voice Webhooks parameters (Account.Sid, Call.To, ...); '" + key +
                    "' is not one that can be given.");
        } else if (!value.is_string()) {
          error(at, "wrong_type", "Expected a string.");
        } else if (auto v = resolve(value.get_ref<const std::string&>(), at)) {
          settle(*v, at, SecretCheck::none);
          source.reading.defaults.emplace_back(key, std::move(*v));
        }
      }
    }
    if (const json* f = member(s, "fields"); f && expect_object(*f, p + "/fields")) {
      if (source.reading.sender != SenderFormat::ringba) {
        error(p + "/fields", "bad_value",
              "Only a ringba source maps its fields: the other senders' fields are fixed.");
      }
      for (const auto& item : f->items()) {
        const std::string role = item.key();
        const json& value = item.value();
        const std::string at = with_token(p + "/fields", role);
        const auto table = sender_fields(SenderFormat::ringba);
        const bool known = std::any_of(table.begin(), table.end(),
                                       [&](const SenderField& r) { return r.name == role; });
        if (!known) {
          std::string list;
          for (const SenderField& r : table)
            list += (list.empty() ? "" : ", ") + std::string(r.name);
          error(at, "bad_value", "Unknown Ringba field; expected one of: " + list + ".");
        } else if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
          error(at, "wrong_type", "Expected the pixel parameter's name.");
        } else {
          source.reading.fields.emplace_back(role, value.get<std::string>());
        }
      }
    }
    config.sources.push_back(std::move(source));
  }

  void read_validation(const json& v, Config& config) {
    const std::string p = "/validation";
    if (!expect_object(v, p)) return;
    only_keys(v, p, {"mode", "limits"});
    read_mode(v, p, config.mode);
    if (const json* limits = member(v, "limits"); limits && expect_object(*limits, p + "/limits")) {
      const std::string lp = p + "/limits";
      only_keys(*limits, lp, {"max_body_bytes", "max_fields", "max_name_bytes", "max_value_bytes"});
      Limits& l = config.limits;
      const auto set = [&](std::string_view key, std::size_t& target, std::int64_t max) {
        if (const auto n = integer(*limits, key, lp, 1, max)) target = static_cast<std::size_t>(*n);
      };
      set("max_body_bytes", l.max_body_bytes, 16 * 1024 * 1024);
      set("max_fields", l.max_fields, 10000);
      set("max_name_bytes", l.max_name_bytes, 65536);
      set("max_value_bytes", l.max_value_bytes, 16 * 1024 * 1024);
    }
  }

  void read_destination(const std::string& name, const json& d, Config& config) {
    const std::string p = with_token("/destinations", name);
    if (!expect_object(d, p)) return;
    only_keys(d, p,
              {"format", "url", "method", "headers", "options", "delivery", "auth", "rate_limit",
               "concurrency"});
    Destination dest;
    dest.name = name;
    dest.delivery = config.delivery;
    if (const json* delivery = member(d, "delivery")) {
      read_delivery(*delivery, p + "/delivery", dest.delivery);
    }
    if (const auto format = string(d, "format", p, false)) {
      if (const auto f = parse_render_format(*format)) {
        dest.format = *f;
      } else {
        error(p + "/format", "bad_value",
              "Unknown format; expected canonical, ga4, google-ads, meta-capi, slack or "
              "template.");
      }
    }
    // Google Ads and Meta build their URL from the options, and GA4 from its measurement_id
    // and api_secret; a url given anyway (a proxy, a stand-in) is used as it is.
    const json* raw_options = member(d, "options");
    const bool ga4_ids =
        dest.format == RenderFormat::ga4 && raw_options != nullptr && raw_options->is_object() &&
        (raw_options->contains("measurement_id") || raw_options->contains("api_secret"));
    const bool url_optional = dest.format == RenderFormat::google_ads ||
                              dest.format == RenderFormat::meta_capi || ga4_ids;
    // Written but unusable (a missing secret) is not absent: check_options then asks for no
    // options to build a URL from.
    url_written_ = member(d, "url") != nullptr;
    if (const auto url = string(d, "url", p, !url_optional)) {
      dest.url = *url;
      if (!settle(dest.url, p + "/url", SecretCheck::http_uri)) {
        error(p + "/url", "bad_value", "Expected an absolute http(s) URL.");
      }
    }
    if (const auto method = string(d, "method", p, false)) {
      if (*method == "POST" || *method == "PUT" || *method == "PATCH" || *method == "GET") {
        dest.method = *method;
      } else {
        error(p + "/method", "bad_value", "Expected POST, PUT, PATCH or GET.");
      }
    }
    if (const json* headers = member(d, "headers");
        headers && expect_object(*headers, p + "/headers")) {
      for (const auto& [key, value] : headers->items()) {
        if (const auto v = string(*headers, key, p + "/headers", true)) {
          settle(*v, with_token(p + "/headers", key), SecretCheck::none);
          dest.headers.push_back({key, *v});
        }
      }
    }
    if (const json* options = member(d, "options");
        options && expect_object(*options, p + "/options")) {
      dest.options = resolve_all(*options, p + "/options");
    }
    check_options(dest, p + "/options");
    if (const json* auth = member(d, "auth")) read_destination_auth(*auth, p + "/auth", dest);
    if (const json* limit = member(d, "rate_limit")) {
      read_rate_limit(*limit, p + "/rate_limit", dest.rate_limit);
    }
    if (const auto n = integer(d, "concurrency", p, 1, 64)) dest.concurrency = static_cast<int>(*n);
    config.destinations.push_back(std::move(dest));
  }

  // A header name as RFC 9110 spells one (a token) and a value with no line breaks: anything
  // else would let a config inject headers or fail at every send.
  static bool is_header_name(std::string_view name) {
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
  }
  static bool is_header_value(std::string_view value) {
    return std::none_of(value.begin(), value.end(),
                        [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  }

  // `destinations.NAME.auth`: how each request is authorized when it is sent (Engine::plan_send).
  // Secrets resolve as in every string; a literal value is the user's choice, not an error.
  void read_destination_auth(const json& a, const std::string& p, Destination& dest) {
    if (!expect_object(a, p)) return;
    DestinationAuth& auth = dest.auth;
    const auto type = string(a, "type", p, true);
    if (!type) return;
    if (*type == "bearer") {
      only_keys(a, p, {"type", "token"});
      auth.kind = DestinationAuth::Kind::bearer;
      if (const auto token = string(a, "token", p, true)) {
        auth.token = *token;
        if (!settle(*token, p + "/token", SecretCheck::bearer_token)) {
          error(p + "/token", "bad_value", "The token must be non-empty, on one line.");
        }
      }
    } else if (*type == "header") {
      only_keys(a, p, {"type", "name", "value"});
      auth.kind = DestinationAuth::Kind::header;
      if (const auto name = string(a, "name", p, true)) {
        auth.header = *name;
        if (!is_header_name(*name)) {
          error(p + "/name", "bad_value", "Expected a header name (letters, digits, - and _).");
        }
      }
      if (const auto value = string(a, "value", p, true)) {
        auth.value = *value;
        if (!settle(*value, p + "/value", SecretCheck::header_value)) {
          error(p + "/value", "bad_value", "A header value must be on one line.");
        }
      }
    } else if (*type == "oauth2") {
      only_keys(
          a, p,
          {"type", "token_url", "client_id", "client_secret", "refresh_token", "scope", "grant"});
      auth.kind = DestinationAuth::Kind::oauth2;
      read_oauth2(a, p, dest.format, auth);
    } else {
      error(p + "/type", "bad_value", "Unknown auth type; expected bearer, header or oauth2.");
    }
  }

  void read_oauth2(const json& a, const std::string& p, RenderFormat format,
                   DestinationAuth& auth) {
    // Google Ads takes OAuth tokens from Google's endpoint only, for its one scope
    // (destinations.md section 1).
    const bool google = format == RenderFormat::google_ads;
    if (const auto url = string(a, "token_url", p, !google)) {
      auth.token_url = *url;
      if (!settle(*url, p + "/token_url", SecretCheck::http_uri)) {
        error(p + "/token_url", "bad_value", "Expected an absolute http(s) URL.");
      }
    } else if (google && member(a, "token_url") == nullptr) {
      auth.token_url = "https://oauth2.googleapis.com/token";
    }
    auth.scope = string(a, "scope", p, false)
                     .value_or(google && member(a, "scope") == nullptr
                                   ? "https://www.googleapis.com/auth/adwords"
                                   : "");
    settle(auth.scope, p + "/scope", SecretCheck::none);
    if (const auto id = string(a, "client_id", p, true)) {
      auth.client_id = *id;
      if (!settle(*id, p + "/client_id", SecretCheck::nonempty))
        error(p + "/client_id", "bad_value", "The client id must not be empty.");
    }
    const bool has_refresh = member(a, "refresh_token") != nullptr;
    std::string grant = has_refresh ? "refresh_token" : "";
    if (member(a, "grant") != nullptr) grant = string(a, "grant", p, false).value_or("?");
    if (grant == "refresh_token") {
      auth.grant = DestinationAuth::Grant::refresh_token;
      auth.refresh_token = string(a, "refresh_token", p, true).value_or("");
      settle(auth.refresh_token, p + "/refresh_token", SecretCheck::none);
      // Some client types (installed apps) have no secret: the refresh grant goes without.
      auth.client_secret = string(a, "client_secret", p, false).value_or("");
      settle(auth.client_secret, p + "/client_secret", SecretCheck::none);
    } else if (grant == "client_credentials") {
      auth.grant = DestinationAuth::Grant::client_credentials;
      auth.client_secret = string(a, "client_secret", p, true).value_or("");
      settle(auth.client_secret, p + "/client_secret", SecretCheck::none);
      if (has_refresh) {
        error(p + "/refresh_token", "bad_value",
              "The client_credentials grant uses no refresh token; remove it or the grant.");
      }
    } else if (grant.empty()) {
      error(p + "/refresh_token", "missing",
            "Set refresh_token (the refresh-token grant), or \"grant\": \"client_credentials\".");
    } else if (grant != "?") {
      error(p + "/grant", "bad_value", "Expected \"refresh_token\" or \"client_credentials\".");
    }
  }

  // `destinations.NAME.rate_limit`: {per_second | per_minute, burst}, a token bucket.
  void read_rate_limit(const json& r, const std::string& p, RateLimit& limit) {
    if (!expect_object(r, p)) return;
    only_keys(r, p, {"per_second", "per_minute", "burst"});
    const auto rate = [&](std::string_view key, double max) -> std::optional<double> {
      const json* value = member(r, key);
      if (value == nullptr) return std::nullopt;
      if (!value->is_number() || !(value->get<double>() > 0) || value->get<double>() > max) {
        error(with_token(p, key), value->is_number() ? "out_of_range" : "wrong_type",
              "Expected a number of requests above 0, at most " +
                  std::to_string(static_cast<std::int64_t>(max)) + ".");
        return -1.0;
      }
      return value->get<double>();
    };
    const auto per_second = rate("per_second", 1e6);
    const auto per_minute = rate("per_minute", 6e7);
    if (per_second && per_minute) {
      error(p + "/per_minute", "bad_value", "Set per_second or per_minute, not both.");
      return;
    }
    if (!per_second && !per_minute) {
      error(p + "/per_second", "missing", "A rate limit needs per_second or per_minute.");
      return;
    }
    const double rate_per_second = per_second ? *per_second : *per_minute / 60.0;
    if (rate_per_second <= 0) return;  // reported above
    double burst = std::max(1.0, rate_per_second);
    if (const json* b = member(r, "burst")) {
      if (!b->is_number() || !(b->get<double>() >= 1) || b->get<double>() > 1e6) {
        error(p + "/burst", b->is_number() ? "out_of_range" : "wrong_type",
              "Expected a number of requests from 1 to 1000000.");
        return;
      }
      burst = b->get<double>();
    }
    limit.per_second = rate_per_second;
    limit.burst = burst;
  }

  // Retry settings over `policy`, which holds the defaults: only what is written changes.
  void read_delivery(const json& d, const std::string& p, RetryPolicy& policy) {
    if (!expect_object(d, p)) return;
    only_keys(d, p,
              {"attempts", "schedule_seconds", "jitter", "retry_statuses", "retry_after",
               "max_retry_after_seconds", "timeout_seconds"});
    if (const auto n = integer(d, "attempts", p, 1, 1000)) policy.attempts = static_cast<int>(*n);
    if (const json* schedule = member(d, "schedule_seconds")) {
      const std::string sp = p + "/schedule_seconds";
      if (!schedule->is_array() || schedule->empty()) {
        error(sp, "wrong_type", "Expected a non-empty array of waits in seconds.");
      } else {
        std::vector<std::int64_t> waits;
        for (std::size_t i = 0; i < schedule->size(); ++i) {
          if (const auto ms =
                  seconds_as_ms((*schedule)[i], sp + "/" + std::to_string(i), 0, 7 * 86400)) {
            waits.push_back(*ms);
          }
        }
        if (waits.size() == schedule->size()) policy.schedule_ms = std::move(waits);
      }
    }
    if (const json* jitter = member(d, "jitter")) {
      if (!jitter->is_number() || jitter->get<double>() < 0 || jitter->get<double>() > 1) {
        error(p + "/jitter", "out_of_range", "Expected a number from 0 to 1.");
      } else {
        policy.jitter = jitter->get<double>();
      }
    }
    if (const json* statuses = member(d, "retry_statuses")) {
      const std::string sp = p + "/retry_statuses";
      if (!statuses->is_array()) {
        error(sp, "wrong_type", "Expected an array of statuses (numbers, or \"5xx\").");
      } else {
        policy.retry_statuses.clear();
        policy.retry_5xx = false;
        for (std::size_t i = 0; i < statuses->size(); ++i) {
          const json& s = (*statuses)[i];
          if (s.is_string() && s.get_ref<const std::string&>() == "5xx") {
            policy.retry_5xx = true;
          } else if (s.is_number_integer() && s.get<std::int64_t>() >= 300 &&
                     s.get<std::int64_t>() <= 599) {
            policy.retry_statuses.push_back(static_cast<int>(s.get<std::int64_t>()));
          } else {
            error(sp + "/" + std::to_string(i), "bad_value",
                  "Expected a status from 300 to 599, or \"5xx\" for every 5xx.");
          }
        }
      }
    }
    if (const auto b = boolean(d, "retry_after", p)) policy.honour_retry_after = *b;
    if (const json* v = member(d, "max_retry_after_seconds")) {
      if (const auto ms = seconds_as_ms(*v, p + "/max_retry_after_seconds", 0, 7 * 86400)) {
        policy.max_retry_after_ms = *ms;
      }
    }
    if (const json* v = member(d, "timeout_seconds")) {
      if (const auto ms = seconds_as_ms(*v, p + "/timeout_seconds", 0.001, 600)) {
        policy.timeout_ms = *ms;
      }
    }
  }

  // A number of seconds (fractions allowed) from `min` to `max`, as whole milliseconds.
  std::optional<std::int64_t> seconds_as_ms(const json& value, const std::string& pointer,
                                            double min, double max) {
    if (!value.is_number()) {
      error(pointer, "wrong_type",
            "Expected a number of seconds, found " + std::string(type_name(value)) + ".");
      return std::nullopt;
    }
    const double seconds = value.get<double>();
    if (!(seconds >= min && seconds <= max)) {
      error(pointer, "out_of_range",
            "Expected seconds from " + std::string(min > 0 ? "0.001" : "0") + " to " +
                std::to_string(static_cast<std::int64_t>(max)) + ".");
      return std::nullopt;
    }
    return static_cast<std::int64_t>(seconds * 1000.0 + 0.5);
  }

  // Options may reference secrets anywhere in their strings.
  json resolve_all(const json& value, const std::string& pointer) {
    if (value.is_string()) {
      return resolve(value.get_ref<const std::string&>(), pointer).value_or(std::string());
    }
    if (value.is_object()) {
      json out = json::object();
      for (const auto& [key, item] : value.items())
        out[key] = resolve_all(item, with_token(pointer, key));
      return out;
    }
    if (value.is_array()) {
      json out = json::array();
      for (std::size_t i = 0; i < value.size(); ++i)
        out.push_back(resolve_all(value[i], pointer + "/" + std::to_string(i)));
      return out;
    }
    return value;
  }

  // An account or pixel id: digits, as a string or a number; with `dashes`, Google's written
  // form "123-456-7890" too. nullopt when absent or refused (the problem is reported).
  std::optional<std::string> digits_id(const json& o, std::string_view key, const std::string& p,
                                       bool dashes, const char* missing) {
    const std::string at = with_token(p, key);
    const json* value = member(o, key);
    if (value == nullptr) {
      if (missing != nullptr) error(at, "missing", missing);
      return std::nullopt;
    }
    std::string digits;
    if (value->is_number_unsigned()) {
      digits = std::to_string(value->get<std::uint64_t>());
    } else if (value->is_string()) {
      for (const char c : value->get_ref<const std::string&>()) {
        if (!(dashes && c == '-')) digits.push_back(c);
      }
    }
    if (!detail::all_digits(digits)) {
      error(at, value->is_string() || value->is_number() ? "bad_value" : "wrong_type",
            dashes ? "Expected the id's digits, e.g. \"1234567890\" or \"123-456-7890\"."
                   : "Expected the id's digits, e.g. \"1234567890\".");
      return std::nullopt;
    }
    return digits;
  }

  void check_url_option(const json& o, std::string_view key, const std::string& p) {
    if (const auto url = string(o, key, p, false);
        url && !settle(*url, with_token(p, key), SecretCheck::http_uri)) {
      error(with_token(p, key), "bad_value", "Expected an absolute http(s) URL.");
    }
  }

  void check_nonempty(const json& o, std::string_view key, const std::string& p, bool required) {
    if (const auto value = string(o, key, p, required);
        value && !settle(*value, with_token(p, key), SecretCheck::nonempty)) {
      error(with_token(p, key), "bad_value",
            "The setting '" + std::string(key) + "' must not be empty.");
    }
  }

  // A consent object: each of `keys` GRANTED or DENIED (the platforms' spelling).
  void check_consent(const json& o, const std::string& p,
                     std::initializer_list<std::string_view> keys) {
    const json* consent = member(o, "consent");
    if (consent == nullptr || !expect_object(*consent, p + "/consent")) return;
    only_keys(*consent, p + "/consent", keys);
    for (const std::string_view key : keys) {
      if (const auto v = string(*consent, key, p + "/consent", false);
          v && *v != "GRANTED" && *v != "DENIED") {
        error(with_token(p + "/consent", key), "bad_value", "Expected \"GRANTED\" or \"DENIED\".");
      }
    }
  }

  void check_templates(const json& o, std::string_view key, const std::string& p) {
    const json* tpl = member(o, key);
    if (tpl == nullptr) return;
    for (const Diagnostic& d : check_template(*tpl)) {
      error(with_token(p, key) + (d.field == "/" ? std::string() : d.field), "bad_template",
            d.message);
    }
  }

  bool url_written_ = false;  // the destination being read has a `url`

  // GA4's rule for event and param names: 1 to 40 letters, digits and _, a letter first.
  static bool is_ga4_name(std::string_view name) {
    if (name.empty() || name.size() > 40) return false;
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!letter(name[0])) return false;
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return letter(c) || (c >= '0' && c <= '9') || c == '_'; });
  }

  // The names GA4 keeps for itself (its event reference): these events, and the prefixes
  // firebase_, ga_ and google_ for events and params alike.
  static constexpr std::string_view kGa4ReservedEvents[] = {
      "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward",
      "adunit_exposure", "app_background", "app_clear_data", "app_exception", "app_remove",
      "app_store_refund", "app_store_subscription_cancel", "app_store_subscription_convert",
      "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
      "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open", "first_visit",
      "in_app_purchase", "notification_dismiss", "notification_foreground", "notification_open",
      "notification_receive", "os_update", "session_start", "session_start_with_rollout",
      "user_engagement"};
  static bool is_ga4_reserved(std::string_view name) {
    return name.starts_with("firebase_") || name.starts_with("ga_") || name.starts_with("google_");
  }

  void check_ga4(const Destination& dest, const std::string& p) {
    const json& o = dest.options;
    only_keys(o, p,
              {"event_name", "params", "session_id", "engagement_time_msec", "consent",
               "late_events", "endpoint", "measurement_id", "api_secret"});
    if (const auto name = string(o, "event_name", p, false)) {
      // GA4 drops events with other names without a word (/mp/collect answers 2xx to all).
      if (!is_ga4_name(*name)) {
        error(p + "/event_name", "bad_value",
              "GA4 event names are 1 to 40 letters, digits and _, starting with a letter.");
      } else if (is_ga4_reserved(*name) ||
                 std::find(std::begin(kGa4ReservedEvents), std::end(kGa4ReservedEvents), *name) !=
                     std::end(kGa4ReservedEvents)) {
        error(p + "/event_name", "bad_value", "GA4 reserves the event name '" + *name + "'.");
      }
    }
    if (const json* params = member(o, "params")) {
      if (!params->is_object()) {
        error(with_token(p, "params"), "wrong_type", "Expected an object of event params.");
      } else {
        for (const auto& [key, value] : params->items()) {
          if (!is_ga4_name(key)) {
            error(with_token(p + "/params", key), "bad_value",
                  "GA4 param names are 1 to 40 letters, digits and _, starting with a letter.");
          } else if (is_ga4_reserved(key)) {
            error(with_token(p + "/params", key), "bad_value",
                  "GA4 reserves the param name '" + key + "'.");
          }
        }
        check_templates(o, "params", p);
      }
    }
    if (string(o, "session_id", p, false)) check_templates(o, "session_id", p);
    integer(o, "engagement_time_msec", p, 0, 86'400'000);
    check_consent(o, p, {"ad_user_data", "ad_personalization"});
    if (const auto late = string(o, "late_events", p, false);
        late && *late != "send_without_timestamp" && *late != "dead_letter") {
      error(p + "/late_events", "bad_value",
            "Expected \"send_without_timestamp\" or \"dead_letter\".");
    }
    check_url_option(o, "endpoint", p);
    // Without a url the Measurement Protocol URL is built from these two (read_destination
    // required the url unless one of them is there).
    const bool build =
        !url_written_ && (member(o, "measurement_id") != nullptr || member(o, "api_secret"));
    check_nonempty(o, "measurement_id", p, build);
    check_nonempty(o, "api_secret", p, build);
  }

  void check_google_ads(const Destination& dest, const std::string& p) {
    const json& o = dest.options;
    only_keys(
        o, p,
        {"conversion_action", "customer_id", "login_customer_id", "developer_token", "version",
         "endpoint", "value", "currency", "consent", "enhanced_conversions", "validate_only"});
    digits_id(o, "customer_id", p, true,
              !url_written_ ? "Without a url, google-ads sends to Google's upload URL for "
                                 "options.customer_id, the account's id (\"123-456-7890\")."
                               : nullptr);
    digits_id(o, "login_customer_id", p, true, nullptr);
    check_nonempty(o, "developer_token", p, false);
    integer(o, "version", p, 21, 99);
    check_url_option(o, "endpoint", p);
    if (const auto action = string(o, "conversion_action", p, true)) {
      const std::string prefix = "customers/";
      const std::size_t middle = action->find("/conversionActions/");
      const bool resource =
          action->starts_with(prefix) && middle != std::string::npos &&
          detail::all_digits(action->substr(prefix.size(), middle - prefix.size())) &&
          detail::all_digits(action->substr(middle + 19));
      if (detail::all_digits(*action)) {
        if (!member(o, "customer_id")) {
          error(p + "/conversion_action", "bad_value",
                "A bare conversion action id needs options.customer_id; or write the resource "
                "name customers/CUSTOMER/conversionActions/" +
                    *action + ".");
        }
      } else if (!resource) {
        error(p + "/conversion_action", "bad_value",
              "Expected the action's id (digits) or its resource name "
              "customers/CUSTOMER/conversionActions/ID.");
      }
    }
    if (const json* value = member(o, "value"); value && !value->is_number()) {
      error(p + "/value", "wrong_type", "Expected a number.");
    }
    if (const auto currency = string(o, "currency", p, false);
        currency &&
        (currency->size() != 3 || !std::all_of(currency->begin(), currency->end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
         }))) {
      error(p + "/currency", "bad_value", "Expected a three-letter ISO 4217 code.");
    }
    if (const json* consent = member(o, "consent");
        consent && expect_object(*consent, p + "/consent")) {
      const std::string cp = p + "/consent";
      for (const auto& [key, value] : consent->items()) {
        if (key == "ad_personalization") {
          error(cp + "/ad_personalization", "unknown_key",
                "Google Ads takes only ad_user_data with click conversions (ad_personalization "
                "is for its customer data uploads).");
        } else if (key != "ad_user_data") {
          error(with_token(cp, key), "unknown_key",
                "Unknown setting '" + key + "'; expected ad_user_data.");
        } else if (const auto v = string(*consent, key, cp, false);
                   v && *v != "GRANTED" && *v != "DENIED") {
          error(cp + "/ad_user_data", "bad_value", "Expected \"GRANTED\" or \"DENIED\".");
        }
      }
    }
    boolean(o, "enhanced_conversions", p);
    boolean(o, "validate_only", p);
  }

  void check_meta(const Destination& dest, const std::string& p) {
    const json& o = dest.options;
    only_keys(o, p,
              {"pixel_id", "access_token", "version", "endpoint", "event_name", "custom_data",
               "test_event_code"});
    digits_id(o, "pixel_id", p, false,
              !url_written_ ? "Without a url, meta-capi sends to the Graph API's events "
                                 "edge of options.pixel_id, the dataset (pixel) id."
                               : nullptr);
    check_nonempty(o, "access_token", p, true);
    if (const json* version = member(o, "version")) {
      bool ok = version->is_number_integer() && version->get<std::int64_t>() >= 1 &&
                version->get<std::int64_t>() <= 999;
      if (version->is_string()) {
        const std::string& v = version->get_ref<const std::string&>();
        const std::size_t dot = v.find('.');
        ok = v.starts_with('v') && dot != std::string::npos &&
             detail::all_digits(v.substr(1, dot - 1)) && detail::all_digits(v.substr(dot + 1));
      }
      if (!ok) {
        error(p + "/version", "bad_value", "Expected a Graph API version, e.g. \"v25.0\" or 25.");
      }
    }
    check_url_option(o, "endpoint", p);
    check_nonempty(o, "event_name", p, false);
    check_nonempty(o, "test_event_code", p, false);
    if (const json* custom = member(o, "custom_data")) {
      if (!custom->is_object()) {
        error(p + "/custom_data", "wrong_type",
              "Expected an object: Meta's custom_data (value, currency, ...) as templates.");
      } else {
        check_templates(o, "custom_data", p);
      }
    }
  }

  void check_options(const Destination& dest, const std::string& p) {
    const json& o = dest.options;
    switch (dest.format) {
      case RenderFormat::canonical:
      case RenderFormat::slack:
        settle_all(p);  // their options are sent as they are
        return;
      case RenderFormat::ga4:
        check_ga4(dest, p);
        return;
      case RenderFormat::google_ads:
        check_google_ads(dest, p);
        return;
      case RenderFormat::meta_capi:
        check_meta(dest, p);
        return;
      case RenderFormat::json_template: {
        const json* body = member(o, "body");
        if (body == nullptr) {
          error(p + "/body", "missing",
                "A template destination needs options.body, the JSON template.");
          return;
        }
        for (Diagnostic& d : check_template(*body)) {
          error(p + "/body" + (d.field == "/" ? std::string() : d.field), "bad_template",
                d.message);
        }
        return;
      }
    }
  }

  void read_route(const json& r, const std::string& p, Config& config) {
    if (!expect_object(r, p)) return;
    only_keys(r, p, {"name", "when", "to", "on"});
    Route route;
    // Names appear in responses, logs and idempotency keys, so they are never secrets: read as
    // written, without ${NAME} resolution.
    if (const json* name = member(r, "name");
        name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      error(with_token(p, "name"), name == nullptr ? "missing" : "wrong_type",
            "A route needs a \"name\": a non-empty string.");
    } else {
      route.name = name->get<std::string>();
    }
    for (const Route& other : config.routes) {
      if (!route.name.empty() && other.name == route.name) {
        error(p + "/name", "duplicate", "Another route is already called '" + route.name + "'.");
      }
    }
    if (const json* when = member(r, "when")) {
      for (Diagnostic& d : check_filter(*when)) {
        error(p + "/when" + (d.field == "/" ? std::string() : d.field), "bad_filter", d.message);
      }
      route.when = *when;
    }
    if (const auto on = string(r, "on", p, false)) {
      if (*on == "complete") {
        route.on = Trigger::complete;
      } else if (*on == "abandoned") {
        route.on = Trigger::abandoned;
      } else if (*on != "event") {
        error(p + "/on", "bad_value", "Expected \"event\", \"complete\" or \"abandoned\".");
      }
    }
    const json* to = member(r, "to");
    if (to == nullptr || !to->is_array() || to->empty()) {
      error(p + "/to", to == nullptr ? "missing" : "wrong_type",
            "A route needs \"to\": a non-empty array of destination names.");
    } else {
      for (std::size_t i = 0; i < to->size(); ++i) {
        const json& name = (*to)[i];
        if (!name.is_string()) {
          error(p + "/to/" + std::to_string(i), "wrong_type", "Expected a destination name.");
        } else {
          route.to.push_back(name.get<std::string>());
        }
      }
    }
    config.routes.push_back(std::move(route));
  }

  void read_correlation(const json& c, Config& config) {
    const std::string p = "/correlation";
    only_keys(c, p, {"enabled", "abandon_after_seconds", "retention_seconds"});
    CorrelationConfig& k = config.correlation;
    k.enabled = boolean(c, "enabled", p).value_or(true);
    const auto abandon = integer(c, "abandon_after_seconds", p, 60, 30 * 86400);
    const auto retention = integer(c, "retention_seconds", p, 3600, 366 * 86400);
    if (abandon) k.abandon_after_seconds = *abandon;
    if (retention) k.retention_seconds = *retention;
    const bool both_read = (abandon || !member(c, "abandon_after_seconds")) &&
                           (retention || !member(c, "retention_seconds"));
    if (both_read && k.retention_seconds <= k.abandon_after_seconds) {
      error(p + "/retention_seconds", "bad_value",
            "Records must be kept longer than abandon_after_seconds, or abandoned calls are never "
            "found.");
    }
  }

  // Routes on complete or abandoned need the records correlation keeps.
  void check_route_triggers(const Config& config) {
    if (config.correlation.enabled) return;
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
      if (config.routes[i].on != Trigger::event) {
        error("/routes/" + std::to_string(i) + "/on", "needs_correlation",
              "Routes on complete or abandoned need correlation; remove "
              "\"correlation\": {\"enabled\": false}.");
      }
    }
  }

  void check_route_targets(const json& routes, const json* destinations, const Config& config) {
    for (std::size_t i = 0; i < config.routes.size() && i < routes.size(); ++i) {
      const Route& route = config.routes[i];
      for (std::size_t j = 0; j < route.to.size(); ++j) {
        // A destination that is there but invalid has its own error already.
        const bool written = destinations != nullptr && destinations->is_object() &&
                             destinations->contains(route.to[j]);
        if (config.destination(route.to[j]) == nullptr && !written) {
          error("/routes/" + std::to_string(i) + "/to/" + std::to_string(j), "unknown_destination",
                "No destination is called '" + route.to[j] + "'.");
        }
      }
    }
  }

 private:
  const SecretLookup& secrets_;

 public:
  // Secret values of this many bytes or more are never left in an error message: a message that
  // quotes a setting (a template, a URL) after ${NAME} was resolved names the reference instead.
  static constexpr std::size_t kScrubbedSecretBytes = 4;
  std::vector<std::pair<std::string, std::string>> resolved_;  // (name, value)

  void scrub(std::vector<Diagnostic>& diagnostics) const {
    auto secrets = resolved_;
    std::sort(secrets.begin(), secrets.end(),
              [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
    for (Diagnostic& d : diagnostics) {
      for (const auto& [name, value] : secrets) {
        const std::string reference = "${" + name + "}";
        for (std::size_t at = d.message.find(value); at != std::string::npos;
             at = d.message.find(value, at + reference.size())) {
          d.message.replace(at, value.size(), reference);
        }
      }
    }
  }

 private:
  std::vector<Diagnostic>& errors_;
  UnboundConfig* unbound_;  // reading unbound (parse_config_unbound)
  struct Reference {
    std::string pointer;
    bool settled;
  };
  std::vector<Reference> references_;  // read unbound: each reference, where it is
};

}  // namespace

std::string_view to_string(RenderFormat format) {
  switch (format) {
    case RenderFormat::canonical:
      return "canonical";
    case RenderFormat::ga4:
      return "ga4";
    case RenderFormat::google_ads:
      return "google-ads";
    case RenderFormat::meta_capi:
      return "meta-capi";
    case RenderFormat::slack:
      return "slack";
    case RenderFormat::json_template:
      return "template";
  }
  return "canonical";
}

std::optional<RenderFormat> parse_render_format(std::string_view name) {
  if (name == "canonical") return RenderFormat::canonical;
  if (name == "ga4") return RenderFormat::ga4;
  if (name == "google-ads") return RenderFormat::google_ads;
  if (name == "meta-capi") return RenderFormat::meta_capi;
  if (name == "slack") return RenderFormat::slack;
  if (name == "template") return RenderFormat::json_template;
  return std::nullopt;
}

const Source* Config::source(std::string_view name) const {
  for (const Source& s : sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Destination* Config::destination(std::string_view name) const {
  for (const Destination& d : destinations) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

namespace {

// What parse_config reads of a document that is a JSON object, into `config`.
void read_document(Reader& reader, const json& doc, Config& config) {
  reader.only_keys(doc, "",
                   {"$schema", "auth", "validation", "response", "routes", "destinations",
                    "correlation", "delivery", "sources"});
  // The defaults first: every destination starts from them.
  if (const json* d = reader.member(doc, "delivery")) {
    reader.read_delivery(*d, "/delivery", config.delivery);
  }
  if (const json* auth = reader.member(doc, "auth")) reader.read_auth(*auth, "/auth", config.auth);
  if (const json* v = reader.member(doc, "validation")) reader.read_validation(*v, config);
  if (const json* s = reader.member(doc, "sources"); s && reader.expect_object(*s, "/sources")) {
    for (const auto& [name, value] : s->items()) reader.read_source(name, value, config);
  }
  if (const json* r = reader.member(doc, "response"); r && reader.expect_object(*r, "/response")) {
    reader.only_keys(*r, "/response", {"always_200"});
    config.response.always_200 = reader.boolean(*r, "always_200", "/response").value_or(false);
  }
  if (const json* d = reader.member(doc, "destinations");
      d && reader.expect_object(*d, "/destinations")) {
    for (const auto& [name, value] : d->items()) reader.read_destination(name, value, config);
  }
  const json* routes = reader.member(doc, "routes");
  if (routes != nullptr) {
    if (!routes->is_array()) {
      reader.error("/routes", "wrong_type", "Expected an array of routes.");
    } else {
      for (std::size_t i = 0; i < routes->size(); ++i) {
        reader.read_route((*routes)[i], "/routes/" + std::to_string(i), config);
      }
      reader.check_route_targets(*routes, reader.member(doc, "destinations"), config);
    }
  }
  if (const json* c = reader.member(doc, "correlation");
      c && reader.expect_object(*c, "/correlation")) {
    reader.read_correlation(*c, config);
  }
  reader.check_route_triggers(config);
}

// `text` with each stand-in (Reader::stand_in) replaced by the value of the secret it stands for.
void bind_text(std::string& text, const std::vector<std::string>& values) {
  std::size_t open = text.find(Reader::kStandIn);
  if (open == std::string::npos) return;
  std::string out;
  std::size_t pos = 0;
  for (; open != std::string::npos; open = text.find(Reader::kStandIn, pos)) {
    const std::size_t close = text.find(Reader::kStandIn, open + 1);
    std::size_t index = 0;
    for (std::size_t i = open + 1; i < close; ++i) index = index * 10 + (text[i] - '0');
    out.append(text, pos, open - pos);
    out += values[index];
    pos = close + 1;
  }
  out.append(text, pos, std::string::npos);
  text = std::move(out);
}

void bind_json(json& value, const std::vector<std::string>& values) {
  if (value.is_string()) {
    bind_text(value.get_ref<std::string&>(), values);
  } else if (value.is_structured()) {
    for (json& item : value) bind_json(item, values);
  }
}

void bind_auth(AuthConfig& auth, const std::vector<std::string>& values) {
  if (auth.token) bind_text(auth.token->token, values);
  if (auth.basic) {
    bind_text(auth.basic->username, values);
    bind_text(auth.basic->password, values);
  }
  for (SignatureAuth& s : auth.signatures) bind_text(s.secret, values);
}

}  // namespace

ConfigResult parse_config(std::string_view json_text, const SecretLookup& secrets) {
  ConfigResult result;
  const json doc = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (doc.is_discarded()) {
    result.errors.push_back({"", "invalid_json", "The config is not valid JSON."});
    return result;
  }
  Reader reader(secrets, result.errors);
  if (!doc.is_object()) {
    reader.error("", "wrong_type", "The config must be a JSON object.");
    return result;
  }
  Config config;
  read_document(reader, doc, config);
  reader.scrub(result.errors);
  config.secrets = reader.resolved_;
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

std::optional<UnboundConfig> parse_config_unbound(std::string_view json_text) {
  // A config that writes the stand-in's character could not tell it from a reference.
  if (json_text.find("\\u0001") != std::string_view::npos) return std::nullopt;
  const json doc = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  UnboundConfig unbound;
  std::vector<Diagnostic> errors;
  const SecretLookup none;
  Reader reader(none, errors, &unbound);
  read_document(reader, doc, unbound.config);
  if (!errors.empty() || !reader.all_settled()) return std::nullopt;
  // Templates hold no reference (a config whose templates do is not read unbound), so they are
  // read here once, not when each request binds its secrets.
  compile_templates(unbound.config);
  return unbound;
}

std::optional<Config> bind_config(UnboundConfig unbound, const SecretLookup& secrets) {
  std::vector<std::string> values;
  values.reserve(unbound.names.size());
  for (const std::string& name : unbound.names) {
    std::optional<std::string> value = secrets ? secrets(name) : std::nullopt;
    if (!value) return std::nullopt;
    values.push_back(std::move(*value));
  }
  for (auto& [text, check] : unbound.checks) {
    bind_text(text, values);
    // parse_config reads an option's text a second time, where `${` could make a reference.
    if (!Reader::passes(check, text) || text.find("${") != std::string::npos) return std::nullopt;
  }
  Config& config = unbound.config;
  bind_auth(config.auth, values);
  for (Source& source : config.sources) {
    bind_auth(source.auth, values);
    for (auto& entry : source.reading.defaults) bind_text(entry.second, values);
  }
  for (Destination& d : config.destinations) {
    bind_text(d.url, values);
    for (HttpHeader& h : d.headers) bind_text(h.value, values);
    bind_json(d.options, values);
    for (std::string* text : {&d.auth.token, &d.auth.value, &d.auth.token_url, &d.auth.client_id,
                              &d.auth.client_secret, &d.auth.refresh_token, &d.auth.scope}) {
      bind_text(*text, values);
    }
  }
  for (const std::size_t i : unbound.resolved) {
    if (values[i].size() >= Reader::kScrubbedSecretBytes) {
      config.secrets.emplace_back(unbound.names[i], values[i]);
    }
  }
  return std::move(config);
}

}  // namespace callhook
