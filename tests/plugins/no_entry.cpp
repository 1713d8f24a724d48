// A shared library without the trainscope_plugin_descriptor entry point: not a plugin.
extern "C" __attribute__((visibility("default"))) int trainscope_not_a_plugin() { return 42; }
