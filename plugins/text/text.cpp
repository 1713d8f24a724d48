// text: the run's configuration and a model summary, as markdown in TensorBoard's Text tab.
//   config         at fit_begin: the configuration file's text as a code block.
//   model/summary  at the first training batch: one row per module (name, type, output shape,
//                  own parameter count, trainable) and a total row. Output shapes come from one
//                  extra forward pass of the batch's first sample through ctx.forward with every
//                  tap requested (eval mode, no grad); a layer without a tap shows "-".
// See README.md.
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <trainscope/eval_mode.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

// "torch::nn::Conv2dImpl" -> "Conv2d", "(anonymous namespace)::SimpleCnnImpl" -> "SimpleCnn".
std::string short_type(const std::string& full) {
  std::string s = full;
  const size_t template_at = s.find('<');
  const size_t colons = s.rfind("::", template_at);
  if (colons != std::string::npos) s = s.substr(colons + 2);
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "Impl") == 0) s.resize(s.size() - 4);
  return s;
}

std::string shape_text(const at::Tensor& t) {
  if (!t.defined()) return "-";
  std::string out = "[";
  for (int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + "]";
}

// 1234567 -> "1,234,567".
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

// Markdown table cells must not break the row.
std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

class Text final : public trainscope::Plugin {
 public:
  explicit Text(const trainscope::Options& opt)
      : config_(opt.get<bool>("config")), summary_(opt.get<bool>("model_summary")), shapes_(opt.get<bool>("shapes")) {}

  // A resumed fit: the checkpoint's run wrote the config and the summary already (once per
  // run: written again, TensorBoard would show them twice). The checkpoint says which it
  // wrote: one enabled only on resume is written now.
  void on_save_checkpoint(trainscope::HookContext& ctx) override {
    ctx.state() = std::string("text 1 ") + (config_ ? "config" : "-") + " " + (summary_ ? "summary" : "-");
  }
  void on_load_checkpoint(trainscope::HookContext& ctx) override {
    const std::string& s = ctx.state();
    config_written_ = s.starts_with("text 1 config");
    summary_written_ = s.starts_with("text 1 ") && s.ends_with(" summary");
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    summary_done_ = summary_written_;
    if (config_ && !config_written_) ctx.writer().add_text("config", config_markdown(ctx.config_text()), ctx.step());
    // Without shapes there is nothing to wait for: the table is written now.
    if (summary_ && !shapes_ && !summary_done_) write_summary(ctx, {}, at::Tensor(), false);
  }

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (!summary_ || !shapes_ || summary_done_) return;
    summary_done_ = true;
    std::map<std::string, at::Tensor> captured;
    at::Tensor output;
    bool ran = false;
    const at::Tensor& inputs = ctx.inputs();
    if (inputs.defined() && inputs.dim() > 0 && inputs.size(0) > 0) {
      trainscope::TapSet taps;
      taps.request_all(true);
      // eval(): no BatchNorm running-statistics update and no dropout draw from this pass.
      // Every module's own mode is put back after (a model may hold frozen eval() parts).
      trainscope::EvalMode eval(ctx.model());
      try {
        at::NoGradGuard no_grad;
        output = ctx.forward(inputs.narrow(0, 0, 1), &taps);
        ran = true;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[text] model/summary: the shape pass failed (%s); shapes are left out\n", e.what());
      }
      captured = taps.values();
    }
    write_summary(ctx, captured, output, ran);
  }

 private:
  static std::string config_markdown(const std::string& text) {
    if (text.empty()) {
      return "*No configuration file: this run was configured in code, so there is no configuration text to "
             "show.*";
    }
    // A fence longer than any backtick run inside the text.
    size_t longest = 0, run = 0;
    for (char c : text) {
      run = c == '`' ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    const std::string fence(std::max<size_t>(3, longest + 1), '`');
    return fence + "toml\n" + text + (text.back() == '\n' ? "" : "\n") + fence;
  }

  void write_summary(trainscope::HookContext& ctx, const std::map<std::string, at::Tensor>& captured,
                     const at::Tensor& output, bool ran) {
    torch::nn::Module& model = ctx.model();
    std::ostringstream md;
    md << "| layer | type | output shape | parameters | trainable |\n";
    md << "|---|---|---|---:|---|\n";
    int64_t total = 0, trainable_total = 0;
    std::set<std::string> used;
    for (const auto& item : model.named_modules("", /*include_self=*/true)) {
      const std::string& name = item.key();
      const auto& module = item.value();
      int64_t own = 0, own_trainable = 0;
      size_t tensors = 0, trainable_tensors = 0;
      for (const auto& p : module->named_parameters(/*recurse=*/false)) {
        own += p.value().numel();
        ++tensors;
        if (p.value().requires_grad()) {
          own_trainable += p.value().numel();
          ++trainable_tensors;
        }
      }
      total += own;
      trainable_total += own_trainable;
      std::string shape = "-";
      if (name.empty()) {
        if (ran) shape = shape_text(output);
      } else if (auto it = captured.find(name); it != captured.end()) {
        shape = shape_text(it->second);
        used.insert(name);
      }
      const char* trainable = tensors == 0                   ? "-"
                              : trainable_tensors == tensors ? "yes"
                              : trainable_tensors == 0       ? "no"
                                                             : "partly";
      md << "| " << cell(name.empty() ? "(model)" : name) << " | " << cell(short_type(module->name())) << " | " << shape
         << " | " << grouped(own) << " | " << trainable << " |\n";
    }
    md << "| **total** | | | **" << grouped(total) << "** | " << grouped(trainable_total) << " trainable |\n";
    // Taps that are not module names (e.g. "features", a functional activation).
    std::string others;
    for (const auto& [name, t] : captured) {
      if (used.count(name) == 0) others += (others.empty() ? "" : ", ") + ("`" + name + "` " + shape_text(t));
    }
    if (!others.empty()) md << "\nOther taps: " << others << "\n";
    if (shapes_) {
      md << "\nOutput shapes are for one sample (batch of 1), from the model's activation taps; \"-\": no tap.\n";
    }
    ctx.writer().add_text("model/summary", md.str(), ctx.step());
  }

  const bool config_, summary_, shapes_;
  bool summary_done_ = false;
  bool config_written_ = false, summary_written_ = false;  // by the run a resumed fit continues
};

}  // namespace

TRAINSCOPE_PLUGIN(Text, "text", "1.0.0",
                  trainscope::option<bool>("config", true, "the configuration text under tag 'config'"),
                  trainscope::option<bool>("model_summary", true, "the model summary table under 'model/summary'"),
                  trainscope::option<bool>("shapes", true,
                                           "output shapes from one extra forward pass of one sample at the first "
                                           "training batch (false: the table is written at fit_begin without them)"))
