#include "codec/line_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace txpipe::codec {
namespace {

using ::testing::HasSubstr;

std::string Point(std::string_view m, std::vector<LpTag> tags, std::vector<LpField> fields,
                  int64_t t = 1700000000000000000) {
  std::string out;
  base::Status s = AppendPoint(&out, m, tags, fields, t);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Error(std::string_view m, std::vector<LpTag> tags, std::vector<LpField> fields) {
  std::string out = "kept";
  base::Status s = AppendPoint(&out, m, tags, fields, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), base::Code::kInvalidArgument);
  EXPECT_EQ(out, "kept");  // nothing appended
  return s.message();
}

TEST(LineProtocolTest, WritesEachValueKind) {
  EXPECT_EQ(Point("m", {{"b", "2"}, {"a", "1"}},
                  {LpField::Float("f", 1.5), LpField::Int("i", -42), LpField::String("s", "x"),
                   LpField::Bool("t", true), LpField::Bool("u", false)},
                  1234),
            "m,a=1,b=2 f=1.5,i=-42i,s=\"x\",t=t,u=f 1234\n");
}

TEST(LineProtocolTest, FloatsAreShortestRoundTrip) {
  EXPECT_EQ(Point("m", {}, {LpField::Float("v", 0.1)}, 1), "m v=0.1 1\n");
  EXPECT_EQ(Point("m", {}, {LpField::Float("v", 3)}, 1), "m v=3 1\n");  // no i: a float
  EXPECT_EQ(Point("m", {}, {LpField::Float("v", 1e21)}, 1), "m v=1e+21 1\n");
  EXPECT_EQ(Point("m", {}, {LpField::Float("v", -2.5e-7)}, 1), "m v=-2.5e-07 1\n");
  EXPECT_EQ(Point("m", {}, {LpField::Int("v", std::numeric_limits<int64_t>::min())}, 1),
            "m v=-9223372036854775808i 1\n");
}

TEST(LineProtocolTest, MeasurementEscapesCommaAndSpace) {
  EXPECT_EQ(Point("a,b c=d", {}, {LpField::Int("v", 1)}, 1), "a\\,b\\ c=d v=1i 1\n");
}

TEST(LineProtocolTest, TagKeysValuesAndFieldKeysEscapeCommaEqualsSpace) {
  EXPECT_EQ(Point("m", {{"k,=y z", "v,=w x"}}, {LpField::Int("f,=g h", 1)}, 1),
            "m,k\\,\\=y\\ z=v\\,\\=w\\ x f\\,\\=g\\ h=1i 1\n");
}

TEST(LineProtocolTest, StringValuesEscapeQuoteAndBackslashAndKeepNewlines) {
  EXPECT_EQ(Point("m", {}, {LpField::String("s", "say \"hi\" \\o/\nbye, a=b")}, 1),
            "m s=\"say \\\"hi\\\" \\\\o/\nbye, a=b\" 1\n");
}

TEST(LineProtocolTest, EmptyTagValuesAreLeftOutAndTagsSorted) {
  EXPECT_EQ(Point("m", {{"z", "1"}, {"empty", ""}, {"a", "2"}, {"m", "3"}},
                  {LpField::Int("v", 1)}, 1),
            "m,a=2,m=3,z=1 v=1i 1\n");
}

TEST(LineProtocolTest, BackslashesElsewhereAreKeptAsTheyAre) {
  EXPECT_EQ(Point("C:\\m", {{"path", "C:\\dir\\file"}}, {LpField::Int("v", 1)}, 1),
            "C:\\m,path=C:\\dir\\file v=1i 1\n");
}

TEST(LineProtocolTest, RefusesWhatLineProtocolCannotCarry) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_THAT(Error("m", {}, {LpField::Float("v", nan)}), HasSubstr("field 'v'"));
  EXPECT_THAT(Error("m", {}, {LpField::Float("v", inf)}), HasSubstr("field 'v'"));
  EXPECT_THAT(Error("m", {}, {LpField::Float("v", -inf)}), HasSubstr("field 'v'"));
  EXPECT_THAT(Error("", {}, {LpField::Int("v", 1)}), HasSubstr("empty measurement"));
  EXPECT_THAT(Error("#m", {}, {LpField::Int("v", 1)}), HasSubstr("comment"));
  EXPECT_THAT(Error("m", {}, {}), HasSubstr("needs a field"));
  EXPECT_THAT(Error("m", {{"", "x"}}, {LpField::Int("v", 1)}), HasSubstr("empty tag key"));
  EXPECT_THAT(Error("m", {}, {LpField::Int("", 1)}), HasSubstr("empty field key"));
  EXPECT_THAT(Error("m", {{"time", "x"}}, {LpField::Int("v", 1)}), HasSubstr("'time'"));
  EXPECT_THAT(Error("m", {}, {LpField::Int("time", 1)}), HasSubstr("'time'"));
  EXPECT_THAT(Error("m", {{"a", "1"}, {"a", "2"}}, {LpField::Int("v", 1)}),
              HasSubstr("tag key 'a' twice"));
  EXPECT_THAT(Error("m\n", {}, {LpField::Int("v", 1)}), HasSubstr("line break"));
  EXPECT_THAT(Error("m", {{"t", "a\nb"}}, {LpField::Int("v", 1)}), HasSubstr("line break"));
  EXPECT_THAT(Error("m", {{"t", "a\rb"}}, {LpField::Int("v", 1)}), HasSubstr("line break"));
  EXPECT_THAT(Error("m", {}, {LpField::Int("a\nb", 1)}), HasSubstr("line break"));
  EXPECT_THAT(Error("m", {{"t", "ends\\"}}, {LpField::Int("v", 1)}), HasSubstr("at its end"));
  EXPECT_THAT(Error("m", {{"t", "a\\,b"}}, {LpField::Int("v", 1)}), HasSubstr("before ','"));
  EXPECT_THAT(Error("m\\ x", {}, {LpField::Int("v", 1)}), HasSubstr("before ' '"));
  EXPECT_THAT(Error("m", {}, {LpField::Int("k\\=", 1)}), HasSubstr("before '='"));
}

// A reader of line protocol written from InfluxDB's reference, for the round
// trip: a backslash before a special character of the part is an escape,
// any other backslash is itself.
struct Parsed {
  std::string measurement;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> fields;  // "f:1.5", "i:3", "s:text", "b:t"
  int64_t time = 0;
  bool operator==(const Parsed&) const = default;
};

std::string ReadPart(std::string_view line, size_t* i, std::string_view special,
                     std::string_view stop) {
  std::string out;
  while (*i < line.size() && stop.find(line[*i]) == std::string_view::npos) {
    if (line[*i] == '\\' && *i + 1 < line.size() &&
        special.find(line[*i + 1]) != std::string_view::npos) {
      ++*i;
    }
    out.push_back(line[(*i)++]);
  }
  return out;
}

bool ParseLine(std::string_view line, Parsed* p) {
  if (line.empty() || line.back() != '\n') return false;
  line.remove_suffix(1);
  size_t i = 0;
  p->measurement = ReadPart(line, &i, ", ", ", ");
  while (i < line.size() && line[i] == ',') {
    ++i;
    std::string k = ReadPart(line, &i, ",= ", "=");
    if (i >= line.size()) return false;
    ++i;
    p->tags[k] = ReadPart(line, &i, ",= ", ", ");
  }
  if (i >= line.size() || line[i] != ' ') return false;
  do {
    ++i;
    std::string k = ReadPart(line, &i, ",= ", "=");
    if (i >= line.size()) return false;
    ++i;
    std::string v;
    if (line[i] == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
          ++i;
        }
        v.push_back(line[i]);
      }
      if (i >= line.size()) return false;
      ++i;
      p->fields[k] = "s:" + v;
    } else {
      v = ReadPart(line, &i, "", ", ");
      if (v == "t" || v == "f") {
        p->fields[k] = "b:" + v;
      } else if (!v.empty() && v.back() == 'i') {
        p->fields[k] = "i:" + v.substr(0, v.size() - 1);
      } else {
        p->fields[k] = "f:" + std::to_string(std::stod(v));
      }
    }
  } while (i < line.size() && line[i] == ',');
  if (i >= line.size() || line[i] != ' ') return false;
  p->time = std::stoll(std::string(line.substr(i + 1)));
  return true;
}

TEST(LineProtocolTest, RandomPointsReadBackAsWritten) {
  std::mt19937_64 rng(20261204);
  // Names never hold a line break (refused, tested above); string values may.
  const std::string names = "ab ,=\"\\Z9_-.#é";
  const std::string values = names + "\n";
  auto random_text = [&](size_t max, const std::string& alphabet) {
    std::string s;
    size_t n = 1 + rng() % max;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  int written = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string m = random_text(6, names);
    std::vector<std::string> keys, tag_values;
    for (int t = 0; t < 3; ++t) {
      keys.push_back(random_text(4, names));
      tag_values.push_back(random_text(5, names));
    }
    std::vector<LpTag> tags;
    for (int t = 0; t < 3; ++t) tags.push_back({keys[t], tag_values[t]});
    std::string fkey = random_text(4, names), svalue = random_text(8, values);
    std::vector<LpField> fields = {LpField::String(fkey, svalue),
                                   LpField::Int("n", static_cast<int64_t>(rng())),
                                   LpField::Float("x", 0.25 * static_cast<double>(rng() % 1000))};
    std::string line;
    const int64_t t = static_cast<int64_t>(rng() >> 1);
    if (!AppendPoint(&line, m, tags, fields, t).ok()) continue;
    ++written;
    Parsed want;
    want.measurement = m;
    for (const auto& tag : tags) {
      if (!tag.value.empty()) want.tags[std::string(tag.key)] = tag.value;
    }
    want.fields[fkey] = "s:" + svalue;
    want.fields["n"] = "i:" + std::to_string(fields[1].i);
    want.fields["x"] = "f:" + std::to_string(fields[2].f);
    want.time = t;
    Parsed got;
    ASSERT_TRUE(ParseLine(line, &got)) << line;
    ASSERT_EQ(got, want) << line;
  }
  EXPECT_GT(written, 5000);  // the refusals do not hide the round trip
}

}  // namespace
}  // namespace txpipe::codec
