#include "processors/analytics/expr.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace txpipe::processors::analytics {

using base::Result;
using base::Status;

namespace {

struct Token {
  enum class Kind { kEnd, kIdent, kNumber, kString, kOp, kLParen, kRParen, kAnd, kOr, kNot };
  Kind kind = Kind::kEnd;
  std::string_view text;  // as written (strings: without quotes)
  double number = 0;
  size_t pos = 0;  // 0-based column
};

}  // namespace

// Recursive descent over a token list; builds Expr::nodes_.
class ExprParser {
 public:
  ExprParser(std::string_view text, const Expr::Resolver& resolve, Expr* out)
      : text_(text), resolve_(resolve), out_(out) {}

  Status Parse() {
    TXP_RETURN_IF_ERROR(Lex());
    int root;
    TXP_RETURN_IF_ERROR(ParseOr(&root));
    if (peek().kind != Token::Kind::kEnd) return Error(peek(), "expected 'and', 'or' or the end");
    out_->root_ = root;
    return Status::OK();
  }

 private:
  Status Error(const Token& t, std::string_view what) const {
    return Status::InvalidArgument(
        fmt::format("{} at column {} in '{}'", what, t.pos + 1, text_));
  }

  Status Lex() {
    size_t i = 0;
    while (true) {
      while (i < text_.size() && std::isspace(static_cast<unsigned char>(text_[i]))) ++i;
      Token t;
      t.pos = i;
      if (i == text_.size()) {
        tokens_.push_back(t);
        return Status::OK();
      }
      char c = text_[i];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '_' ||
                text_[j] == '.')) {
          ++j;
        }
        t.text = text_.substr(i, j - i);
        t.kind = t.text == "and"   ? Token::Kind::kAnd
                 : t.text == "or"  ? Token::Kind::kOr
                 : t.text == "not" ? Token::Kind::kNot
                                   : Token::Kind::kIdent;
        i = j;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
        const char* end = text_.data() + text_.size();
        auto [p, ec] = std::from_chars(text_.data() + i, end, t.number);
        if (ec != std::errc()) return Error(t, "bad number");
        t.kind = Token::Kind::kNumber;
        t.text = text_.substr(i, p - (text_.data() + i));
        i = p - text_.data();
      } else if (c == '"' || c == '\'') {
        size_t j = text_.find(c, i + 1);
        if (j == std::string_view::npos) return Error(t, "unterminated string");
        t.kind = Token::Kind::kString;
        t.text = text_.substr(i + 1, j - i - 1);
        i = j + 1;
      } else if (c == '(' || c == ')') {
        t.kind = c == '(' ? Token::Kind::kLParen : Token::Kind::kRParen;
        t.text = text_.substr(i, 1);
        ++i;
      } else if (c == '=' || c == '!' || c == '<' || c == '>') {
        size_t n = (i + 1 < text_.size() && text_[i + 1] == '=') ? 2 : 1;
        t.text = text_.substr(i, n);
        if (t.text == "=" || t.text == "!") {
          return Error(t, fmt::format("unknown operator '{}' (use == or !=)", t.text));
        }
        t.kind = Token::Kind::kOp;
        i += n;
      } else {
        return Error(t, fmt::format("unexpected '{}'", c));
      }
      tokens_.push_back(t);
    }
  }

  const Token& peek() const { return tokens_[next_]; }
  const Token& take() { return tokens_[next_++]; }

  int Add(Expr::Node n) {
    out_->nodes_.push_back(std::move(n));
    return static_cast<int>(out_->nodes_.size()) - 1;
  }

  Status ParseOr(int* out) {
    TXP_RETURN_IF_ERROR(ParseAnd(out));
    while (peek().kind == Token::Kind::kOr) {
      take();
      int b;
      TXP_RETURN_IF_ERROR(ParseAnd(&b));
      Expr::Node n;
      n.op = Expr::Node::Op::kOr;
      n.a = *out;
      n.b = b;
      *out = Add(std::move(n));
    }
    return Status::OK();
  }

  Status ParseAnd(int* out) {
    TXP_RETURN_IF_ERROR(ParseNot(out));
    while (peek().kind == Token::Kind::kAnd) {
      take();
      int b;
      TXP_RETURN_IF_ERROR(ParseNot(&b));
      Expr::Node n;
      n.op = Expr::Node::Op::kAnd;
      n.a = *out;
      n.b = b;
      *out = Add(std::move(n));
    }
    return Status::OK();
  }

  Status ParseNot(int* out) {
    if (peek().kind == Token::Kind::kNot) {
      take();
      int a;
      TXP_RETURN_IF_ERROR(ParseNot(&a));
      Expr::Node n;
      n.op = Expr::Node::Op::kNot;
      n.a = a;
      *out = Add(std::move(n));
      return Status::OK();
    }
    if (peek().kind == Token::Kind::kLParen) {
      take();
      TXP_RETURN_IF_ERROR(ParseOr(out));
      if (peek().kind != Token::Kind::kRParen) return Error(peek(), "expected ')'");
      take();
      return Status::OK();
    }
    return ParseCmp(out);
  }

  Status Ident(const Token& t, IdentInfo* info) {
    auto r = resolve_(t.text);
    if (!r.ok()) return Error(t, r.status().message());
    *info = std::move(r).value();
    bool seen = false;
    for (int id : out_->idents_) seen |= id == info->id;
    if (!seen) out_->idents_.push_back(info->id);
    return Status::OK();
  }

  Status ParseCmp(int* out) {
    const Token& first = take();
    bool is_const = first.kind == Token::Kind::kNumber || first.kind == Token::Kind::kString;
    if (first.kind != Token::Kind::kIdent && !is_const) {
      return Error(first, "expected a field, a number or a string");
    }
    Expr::Node n;
    if (peek().kind != Token::Kind::kOp) {
      if (is_const) return Error(peek(), "expected a comparison after a constant");
      IdentInfo info;
      TXP_RETURN_IF_ERROR(Ident(first, &info));
      if (info.kind != IdentInfo::Kind::kNumber) {
        return Error(first, fmt::format("'{}' is text: compare it, e.g. {} == \"...\"",
                                        first.text, first.text));
      }
      n.op = Expr::Node::Op::kTruthy;
      n.ident = info.id;
      *out = Add(std::move(n));
      return Status::OK();
    }
    const Token& op = take();
    const Token& second = take();
    const Token* ident = &first;
    const Token* constant = &second;
    if (is_const) {
      std::swap(ident, constant);
      n.swapped = true;
    }
    if (ident->kind != Token::Kind::kIdent) {
      return Error(*ident, "one side of a comparison must be a field");
    }
    if (constant->kind != Token::Kind::kNumber && constant->kind != Token::Kind::kString) {
      return Error(*constant, "the other side of a comparison must be a number or a string");
    }
    IdentInfo info;
    TXP_RETURN_IF_ERROR(Ident(*ident, &info));
    n.op = Expr::Node::Op::kCmp;
    n.ident = info.id;
    n.kind = info.kind;
    n.cmp = op.text == "=="   ? Expr::Node::Cmp::kEq
            : op.text == "!=" ? Expr::Node::Cmp::kNe
            : op.text == "<"  ? Expr::Node::Cmp::kLt
            : op.text == "<=" ? Expr::Node::Cmp::kLe
            : op.text == ">"  ? Expr::Node::Cmp::kGt
                              : Expr::Node::Cmp::kGe;
    if (info.kind == IdentInfo::Kind::kNumber) {
      if (constant->kind != Token::Kind::kNumber) {
        return Error(*constant, fmt::format("'{}' is a number: compare it with a number",
                                            ident->text));
      }
      n.number = constant->number;
    } else {
      if (constant->kind != Token::Kind::kString) {
        return Error(*constant, fmt::format("'{}' is text: compare it with a \"string\"",
                                            ident->text));
      }
      n.text = std::string(constant->text);
      if (info.kind == IdentInfo::Kind::kEnum) {
        if (n.cmp != Expr::Node::Cmp::kEq && n.cmp != Expr::Node::Cmp::kNe) {
          return Error(op, fmt::format("'{}' is an enum: use == or !=", ident->text));
        }
        for (size_t i = 0; i < info.values.size(); ++i) {
          if (info.values[i] == constant->text) n.enum_index = static_cast<int>(i);
        }
        if (n.enum_index < 0) {
          std::string all;
          for (const auto& v : info.values) all += (all.empty() ? "" : ", ") + v;
          return Error(*constant, fmt::format("\"{}\" is not a value of '{}' ({})",
                                              constant->text, ident->text, all));
        }
      }
    }
    *out = Add(std::move(n));
    return Status::OK();
  }

  std::string_view text_;
  const Expr::Resolver& resolve_;
  Expr* out_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
};

Result<Expr> Expr::Compile(std::string_view text, const Resolver& resolve) {
  Expr e;
  e.text_ = std::string(text);
  ExprParser p(e.text_, resolve, &e);
  TXP_RETURN_IF_ERROR(p.Parse());
  return e;
}

}  // namespace txpipe::processors::analytics
