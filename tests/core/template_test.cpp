#include "template.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace callhook {
namespace {

using nlohmann::json;

json j(std::string_view text) {
  return json::parse(text);
}

const json& context() {
  static const json ctx = j(R"({
    "from": "+15551234567",
    "duration": 45,
    "price": 1.25,
    "answered": true,
    "nothing": null,
    "empty": "",
    "zero": 0,
    "name": "Ada Lovelace",
    "call": {"disposition": "ANSWERED", "tags": ["a", "b"]},
    "Call.Disposition": "BUSY",
    "Call.From": {"Number": "+15550000000"},
    "items": [{"sku": "X1", "qty": 2}, {"sku": "Y2", "qty": 1}],
    "started": "2024-03-05 14:07:09",
    "iso": "2024-03-05T14:07:09.123+02:00",
    "epoch": 1700000000,
    "epoch_text": "1700000000",
    "epoch_frac": 1.5,
    "bad_date": "2023-02-29 00:00:00"
  })");
  return ctx;
}

// Renders `tpl` as a config's template is rendered, read once (CompiledTemplate), and checks
// that reading it on every render gives the same document.
json render_both(const json& tpl) {
  const CompiledTemplate compiled(tpl);
  const json once = compiled.render(context());
  EXPECT_EQ(once, render_template(tpl, context())) << tpl.dump();
  // Written as it is rendered (the template format's body): the text dump() gives of it.
  std::string written;
  compiled.write(written, context());
  EXPECT_EQ(written, once.dump(-1, ' ', false, json::error_handler_t::replace)) << tpl.dump();
  return once;
}

json render(std::string_view tpl) {
  return render_both(j(tpl));
}

// Renders a single template string.
json render_string(const std::string& s) {
  return render_both(json(s));
}

std::vector<std::string> pointers_of(const json& tpl) {
  std::vector<std::string> out;
  for (const Diagnostic& d : check_template(tpl)) {
    EXPECT_EQ(d.code, "bad_template");
    EXPECT_FALSE(d.message.empty());
    out.push_back(d.field);
  }
  return out;
}

std::vector<std::string> pointers(std::string_view tpl) {
  return pointers_of(j(tpl));
}

using Pointers = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Whole-string placeholders keep types

TEST(TemplateRender, WholePlaceholderKeepsType) {
  EXPECT_EQ(render_string("{{duration}}"), json(45));
  EXPECT_EQ(render_string("{{ price }}"), json(1.25));
  EXPECT_EQ(render_string("{{answered}}"), json(true));
  EXPECT_EQ(render_string("{{ nothing }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ from }}"), json("+15551234567"));
  EXPECT_EQ(render_string("{{ call }}"), context()["call"]);
  EXPECT_EQ(render_string("{{ call.tags }}"), j(R"(["a","b"])"));
  EXPECT_EQ(render_string("{{\t duration \n}}"), json(45));
}

TEST(TemplateRender, MissingWholePlaceholderIsNull) {
  EXPECT_EQ(render_string("{{ missing }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ call.missing.deeper }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ from.inner }}"), json(nullptr));
  EXPECT_EQ(render_template(json("{{ a }}"), json("not an object")), json(nullptr));
}

TEST(TemplateRender, StructureIsWalkedAndKeysStayLiteral) {
  const json out = render(R"({
    "{{ from }}": "{{ from }}",
    "list": ["{{ duration }}", 7, null, {"deep": "{{ call.disposition }}"}],
    "n": 3.5, "b": false
  })");
  EXPECT_EQ(out, j(R"({
    "{{ from }}": "+15551234567",
    "list": [45, 7, null, {"deep": "ANSWERED"}],
    "n": 3.5, "b": false
  })"));
  EXPECT_EQ(render("42"), json(42));
  EXPECT_EQ(render(R"("plain text")"), json("plain text"));
}

// ---------------------------------------------------------------------------------------------
// Interpolation

TEST(TemplateRender, InterpolatesText) {
  EXPECT_EQ(render_string("Call from {{ from }} lasted {{ duration }}s"),
            json("Call from +15551234567 lasted 45s"));
  EXPECT_EQ(render_string("answered={{answered}} price={{price}}"),
            json("answered=true price=1.25"));
  EXPECT_EQ(render_string("[{{ nothing }}][{{ missing }}]"), json("[][]"));
  EXPECT_EQ(render_string("tags: {{ call.tags }}"), json(R"(tags: ["a","b"])"));
  EXPECT_EQ(render_string("{{ items.0 }}!"), json(R"({"qty":2,"sku":"X1"}!)"));
  EXPECT_EQ(render_string(" {{ duration }}"), json(" 45"));
  EXPECT_EQ(render_string("{{duration}}{{duration}}"), json("4545"));
  EXPECT_EQ(render_string("no placeholders } {"), json("no placeholders } {"));
}

// ---------------------------------------------------------------------------------------------
// Paths

TEST(TemplatePaths, ArrayIndexes) {
  EXPECT_EQ(render_string("{{ items.1.sku }}"), json("Y2"));
  EXPECT_EQ(render_string("{{ items.0.qty }}"), json(2));
  EXPECT_EQ(render_string("{{ items.2.sku }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ items.first.sku }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ items.-1 }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ call.tags.1 }}"), json("b"));
}

TEST(TemplatePaths, DottedLiteralKeys) {
  EXPECT_EQ(render_string("{{ Call.Disposition }}"), json("BUSY"));
  EXPECT_EQ(render_string("{{ call.disposition }}"), json("ANSWERED"));
  EXPECT_EQ(render_string("{{ Call.From.Number }}"), json("+15550000000"));
  EXPECT_EQ(render_template(json("{{ a.b.c }}"), j(R"({"a":{"b.c":1}})")), json(1));
  EXPECT_EQ(render_template(json("{{ a.b }}"), j(R"({"a.b":1,"a":{"b":2}})")), json(1));
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(TemplateFilters, Default) {
  EXPECT_EQ(render_string(R"({{ missing | default:"n/a" }})"), json("n/a"));
  EXPECT_EQ(render_string(R"({{ nothing | default:"n/a" }})"), json("n/a"));
  EXPECT_EQ(render_string(R"({{ empty | default:"n/a" }})"), json("n/a"));
  EXPECT_EQ(render_string("{{ missing | default:42 }}"), json(42));
  EXPECT_EQ(render_string("{{ missing | default:false }}"), json(false));
  EXPECT_EQ(render_string("{{ missing | default:null }}"), json(nullptr));
  EXPECT_EQ(render_string(R"({{ from | default:"n/a" }})"), json("+15551234567"));
  EXPECT_EQ(render_string("{{ zero | default:7 }}"), json(0));
  EXPECT_EQ(render_string("{{ answered | default:7 }}"), json(true));
  EXPECT_EQ(render_string(R"({{ missing | default:"a|b}}c" }})"), json("a|b}}c"));
  EXPECT_EQ(render_string(R"(x={{ missing | default:"none" }})"), json("x=none"));
}

TEST(TemplateFilters, UpperAndLower) {
  EXPECT_EQ(render_string("{{ name | upper }}"), json("ADA LOVELACE"));
  EXPECT_EQ(render_string("{{ name | lower }}"), json("ada lovelace"));
  EXPECT_EQ(render_string("{{ duration | upper }}"), json(45));
  EXPECT_EQ(render_string("{{ missing | lower }}"), json(nullptr));
  EXPECT_EQ(render_template(json("{{ s | upper }}"), j(R"({"s":"über-ß"})")), json("üBER-ß"));
  EXPECT_EQ(render_string(R"({{ missing | default:"x" | upper }})"), json("X"));
}

TEST(TemplateFilters, Iso8601) {
  EXPECT_EQ(render_string("{{ started | iso8601 }}"), json("2024-03-05T14:07:09Z"));
  EXPECT_EQ(render_string("{{ iso | iso8601 }}"), json("2024-03-05T12:07:09Z"));
  EXPECT_EQ(render_string("{{ epoch | iso8601 }}"), json("2023-11-14T22:13:20Z"));
  EXPECT_EQ(render_string("{{ epoch_text | iso8601 }}"), json("2023-11-14T22:13:20Z"));
  EXPECT_EQ(render_string("{{ epoch_frac | iso8601 }}"), json("1970-01-01T00:00:01Z"));
  const auto iso = [](std::string_view value) {
    return render_template(json("{{ v | iso8601 }}"), json{{"v", value}});
  };
  EXPECT_EQ(iso("2024-03-05T14:07:09Z"), json("2024-03-05T14:07:09Z"));
  EXPECT_EQ(iso("2024-03-05t14:07:09z"), json("2024-03-05T14:07:09Z"));
  EXPECT_EQ(iso("2024-03-05T00:30:00+0100"), json("2024-03-04T23:30:00Z"));
  EXPECT_EQ(iso("2024-12-31T23:30:00-01:00"), json("2025-01-01T00:30:00Z"));
  EXPECT_EQ(iso("2024-02-29"), json("2024-02-29T00:00:00Z"));
  EXPECT_EQ(iso("-1"), json("1969-12-31T23:59:59Z"));
  EXPECT_EQ(iso("0000-01-01 00:00:00"), json("0000-01-01T00:00:00Z"));
  EXPECT_EQ(iso("9999-12-31 23:59:59"), json("9999-12-31T23:59:59Z"));
  for (const char* bad : {"2023-02-29 00:00:00", "2024-13-01 00:00:00", "2024-04-31 00:00:00",
                          "2024-03-05 24:00:00", "2024-03-05 23:60:00", "2024-03-05 23:59:60",
                          "2024-03-05 1:02:03", "2024-03-05T10:00:00+24:00", "2024-03-05T10:00",
                          "2024-03-05T10:00:00.", "2024-03-05T10:00:00Zjunk",
                          "0000-01-01T00:00:00+01:00", "yesterday", "", "12345678901234"}) {
    EXPECT_EQ(iso(bad), json(nullptr)) << bad;
  }
  EXPECT_EQ(render_string("{{ bad_date | iso8601 }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ answered | iso8601 }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ call | iso8601 }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ missing | iso8601 }}"), json(nullptr));
  EXPECT_EQ(render_template(json("{{ v | iso8601 }}"), json{{"v", 1e20}}), json(nullptr));
  EXPECT_EQ(render_template(json("{{ v | iso8601 }}"), json{{"v", -1e20}}), json(nullptr));
  EXPECT_EQ(render_template(json("{{ v | iso8601 }}"), j(R"({"v":18446744073709551615})")),
            json(nullptr));
  EXPECT_EQ(render_template(json("{{ v | iso8601 }}"), j(R"({"v":-9223372036854775808})")),
            json(nullptr));
  EXPECT_EQ(render_string(R"({{ missing | iso8601 | default:"unknown" }})"), json("unknown"));
}

TEST(TemplateFilters, EpochMs) {
  EXPECT_EQ(render_string("{{ started | epoch_ms }}"), json(1709647629000));
  EXPECT_EQ(render_string("{{ iso | epoch_ms }}"), json(1709640429123));
  EXPECT_EQ(render_string("{{ epoch | epoch_ms }}"), json(1700000000000));
  EXPECT_EQ(render_string("{{ epoch_text | epoch_ms }}"), json(1700000000000));
  EXPECT_EQ(render_string("{{ epoch_frac | epoch_ms }}"), json(1500));
  EXPECT_EQ(render_template(json("{{ v | epoch_ms }}"), json{{"v", "2000-01-01"}}),
            json(946684800000));
  EXPECT_EQ(render_template(json("{{ v | epoch_ms }}"), json{{"v", -0.5}}), json(-500));
  EXPECT_EQ(render_string("{{ bad_date | epoch_ms }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ name | epoch_ms }}"), json(nullptr));
  EXPECT_EQ(render_string("{{ missing | epoch_ms }}"), json(nullptr));
  EXPECT_EQ(render_string("t={{ started | epoch_ms }}"), json("t=1709647629000"));
  EXPECT_TRUE(render_string("{{ started | epoch_ms }}").is_number_integer());
}

// ---------------------------------------------------------------------------------------------
// Bad placeholders at render time, and check_template

TEST(TemplateRender, BadPlaceholdersStayLiteral) {
  EXPECT_EQ(render_string("Hi {{ name"), json("Hi {{ name"));
  EXPECT_EQ(render_string("{{ name | shout }}"), json("{{ name | shout }}"));
  EXPECT_EQ(render_string("{{ name | shout }} and {{ duration }}"),
            json("{{ name | shout }} and 45"));
  EXPECT_EQ(render_string("{{ }}"), json("{{ }}"));
  EXPECT_EQ(render_string("{{ duration }} then {{ oops"), json("45 then {{ oops"));
}

TEST(TemplateCheck, ValidTemplatesHaveNoDiagnostics) {
  EXPECT_EQ(pointers(R"({
    "a": "{{ x }}", "b": "t {{ x.y.0 | default:\"n/a\" | upper }} {{z|lower}}",
    "c": ["{{ t | iso8601 }}", "{{ t | epoch_ms }}", 1, null, true, {}],
    "d": "{{ x | default:-1.5e3 }}", "e": "{{ x | default : null }}", "f": "no braces }}"
  })"),
            Pointers{});
}

TEST(TemplateCheck, ReportsEachProblemWithItsPointer) {
  EXPECT_EQ(pointers(R"({"a":["ok","Hi {{ name"]})"), Pointers{"/a/1"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | shout }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | default }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | default:nope }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | default:{\"x\":1} }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ name | upper:1 }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ a..b }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ .a }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ a b }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a":"{{ a[0] }}"})"), Pointers{"/a"});
  EXPECT_EQ(pointers(R"({"a/b":{"m~n":"{{ x | nope }} {{ y"}})"),
            (Pointers{"/a~1b/m~0n", "/a~1b/m~0n"}));
  EXPECT_EQ(pointers(R"("{{ x")"), Pointers{""});
  EXPECT_EQ(pointers(R"({"q":"{{ x | default:\"oops }}"})"), Pointers{"/q"});
  EXPECT_EQ(render_string(R"({{ x | default:"oops }})"), json(R"({{ x | default:"oops }})"));

  const std::vector<Diagnostic> d = check_template(j(R"({"a":"{{ name | shout }}"})"));
  ASSERT_EQ(d.size(), 1U);
  EXPECT_NE(d[0].message.find("shout"), std::string::npos);
}

TEST(TemplateCheck, DepthLimit) {
  const auto nested = [](int arrays) {
    std::string s(static_cast<std::size_t>(arrays), '[');
    s += "\"{{ duration }}\"";
    s.append(static_cast<std::size_t>(arrays), ']');
    return j(s);
  };
  const json at_limit = nested(kMaxTemplateDepth);
  EXPECT_EQ(pointers_of(at_limit), Pointers{});
  json out = render_both(at_limit);
  for (int i = 0; i < kMaxTemplateDepth; ++i) out = json(out[0]);
  EXPECT_EQ(out, json(45));

  const json too_deep = nested(kMaxTemplateDepth + 1);
  std::string expected;
  for (int i = 0; i < kMaxTemplateDepth; ++i) expected += "/0";
  EXPECT_EQ(pointers_of(too_deep), Pointers{expected});
  // The part past the limit is copied as written.
  json deep_out = render_both(too_deep);
  for (int i = 0; i < kMaxTemplateDepth + 1; ++i) deep_out = json(deep_out[0]);
  EXPECT_EQ(deep_out, json("{{ duration }}"));
}

}  // namespace
}  // namespace callhook
