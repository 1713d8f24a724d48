// PluginLibrary / PluginInstance / discover_plugins against real .so files built by
// tests/plugins: every refusal names the file and both versions (or fingerprints).
#include "trainscope/plugin_loader.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "trainscope/version.h"

namespace trainscope {
namespace {

std::string lib(const std::string& name) {
  return std::string(TRAINSCOPE_TEST_PLUGIN_DIR) + "/libtest_" + name + ".so";
}

const std::string kHostAbi = std::to_string(kPluginAbiMajor) + "." + std::to_string(kPluginAbiMinor);

// Opens `path`, expects a PluginLoadError of `kind`, returns its message.
std::string refusal(const std::string& path, PluginLoadError::Kind kind) {
  try {
    PluginLibrary::open(path);
  } catch (const PluginLoadError& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << path << " was not refused";
  return "";
}

TEST(PluginLoader, LoadsAPluginAndReadsItsDescriptor) {
  auto library = PluginLibrary::open(lib("noop"));
  const PluginDescriptor& d = library->descriptor();
  EXPECT_STREQ(d.name, "noop");
  EXPECT_STREQ(d.version, "1.0.0");
  EXPECT_EQ(d.abi_major, kPluginAbiMajor);
  EXPECT_STREQ(d.fingerprint, host_build_fingerprint());
  EXPECT_EQ(d.hooks, hook_bit(Hook::kTrainBatchEnd));  // only what it overrides
  ASSERT_EQ(library->options().size(), 5u);
  EXPECT_EQ(library->options()[0].name, "level");
  EXPECT_EQ(library->options()[1].type, OptionType::kDouble);
  EXPECT_EQ(library->path(), lib("noop"));
}

TEST(PluginLoader, MissingFileIsRefusedWithItsPath) {
  const std::string msg = refusal(lib("does_not_exist"), PluginLoadError::Kind::kNotFound);
  EXPECT_NE(msg.find(lib("does_not_exist")), std::string::npos) << msg;
  EXPECT_NE(msg.find(TRAINSCOPE_VERSION_STRING), std::string::npos) << msg;
}

TEST(PluginLoader, NonLibraryIsRefusedWithTheLoaderMessage) {
  // A text file named like a library.
  char dir[] = "/tmp/trainscope-loader-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/libfake.so";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("not an ELF file\n", f);
  fclose(f);
  const std::string msg = refusal(path, PluginLoadError::Kind::kOpen);
  EXPECT_NE(msg.find(path + ": cannot be loaded"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ABI " + kHostAbi), std::string::npos) << msg;
  remove(path.c_str());
  rmdir(dir);
}

TEST(PluginLoader, MissingEntrySymbolIsRefused) {
  const std::string msg = refusal(lib("no_entry"), PluginLoadError::Kind::kMissingSymbol);
  EXPECT_NE(msg.find(lib("no_entry") + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find(TRAINSCOPE_PLUGIN_ENTRY_NAME), std::string::npos) << msg;
  EXPECT_NE(msg.find("plugin ABI unknown"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ABI " + kHostAbi), std::string::npos) << msg;
  EXPECT_NE(msg.find(TRAINSCOPE_VERSION_STRING), std::string::npos) << msg;
}

TEST(PluginLoader, WrongAbiMajorIsRefusedNamingBothVersions) {
  const std::string msg = refusal(lib("bad_abi"), PluginLoadError::Kind::kAbiMismatch);
  EXPECT_EQ(msg, lib("bad_abi") + ": plugin ABI 99.0 is not compatible with this trainscope (ABI " + kHostAbi +
                     "); rebuild the plugin against trainscope " TRAINSCOPE_VERSION_STRING);
}

TEST(PluginLoader, NewerAbiMinorIsRefusedNamingBothVersions) {
  const std::string plugin_abi = std::to_string(kPluginAbiMajor) + "." + std::to_string(kPluginAbiMinor + 7);
  const std::string msg = refusal(lib("bad_minor"), PluginLoadError::Kind::kAbiMismatch);
  EXPECT_NE(msg.find(lib("bad_minor") + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find("plugin 'bad_minor' 0.9.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ABI " + plugin_abi), std::string::npos) << msg;
  EXPECT_NE(msg.find("(ABI " + kHostAbi + ")"), std::string::npos) << msg;
}

TEST(PluginLoader, FingerprintMismatchIsRefusedNamingBothFingerprints) {
  const std::string msg = refusal(lib("bad_fingerprint"), PluginLoadError::Kind::kFingerprintMismatch);
  EXPECT_NE(msg.find(lib("bad_fingerprint") + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find("plugin 'bad_fingerprint' 1.0.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'gcc-4.8;cxx11abi=0;torch=1.0.0;sdk=0.0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string("'") + host_build_fingerprint() + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch 1.0.0 vs " TORCH_VERSION), std::string::npos) << msg;  // the parts that differ
  EXPECT_NE(msg.find("rebuild the plugin against trainscope " TRAINSCOPE_VERSION_STRING), std::string::npos) << msg;
}

TEST(PluginLoader, ThrowingConstructorIsRefusedAtCreation) {
  auto library = PluginLibrary::open(lib("throwing_ctor"));  // symbol, ABI and fingerprint are fine
  Options options({{"reason", std::string("missing dataset")}});
  try {
    PluginInstance instance(library, options);
    FAIL() << "created";
  } catch (const PluginLoadError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), PluginLoadError::Kind::kCreateFailed);
    EXPECT_NE(msg.find(lib("throwing_ctor") + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'throwing_ctor' 2.3.4 (ABI " + kHostAbi +
                       ", this trainscope " TRAINSCOPE_VERSION_STRING " ABI " + kHostAbi + ")"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("throwing_ctor refuses to start: missing dataset"), std::string::npos) << msg;
  }
}

TEST(PluginLoader, InstanceKeepsItsLibraryLoadedAndDiesFirst) {
  const std::string path = lib("one_hook");
  auto library = PluginLibrary::open(path);
  auto instance = std::make_unique<PluginInstance>(std::move(library), Options{});
  ASSERT_EQ(library, nullptr);  // the instance holds the only reference
  EXPECT_EQ(instance->name(), "one_hook");
  void* probe = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);  // takes a reference of its own
  EXPECT_NE(probe, nullptr) << "unloaded while an instance lives";
  if (probe) dlclose(probe);
  // Calling into it still works.
  std::map<std::string, double> metrics;
  HookContext ctx;
  ctx.metrics_ = &metrics;
  std::string error;
  EXPECT_EQ(instance->descriptor().invoke(instance->get(), Hook::kEpochEnd, ctx, &error), 0) << error;
  EXPECT_EQ(metrics["one_hook.calls"], 1);
  instance.reset();  // destroy() runs inside the library, then the library is released
  void* still = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_EQ(still, nullptr) << "the library should be unloaded once its last instance is gone";
  if (still) dlclose(still);
}

TEST(PluginLoader, DiscoveryFindsPluginsAndListsRefusals) {
  const auto catalog = discover_plugins({TRAINSCOPE_TEST_PLUGIN_DIR, "/nonexistent/dir"});
  const auto names = catalog.names();
  for (const char* expected : {"noop", "one_hook", "recorder", "throwing_ctor", "throwing_hook"}) {
    EXPECT_NE(catalog.find(expected), nullptr) << expected;
  }
  EXPECT_EQ(catalog.find("bad_abi"), nullptr);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  ASSERT_EQ(catalog.refusals.size(), 4u);  // bad_abi, bad_fingerprint, bad_minor, no_entry (file order)
  EXPECT_NE(catalog.refusals[0].find("libtest_bad_abi.so: plugin ABI 99.0"), std::string::npos);
  EXPECT_NE(catalog.refusals[1].find("libtest_bad_fingerprint.so:"), std::string::npos);
  EXPECT_NE(catalog.refusals[2].find("libtest_bad_minor.so:"), std::string::npos);
  EXPECT_NE(catalog.refusals[3].find("libtest_no_entry.so:"), std::string::npos);
}

TEST(PluginLoader, FirstLibraryOfANameWinsAndTheRestAreShadowed) {
  const auto catalog = discover_plugins({TRAINSCOPE_TEST_PLUGIN_DIR, std::string(TRAINSCOPE_TEST_PLUGIN_DIR) + "/."});
  EXPECT_EQ(catalog.find("noop")->path(), lib("noop"));
  EXPECT_FALSE(catalog.shadowed.empty());
  EXPECT_NE(catalog.shadowed[0].find("is shadowed by"), std::string::npos) << catalog.shadowed[0];
}

TEST(PluginLoader, SearchPathOrder) {
  setenv("TRAINSCOPE_PLUGIN_PATH", "/env/a:/env/b/::/config/x", 1);
  const auto path = plugin_search_path({"/config/x", "/config/y/"});
  unsetenv("TRAINSCOPE_PLUGIN_PATH");
  ASSERT_GE(path.size(), 5u);
  EXPECT_EQ(path[0], "/config/x");
  EXPECT_EQ(path[1], "/config/y");  // trailing '/' dropped
  EXPECT_EQ(path[2], "/env/a");
  EXPECT_EQ(path[3], "/env/b");  // empty entries skipped, /config/x not repeated
  EXPECT_NE(path.back().find("trainscope/plugins"), std::string::npos);  // the install dir comes last
}

}  // namespace
}  // namespace trainscope
