#include "callhook/filter.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include "text_util.h"

namespace callhook {
namespace {

using nlohmann::json;

enum class Op : std::uint8_t {
  eq,
  neq,
  gt,
  gte,
  lt,
  lte,
  in,
  nin,
  starts_with,
  ends_with,
  exist,
  or_,
  and_,
  not_,
  unknown,
};

Op parse_op(std::string_view key) {
  static constexpr std::pair<std::string_view, Op> kOps[] = {
      {"$eq", Op::eq},
      {"$neq", Op::neq},
      {"$gt", Op::gt},
      {"$gte", Op::gte},
      {"$lt", Op::lt},
      {"$lte", Op::lte},
      {"$in", Op::in},
      {"$nin", Op::nin},
      {"$startsWith", Op::starts_with},
      {"$endsWith", Op::ends_with},
      {"$exist", Op::exist},
      {"$or", Op::or_},
      {"$and", Op::and_},
      {"$not", Op::not_},
  };
  for (const auto& [name, op] : kOps) {
    if (name == key) return op;
  }
  return Op::unknown;
}

bool is_operator_key(std::string_view key) {
  return !key.empty() && key.front() == '$';
}

const std::string* string_of(const json& v) {
  return v.get_ptr<const json::string_t*>();
}

// ---------------------------------------------------------------------------------------------
// Numbers and loose equality

// A string is numeric when it is exactly a JSON number: no whitespace, no '+', no hex, no
// "NaN". Form fields are coerced only when they unambiguously hold a number.
bool is_json_number_text(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// The number `v` holds: itself when a number, the parsed value when a numeric string.
std::optional<json> as_number(const json& v) {
  if (v.is_number()) return v;
  const std::string* s = string_of(v);
  if (s == nullptr || !is_json_number_text(*s)) return std::nullopt;
  // The grammar was checked above; nlohmann converts (exactly, and without locale trouble) and
  // reports overflow such as "1e999" by discarding.
  json parsed = json::parse(*s, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_number()) return std::nullopt;
  return parsed;
}

double to_double(const json& n) {
  if (const auto* f = n.get_ptr<const json::number_float_t*>()) return *f;
  if (const auto* u = n.get_ptr<const json::number_unsigned_t*>()) return static_cast<double>(*u);
  if (const auto* i = n.get_ptr<const json::number_integer_t*>()) return static_cast<double>(*i);
  return 0.0;
}

// Three-way comparison of two JSON numbers, exact for integers of either signedness.
int compare_numbers(const json& a, const json& b) {
  const auto three_way = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.is_number_float() || b.is_number_float()) return three_way(to_double(a), to_double(b));
  // get_ptr<number_integer_t*> also answers for unsigned values (nlohmann counts them as
  // integers), so signedness is decided with is_number_unsigned() first.
  const auto* au = a.get_ptr<const json::number_unsigned_t*>();
  const auto* bu = b.get_ptr<const json::number_unsigned_t*>();
  const auto* ai = au == nullptr ? a.get_ptr<const json::number_integer_t*>() : nullptr;
  const auto* bi = bu == nullptr ? b.get_ptr<const json::number_integer_t*>() : nullptr;
  if (au != nullptr && bu != nullptr) return three_way(*au, *bu);
  if (ai != nullptr && bi != nullptr) return three_way(*ai, *bi);
  if (ai != nullptr && bu != nullptr) {
    if (*ai < 0) return -1;
    return three_way(static_cast<std::uint64_t>(*ai), *bu);
  }
  if (au != nullptr && bi != nullptr) {
    if (*bi < 0) return 1;
    return three_way(*au, static_cast<std::uint64_t>(*bi));
  }
  return three_way(to_double(a), to_double(b));
}

// Equality of two primitives or, for arrays and objects, structural equality with the same rule
// for the primitives inside. A number equals a string holding that number.
bool loose_equal(const json& a, const json& b, int depth) {
  if (depth > kMaxFilterDepth) return false;
  if (a.is_number() || b.is_number()) {
    const std::optional<json> x = as_number(a);
    const std::optional<json> y = as_number(b);
    return x && y && compare_numbers(*x, *y) == 0;
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::value_t::null:
      return true;
    case json::value_t::boolean: {
      const auto* x = a.get_ptr<const json::boolean_t*>();
      const auto* y = b.get_ptr<const json::boolean_t*>();
      return x != nullptr && y != nullptr && *x == *y;
    }
    case json::value_t::string: {
      const std::string* x = string_of(a);
      const std::string* y = string_of(b);
      return x != nullptr && y != nullptr && *x == *y;
    }
    case json::value_t::array: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!loose_equal(a[i], b[i], depth + 1)) return false;
      }
      return true;
    }
    case json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (auto it = a.begin(); it != a.end(); ++it) {
        const auto other = b.find(it.key());
        if (other == b.end() || !loose_equal(it.value(), *other, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;  // binary and discarded values never come out of JSON text
  }
}

// Ordering for $gt and friends: numbers (or numeric strings against numbers) numerically, two
// strings lexically. nullopt when the pair is not comparable.
std::optional<int> compare_for_order(const json& v, const json& a) {
  const std::string* vs = string_of(v);
  const std::string* as = string_of(a);
  if (vs != nullptr && as != nullptr) {
    const int c = vs->compare(*as);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (!v.is_number() && !a.is_number()) return std::nullopt;
  const std::optional<json> x = as_number(v);
  const std::optional<json> y = as_number(a);
  if (!x || !y) return std::nullopt;
  return compare_numbers(*x, *y);
}

// $in: kYes/kNo where it applies, kUnsupported for type pairs it does not cover (so that $nin
// does not match those either).
enum class InResult : std::uint8_t { kYes, kNo, kUnsupported };

InResult in_operator(const json& v, const json& a) {
  if (a.is_array()) {
    if (v.is_structured()) return InResult::kUnsupported;
    for (const json& item : a) {
      if (loose_equal(v, item, 0)) return InResult::kYes;
    }
    return InResult::kNo;
  }
  if (const std::string* vs = string_of(v)) {
    const std::string* as = string_of(a);
    if (as == nullptr) return InResult::kUnsupported;
    return vs->find(*as) != std::string::npos ? InResult::kYes : InResult::kNo;
  }
  if (v.is_array()) {
    if (a.is_object()) return InResult::kUnsupported;
    for (const json& item : v) {
      if (loose_equal(item, a, 0)) return InResult::kYes;
    }
    return InResult::kNo;
  }
  return InResult::kUnsupported;
}

bool affix_matches(const json& v, const json& a, bool prefix) {
  const std::string* vs = string_of(v);
  if (vs == nullptr) return false;
  const auto one = [&](const json& candidate) {
    const std::string* c = string_of(candidate);
    if (c == nullptr) return false;
    const std::string_view s(*vs);
    return prefix ? s.starts_with(*c) : s.ends_with(*c);
  };
  if (a.is_array()) {
    for (const json& candidate : a) {
      if (one(candidate)) return true;
    }
    return false;
  }
  return one(a);
}

// Why an operator cannot use its operand, or nullptr when it can. Such an operator evaluates to
// false, as in Hookdeck (whose operators throw on these types, and a throw is a mismatch);
// check_filter_warnings reports them. Operands of $or, $and and $not are filters, not values:
// their shape is checked by the Checker.
const char* operand_problem(Op op, const json& arg) {
  switch (op) {
    case Op::gt:
    case Op::gte:
    case Op::lt:
    case Op::lte:
      return arg.is_number() || arg.is_string() ? nullptr : "needs a number or a string";
    case Op::in:
    case Op::nin:
      return arg.is_array() || arg.is_string() ? nullptr
                                               : "needs an array (one of) or a string (contains)";
    case Op::starts_with:
    case Op::ends_with:
      if (arg.is_string()) return nullptr;
      if (!arg.is_array()) return "needs a string or an array of strings";
      for (const json& candidate : arg) {
        if (!candidate.is_string()) return "needs strings";
      }
      return nullptr;
    case Op::exist:
      return arg.is_boolean() ? nullptr : "needs true or false";
    case Op::eq:
    case Op::neq:
    case Op::or_:
    case Op::and_:
    case Op::not_:
    case Op::unknown:
      return nullptr;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Matching. `doc == nullptr` stands for a missing field. `depth` counts recursion levels.

// The matching functions, with the filter context's rule at `root` (nullptr: none), which
// filter_context_matches explains.
class Matcher {
 public:
  explicit Matcher(const json* root) : root_(root) {}
  bool match(const json& filter, const json* doc, int depth) const;

 private:
  bool apply_operator(Op op, const json& arg, const json* doc, int depth) const;
  bool match_field(std::string_view key, const json& filter, const json* doc, int depth) const;
  bool match_fields(const json& filter, const json* doc, int depth) const;
  const json* member(const json& object, std::string_view key) const;

  const json* root_;
};

const json* Matcher::member(const json& object, std::string_view key) const {
  return detail::context_member(object, key, root_);
}

bool Matcher::apply_operator(Op op, const json& arg, const json* doc, int depth) const {
  if (operand_problem(op, arg) != nullptr) return false;
  switch (op) {
    case Op::eq:
      return doc != nullptr && loose_equal(*doc, arg, 0);
    case Op::neq:
      return doc == nullptr || !loose_equal(*doc, arg, 0);
    case Op::gt:
    case Op::gte:
    case Op::lt:
    case Op::lte: {
      if (doc == nullptr) return false;
      const std::optional<int> c = compare_for_order(*doc, arg);
      if (!c) return false;
      if (op == Op::gt) return *c > 0;
      if (op == Op::gte) return *c >= 0;
      if (op == Op::lt) return *c < 0;
      return *c <= 0;
    }
    case Op::in:
      return doc != nullptr && in_operator(*doc, arg) == InResult::kYes;
    case Op::nin:
      return doc == nullptr || in_operator(*doc, arg) == InResult::kNo;
    case Op::starts_with:
    case Op::ends_with:
      return doc != nullptr && affix_matches(*doc, arg, op == Op::starts_with);
    case Op::exist: {
      const auto* want = arg.get_ptr<const json::boolean_t*>();
      return want != nullptr && *want == (doc != nullptr);
    }
    case Op::or_:
      for (const json& sub : arg) {
        if (match(sub, doc, depth + 1)) return true;
      }
      return false;
    case Op::and_:
      for (const json& sub : arg) {
        if (!match(sub, doc, depth + 1)) return false;
      }
      return true;
    case Op::not_:
      // A plain value (anything but an object) is Hookdeck's "not equal to it": exactly $neq.
      if (!arg.is_object()) return apply_operator(Op::neq, arg, doc, depth);
      return !match(arg, doc, depth + 1);
    case Op::unknown:
      return false;
  }
  return false;
}

// Matches the value found under `key` in `doc` against `filter`, resolving dotted keys.
bool Matcher::match_field(std::string_view key, const json& filter, const json* doc,
                          int depth) const {
  if (depth > kMaxFilterDepth) return false;
  if (doc == nullptr) return match(filter, nullptr, depth + 1);
  if (doc->is_array()) {
    // Only reached part-way through a dotted key: search the elements, like a nested filter.
    for (const json& element : *doc) {
      if (match_field(key, filter, &element, depth + 1)) return true;
    }
    return false;
  }
  if (!doc->is_object()) return false;
  if (const json* found = member(*doc, key)) return match(filter, found, depth + 1);
  // Longest literal prefix first, so {"a.b": {...}} wins over {"a": {"b": ...}} when both exist.
  for (std::size_t dot = key.rfind('.'); dot != std::string_view::npos && dot > 0;
       dot = key.rfind('.', dot - 1)) {
    if (const json* found = member(*doc, key.substr(0, dot))) {
      return match_field(key.substr(dot + 1), filter, found, depth + 1);
    }
  }
  return match(filter, nullptr, depth + 1);
}

// The field keys of an object filter, all of which must hold for one and the same object.
bool Matcher::match_fields(const json& filter, const json* doc, int depth) const {
  if (depth > kMaxFilterDepth) return false;
  if (doc != nullptr && doc->is_array()) {
    for (const json& element : *doc) {
      if (match_fields(filter, &element, depth + 1)) return true;
    }
    return false;
  }
  if (doc != nullptr && !doc->is_object()) return false;
  bool any_field = false;
  for (auto it = filter.begin(); it != filter.end(); ++it) {
    if (is_operator_key(it.key())) continue;
    any_field = true;
    if (!match_field(it.key(), it.value(), doc, depth)) return false;
  }
  // {} asks for an object, which a missing value is not.
  return any_field || doc != nullptr;
}

bool Matcher::match(const json& filter, const json* doc, int depth) const {
  if (depth > kMaxFilterDepth) return false;
  if (filter.is_object()) {
    bool has_fields = filter.empty();
    for (auto it = filter.begin(); it != filter.end(); ++it) {
      if (!is_operator_key(it.key())) {
        has_fields = true;
      } else if (!apply_operator(parse_op(it.key()), it.value(), doc, depth)) {
        return false;
      }
    }
    return !has_fields || match_fields(filter, doc, depth);
  }
  if (doc == nullptr) return false;
  if (filter.is_array()) {
    if (!doc->is_array()) return false;
    for (const json& wanted : filter) {
      bool found = false;
      for (const json& element : *doc) {
        if (match(wanted, &element, depth + 1)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }
  if (doc->is_array()) {
    for (const json& element : *doc) {
      if (match(filter, &element, depth + 1)) return true;
    }
    return false;
  }
  if (doc->is_object()) return false;
  return loose_equal(*doc, filter, 0);
}

CALLHOOK_COLD_BEGIN  // filters are checked when the config is read

// ---------------------------------------------------------------------------------------------
// Checking. With `out == nullptr` the checker only answers valid/invalid and stops early.
// `warnings`, when given, collects operands that are valid but make their operator false.

std::size_t count_segments(std::string_view key) {
  std::size_t n = 1;
  for (const char c : key) n += c == '.' ? 1 : 0;
  return n;
}

class Checker {
 public:
  explicit Checker(std::vector<Diagnostic>* out, std::vector<Diagnostic>* warnings = nullptr)
      : out_(out), warnings_(warnings) {}
  [[nodiscard]] bool ok() const { return ok_; }

  // `level` is how deep `filter` sits (the root is 0).
  void filter(const json& f, int level) {
    if (done()) return;
    if (f.is_array()) {
      if (!f.empty() && !room(level)) return;
      for (std::size_t i = 0; i < f.size(); ++i) {
        Scope s(*this, std::to_string(i));
        filter(f[i], level + 1);
      }
      return;
    }
    if (!f.is_object()) return;
    if (!f.empty() && !room(level)) return;
    for (auto it = f.begin(); it != f.end(); ++it) {
      if (done()) return;
      Scope s(*this, it.key());
      if (is_operator_key(it.key())) {
        operand(it.key(), it.value(), level + 1);
      } else {
        const std::size_t segments = count_segments(it.key());
        if (segments > static_cast<std::size_t>(kMaxFilterDepth - level)) {
          fail("the dotted key nests deeper than " + std::to_string(kMaxFilterDepth) + " levels");
        } else {
          filter(it.value(), level + static_cast<int>(segments));
        }
      }
    }
  }

 private:
  // Pushes a pointer token for the lifetime of the scope.
  class Scope {
   public:
    Scope(Checker& c, std::string_view token) : c_(c), size_(c.pointer_.size()) {
      if (c.out_ != nullptr || c.warnings_ != nullptr)
        detail::append_pointer_token(c.pointer_, token);  // only reports need it
    }
    ~Scope() { c_.pointer_.resize(size_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Checker& c_;
    std::size_t size_;
  };

  [[nodiscard]] bool done() const { return !ok_ && out_ == nullptr; }

  void fail(std::string message) {
    ok_ = false;
    if (out_ != nullptr) out_->push_back({pointer_, "bad_filter", std::move(message)});
  }

  void warn(const std::string& key, const char* problem) {
    if (warnings_ == nullptr) return;
    warnings_->push_back({pointer_, "uncomparable_operand",
                          key + " " + problem + ", so it evaluates to false here."});
  }

  // Whether a container at `level` may have children.
  bool room(int level) {
    if (level < kMaxFilterDepth) return true;
    fail("the filter nests deeper than " + std::to_string(kMaxFilterDepth) + " levels");
    return false;
  }

  // Literal operands ($eq, $in lists) are not filters, but their depth still bounds recursion.
  void literal(const json& v, int level) {
    if (done() || !v.is_structured() || v.empty()) return;
    if (!room(level)) return;
    for (const json& child : v) {
      literal(child, level + 1);
      if (done()) return;
    }
  }

  void operand(const std::string& key, const json& arg, int level) {
    const Op op = parse_op(key);
    switch (op) {
      case Op::eq:
      case Op::neq:
        literal(arg, level);
        return;
      case Op::gt:
      case Op::gte:
      case Op::lt:
      case Op::lte:
      case Op::exist:
        if (const char* problem = operand_problem(op, arg)) warn(key, problem);
        return;
      case Op::in:
      case Op::nin:
        if (const char* problem = operand_problem(op, arg)) warn(key, problem);
        literal(arg, level);
        return;
      case Op::starts_with:
      case Op::ends_with:
        if (arg.is_array()) {
          for (std::size_t i = 0; i < arg.size(); ++i) {
            if (arg[i].is_string()) continue;
            Scope s(*this, std::to_string(i));
            warn(key, "needs strings");
          }
        } else if (const char* problem = operand_problem(op, arg)) {
          warn(key, problem);
        }
        return;
      case Op::or_:
      case Op::and_:
        if (!arg.is_array() || arg.empty()) {
          fail(key + " needs a non-empty array of filters");
          return;
        }
        filter(arg, level);
        return;
      case Op::not_:
        if (arg.is_object()) {
          filter(arg, level);
        } else {
          literal(arg, level);  // a plain value: "not equal to it"
        }
        return;
      case Op::unknown:
        if (key == "$ref") {
          fail("$ref (field references) is not supported");
        } else {
          fail("unknown operator " + key);
        }
        return;
    }
  }

  std::vector<Diagnostic>* out_;
  std::vector<Diagnostic>* warnings_;
  std::string pointer_;
  bool ok_ = true;
};

}  // namespace

std::vector<Diagnostic> check_filter(const json& filter) {
  std::vector<Diagnostic> out;
  Checker checker(&out);
  checker.filter(filter, 0);
  return out;
}

std::vector<Diagnostic> check_filter_warnings(const json& filter) {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  Checker checker(&errors, &warnings);
  checker.filter(filter, 0);
  return warnings;
}

bool filter_matches(const json& filter, const json& document) {
  Checker checker(nullptr);
  checker.filter(filter, 0);
  if (!checker.ok()) return false;
  return Matcher(nullptr).match(filter, &document, 0);
}

CALLHOOK_COLD_END

const json* detail::context_member(const json& object, std::string_view key, const json* context) {
  if (&object == context && is_field_key(key)) {
    if (const auto fields = object.find("fields"); fields != object.end() && fields->is_object()) {
      if (const auto it = fields->find(key); it != fields->end()) return &*it;
    }
  }
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool detail::filter_context_matches(const json& checked_filter, const json& context) {
  return Matcher(&context).match(checked_filter, &context, 0);
}

}  // namespace callhook
