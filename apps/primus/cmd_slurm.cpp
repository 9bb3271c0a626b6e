// `primus slurm -c exp.yaml --nodes N --gpus-per-node G [--partition P --time T] [--dry-run]`:
// checks the experiment and its parallel layout for N x G ranks, writes an sbatch script into the
// run directory (<workspace>/<exp_name>/train.sbatch: #SBATCH header, log paths, environment, the
// srun line) and submits it with sbatch, unless --dry-run.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "apps/primus/commands.h"
#include "config/loader.h"
#include "config/run_dir.h"
#include "core/error.h"
#include "dist/launcher.h"
#include "dist/mesh.h"

namespace primus::app {
namespace {

struct SlurmCli {
  std::string file;
  std::vector<std::string> overrides;
  dist::SlurmJob job;
  int ntasks_per_node = 0;
  bool dry_run = false;
  std::string sbatch = "sbatch";
};

void run_slurm(SlurmCli& cli) {
  namespace fs = std::filesystem;
  config::ExperimentConfig cfg = config::load_experiment(cli.file, cli.overrides);
  auto& job = cli.job;
  job.tasks_per_node = cli.ntasks_per_node > 0 ? cli.ntasks_per_node : std::max(job.gpus_per_node, 1);
  if (job.nodes < 1) throw usage_error(fmt::format("--nodes {} must be at least 1", job.nodes));
  dist::validate_layout(cfg, job.nodes * job.tasks_per_node);
  if (job.gpus_per_node > 0 && cfg.backend.device.rfind("cuda", 0) != 0) {
    throw usage_error(fmt::format("--gpus-per-node {} with backend.device = {}", job.gpus_per_node, cfg.backend.device),
                      "add --set backend.device=cuda, or drop --gpus-per-node for a CPU job");
  }
  config::RunDir dirs = config::run_dir_paths(cfg);
  job.run_dir = fs::absolute(dirs.root).lexically_normal().string();
  job.work_dir = fs::current_path().string();
  job.exe = fs::read_symlink("/proc/self/exe").string();
  if (job.job_name.empty()) job.job_name = cfg.exp_name;
  job.args = {"train", "-c", fs::absolute(cli.file).lexically_normal().string()};
  for (const auto& o : cli.overrides) job.args.insert(job.args.end(), {"--set", o});
  std::string script = dist::sbatch_script(job);

  std::error_code ec;
  fs::create_directories(fs::path(job.run_dir) / "logs", ec);
  if (ec) throw Error(fmt::format("cannot create {}/logs: {}", job.run_dir, ec.message()));
  const std::string path = job.run_dir + "/train.sbatch";
  {
    std::ofstream out(path);
    out << script;
    if (!out) throw Error(fmt::format("cannot write {}", path));
  }
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add, ec);
  std::printf("wrote %s\n", path.c_str());
  if (cli.dry_run) {
    std::printf("%s", script.c_str());
    return;
  }
  const std::string cmd = dist::shell_quote(cli.sbatch) + " " + dist::shell_quote(path) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error(fmt::format("cannot run {}", cli.sbatch));
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int status = pclose(p);
  std::printf("%s", output.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(fmt::format("{} failed on {}: {}", cli.sbatch, path, output),
                WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "is Slurm installed (sbatch on PATH)?"
                                                                 : "the script is kept; fix and run sbatch on it");
  }
}

}  // namespace

void add_slurm_command(CLI::App& app) {
  auto cli = std::make_shared<SlurmCli>();
  auto* cmd = app.add_subcommand("slurm", "Write an sbatch script for an experiment into its run directory and submit it");
  cmd->add_option("-c,--config", cli->file, "experiment file (.yaml, .yml or .toml)")->required();
  cmd->add_option("--set", cli->overrides, "override one key: --set optim.lr=1e-3 (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--nodes", cli->job.nodes, "nodes (default 1)");
  cmd->add_option("--gpus-per-node", cli->job.gpus_per_node, "GPUs per node, one task each (0: CPU job)");
  cmd->add_option("--ntasks-per-node", cli->ntasks_per_node, "tasks per node (default: --gpus-per-node, or 1)");
  cmd->add_option("--cpus-per-task", cli->job.cpus_per_task, "CPUs per task (OpenMP threads)");
  cmd->add_option("--partition", cli->job.partition, "Slurm partition");
  cmd->add_option("--time", cli->job.time, "time limit, e.g. 02:00:00");
  cmd->add_option("--account", cli->job.account, "Slurm account");
  cmd->add_option("--job-name", cli->job.job_name, "job name (default: exp_name)");
  cmd->add_option("--mpi", cli->job.mpi, "srun --mpi plugin that starts MPI (default pmix)");
  cmd->add_option("--sbatch", cli->sbatch, "the sbatch program (default: sbatch on PATH)");
  cmd->add_flag("--dry-run", cli->dry_run, "write and print the script, do not submit it");
  cmd->callback([cli] { run_slurm(*cli); });
}

}  // namespace primus::app
