// mpirun command lines and sbatch scripts (see launcher.h).
#include "dist/launcher.h"

#include <fmt/format.h>

#include "core/error.h"

namespace primus::dist {

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_./=:,+@%").find(c) != std::string_view::npos)) {
      plain = false;
    }
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''"; else out += c;
  }
  return out + "'";
}

std::vector<std::string> mpirun_command(const LaunchOptions& opt) {
  std::vector<std::string> problems;
  if (opt.nproc_per_node < 1) problems.push_back(fmt::format("--nproc-per-node {} must be at least 1", opt.nproc_per_node));
  if (opt.nnodes < 1) problems.push_back(fmt::format("--nnodes {} must be at least 1", opt.nnodes));
  if (opt.node_rank < 0 || opt.node_rank >= opt.nnodes) {
    problems.push_back(fmt::format("--node-rank {} is outside [0, {})", opt.node_rank, opt.nnodes));
  }
  if (opt.nnodes > 1 && static_cast<int>(opt.hosts.size()) != opt.nnodes) {
    problems.push_back(fmt::format("--nnodes {} needs --hosts with {} addresses (got {})", opt.nnodes, opt.nnodes,
                                   opt.hosts.size()));
  }
  if (!opt.master_addr.empty() && !opt.hosts.empty() && opt.hosts.front() != opt.master_addr) {
    problems.push_back(fmt::format("--master-addr {} is not the first of --hosts ({})", opt.master_addr, opt.hosts.front()));
  }
  if (opt.args.empty()) problems.push_back("no primus command after `--` (e.g. -- train -c exp.yaml)");
  if (!problems.empty()) {
    std::string msg = "cannot launch:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw usage_error(msg, "primus launch --nproc-per-node N [--nnodes M --hosts a,b] -- train -c exp.yaml");
  }
  std::vector<std::string> cmd = {opt.mpirun, "-np", std::to_string(opt.nproc_per_node * opt.nnodes),
                                  "--bind-to", "none"};
  if (opt.nnodes > 1) {
    std::string hosts;
    for (const auto& h : opt.hosts) hosts += (hosts.empty() ? "" : ",") + fmt::format("{}:{}", h, opt.nproc_per_node);
    cmd.insert(cmd.end(), {"--host", hosts, "--map-by", fmt::format("ppr:{}:node", opt.nproc_per_node)});
    // Forward the settings that matter to the remote ranks.
    for (const char* var : {"PRIMUS_COMM_TIMEOUT_S", "OMP_NUM_THREADS", "PATH", "LD_LIBRARY_PATH"})
      cmd.insert(cmd.end(), {"-x", var});
  }
  if (opt.oversubscribe) cmd.push_back("--oversubscribe");
  if (opt.as_root) cmd.push_back("--allow-run-as-root");
  cmd.push_back(opt.exe);
  cmd.insert(cmd.end(), opt.args.begin(), opt.args.end());
  return cmd;
}

std::string srun_line(const SlurmJob& job) {
  std::string line = fmt::format("srun --mpi={} --kill-on-bad-exit=1 --cpu-bind=none", job.mpi);
  line += " " + shell_quote(job.exe);
  for (const auto& a : job.args) line += " " + shell_quote(a);
  return line;
}

std::string sbatch_script(const SlurmJob& job) {
  std::vector<std::string> problems;
  if (job.nodes < 1) problems.push_back(fmt::format("--nodes {} must be at least 1", job.nodes));
  if (job.tasks_per_node < 1) problems.push_back(fmt::format("{} tasks per node must be at least 1", job.tasks_per_node));
  if (job.gpus_per_node < 0) problems.push_back(fmt::format("--gpus-per-node {} must not be negative", job.gpus_per_node));
  if (job.run_dir.empty() || job.exe.empty()) problems.push_back("run directory and primus path are needed");
  if (!problems.empty()) {
    std::string msg = "cannot write the sbatch script:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw usage_error(msg);
  }
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Written by `primus slurm`: {} node(s) x {} task(s).\n", job.nodes, job.tasks_per_node);
  s += fmt::format("#SBATCH --job-name={}\n", job.job_name);
  s += fmt::format("#SBATCH --nodes={}\n", job.nodes);
  s += fmt::format("#SBATCH --ntasks-per-node={}\n", job.tasks_per_node);
  if (job.gpus_per_node > 0) s += fmt::format("#SBATCH --gpus-per-node={}\n", job.gpus_per_node);
  if (job.cpus_per_task > 0) s += fmt::format("#SBATCH --cpus-per-task={}\n", job.cpus_per_task);
  if (!job.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", job.partition);
  if (!job.time.empty()) s += fmt::format("#SBATCH --time={}\n", job.time);
  if (!job.account.empty()) s += fmt::format("#SBATCH --account={}\n", job.account);
  s += fmt::format("#SBATCH --output={}/logs/slurm-%j.out\n", job.run_dir);
  s += fmt::format("#SBATCH --error={}/logs/slurm-%j.err\n", job.run_dir);
  s += "set -euo pipefail\n";
  s += "# One OpenMP thread per allocated CPU of each task; ranks that stop answering abort the job.\n";
  s += "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n";
  s += "export PRIMUS_COMM_TIMEOUT_S=${PRIMUS_COMM_TIMEOUT_S:-600}\n";
  if (!job.work_dir.empty()) s += fmt::format("cd {}\n", shell_quote(job.work_dir));
  s += srun_line(job) + "\n";
  return s;
}

}  // namespace primus::dist
