// Expr: the small predicate language of alert rules and ratios.
//
//   amount > 4900 and transaction_channel == "online"
//   failed_ratio > 0.4 and count >= 20
//   not (status == "completed" or status == "pending")
//
// Grammar: or-expressions of and-expressions of `not`, comparisons
// (== != < <= > >=) and parentheses; operands are numbers, "strings" (or
// 'strings') and identifiers. A bare identifier is true when it is non-zero.
// Identifiers are resolved once, at compile time, by the caller (schema
// fields for per-event rules, window fields for thresholds), so a typo is a
// config error that names the identifier, and evaluation does no lookups.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace txpipe::processors::analytics {

// What an identifier is, as the resolver describes it.
struct IdentInfo {
  enum class Kind { kNumber, kString, kEnum };
  Kind kind = Kind::kNumber;
  int id = 0;                       // passed back to the evaluator's getter
  std::vector<std::string> values;  // kEnum: the allowed values, in index order
};

// A value an identifier has for one evaluation.
struct Operand {
  bool null = false;
  double number = 0;        // kNumber
  std::string_view text;    // kString
  int enum_index = -1;      // kEnum
};

class Expr {
 public:
  // Returns the identifier's description, or an error saying why it is unknown.
  using Resolver = std::function<base::Result<IdentInfo>(std::string_view name)>;
  // Compiles `text`. Errors quote the text and point at the offending token:
  // "unknown field 'amout' at 1:1 in 'amout > 4900'". Comparing an enum with a
  // string outside its values is an error too (it could never be true).
  static base::Result<Expr> Compile(std::string_view text, const Resolver& resolve);

  // Evaluates with `get(id)` giving each identifier's value. A comparison with
  // a null operand is false (SQL's rule); `not` of it is then true.
  template <typename Getter>
  bool Eval(const Getter& get) const {
    return EvalNode(root_, get);
  }

  const std::string& text() const { return text_; }
  // The identifier ids the expression reads, in first-use order.
  const std::vector<int>& idents() const { return idents_; }

  struct Node {
    enum class Op : uint8_t { kOr, kAnd, kNot, kCmp, kTruthy };
    enum class Cmp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };
    Op op = Op::kTruthy;
    Cmp cmp = Cmp::kEq;
    int a = -1, b = -1;  // children (kOr, kAnd: both; kNot: a)
    // kCmp / kTruthy: the identifier on the left, the constant on the right.
    int ident = -1;
    IdentInfo::Kind kind = IdentInfo::Kind::kNumber;
    double number = 0;
    std::string text;
    int enum_index = -1;
    bool swapped = false;  // the constant was written on the left: "4900 < amount"
  };

 private:
  template <typename Getter>
  bool EvalNode(int i, const Getter& get) const {
    const Node& n = nodes_[i];
    switch (n.op) {
      case Node::Op::kOr:
        return EvalNode(n.a, get) || EvalNode(n.b, get);
      case Node::Op::kAnd:
        return EvalNode(n.a, get) && EvalNode(n.b, get);
      case Node::Op::kNot:
        return !EvalNode(n.a, get);
      case Node::Op::kTruthy: {
        Operand v = get(n.ident);
        return !v.null && v.number != 0;
      }
      case Node::Op::kCmp: {
        Operand v = get(n.ident);
        if (v.null) return false;
        int c;  // sign of (identifier - constant)
        switch (n.kind) {
          case IdentInfo::Kind::kNumber:
            c = v.number < n.number ? -1 : v.number > n.number ? 1 : 0;
            break;
          case IdentInfo::Kind::kEnum:
            c = v.enum_index == n.enum_index ? 0 : 1;
            break;
          default:
            c = v.text.compare(n.text);
            c = c < 0 ? -1 : c > 0 ? 1 : 0;
        }
        if (n.swapped) c = -c;
        switch (n.cmp) {
          case Node::Cmp::kEq: return c == 0;
          case Node::Cmp::kNe: return c != 0;
          case Node::Cmp::kLt: return c < 0;
          case Node::Cmp::kLe: return c <= 0;
          case Node::Cmp::kGt: return c > 0;
          case Node::Cmp::kGe: return c >= 0;
        }
      }
    }
    return false;
  }

  std::string text_;
  std::vector<Node> nodes_;
  int root_ = 0;
  std::vector<int> idents_;
  friend class ExprParser;
};

}  // namespace txpipe::processors::analytics
