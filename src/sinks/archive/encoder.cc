#include "sinks/archive/encoder.h"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace txpipe::sinks::archive {

using base::Result;
using base::Status;

namespace {

constexpr size_t kChunk = 64 << 10;

class PlainEncoder : public Encoder {
 public:
  Status Write(std::string_view data, std::string* out) override {
    out->append(data);
    return Status::OK();
  }
  Status Finish(std::string*) override { return Status::OK(); }
};

class GzipEncoder : public Encoder {
 public:
  ~GzipEncoder() override {
    if (init_) deflateEnd(&zs_);
  }
  Status Init(int level) {
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    int rc = deflateInit2(&zs_, level == 0 ? 6 : level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) return Status::Internal(fmt::format("deflateInit2: {}", rc));
    init_ = true;
    return Status::OK();
  }
  Status Write(std::string_view data, std::string* out) override {
    while (!data.empty()) {
      uInt n = static_cast<uInt>(std::min<size_t>(data.size(), 1u << 30));
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      zs_.avail_in = n;
      TXP_RETURN_IF_ERROR(Run(Z_NO_FLUSH, out));
      data.remove_prefix(n);
    }
    return Status::OK();
  }
  Status Finish(std::string* out) override {
    zs_.next_in = nullptr;
    zs_.avail_in = 0;
    return Run(Z_FINISH, out);
  }

 private:
  Status Run(int flush, std::string* out) {
    for (;;) {
      size_t old = out->size();
      out->resize(old + kChunk);
      zs_.next_out = reinterpret_cast<Bytef*>(out->data() + old);
      zs_.avail_out = kChunk;
      int rc = deflate(&zs_, flush);
      out->resize(old + (kChunk - zs_.avail_out));
      if (rc == Z_STREAM_ERROR) return Status::Internal("deflate: stream error");
      if (flush == Z_FINISH) {
        if (rc == Z_STREAM_END) return Status::OK();
        continue;
      }
      if (zs_.avail_in == 0 && zs_.avail_out != 0) return Status::OK();
    }
  }
  z_stream zs_{};
  bool init_ = false;
};

class ZstdEncoder : public Encoder {
 public:
  ~ZstdEncoder() override { ZSTD_freeCCtx(cctx_); }
  Status Init(int level) {
    cctx_ = ZSTD_createCCtx();
    if (!cctx_) return Status::ResourceExhausted("ZSTD_createCCtx failed");
    size_t rc = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level == 0 ? 3 : level);
    if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(rc)) return Status::InvalidArgument(ZSTD_getErrorName(rc));
    return Status::OK();
  }
  Status Write(std::string_view data, std::string* out) override {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      TXP_RETURN_IF_ERROR(Step(&in, ZSTD_e_continue, out).status());
    }
    return Status::OK();
  }
  Status Finish(std::string* out) override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    for (;;) {
      auto left = Step(&in, ZSTD_e_end, out);
      if (!left.ok()) return left.status();
      if (*left == 0) return Status::OK();
    }
  }

 private:
  Result<size_t> Step(ZSTD_inBuffer* in, ZSTD_EndDirective end, std::string* out) {
    size_t old = out->size();
    out->resize(old + kChunk);
    ZSTD_outBuffer ob{out->data() + old, kChunk, 0};
    size_t rc = ZSTD_compressStream2(cctx_, &ob, in, end);
    out->resize(old + ob.pos);
    if (ZSTD_isError(rc)) return Status::Internal(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
    return rc;
  }
  ZSTD_CCtx* cctx_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Encoder>> NewEncoder(const std::string& codec, int level) {
  if (codec == "none") return std::unique_ptr<Encoder>(new PlainEncoder());
  if (codec == "gzip") {
    if (level < 0 || level > 9) {
      return Status::InvalidArgument(fmt::format("gzip level must be 1..9, got {}", level));
    }
    auto e = std::make_unique<GzipEncoder>();
    TXP_RETURN_IF_ERROR(e->Init(level));
    return std::unique_ptr<Encoder>(std::move(e));
  }
  if (codec == "zstd") {
    if (level < -7 || level > ZSTD_maxCLevel()) {
      return Status::InvalidArgument(
          fmt::format("zstd level must be -7..{}, got {}", ZSTD_maxCLevel(), level));
    }
    auto e = std::make_unique<ZstdEncoder>();
    TXP_RETURN_IF_ERROR(e->Init(level));
    return std::unique_ptr<Encoder>(std::move(e));
  }
  return Status::InvalidArgument(fmt::format("unknown codec '{}'", codec));
}

}  // namespace txpipe::sinks::archive
