// pr_curves: the logged curves equal PyTorch's compute_curve done here by hand (a plain loop
// over the samples) on the final model's softmax probabilities over the validation set.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string_view>

#include "plugin_harness.h"

namespace trainscope {
namespace {

using testing::PluginRun;
using testing::run_plugins;
using testing::Setup;

// ---- reading a tensor's content from the event files (protobuf wire format) ---------------
// EventView carries the shape of a tensor value but not its content, and a torch test cannot
// include the generated protobuf headers, so the few fields needed are walked by hand:
// Event.step = 2, Event.summary = 5, Summary.value = 1, Value.tag = 1, Value.tensor = 8,
// TensorProto.tensor_content = 4.
struct Wire {
  std::string_view d;
  size_t p = 0;
  bool more() const { return p < d.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; p < d.size(); shift += 7) {
      const auto b = static_cast<uint8_t>(d[p++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  }
  // The next field: its number, its value (varints) or its bytes (length-delimited).
  struct Field {
    int number = 0;
    uint64_t value = 0;
    std::string_view bytes;
  };
  Field field() {
    const uint64_t key = varint();
    const int wire = static_cast<int>(key & 7);
    Field f{static_cast<int>(key >> 3), 0, {}};
    if (wire == 0) {
      f.value = varint();
    } else if (wire == 1) {
      p += 8;
    } else if (wire == 5) {
      p += 4;
    } else if (wire == 2) {
      const auto n = static_cast<size_t>(varint());
      f.bytes = d.substr(p, n);
      p += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << wire;
      p = d.size();
    }
    return f;
  }
};

// (step, [6, T] float rows) of every PR-curve tensor logged under `tag`, in file order.
std::vector<std::pair<int64_t, std::vector<float>>> pr_tensors(const std::string& dir, const std::string& tag) {
  std::vector<std::pair<int64_t, std::vector<float>>> out;
  for (const auto& path : list_event_files(dir)) {
    RecordReader reader(path);
    std::string payload;
    while (reader.next(payload)) {
      Wire ev{payload};
      int64_t step = 0;
      std::vector<std::string_view> summaries;
      while (ev.more()) {
        const auto f = ev.field();
        if (f.number == 2) step = static_cast<int64_t>(f.value);
        if (f.number == 5) summaries.push_back(f.bytes);
      }
      for (auto s : summaries) {
        Wire sum{s};
        while (sum.more()) {
          const auto value = sum.field();
          if (value.number != 1) continue;
          Wire v{value.bytes};
          std::string_view vtag, tensor;
          while (v.more()) {
            const auto f = v.field();
            if (f.number == 1) vtag = f.bytes;
            if (f.number == 8) tensor = f.bytes;
          }
          if (vtag != tag || tensor.empty()) continue;
          Wire t{tensor};
          while (t.more()) {
            const auto f = t.field();
            if (f.number != 4) continue;
            std::vector<float> rows(f.bytes.size() / sizeof(float));
            std::memcpy(rows.data(), f.bytes.data(), rows.size() * sizeof(float));
            out.emplace_back(step, std::move(rows));
          }
        }
      }
    }
  }
  return out;
}

// ---- the independent computation ----------------------------------------------------------

// Softmax probabilities [N, C] of `model` on `data`, in batches of `batch` as validation runs.
at::Tensor probabilities(const Model& model, const TensorDataset& data, int64_t batch) {
  at::NoGradGuard no_grad;
  model.module().eval();
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < data.size(); s += batch) {
    const int64_t n = std::min(batch, data.size() - s);
    parts.push_back(at::softmax(model.forward(data.inputs.narrow(0, s, n)).to(at::kFloat), 1));
  }
  return at::cat(parts).contiguous();
}

// compute_curve for class c: labels = (target == c), predictions = prob[:, c], T thresholds.
std::vector<float> expected_curve(const at::Tensor& prob, const at::Tensor& targets, int64_t c, int64_t T) {
  const at::Tensor t = targets.to(at::kLong).contiguous();
  const int64_t n = prob.size(0), classes = prob.size(1);
  std::vector<double> tpb(static_cast<size_t>(T)), fpb(static_cast<size_t>(T));
  for (int64_t i = 0; i < n; ++i) {
    const float p = prob.data_ptr<float>()[i * classes + c];
    const float b = std::floor(p * static_cast<float>(T - 1));
    if (!(b >= 0 && b <= static_cast<float>(T - 1))) continue;
    (t.data_ptr<int64_t>()[i] == c ? tpb : fpb)[static_cast<size_t>(b)] += 1;
  }
  std::vector<double> tp(static_cast<size_t>(T)), fp(static_cast<size_t>(T));
  double run_tp = 0, run_fp = 0;
  for (int64_t k = T - 1; k >= 0; --k) {
    run_tp += tpb[static_cast<size_t>(k)];
    run_fp += fpb[static_cast<size_t>(k)];
    tp[static_cast<size_t>(k)] = run_tp;
    fp[static_cast<size_t>(k)] = run_fp;
  }
  std::vector<float> rows(static_cast<size_t>(6 * T));
  for (int64_t k = 0; k < T; ++k) {
    const size_t i = static_cast<size_t>(k);
    const double tn = fp[0] - fp[i], fn = tp[0] - tp[i];
    rows[i] = static_cast<float>(tp[i]);
    rows[T + i] = static_cast<float>(fp[i]);
    rows[2 * T + i] = static_cast<float>(tn);
    rows[3 * T + i] = static_cast<float>(fn);
    rows[4 * T + i] = static_cast<float>(tp[i] / std::max(1e-7, tp[i] + fp[i]));
    rows[5 * T + i] = static_cast<float>(tp[i] / std::max(1e-7, tp[i] + fn));
  }
  return rows;
}

struct Captured {
  Model model;
  Datasets data;
};

Setup capture(Captured& c) {
  Setup s;
  s.model = [&c](const Datasets& d) {
    c.data = d;
    c.model = make_model(ModelSection{}, {d.train.sample_shape(), d.train.num_classes()});
    return c.model;
  };
  return s;
}

void check_curves(const PluginRun& run, const Captured& cap, int64_t T, const std::set<int64_t>& steps) {
  const int64_t batch = run.config.trainer.batch_size;
  const int64_t last = *steps.rbegin();
  const at::Tensor prob = probabilities(cap.model, cap.data.val, batch);
  const auto& names = cap.data.train.class_names;
  ASSERT_EQ(static_cast<int64_t>(names.size()), prob.size(1));
  std::set<std::string> want_tags;
  for (const auto& n : names) want_tags.insert("pr_curves/" + n);
  const auto got_tags = run.tags_with_prefix("pr_curves/");
  EXPECT_EQ(std::set<std::string>(got_tags.begin(), got_tags.end()), want_tags);

  for (int64_t c = 0; c < prob.size(1); ++c) {
    const std::string tag = "pr_curves/" + names[static_cast<size_t>(c)];
    std::set<int64_t> got_steps;
    for (const auto& [step, v] : run.values(tag)) {
      got_steps.insert(step);
      EXPECT_EQ(v->plugin_name, "pr_curves");
      EXPECT_EQ(v->tensor_shape, (std::vector<int64_t>{6, T})) << tag;
    }
    EXPECT_EQ(got_steps, steps) << tag;
    const auto tensors = pr_tensors(run.run_dir, tag);
    ASSERT_EQ(tensors.size(), steps.size()) << tag;
    const auto& [step, rows] = tensors.back();
    ASSERT_EQ(step, last);
    const auto want = expected_curve(prob, cap.data.val.targets, c, T);
    ASSERT_EQ(rows.size(), want.size()) << tag;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i], want[i]) << tag << " row " << i / T << " threshold " << i % T;
    }
    // Sanity of the data itself: at threshold 0 every sample is counted, as positive or not.
    EXPECT_EQ(rows[0] + rows[T], static_cast<float>(cap.data.val.size())) << tag;
  }
}

TEST(PrCurvesPlugin, EachClassCurveEqualsComputeCurveOnTheFinalModelsProbabilities) {
  Captured cap;
  const PluginRun run = run_plugins("[[plugin]]\nname = \"pr_curves\"\non_error = \"abort\"\n", capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;  // batch_size 16, drop_last off
  check_curves(run, cap, 127, {per_epoch, 2 * per_epoch});
}

TEST(PrCurvesPlugin, HonoursNumThresholdsAndTheEpochCadence) {
  Captured cap;
  const PluginRun run =
      run_plugins("[[plugin]]\nname = \"pr_curves\"\non_error = \"abort\"\nevery_n_epochs = 2\nnum_thresholds = 10\n",
                  capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;
  check_curves(run, cap, 10, {2 * per_epoch});
}

TEST(PrCurvesPlugin, RejectsNumThresholdsOutsideTwoTo127) {
  for (const char* bad : {"1", "128"}) {
    try {
      run_plugins(std::string("[[plugin]]\nname = \"pr_curves\"\non_error = \"abort\"\nnum_thresholds = ") + bad +
                  "\n");
      ADD_FAILURE() << "num_thresholds = " << bad << " was accepted";
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("pr_curves: option 'num_thresholds' must be in 2..127"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace trainscope
