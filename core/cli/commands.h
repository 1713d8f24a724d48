// The `trainscope` subcommands. Each takes the arguments after its name and returns the
// process exit code (0 ok, 1 failure, 2 usage error). Global namespace on purpose: this is
// the private interface between main.cpp and the cmd_*.cpp files of one executable.
#pragma once

#include <string>
#include <vector>

// trainscope run CONFIG.toml [--set key=value ...]   (core/cli/cmd_run.cpp)
int cmd_run(const std::vector<std::string>& args);
// trainscope plugins [--path DIR ...]
int cmd_plugins(const std::vector<std::string>& args);
// trainscope validate CONFIG.toml [--set key=value ...] [--path DIR ...]
int cmd_validate(const std::vector<std::string>& args);
// trainscope inspect LOGDIR
int cmd_inspect(const std::vector<std::string>& args);
// trainscope sweep CONFIG.toml [-j N] [--set key=value ...]   (core/cli/cmd_sweep.cpp)
int cmd_sweep(const std::vector<std::string>& args);
// trainscope runs LOGDIR [...] | runs prune LOGDIR [...]   (core/cli/cmd_runs.cpp)
int cmd_runs(const std::vector<std::string>& args);
// trainscope export RUN [--format csv|json] [--tag TAG] [-o FILE]   (core/cli/cmd_export.cpp)
int cmd_export(const std::vector<std::string>& args);
// trainscope launch -n N [options] -- PROGRAM [ARGS...]   (core/cli/cmd_launch.cpp)
int cmd_launch(const std::vector<std::string>& args);

// Arguments shared by the commands: positionals, --set key=value, --path DIR (both also
// accepted as --set=key=value / --path=DIR). Returns false (with *error set) on a flag
// without its value or an unknown flag.
struct CommonArgs {
  std::vector<std::string> positional;
  std::vector<std::string> overrides;  // --set
  std::vector<std::string> paths;      // --path
};
inline bool parse_common_args(const std::vector<std::string>& args, CommonArgs& out, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::vector<std::string>* target = nullptr;
    std::string flag = a, value;
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (flag == "--set")
      target = &out.overrides;
    else if (flag == "--path")
      target = &out.paths;
    if (target == nullptr) {
      if (a.size() > 1 && a[0] == '-') {
        if (error) *error = "unknown option '" + a + "'";
        return false;
      }
      out.positional.push_back(a);
      continue;
    }
    if (flag == a) {  // the value is the next argument
      if (i + 1 >= args.size()) {
        if (error) *error = a + " needs a value";
        return false;
      }
      value = args[++i];
    }
    target->push_back(value);
  }
  return true;
}

// Prints "trainscope <command>: <message>" and a pointer to --help on stderr; returns 2.
int usage_error(const std::string& command, const std::string& message);
