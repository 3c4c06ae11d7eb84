#include "sources/spooldir/text.h"

#include <gtest/gtest.h>

namespace txpipe::sources::spooldir {
namespace {

TEST(TextTest, ValidatesPerCharset) {
  EXPECT_TRUE(IsValidText(Charset::kUtf8, "caf\xC3\xA9"));
  EXPECT_FALSE(IsValidText(Charset::kUtf8, "caf\xE9"));
  EXPECT_TRUE(IsValidText(Charset::kLatin1, "caf\xE9"));
  EXPECT_FALSE(IsValidText(Charset::kAscii, "caf\xC3\xA9"));
  EXPECT_EQ(FirstInvalidByte(Charset::kUtf8, "ab\xC3\xA9x\xFFy"), 5u);
  EXPECT_EQ(FirstInvalidByte(Charset::kUtf8, "ab"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidByte(Charset::kUtf8, "\xED\xA0\x80"), 0u);  // surrogate
}

TEST(TextTest, DecodesLatin1ToUtf8) {
  std::string out;
  EXPECT_EQ(DecodeToUtf8(Charset::kLatin1, DecodePolicy::kReplace, "caf\xE9 \xFF", &out), 0u);
  EXPECT_EQ(out, "caf\xC3\xA9 \xC3\xBF");
}

TEST(TextTest, ReplacesOrDropsInvalidUtf8) {
  std::string out;
  // \xE2\x82 is a truncated 3-byte sequence: one U+FFFD (maximal subpart).
  EXPECT_EQ(DecodeToUtf8(Charset::kUtf8, DecodePolicy::kReplace, "a\xE2\x82z\xFF\xC3\xA9", &out),
            2u);
  EXPECT_EQ(out, "a\xEF\xBF\xBDz\xEF\xBF\xBD\xC3\xA9");
  EXPECT_EQ(DecodeToUtf8(Charset::kUtf8, DecodePolicy::kIgnore, "a\xE2\x82z\xFF\xC3\xA9", &out),
            2u);
  EXPECT_EQ(out, "az\xC3\xA9");
  EXPECT_EQ(DecodeToUtf8(Charset::kAscii, DecodePolicy::kReplace, "a\xC3z", &out), 1u);
  EXPECT_EQ(out, "a\xEF\xBF\xBDz");
}

TEST(TextTest, SplitCutKeepsCharactersWhole) {
  std::string s =
      "abc\xE2\x82\xAC"
      "def";  // euro sign at bytes 3..5
  EXPECT_EQ(SplitCut(s, 4, true), 3u);
  EXPECT_EQ(SplitCut(s, 5, true), 3u);
  EXPECT_EQ(SplitCut(s, 6, true), 6u);
  EXPECT_EQ(SplitCut(s, 4, false), 4u);
  EXPECT_EQ(SplitCut(std::string(10, '\x80'), 4, true), 4u);  // garbage: cut at max
}

TEST(TextTest, FindsJsonStringField) {
  std::string_view line = R"({"transaction_id": "T1", "account_id": "ACC42", "x": 1})";
  EXPECT_EQ(FindJsonStringField(line, "account_id"), "ACC42");
  EXPECT_EQ(FindJsonStringField(R"({"account_id":"A\"B"})", "account_id"), R"(A\"B)");
  EXPECT_EQ(FindJsonStringField(R"({"x": "account_id", "account_id": "B"})", "account_id"), "B");
  EXPECT_EQ(FindJsonStringField(R"({"account_id": 5})", "account_id"), "");
  EXPECT_EQ(FindJsonStringField(R"({"other": "x"})", "account_id"), "");
  EXPECT_EQ(FindJsonStringField(R"({"my_account_id": "x"})", "account_id"), "");
}

}  // namespace
}  // namespace txpipe::sources::spooldir
