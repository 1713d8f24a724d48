// The run folder of an example that writes with its own SummaryWriter (no Trainer), claimed
// as `trainscope run` claims its own (trainscope/run_dir.h, docs/runs.md): templates such as
// runs/dcgan/{timestamp} are expanded ({name} is the program's name), and a folder that holds
// another run's events is refused, or with `overwrite` moved aside to <dir>.old-<timestamp>.
//
//   const std::string dir = examples::claim_log_dir("dcgan", cli.text("log-dir"), cli.on("overwrite"));
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

#include "trainscope/run_dir.h"

namespace examples {

// Throws std::invalid_argument for a bad template, trainscope::RunDirTaken for a used folder.
inline std::string claim_log_dir(const std::string& program, const std::string& dir, bool overwrite) {
  trainscope::RunConfig config;
  config.file = "--log-dir";
  config.run.name = program;
  config.run.log_dir = dir;
  trainscope::expand_run_dir_templates(config);
  trainscope::RunDirClaim claim;
  try {
    claim = trainscope::claim_run_dir(config.run.log_dir, {false, overwrite, false});
  } catch (const trainscope::RunDirTaken& e) {
    // The ways out of an example (no checkpoints to resume from, no run.name): its own flags.
    const std::string what = e.what();
    throw trainscope::RunDirTaken(what.substr(0, what.find(" Choose one:")) +
                                  " Choose another --log-dir (a template such as runs/{name}/{timestamp} gives each "
                                  "run its own folder), or --overwrite to move the old run aside to "
                                  "<dir>.old-<timestamp> (nothing is deleted).");
  }
  for (const auto& m : claim.messages) std::printf("%s: %s\n", program.c_str(), m.c_str());
  return config.run.log_dir;
}

}  // namespace examples
