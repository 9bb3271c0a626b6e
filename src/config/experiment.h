// The experiment schema: one struct per config section, every field with its default and one line
// of documentation. Keys in YAML, TOML and `--set` are exactly these field names; the loader
// (config/loader.h) maps files onto these structs and validates them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace primus::config {

struct RopeScalingConfig {
  double factor = 0.0;                            // Llama 3 frequency scaling factor; 0 = no scaling
  double low_freq_factor = 1.0;                   // Llama 3 scaling: low-frequency factor
  double high_freq_factor = 4.0;                  // Llama 3 scaling: high-frequency factor
  int64_t original_max_position_embeddings = 8192;  // Llama 3 scaling: context the base model saw
};

struct ModelConfig {
  std::string preset;                   // name of a file in configs/models/ whose fields are the defaults
  std::string arch = "gpt2";            // gpt2 | llama
  int64_t num_layers = 12;              // transformer blocks (L)
  int64_t hidden_size = 768;            // model width (C)
  int64_t num_attention_heads = 12;     // query heads (NH)
  int64_t num_kv_heads = 0;             // key/value heads for grouped-query attention (NKV); 0 = NH
  int64_t ffn_hidden_size = 0;          // MLP hidden size (FF); 0 = 4*C for gpt2
  int64_t vocab_size = 50257;           // tokenizer vocabulary (V)
  int64_t make_vocab_size_divisible_by = 128;  // pad the embedding rows to a multiple of this (Vp)
  int64_t max_position_embeddings = 1024;      // longest sequence (learned positions / RoPE tables)
  double norm_eps = 1e-5;               // epsilon of layernorm / rmsnorm
  double rope_theta = 10000.0;          // RoPE base (llama)
  RopeScalingConfig rope_scaling;       // Llama 3.1 RoPE frequency scaling
  bool tie_embeddings = true;           // share the token embedding with the output head
  bool qkv_bias = false;                // bias on the QKV projection (gpt2 always; Qwen2.5 style for llama)
  double init_std = 0.02;               // stddev of the normal initialization
};

// One weighted dataset of a blend: `[0.7, path_a, 0.3, path_b]` in the file.
struct DataSource {
  double weight = 1.0;   // relative sampling weight
  std::string path;      // dataset prefix (PREFIX.bin/.idx) or llm.c shard
};

struct DataConfig {
  std::vector<DataSource> train;        // training datasets (a path, or a blend of weight, path pairs)
  std::vector<DataSource> valid;        // validation datasets; empty = carve from train by `split`
  std::string split = "98,1,1";         // train/valid/test proportions when valid is empty
  std::string tokenizer;                // tokenizer.json path (needed for generation and preparation)
  bool mock = false;                    // random tokens instead of files (benchmarks)
  int64_t ignore_index = -100;          // target id excluded from the loss
};

struct TrainConfig {
  int64_t micro_batch_size = 4;         // sequences per micro-batch per data-parallel rank (B)
  int64_t global_batch_size = 4;        // sequences per optimizer step across all ranks
  int64_t seq_len = 1024;               // tokens per sequence (T)
  int64_t steps = 1000;                 // optimizer steps
  uint64_t seed = 1234;                 // initialization, data order and sampling seed
  int64_t max_nonfinite_steps = 5;      // stop after this many NaN/inf steps in a row
};

struct OptimConfig {
  std::string name = "adamw";           // adamw
  double lr = 6e-4;                     // peak learning rate
  double weight_decay = 0.1;            // decoupled weight decay
  double beta1 = 0.9;                   // AdamW beta1
  double beta2 = 0.95;                  // AdamW beta2
  double eps = 1e-8;                    // AdamW epsilon
  double grad_clip_norm = 1.0;          // global gradient norm clip; 0 = off
  bool decay_norms_and_biases = false;  // apply weight decay to norm weights and biases
  bool decay_embeddings = false;        // apply weight decay to embeddings
};

struct ScheduleConfig {
  std::string kind = "cosine";          // constant | linear | cosine | wsd
  int64_t lr_warmup_steps = 0;          // linear warmup from 0 to lr
  double lr_min_ratio = 0.1;            // final lr as a fraction of lr (linear, cosine, wsd)
  int64_t lr_decay_steps = 0;           // steps over which to decay; 0 = train.steps
  double wsd_decay_ratio = 0.2;         // wsd: fraction of the steps spent in the final decay
};

struct ParallelConfig {
  int64_t tensor = 1;                   // tensor-parallel size
  int64_t pipeline = 1;                 // pipeline-parallel size
  int64_t virtual_pipeline = 1;         // model chunks per pipeline rank (interleaved 1F1B)
  bool sequence_parallel = false;       // shard norm/dropout regions along the sequence (needs tensor > 1)
  int64_t zero = 0;                     // 0 = plain data parallel, 1 = shard optimizer state (ZeRO-1)
};

struct PrecisionConfig {
  std::string compute = "fp32";         // fp32 | bf16
  std::string master_weights = "fp32";  // fp32
};

struct BackendConfig {
  std::string device = "cpu";           // cpu | cuda
  int64_t threads = 0;                  // CPU threads; 0 = all cores
  std::string recompute = "none";       // activation recompute: none | selective | full
  bool cuda_graphs = true;              // capture the training step as a CUDA graph
};

struct CheckpointConfig {
  int64_t every_steps = 0;              // save every N steps; 0 = only at the end
  int64_t keep_last = 3;                // checkpoints kept; older ones are deleted
  bool save_at_end = true;              // save after the last step
  std::string init_from;                // safetensors folder to initialize weights from
};

struct LoggingConfig {
  int64_t every_steps = 1;              // log line every N steps
  int64_t eval_every_steps = 0;         // validation every N steps; 0 = never
  int64_t eval_steps = 10;              // micro-batches per validation
  std::string level = "info";           // debug | info | warn
  std::string progress = "auto";        // progress bar: auto (when stderr is a terminal) | on | off
};

struct ExperimentConfig {
  std::string workspace = "runs";       // run directory is <workspace>/<exp_name>/
  std::string exp_name = "default";     // experiment name
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  OptimConfig optim;
  ScheduleConfig schedule;
  ParallelConfig parallel;
  PrecisionConfig precision;
  BackendConfig backend;
  CheckpointConfig checkpoint;
  LoggingConfig logging;
};

// The dtype models compute in: bf16 (mixed precision over fp32 master weights) or fp32.
inline DType compute_dtype(const PrecisionConfig& p) { return p.compute == "bf16" ? DType::kBF16 : DType::kF32; }

}  // namespace primus::config
