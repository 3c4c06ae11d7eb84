#include "sources/generator/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "sources/generator/rng.h"
#include "sources/generator/write.h"

namespace txpipe::sources::generator {

void Buffer::Grow(size_t need) {
  size_t cap = std::max<size_t>({need, capacity_ * 2, 4096});
  std::unique_ptr<char[]> next(new char[cap]);
  if (size_ > 0) std::memcpy(next.get(), data_.get(), size_);
  data_ = std::move(next);
  capacity_ = cap;
}

char* WriteCents(char* p, int64_t cents) {
  p = WriteUint(p, static_cast<uint64_t>(cents / 100));
  *p++ = '.';
  int frac = static_cast<int>(cents % 100);
  *p++ = static_cast<char>('0' + frac / 10);
  if (frac % 10 != 0) *p++ = static_cast<char>('0' + frac % 10);
  return p;
}

namespace {

template <size_t N>
using Choices = std::array<std::string_view, N>;

// ---- finance: the seed's Generator.py -------------------------------------

constexpr Choices<4> kTxTypes = {"deposit", "withdrawal", "transfer", "payment"};
constexpr Choices<4> kTxTypesCapitalized = {"Deposit", "Withdrawal", "Transfer", "Payment"};
constexpr Choices<4> kCurrencies = {"USD", "EUR", "JPY", "GBP"};
constexpr Choices<4> kBranches = {"Main Street", "Second Avenue", "Third Boulevard",
                                  "Fourth Square"};
constexpr Choices<3> kGenders = {"Male", "Female", "Other"};
constexpr Choices<4> kChannels = {"online", "ATM", "branch", "mobile"};
constexpr Choices<3> kStatuses = {"completed", "pending", "failed"};
constexpr Choices<5> kCities = {"New York", "San Francisco", "London", "Tokyo", "Berlin"};
constexpr Choices<5> kCountryOfCity = {"USA", "USA", "UK", "Japan", "Germany"};

class FinanceGenerator : public EventGenerator {
 public:
  FinanceGenerator(uint64_t seed, IdStyle ids) : rng_(seed), id_key_(Mix64(seed)), ids_(ids) {}

  std::string_view schema() const override { return "finance"; }
  std::string_view file_prefix() const override { return "finance_transactions"; }

  void Append(int64_t t, Buffer* out) override {
    char* const begin = out->Reserve(1024);
    char* p = begin;
    p = Write(p, "{\"transaction_id\": \"T");
    if (ids_ == IdStyle::kUnique) {
      p = WriteHex16(p, Mix64(id_key_ + serial_++));
    } else {
      p = WriteUint(p, static_cast<uint64_t>(rng_.Between(100000, 999999)));
    }
    p = Write(p, "\", \"account_id\": \"A");
    p = WriteUint(p, static_cast<uint64_t>(rng_.Between(100000, 999999)));
    uint32_t type = rng_.Below(4);
    p = Write(p, "\", \"transaction_type\": \"");
    p = Write(p, kTxTypes[type]);
    // round(random.uniform(100.0, 5000.0), 2), held as cents.
    int64_t cents = rng_.Between(10000, 500000);
    p = Write(p, "\", \"amount\": ");
    char* amount = p;
    p = WriteCents(p, cents);
    std::string_view amount_text(amount, static_cast<size_t>(p - amount));
    std::string_view currency = kCurrencies[rng_.Below(4)];
    p = Write(p, ", \"currency\": \"");
    p = Write(p, currency);
    p = Write(p, "\", \"transaction_date\": \"");
    p = time_.Write(p, t);
    p = Write(p, "\", \"description\": \"");
    p = Write(p, kTxTypesCapitalized[type]);
    p = Write(p, " of ");
    p = Write(p, amount_text);
    *p++ = ' ';
    p = Write(p, currency);
    p = Write(p, "\", \"branch\": \"");
    p = Write(p, kBranches[rng_.Below(4)]);
    p = Write(p, "\", \"customer_age\": ");
    p = WriteUint(p, static_cast<uint64_t>(rng_.Between(18, 80)));
    p = Write(p, ", \"customer_gender\": \"");
    p = Write(p, kGenders[rng_.Below(3)]);
    p = Write(p, "\", \"account_balance\": ");
    p = WriteCents(p, rng_.Between(100000, 5000000));
    p = Write(p, ", \"transaction_channel\": \"");
    p = Write(p, kChannels[rng_.Below(4)]);
    p = Write(p, "\", \"transaction_status\": \"");
    p = Write(p, kStatuses[rng_.Below(3)]);
    p = Write(p, "\", \"merchant_id\": ");
    if (type == 2 || type == 3) {  // transfer, payment
      p = Write(p, "\"M");
      p = WriteUint(p, static_cast<uint64_t>(rng_.Between(1000, 9999)));
      *p++ = '"';
    } else {
      p = Write(p, "null");
    }
    uint32_t city = rng_.Below(5);
    p = Write(p, ", \"location_city\": \"");
    p = Write(p, kCities[city]);
    p = Write(p, "\", \"location_country\": \"");
    p = Write(p, kCountryOfCity[city]);
    p = Write(p, "\"}\n");
    out->Advance(static_cast<size_t>(p - begin));
  }

 private:
  Rng rng_;
  uint64_t id_key_;
  uint64_t serial_ = 0;
  IdStyle ids_;
  TimestampWriter time_;
};

// ---- cars: the seed's Flask API ---------------------------------------------

struct Brand {
  std::string_view name;
  int64_t min_usd, max_usd;  // list price range, whole dollars
  std::array<std::string_view, 4> models;
  int model_count;
};

constexpr std::array<Brand, 8> kBrands = {{
    {"Toyota", 21000, 48000, {"Corolla", "Camry", "RAV4", "Prius"}, 4},
    {"Honda", 20000, 42000, {"Civic", "Accord", "CR-V", ""}, 3},
    {"Ford", 24000, 65000, {"F-150", "Mustang", "Explorer", "Focus"}, 4},
    {"BMW", 42000, 95000, {"3 Series", "5 Series", "X3", "X5"}, 4},
    {"Mercedes-Benz", 45000, 115000, {"C-Class", "E-Class", "GLC", ""}, 3},
    {"Tesla", 39000, 105000, {"Model 3", "Model Y", "Model S", "Model X"}, 4},
    {"Volkswagen", 22000, 46000, {"Golf", "Passat", "Tiguan", "ID.4"}, 4},
    {"Hyundai", 18000, 40000, {"Elantra", "Tucson", "Sonata", "Ioniq 5"}, 4},
}};

struct City {
  std::string_view name, country, currency;
  int64_t per_usd_milli;  // units of the currency per USD, x1000
};

constexpr std::array<City, 8> kCarCities = {{
    {"New York", "USA", "USD", 1000},
    {"Los Angeles", "USA", "USD", 1000},
    {"Chicago", "USA", "USD", 1000},
    {"London", "UK", "GBP", 790},
    {"Berlin", "Germany", "EUR", 920},
    {"Munich", "Germany", "EUR", 920},
    {"Paris", "France", "EUR", 920},
    {"Tokyo", "Japan", "JPY", 150000},
}};

constexpr Choices<4> kPayments = {"cash", "card", "loan", "lease"};
constexpr Choices<4> kCarStatuses = {"completed", "pending", "failed", "cancelled"};
constexpr Choices<4> kLevelOfStatus = {"INFO", "INFO", "ERROR", "WARNING"};

class CarsGenerator : public EventGenerator {
 public:
  CarsGenerator(uint64_t seed, IdStyle ids) : rng_(seed), id_key_(Mix64(seed)), ids_(ids) {}

  std::string_view schema() const override { return "cars"; }
  std::string_view file_prefix() const override { return "car_transactions"; }

  void Append(int64_t t, Buffer* out) override {
    char* const begin = out->Reserve(1024);
    char* p = begin;
    p = Write(p, "{\"transaction_id\": \"CT");
    if (ids_ == IdStyle::kUnique) {
      p = WriteHex16(p, Mix64(id_key_ + serial_++));
    } else {
      p = WriteUint(p, static_cast<uint64_t>(rng_.Between(100000, 999999)));
    }
    p = Write(p, "\", \"timestamp\": \"");
    p = time_.Write(p, t);
    p = Write(p, "\", \"dealer_id\": \"D");
    p = WriteUint(p, static_cast<uint64_t>(rng_.Between(100, 999)));
    const Brand& brand = kBrands[rng_.Below(kBrands.size())];
    std::string_view model = brand.models[rng_.Below(static_cast<uint32_t>(brand.model_count))];
    int64_t year = rng_.Between(2012, 2026);
    const City& city = kCarCities[rng_.Below(kCarCities.size())];
    int64_t usd_cents = rng_.Between(brand.min_usd * 100, brand.max_usd * 100);
    int64_t cents = usd_cents * city.per_usd_milli / 1000;
    if (city.currency == "JPY") cents -= cents % 100;  // whole yen
    uint32_t payment = rng_.Below(4);
    uint32_t status = rng_.Below(4);
    p = Write(p, "\", \"brand\": \"");
    p = Write(p, brand.name);
    p = Write(p, "\", \"model\": \"");
    p = Write(p, model);
    p = Write(p, "\", \"year\": ");
    p = WriteUint(p, static_cast<uint64_t>(year));
    p = Write(p, ", \"price\": ");
    char* price = p;
    p = WriteCents(p, cents);
    std::string_view price_text(price, static_cast<size_t>(p - price));
    p = Write(p, ", \"currency\": \"");
    p = Write(p, city.currency);
    p = Write(p, "\", \"payment_method\": \"");
    p = Write(p, kPayments[payment]);
    p = Write(p, "\", \"customer_id\": \"C");
    p = WriteUint(p, static_cast<uint64_t>(rng_.Between(100000, 999999)));
    p = Write(p, "\", \"customer_age\": ");
    p = WriteUint(p, static_cast<uint64_t>(rng_.Between(18, 80)));
    p = Write(p, ", \"status\": \"");
    p = Write(p, kCarStatuses[status]);
    p = Write(p, "\", \"city\": \"");
    p = Write(p, city.name);
    p = Write(p, "\", \"country\": \"");
    p = Write(p, city.country);
    p = Write(p, "\", \"log_level\": \"");
    p = Write(p, kLevelOfStatus[status]);
    p = Write(p, "\", \"message\": \"");
    switch (status) {
      case 0: p = Write(p, "Sale completed: "); break;
      case 1: p = Write(p, "Sale pending approval: "); break;
      case 2: p = Write(p, "Payment declined: "); break;
      default: p = Write(p, "Sale cancelled by customer: "); break;
    }
    p = WriteUint(p, static_cast<uint64_t>(year));
    *p++ = ' ';
    p = Write(p, brand.name);
    *p++ = ' ';
    p = Write(p, model);
    p = Write(p, " for ");
    p = Write(p, price_text);
    *p++ = ' ';
    p = Write(p, city.currency);
    p = Write(p, " (");
    p = Write(p, kPayments[payment]);
    p = Write(p, ")\"}\n");
    out->Advance(static_cast<size_t>(p - begin));
  }

 private:
  Rng rng_;
  uint64_t id_key_;
  uint64_t serial_ = 0;
  IdStyle ids_;
  TimestampWriter time_;
};

}  // namespace

std::vector<std::string> GeneratorKinds() { return {"finance", "cars"}; }

base::Result<std::unique_ptr<EventGenerator>> MakeGenerator(std::string_view kind, uint64_t seed,
                                                            IdStyle ids) {
  if (kind == "finance") return std::unique_ptr<EventGenerator>(new FinanceGenerator(seed, ids));
  if (kind == "cars") return std::unique_ptr<EventGenerator>(new CarsGenerator(seed, ids));
  return base::Status::InvalidArgument(
      fmt::format("unknown generator '{}' (expected finance or cars)", kind));
}

}  // namespace txpipe::sources::generator
