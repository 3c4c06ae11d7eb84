#include "processors/analytics/expr.h"

#include <gtest/gtest.h>

#include <map>

namespace txpipe::processors::analytics {
namespace {

// Fields: amount (number, id 0), channel (enum online|ATM, id 1), city (string, id 2).
base::Result<IdentInfo> Resolve(std::string_view name) {
  IdentInfo i;
  if (name == "amount") return i;
  if (name == "channel") {
    i.kind = IdentInfo::Kind::kEnum;
    i.id = 1;
    i.values = {"online", "ATM"};
    return i;
  }
  if (name == "city") {
    i.kind = IdentInfo::Kind::kString;
    i.id = 2;
    return i;
  }
  return base::Status::InvalidArgument("unknown field '" + std::string(name) + "'");
}

struct Vals {
  double amount = 0;
  bool amount_null = false;
  int channel = 0;
  std::string city;
  Operand operator()(int id) const {
    Operand o;
    if (id == 0) {
      o.number = amount;
      o.null = amount_null;
    } else if (id == 1) {
      o.enum_index = channel;
    } else {
      o.text = city;
    }
    return o;
  }
};

bool Eval(std::string_view text, const Vals& v) {
  auto e = Expr::Compile(text, Resolve);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() && e->Eval(v);
}

TEST(ExprTest, ComparisonsAndLogic) {
  Vals v{4950, false, 0, "London"};
  EXPECT_TRUE(Eval("amount > 4900 and channel == \"online\"", v));
  EXPECT_FALSE(Eval("amount > 4900 and channel == 'ATM'", v));
  EXPECT_TRUE(Eval("amount > 4900 and channel != 'ATM'", v));
  EXPECT_TRUE(Eval("amount >= 4950 and amount <= 4950", v));
  EXPECT_FALSE(Eval("amount < 4950", v));
  EXPECT_TRUE(Eval("4900 < amount", v));  // constant on the left
  EXPECT_FALSE(Eval("4900 > amount", v));
  EXPECT_TRUE(Eval("city == \"London\" or amount < 0", v));
  EXPECT_TRUE(Eval("not (city == \"Paris\")", v));
  EXPECT_TRUE(Eval("city > \"Berlin\"", v));
  EXPECT_TRUE(Eval("amount", v));  // truthy
  EXPECT_TRUE(Eval("amount < 0 or amount > 1 and city == 'London'", v));  // and binds tighter
  EXPECT_FALSE(Eval("(amount < 0 or amount > 1) and city == 'Paris'", v));
  EXPECT_TRUE(Eval("amount == -0.0 or amount == 4950.0", v));
}

TEST(ExprTest, NullComparisonsAreFalse) {
  Vals v;
  v.amount_null = true;
  EXPECT_FALSE(Eval("amount > 0", v));
  EXPECT_FALSE(Eval("amount <= 0", v));
  EXPECT_TRUE(Eval("not amount > 0", v));
  EXPECT_FALSE(Eval("amount", v));
}

TEST(ExprTest, ErrorsNameTheProblem) {
  auto err = [](std::string_view text) {
    auto e = Expr::Compile(text, Resolve);
    EXPECT_FALSE(e.ok()) << text;
    return e.ok() ? std::string() : e.status().message();
  };
  EXPECT_NE(err("amout > 1").find("unknown field 'amout'"), std::string::npos);
  EXPECT_NE(err("amount > 1 and").find("column 15"), std::string::npos);
  EXPECT_NE(err("channel == \"web\"").find("not a value of 'channel' (online, ATM)"), std::string::npos);
  EXPECT_NE(err("channel > \"online\"").find("use == or !="), std::string::npos);
  EXPECT_NE(err("amount == \"x\"").find("compare it with a number"), std::string::npos);
  EXPECT_NE(err("city == 3").find("compare it with a \"string\""), std::string::npos);
  EXPECT_NE(err("amount = 3").find("use == or !="), std::string::npos);
  EXPECT_NE(err("(amount > 1").find("expected ')'"), std::string::npos);
  EXPECT_NE(err("\"a\" == \"b\"").find("must be a field"), std::string::npos);
  EXPECT_NE(err("city").find("is text"), std::string::npos);
  EXPECT_NE(err("amount > 'x").find("unterminated"), std::string::npos);
  EXPECT_NE(err("amount > 1 amount").find("expected 'and', 'or'"), std::string::npos);
}

TEST(ExprTest, IdentsInFirstUseOrder) {
  auto e = Expr::Compile("city == 'x' or amount > 1 and city != 'y'", Resolve);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->idents(), (std::vector<int>{2, 0}));
}

}  // namespace
}  // namespace txpipe::processors::analytics
