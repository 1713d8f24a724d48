// Not a plugin (no entry point), but with a static constructor that creates the file named by
// TRAINSCOPE_TEST_CTOR_MARKER when the library is loaded: discovery must refuse it from its
// ELF symbols alone and never run this.
#include <cstdio>
#include <cstdlib>

namespace {
__attribute__((constructor)) void leave_a_mark() {
  if (const char* path = std::getenv("TRAINSCOPE_TEST_CTOR_MARKER")) {
    if (std::FILE* f = std::fopen(path, "w")) std::fclose(f);
  }
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int trainscope_not_a_plugin_either() { return 7; }
