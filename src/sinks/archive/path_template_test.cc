#include "sinks/archive/path_template.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "base/time.h"

namespace txpipe::sinks::archive {
namespace {

using ::testing::HasSubstr;

// 2026-11-23T10:08:33.881Z, a Monday, day 327.
const int64_t kT =
    base::DaysFromCivil(2026, 11, 23) * 86'400'000 + (10 * 3600 + 8 * 60 + 33) * 1000 + 881;

std::string Expand(std::string_view tmpl, int64_t ms, std::vector<core::HeaderView> headers = {},
                   std::string_view topic = "finance", int partition = 1) {
  auto t = PathTemplate::Compile(tmpl);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return "<compile error>";
  core::EventView e;
  e.headers = headers;
  auto r = t->Expand({&e, topic, partition, ms});
  return r.ok() ? *r : "<error: " + r.status().message() + ">";
}

TEST(PathTemplateTest, RootIsTheFixedLeadingDirectories) {
  EXPECT_EQ(PathTemplate::Compile("archive/%{topic}/%Y")->root(), "archive");
  EXPECT_EQ(PathTemplate::Compile("a/b/x%Y/c")->root(), "a/b");
  EXPECT_EQ(PathTemplate::Compile("/data/arch/%Y")->root(), "/data/arch");
  EXPECT_EQ(PathTemplate::Compile("archive/")->root(), "archive");
  EXPECT_EQ(PathTemplate::Compile("archive")->root(), "archive");
  EXPECT_EQ(*PathTemplate::Compile("archive")->Expand({}), "");
  EXPECT_THAT(PathTemplate::Compile("%{topic}/x").status().message(), HasSubstr("fixed directory"));
  EXPECT_THAT(PathTemplate::Compile("/%Y").status().message(), HasSubstr("fixed directory"));
  EXPECT_THAT(PathTemplate::Compile("a/%Q").status().message(), HasSubstr("unknown escape '%Q'"));
  EXPECT_THAT(PathTemplate::Compile("a/%{x").status().message(), HasSubstr("without"));
  EXPECT_THAT(PathTemplate::Compile("a/x%").status().message(), HasSubstr("lone"));
  EXPECT_FALSE(PathTemplate::Compile("").ok());
}

TEST(PathTemplateTest, EveryTimeEscape) {
  EXPECT_EQ(Expand("r/%Y-%m-%d/%H:%M:%S", kT), "2026-11-23/10:08:33");
  EXPECT_EQ(Expand("r/%y|%j|%k|%l|%I|%p|%n|%e", kT), "26|327|10|10|10|AM|11|23");
  EXPECT_EQ(Expand("r/%s|%t", kT), fmt::format("{}|{}", kT / 1000, kT));
  EXPECT_EQ(Expand("r/%a %A %b %B %z %%", kT), "Mon Monday Nov November +0000 %");
  const int64_t evening = kT + 12 * 3600 * 1000;  // 22:08
  EXPECT_EQ(Expand("r/%H %k %I %l %p", evening), "22 22 10 10 PM");
  const int64_t early = base::DaysFromCivil(2026, 1, 2) * 86'400'000 + 3 * 3600 * 1000;
  EXPECT_EQ(Expand("r/%j %k %l %I %d %e %m %n", early), "002 3 3 03 02 2 01 1");
  EXPECT_EQ(Expand("r/%l %p", base::DaysFromCivil(2026, 1, 2) * 86'400'000), "12 AM");
}

TEST(PathTemplateTest, HeadersTopicAndPartition) {
  std::vector<core::HeaderView> h = {{"source", "spool"}, {"city", "Paris"}};
  EXPECT_EQ(Expand("archive/%{topic}/p%{partition}/%{source}-%{city}", kT, h),
            "finance/p1/spool-Paris");
  EXPECT_EQ(Expand("archive/%{missing}/x", kT, h), "x");  // "" and the empty component dropped
  EXPECT_EQ(Expand("archive/%{topic}/./a//b/", kT, h), "finance/a/b");
  std::vector<core::HeaderView> sub = {{"d", "x/y"}};
  EXPECT_EQ(Expand("archive/%{d}", kT, sub), "x/y");  // sub-folders are allowed
}

TEST(PathTemplateTest, RoundingFloorsToMultiplesOfTheUnit) {
  EXPECT_EQ(Expand("r/%H%M%S", RoundDownMs(kT, 10, RoundUnit::kMinute)), "100000");
  EXPECT_EQ(Expand("r/%H%M%S", RoundDownMs(kT, 15, RoundUnit::kSecond)), "100830");
  EXPECT_EQ(Expand("r/%H%M%S", RoundDownMs(kT, 1, RoundUnit::kMinute)), "100800");
  EXPECT_EQ(Expand("r/%d %H%M", RoundDownMs(kT, 6, RoundUnit::kHour)), "23 0600");
  EXPECT_EQ(Expand("r/%d %H", RoundDownMs(kT, 24, RoundUnit::kHour)), "23 00");
  EXPECT_EQ(RoundDownMs(-1, 1, RoundUnit::kSecond), -1000);  // floors, not truncates
  EXPECT_EQ(RoundDownMs(59'999, 1, RoundUnit::kMinute), 0);
}

TEST(PathTemplateTest, RefusesValuesThatLeaveTheRoot) {
  auto t = PathTemplate::Compile("archive/%{dir}/%Y");
  ASSERT_TRUE(t.ok());
  const std::string_view kBad[] = {
      "..", "../x", "a/../../etc", "/etc", "/", "a\nb", std::string_view("a\0b", 3)};
  for (std::string_view bad : kBad) {
    std::vector<core::HeaderView> h = {{"dir", bad}};
    core::EventView e;
    e.headers = h;
    auto r = t->Expand({&e, "t", 0, kT});
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "' as " << (r.ok() ? *r : "");
    EXPECT_EQ(r.status().code(), base::Code::kInvalidArgument);
  }
  EXPECT_THAT(Expand("archive/%{dir}", kT, {{"dir", "../../x"}}), HasSubstr("'..'"));
  EXPECT_THAT(Expand("archive/%{dir}", kT, {{"dir", "/etc"}}), HasSubstr("absolute"));
  EXPECT_THAT(Expand("archive/%{dir}", kT, {{"dir", std::string(201, 'a')}}),
              HasSubstr("longer than 200"));
  EXPECT_EQ(Expand("archive/%{dir}", kT, {{"dir", std::string(200, 'a')}}), std::string(200, 'a'));
  std::string deep;
  for (int i = 0; i < 30; ++i) deep += std::string(100, 'd') + "/";
  EXPECT_THAT(Expand("archive/%{dir}", kT, {{"dir", deep}}), HasSubstr("longer than 2048"));
  // ".." inside a name is fine.
  EXPECT_EQ(Expand("archive/%{dir}", kT, {{"dir", "a..b"}}), "a..b");
}

}  // namespace
}  // namespace txpipe::sinks::archive
