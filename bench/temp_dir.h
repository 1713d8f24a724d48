// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction:
// each benchmark run writes its event files there, so runs never read each other's files.
//
// POSIX calls rather than std::filesystem on purpose: the torch wheel's libtorch.so exports
// its own std::filesystem::remove_all, which binds first in programs that link libtorch and
// calls a weak symbol that is null there (the process crashes).
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include <stdexcept>
#include <string>

namespace trainscope::bench {

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/trainscope-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    nftw(
        path_.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace trainscope::bench
