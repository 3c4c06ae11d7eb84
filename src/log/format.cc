#include "log/format.h"

#include <fmt/format.h>
#include <zstd.h>

#include <cstring>

#include "base/crc32c.h"

namespace txpipe::log {

using base::Status;

namespace {

void PutFixed16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }
void PutFixed32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void PutFixed64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t Fixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Fixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

int VarintLength(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetBytes(std::string_view* in, std::string_view* out) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

BatchBuilder::BatchBuilder(Codec codec, int zstd_level) : codec_(codec), level_(zstd_level) {
  if (codec_ == Codec::kZstd) cctx_ = ZSTD_createCCtx();
}

BatchBuilder::~BatchBuilder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void BatchBuilder::Add(const RecordView& r) {
  if (count_ == 0) {
    first_ts_ = r.timestamp_ms;
    max_ts_ = r.timestamp_ms;
  }
  max_ts_ = std::max(max_ts_, r.timestamp_ms);
  uint64_t delta = ZigZag(r.timestamp_ms - first_ts_);
  size_t size = VarintLength(delta) + VarintLength(r.key.size()) + r.key.size() +
                VarintLength(r.headers.size()) + VarintLength(r.body.size()) + r.body.size();
  for (const auto& h : r.headers) {
    size += VarintLength(h.key.size()) + h.key.size() + VarintLength(h.value.size()) +
            h.value.size();
  }
  records_.reserve(records_.size() + size + 10);
  PutVarint(&records_, size);
  PutVarint(&records_, delta);
  PutVarint(&records_, r.key.size());
  records_.append(r.key);
  PutVarint(&records_, r.headers.size());
  for (const auto& h : r.headers) {
    PutVarint(&records_, h.key.size());
    records_.append(h.key);
    PutVarint(&records_, h.value.size());
    records_.append(h.value);
  }
  PutVarint(&records_, r.body.size());
  records_.append(r.body);
  ++count_;
}

base::Result<std::span<char>> BatchBuilder::Finish() {
  if (records_.size() > kMaxBatchBytes) {
    return Status::InvalidArgument(fmt::format("batch of {} bytes is over the limit of {} bytes",
                                               records_.size(), kMaxBatchBytes));
  }
  batch_.resize(kBatchHeaderSize);
  Codec codec = codec_;
  if (codec == Codec::kZstd) {
    size_t bound = ZSTD_compressBound(records_.size());
    batch_.resize(kBatchHeaderSize + bound);
    size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), batch_.data() + kBatchHeaderSize,
                                 bound, records_.data(), records_.size(), level_);
    if (ZSTD_isError(n) || n >= records_.size()) {
      codec = Codec::kNone;  // incompressible (or failed): store as is
    } else {
      batch_.resize(kBatchHeaderSize + n);
    }
  }
  if (codec == Codec::kNone) {
    batch_.resize(kBatchHeaderSize);
    batch_.append(records_);
  }
  char* p = batch_.data();
  PutFixed64(p, 0);
  PutFixed32(p + 8, static_cast<uint32_t>(batch_.size() - kLengthFieldEnd));
  p[16] = static_cast<char>(kMagic);
  p[17] = static_cast<char>(codec);
  PutFixed16(p + 18, 0);
  PutFixed32(p + 20, count_);
  PutFixed64(p + 24, static_cast<uint64_t>(first_ts_));
  PutFixed64(p + 32, static_cast<uint64_t>(max_ts_));
  PutFixed32(p + 40, static_cast<uint32_t>(records_.size()));
  uint32_t crc = base::crc32c::Value(p + 16, batch_.size() - 16);
  PutFixed32(p + 12, base::crc32c::Mask(crc));
  return std::span<char>(batch_.data(), batch_.size());
}

void BatchBuilder::Reset() {
  records_.clear();
  count_ = 0;
  first_ts_ = max_ts_ = 0;
}

void SetBaseOffset(char* batch, uint64_t base_offset) { PutFixed64(batch, base_offset); }

Status DecodeHeader(std::string_view b, BatchHeader* h) {
  if (b.size() < kBatchHeaderSize) {
    return Status::Corruption(fmt::format("batch header truncated ({} of {} bytes)", b.size(),
                                          kBatchHeaderSize));
  }
  const char* p = b.data();
  h->base_offset = Fixed64(p);
  h->length = Fixed32(p + 8);
  h->masked_crc = Fixed32(p + 12);
  h->magic = static_cast<uint8_t>(p[16]);
  h->attributes = static_cast<uint8_t>(p[17]);
  h->record_count = Fixed32(p + 20);
  h->first_timestamp_ms = static_cast<int64_t>(Fixed64(p + 24));
  h->max_timestamp_ms = static_cast<int64_t>(Fixed64(p + 32));
  h->records_size = Fixed32(p + 40);
  if (h->magic != kMagic) return Status::Corruption(fmt::format("bad batch magic {}", h->magic));
  if ((h->attributes & ~7) != 0 || h->codec() > Codec::kZstd) {
    return Status::Corruption(fmt::format("bad batch attributes {:#x}", h->attributes));
  }
  if (h->length < kBatchHeaderSize - kLengthFieldEnd || h->length > kMaxBatchBytes + 1024) {
    return Status::Corruption(fmt::format("bad batch length {}", h->length));
  }
  if (h->record_count == 0) return Status::Corruption("batch with no records");
  if (h->records_size > kMaxBatchBytes) {
    return Status::Corruption(fmt::format("bad records size {}", h->records_size));
  }
  return Status::OK();
}

Status VerifyCrc(const BatchHeader& h, std::string_view batch) {
  if (batch.size() < h.total_size()) return Status::Corruption("batch truncated");
  uint32_t crc = base::crc32c::Value(batch.data() + 16, h.total_size() - 16);
  if (base::crc32c::Mask(crc) != h.masked_crc) {
    return Status::Corruption(fmt::format("batch at offset {}: CRC mismatch", h.base_offset));
  }
  return Status::OK();
}

BatchDecoder::BatchDecoder() : dctx_(ZSTD_createDCtx()) {}
BatchDecoder::~BatchDecoder() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

Status BatchDecoder::Decode(const BatchHeader& h, std::string_view batch,
                            std::vector<RecordView>* records) {
  std::string_view section = batch.substr(kBatchHeaderSize, h.total_size() - kBatchHeaderSize);
  if (h.codec() == Codec::kZstd) {
    scratch_.resize(h.records_size);
    size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), scratch_.data(),
                                   scratch_.size(), section.data(), section.size());
    if (ZSTD_isError(n) || n != h.records_size) {
      return Status::Corruption(fmt::format("batch at offset {}: zstd: {}", h.base_offset,
                                            ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
    }
    section = scratch_;
  } else if (section.size() != h.records_size) {
    return Status::Corruption(fmt::format("batch at offset {}: records size mismatch",
                                          h.base_offset));
  }
  // First pass: decode headers into one vector (spans must not move after).
  struct Pending {
    RecordView r;
    size_t first_header, header_count;
  };
  std::vector<Pending> pending;
  pending.reserve(h.record_count);
  headers_.clear();
  auto bad = [&](uint32_t i) {
    return Status::Corruption(
        fmt::format("batch at offset {}: record {} is malformed", h.base_offset, i));
  };
  for (uint32_t i = 0; i < h.record_count; ++i) {
    std::string_view rec;
    if (!GetBytes(&section, &rec)) return bad(i);
    uint64_t delta, nheaders;
    Pending p;
    if (!GetVarint(&rec, &delta) || !GetBytes(&rec, &p.r.key) || !GetVarint(&rec, &nheaders) ||
        nheaders > rec.size()) {
      return bad(i);
    }
    p.r.timestamp_ms = h.first_timestamp_ms + UnZigZag(delta);
    p.first_header = headers_.size();
    p.header_count = nheaders;
    for (uint64_t k = 0; k < nheaders; ++k) {
      HeaderView hv;
      if (!GetBytes(&rec, &hv.key) || !GetBytes(&rec, &hv.value)) return bad(i);
      headers_.push_back(hv);
    }
    if (!GetBytes(&rec, &p.r.body) || !rec.empty()) return bad(i);
    pending.push_back(p);
  }
  if (!section.empty()) return bad(h.record_count);
  for (auto& p : pending) {
    p.r.headers = std::span<const HeaderView>(headers_.data() + p.first_header, p.header_count);
    records->push_back(p.r);
  }
  return Status::OK();
}

}  // namespace txpipe::log
