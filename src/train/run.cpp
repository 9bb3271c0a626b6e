// One training run (see run.h).
#include "train/run.h"

#include <filesystem>

#include "config/run_dir.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "train/hf_weights.h"
#include "train/metrics.h"
#include "train/pipeline_runner.h"

namespace primus::train {

namespace {

void check_tokenizer(const config::ExperimentConfig& cfg) {
  if (cfg.data.tokenizer.empty() || cfg.data.mock) return;
  if (!std::filesystem::exists(cfg.data.tokenizer))
    throw usage_error(fmt::format("data.tokenizer {} does not exist", cfg.data.tokenizer),
                      "prepare the data first (scripts/prepare-corpus.sh for the bundled corpus)");
  const auto tok = data::Tokenizer::load(cfg.data.tokenizer);
  if (tok.vocab_size() > cfg.model.vocab_size)
    throw usage_error(fmt::format("the tokenizer {} has {} tokens but model.vocab_size is {}", cfg.data.tokenizer,
                                  tok.vocab_size(), cfg.model.vocab_size),
                      fmt::format("set model.vocab_size to at least {}", tok.vocab_size()));
}

}  // namespace

TrainResult run_training(const config::ExperimentConfig& cfg, const std::string& resolved_yaml, Backend& backend,
                         const RunOptions& options) {
  const int64_t B = cfg.train.micro_batch_size, T = cfg.train.seq_len;
  // Everything that can be checked is checked before the run directory is touched.
  check_tokenizer(cfg);
  if (!cfg.checkpoint.init_from.empty() && !std::filesystem::exists(cfg.checkpoint.init_from))
    throw usage_error(fmt::format("checkpoint.init_from {} does not exist", cfg.checkpoint.init_from));
  auto train = data::make_loader(cfg.data, data::Split::kTrain, B, T, options.dp_rank, options.dp_size,
                                 cfg.train.seed, cfg.model.vocab_size);
  std::unique_ptr<data::TokenLoader> valid;
  if (cfg.logging.eval_every_steps > 0)
    valid = data::make_loader(cfg.data, data::Split::kValid, B, T, options.dp_rank, options.dp_size,
                              cfg.train.seed, cfg.model.vocab_size);
  // Pipeline parallel: this rank's stage (its chunks' layers, an activation slot per micro-batch in flight).
  models::ModelShard shard = options.shard;
  const bool pipelined = options.pipeline && options.pipeline->size() > 1;
  const auto micro = static_cast<int>(cfg.train.global_batch_size / std::max<int64_t>(1, B * options.dp_size));
  if (pipelined) {
    const models::ModelShard stage =
        pipeline_shard(cfg.model.num_layers, options.pipeline->size(), options.pipeline->rank(),
                       static_cast<int>(std::max<int64_t>(1, cfg.parallel.virtual_pipeline)), micro);
    shard.layer_begin = stage.layer_begin;
    shard.layer_end = stage.layer_end;
    shard.chunks = stage.chunks;
    shard.chunk_stride = stage.chunk_stride;
    shard.activation_slots = stage.activation_slots;
  }
  models::Model model(cfg.model, backend, B, T, config::compute_dtype(cfg.precision), shard,
                      models::parse_recompute(cfg.backend.recompute));
  std::unique_ptr<PipelineRunner> pipeline;
  if (pipelined) pipeline = std::make_unique<PipelineRunner>(model, *options.pipeline, micro);
  model.init_weights(cfg.train.seed);
  const double weights_drawn = process_age_seconds();
  const bool init_weights_from = !cfg.checkpoint.init_from.empty() &&
                                 !(options.resume && !latest_checkpoint(config::run_dir_paths(cfg).checkpoints).empty());
  if (init_weights_from) load_hf_weights(cfg.checkpoint.init_from, model);   // a mismatch fails before any write

  const int rank = options.rank >= 0 ? options.rank : options.dp_rank;   // world rank
  const bool writer = rank == 0;
  const config::RunDir dirs = config::prepare_run_dir(cfg, resolved_yaml, options.resume, options.force, rank);
  default_logger().open_file(config::run_dir_log_file(dirs, rank));
  log_info("run {}: {} parameters, {} on {}, micro-batch {}x{}, global batch {}", dirs.root, model.num_params(),
           cfg.model.arch, backend.name(), B, T, cfg.train.global_batch_size);
  log_info("weights drawn {:.2f} s after the process started", weights_drawn);

  TrainerOptions topts;
  topts.dp_rank = options.dp_rank;
  topts.dp_size = options.dp_size;
  topts.tp_rank = options.shard.tp_rank();
  topts.pp_rank = options.pipeline ? options.pipeline->rank() : 0;
  topts.pipeline = pipeline.get();
  topts.model_group = options.model_group;
  topts.grad_sync = options.grad_sync;
  topts.checkpoints_dir = dirs.checkpoints;
  topts.metrics_path = writer ? dirs.metrics : std::string();
  Trainer trainer(cfg, model, *train, valid.get(), topts);
  const std::string latest = options.resume ? latest_checkpoint(dirs.checkpoints) : std::string();
  if (!latest.empty()) {
    trainer.resume(latest);
  } else {
    if (options.resume) log_info("--resume: no checkpoint in {} yet; starting from the beginning", dirs.checkpoints);
    if (init_weights_from) log_info("initialized weights from {}", cfg.checkpoint.init_from);
  }
  Timer timer;
  TrainResult result = trainer.run();
  if (writer) {
    const double loss = result.losses.empty() ? 0 : result.losses.back();
    log_info("done: step {} of {}, last loss {:.4f}{}, {} elapsed{}", result.final_step, cfg.train.steps, loss,
             result.last_valid_loss >= 0
                 ? fmt::format(", valid loss {:.4f} (unigram entropy {:.4f})", result.last_valid_loss,
                               result.unigram_entropy)
                 : std::string(),
             format_duration(timer.seconds()),
             result.last_checkpoint.empty() ? std::string() : ", checkpoint " + result.last_checkpoint);
    if (result.stopped_by_signal) log_info("stopped early; continue with: primus train -c <config> --resume");
  }
  return result;
}

}  // namespace primus::train
