// Test helpers: decompress archive files as zcat and zstd -d would.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <string>

namespace txpipe::sinks::archive::test_util {

// Inflates gzip members (concatenated ones too). Returns false on bad input.
inline bool Gunzip(const std::string& in, std::string* out) {
  out->clear();
  if (in.empty()) return true;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[1 << 16];
  bool ok = true;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out->append(buf, sizeof(buf) - zs.avail_out);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      if (inflateReset(&zs) != Z_OK) {
        ok = false;
        break;
      }
      continue;
    }
    if (rc != Z_OK) {
      ok = false;
      break;
    }
  }
  inflateEnd(&zs);
  return ok;
}

// Decompresses zstd frames (concatenated ones too). False on bad input.
inline bool Unzstd(const std::string& in, std::string* out) {
  out->clear();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  char buf[1 << 16];
  size_t rc = 0;
  bool ok = true;
  while (ib.pos < ib.size) {
    ZSTD_outBuffer ob{buf, sizeof(buf), 0};
    rc = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(rc)) {
      ok = false;
      break;
    }
    out->append(buf, ob.pos);
  }
  ZSTD_freeDCtx(d);
  return ok && rc == 0;  // 0: the last frame is complete
}

}  // namespace txpipe::sinks::archive::test_util
