// Ownership, permission and ELF checks for plugin libraries (plugin_file_check.h).
//
// Why these: a library on the plugin path runs with the user's rights as soon as it is loaded.
// A file others can write (or replace, through a directory they can write without the sticky
// bit) is code anyone could have swapped in, and it could shadow a bundled plugin of the same
// name; a truncated file (a copy cut short) kills the loading process with SIGBUS when the
// loader touches its missing pages. Both are refused here, from stat and read alone.
#include "plugin_file_check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "elf_probe.h"
#include "trainscope/plugin_loader.h"

namespace trainscope::detail {
namespace {

using Kind = PluginLoadError::Kind;

std::string octal_mode(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// "/a/b/c.so" -> {"/a/b", "/a", "/"}; `path` must be absolute.
void add_ancestors(const std::string& path, std::set<std::string>& out) {
  std::string dir = path;
  while (true) {
    const size_t slash = dir.find_last_of('/');
    if (slash == std::string::npos) return;
    dir = slash == 0 ? "/" : dir.substr(0, slash);
    out.insert(dir);
    if (dir == "/") return;
  }
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// Throws kUnsafe when others can write `path` or replace it through its directories.
void check_permissions(const std::string& path, const struct stat& st) {
  if (st.st_mode & S_IWOTH) {
    throw PluginLoadError(Kind::kUnsafe, path + ": refused: the file is world-writable (mode " +
                                             octal_mode(st.st_mode) +
                                             "), so anyone could have changed the code it would run; "
                                             "`chmod o-w " +
                                             path + "` if you trust its content");
  }
  const uid_t me = geteuid();
  if (st.st_uid != 0 && st.st_uid != me) {
    throw PluginLoadError(Kind::kUnsafe, path + ": refused: owned by uid " + std::to_string(st.st_uid) +
                                             ", neither root nor you (uid " + std::to_string(me) +
                                             "); copy it to a directory of yours if you trust it");
  }
  // Every directory a path component goes through, as written and resolved (a symlink in a
  // writable directory could be re-pointed as well as a file replaced).
  std::set<std::string> dirs;
  const std::string given = absolute(path);
  add_ancestors(given, dirs);
  if (char* real = realpath(path.c_str(), nullptr)) {
    add_ancestors(real, dirs);
    std::free(real);
  }
  for (const auto& dir : dirs) {
    struct stat ds;
    if (stat(dir.c_str(), &ds) != 0) continue;
    if ((ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX)) {
      throw PluginLoadError(Kind::kUnsafe, path + ": refused: directory " + dir + " is world-writable (mode " +
                                               octal_mode(ds.st_mode) +
                                               ") without the sticky bit, so anyone could have replaced the "
                                               "library; `chmod o-w " +
                                               dir + "` or move the plugin elsewhere");
    }
  }
}

}  // namespace

void check_plugin_file(const std::string& path, const std::string& host) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw PluginLoadError(err == ENOENT ? Kind::kNotFound : Kind::kOpen,
                          path + (err == ENOENT ? ": no such plugin library; " + host + " looked for it there"
                                                : ": cannot be opened: " + std::string(std::strerror(err))));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw PluginLoadError(Kind::kNotFound,
                          path + ": not a regular file; " + host + " looked for a plugin library there");
  }
  check_permissions(path, st);

  const FdSource bytes(fd, static_cast<uint64_t>(st.st_size));
  const ElfCheck elf = check_plugin_elf(bytes, TRAINSCOPE_PLUGIN_ENTRY_NAME);
  switch (elf.status) {
    case ElfCheck::Status::kOk:
      return;
    case ElfCheck::Status::kNoSymbol:
      throw PluginLoadError(Kind::kMissingSymbol,
                            path + ": " + elf.reason + ", so not a trainscope plugin (plugin ABI unknown; " + host +
                                "; checked without loading it); export one with TRAINSCOPE_PLUGIN(...)");
    case ElfCheck::Status::kMalformed:
      throw PluginLoadError(Kind::kOpen, path + ": cannot be loaded: " + elf.reason +
                                             " (checked without loading it); " + host +
                                             "; replace it with a complete copy or rebuild it");
    case ElfCheck::Status::kNotElf:
    case ElfCheck::Status::kUnsupported:
      throw PluginLoadError(Kind::kOpen, path + ": cannot be loaded: " + elf.reason +
                                             " (checked without loading it); " + host +
                                             "; only shared libraries built with TRAINSCOPE_PLUGIN(...) belong on the "
                                             "plugin path");
  }
}

}  // namespace trainscope::detail
