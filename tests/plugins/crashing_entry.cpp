// A library that exports the entry point, but the entry point crashes (a null write the
// compiler cannot see coming). Discovery must refuse it from a probe process and live on.
#include <cstdint>

namespace {
int* volatile target = nullptr;  // volatile: the store below is really made
}  // namespace

extern "C" __attribute__((visibility("default"))) const void* trainscope_plugin_descriptor() {
  *target = 42;
  return nullptr;
}
