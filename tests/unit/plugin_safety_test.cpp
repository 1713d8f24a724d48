// Plugin discovery against hostile files: a truncated library (SIGBUS when mapped), an entry
// point or a static constructor that crashes, a non-plugin whose constructors must not run,
// files and directories others can write, a foreign owner, ELF files for another machine.
// Each one is refused with its reason; the process doing the discovery lives on.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

const std::string kTestDir = TRAINSCOPE_TEST_PLUGIN_DIR;
const std::string kHostile = kTestDir + "/hostile";

std::string lib(const std::string& name) { return kTestDir + "/libtest_" + name + ".so"; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void dump(const std::string& path, const std::string& bytes, mode_t mode = 0755) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  chmod(path.c_str(), mode);
}

// A fresh directory under /tmp (mode 0755), removed with its files at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/trainscope-safety-XXXXXX";
    path_ = mkdtemp(tmpl);
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The refusal of `path` in `catalog` ("" when none).
std::string refusal_of(const PluginCatalog& catalog, const std::string& path) {
  for (const auto& r : catalog.refusals) {
    if (r.rfind(path + ":", 0) == 0) return r;
  }
  return "";
}

// Opens `path` expecting a refusal of `kind`; returns the message.
std::string open_refusal(const std::string& path, PluginLoadError::Kind kind) {
  try {
    PluginLibrary::open(path);
  } catch (const PluginLoadError& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << path << " was not refused";
  return "";
}

TEST(PluginSafety, TruncatedLibraryIsRefusedWithoutBeingMapped) {
  // Loading any of these with dlopen dies with SIGBUS (or worse): the refusal comes from the
  // file's bytes alone.
  TempDir dir;
  const std::string bytes = slurp(lib("noop"));
  ASSERT_GT(bytes.size(), 4096u);
  for (size_t keep : {bytes.size() / 2, bytes.size() - 1, size_t{100}, size_t{40}, size_t{0}}) {
    const std::string path = dir.path() + "/libtest_noop.so";
    dump(path, bytes.substr(0, keep));
    const std::string msg = open_refusal(path, PluginLoadError::Kind::kOpen);
    EXPECT_NE(msg.find(path + ": cannot be loaded: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(keep >= 64  ? "truncated"
                       : keep >= 4 ? "shorter than an ELF header"
                                   : "not an ELF file"),
              std::string::npos)
        << keep << ": " << msg;
    EXPECT_NE(msg.find("checked without loading it"), std::string::npos) << msg;
    const auto catalog = discover_plugins({dir.path()});
    EXPECT_TRUE(catalog.libraries.empty());
    EXPECT_EQ(refusal_of(catalog, path), msg);
  }
}

TEST(PluginSafety, CrashingEntryPointCostsARefusalNotTheProcess) {
  const auto catalog = discover_plugins({kHostile});
  const std::string msg = refusal_of(catalog, kHostile + "/libtest_crashing_entry.so");
  EXPECT_NE(msg.find("refused: crashed with SIGSEGV"), std::string::npos) << msg;
  EXPECT_NE(msg.find("in its entry point trainscope_plugin_descriptor()"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing of it was loaded into trainscope"), std::string::npos) << msg;
  EXPECT_TRUE(catalog.libraries.empty());
}

TEST(PluginSafety, CrashingStaticConstructorIsPlacedBeforeTheEntryPoint) {
  const auto catalog = discover_plugins({kHostile});
  const std::string msg = refusal_of(catalog, kHostile + "/libtest_crashing_ctor.so");
  EXPECT_NE(msg.find("refused: crashed with SIGABRT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("while being loaded (in a static constructor"), std::string::npos) << msg;
}

TEST(PluginSafety, HangingEntryPointIsKilledAtTheTimeout) {
  setenv("TRAINSCOPE_PLUGIN_PROBE_TIMEOUT", "0.5", 1);
  const auto catalog = discover_plugins({kTestDir + "/hanging"});
  unsetenv("TRAINSCOPE_PLUGIN_PROBE_TIMEOUT");
  const std::string msg = refusal_of(catalog, kTestDir + "/hanging/libtest_hanging_entry.so");
  EXPECT_NE(msg.find("refused: loading it did not finish within 0.5 s in its entry point "
                     "trainscope_plugin_descriptor() in a probe process, which was killed"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(catalog.libraries.empty());
}

TEST(PluginSafety, ConstructorsOfANonPluginNeverRun) {
  TempDir dir;
  const std::string marker = dir.path() + "/constructor-ran";
  setenv("TRAINSCOPE_TEST_CTOR_MARKER", marker.c_str(), 1);
  const auto catalog = discover_plugins({kHostile});
  const std::string msg =
      open_refusal(kHostile + "/libtest_constructor_marker.so", PluginLoadError::Kind::kMissingSymbol);
  unsetenv("TRAINSCOPE_TEST_CTOR_MARKER");
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the library's constructor ran";
  EXPECT_NE(msg.find("no exported 'trainscope_plugin_descriptor' entry point"), std::string::npos) << msg;
  EXPECT_EQ(refusal_of(catalog, kHostile + "/libtest_constructor_marker.so"), msg);
}

TEST(PluginSafety, WorldWritableCopyIsRefusedAndShadowsNothing) {
  TempDir dir;
  const std::string copy = dir.path() + "/libtest_noop.so";
  dump(copy, slurp(lib("noop")), 0666);
  ASSERT_EQ(chmod(copy.c_str(), 0666), 0);  // past the umask
  // Earlier on the path than the real one: it would have won.
  const auto catalog = discover_plugins({dir.path(), kTestDir});
  const std::string msg = refusal_of(catalog, copy);
  EXPECT_NE(msg.find("refused: the file is world-writable (mode 0666)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chmod o-w " + copy), std::string::npos) << msg;
  ASSERT_NE(catalog.find("noop"), nullptr);
  EXPECT_EQ(catalog.find("noop")->path(), lib("noop"));
  for (const auto& s : catalog.shadowed) EXPECT_EQ(s.find(copy), std::string::npos) << s;
  EXPECT_EQ(open_refusal(copy, PluginLoadError::Kind::kUnsafe), msg);
}

TEST(PluginSafety, WorldWritableDirectoryNeedsTheStickyBit) {
  TempDir dir;
  const std::string sub = dir.path() + "/open";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  const std::string copy = sub + "/libtest_noop.so";
  dump(copy, slurp(lib("noop")), 0755);
  ASSERT_EQ(chmod(sub.c_str(), 0777), 0);
  std::string msg = open_refusal(copy, PluginLoadError::Kind::kUnsafe);
  EXPECT_NE(msg.find("refused: directory " + sub + " is world-writable (mode 0777) without the sticky bit"),
            std::string::npos)
      << msg;
  ASSERT_EQ(chmod(sub.c_str(), 01777), 0);  // like /tmp: others cannot replace a file of ours
  const auto catalog = discover_plugins({sub});
  ASSERT_NE(catalog.find("noop"), nullptr) << (catalog.refusals.empty() ? "" : catalog.refusals[0]);
  EXPECT_EQ(catalog.find("noop")->path(), copy);
}

TEST(PluginSafety, FileOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  TempDir dir;
  const std::string copy = dir.path() + "/libtest_noop.so";
  dump(copy, slurp(lib("noop")));
  ASSERT_EQ(chown(copy.c_str(), 65534, 65534), 0);
  const std::string msg = open_refusal(copy, PluginLoadError::Kind::kUnsafe);
  EXPECT_NE(msg.find("refused: owned by uid 65534, neither root nor you (uid 0)"), std::string::npos) << msg;
}

TEST(PluginSafety, ElfFilesThatAreNotPluginLibrariesForThisMachineAreNamed) {
  TempDir dir;
  const std::string good = slurp(lib("noop"));
  struct Patch {
    size_t offset;
    std::vector<unsigned char> bytes;
    const char* expected;
  };
  const std::vector<Patch> patches = {
      {4, {1}, "a 32-bit ELF file"},                                                   // EI_CLASS
      {5, {2}, "a big-endian ELF file"},                                               // EI_DATA
      {16, {2, 0}, "an executable"},                                                   // e_type = ET_EXEC
      {16, {1, 0}, "an object file"},                                                  // e_type = ET_REL
      {18, {40, 0}, "built for arm"},                                                  // e_machine = EM_ARM
      {40, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "section header table"},  // e_shoff
      {32, {0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "program header table"},  // e_phoff
  };
  for (const auto& p : patches) {
    std::string bytes = good;
    std::copy(p.bytes.begin(), p.bytes.end(), bytes.begin() + static_cast<long>(p.offset));
    const std::string path = dir.path() + "/libpatched.so";
    dump(path, bytes);
    const std::string msg = open_refusal(path, PluginLoadError::Kind::kOpen);
    EXPECT_NE(msg.find(p.expected), std::string::npos) << p.expected << ": " << msg;
  }
}

TEST(PluginSafety, HealthyPluginsStillLoadThroughTheProbe) {
  const auto catalog = discover_plugins({kTestDir});
  for (const char* name : {"noop", "one_hook", "recorder", "throwing_ctor", "throwing_hook"}) {
    EXPECT_NE(catalog.find(name), nullptr) << name;
  }
  for (const auto& r : catalog.refusals) EXPECT_EQ(r.find("probe process"), std::string::npos) << r;
}

}  // namespace
}  // namespace trainscope
