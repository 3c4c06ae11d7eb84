// Generators of the seed's synthetic events: finance transactions (the seed's
// Generator.py) and car transaction logs (the seed's Flask API).
//
// A generator appends one JSON object per line in the seed's layout
// (Python's json.dumps: `{"key": value, ...}`). Output depends only on the
// seed, the event times and the number of events generated before.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace txpipe::sources::generator {

// A growable byte buffer that generators write into through raw pointers.
class Buffer {
 public:
  // Returns room for at least `n` more bytes at end(); commit with Advance().
  char* Reserve(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    return data_.get() + size_;
  }
  void Advance(size_t n) { size_ += n; }
  void Append(std::string_view s) {
    char* p = Reserve(s.size());
    std::copy(s.begin(), s.end(), p);
    size_ += s.size();
  }
  void Clear() { size_ = 0; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  void Grow(size_t need);
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// How transaction ids are drawn.
enum class IdStyle {
  // "T" + 16 hex digits, unique within a run: a bijective mix of (seed, event
  // number). Dedup on transaction_id then only removes real duplicates.
  kUnique,
  // The seed's "T" + randint(100000, 999999): repeats by chance (half of all
  // runs see a repeat within ~1,200 events).
  kSeed,
};

class EventGenerator {
 public:
  virtual ~EventGenerator() = default;
  // Appends one event whose event time is `event_time_us` (µs since the
  // epoch, UTC), followed by '\n'.
  virtual void Append(int64_t event_time_us, Buffer* out) = 0;
  // The schema the events follow ("finance", "cars").
  virtual std::string_view schema() const = 0;
  // The seed's file-name prefix ("finance_transactions").
  virtual std::string_view file_prefix() const = 0;
};

// Kinds MakeGenerator knows: "finance", "cars".
std::vector<std::string> GeneratorKinds();
base::Result<std::unique_ptr<EventGenerator>> MakeGenerator(std::string_view kind, uint64_t seed,
                                                            IdStyle ids = IdStyle::kUnique);

// Appends Python's repr() of the float nearest to cents/100 ("1234.5",
// "100.0", "4999.99"): what json.dumps prints for round(x, 2). cents >= 0.
char* WriteCents(char* p, int64_t cents);

}  // namespace txpipe::sources::generator
