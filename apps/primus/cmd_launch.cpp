// `primus launch --nproc-per-node N [--nnodes M --node-rank R --master-addr A --hosts a,b] -- <cmd>`:
// starts N processes per node of `primus <cmd>` through Open MPI's mpirun (which this replaces
// itself with, so its exit code is the job's). With several nodes, node 0 starts every process
// over ssh; the same command on other nodes has nothing to do and says so.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "apps/primus/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/launcher.h"

namespace primus::app {
namespace {

struct LaunchCli {
  dist::LaunchOptions opt;
  std::string hosts;
  bool dry_run = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void run_launch(LaunchCli& cli) {
  auto& opt = cli.opt;
  opt.hosts = split_commas(cli.hosts);
  opt.exe = std::filesystem::read_symlink("/proc/self/exe").string();
  opt.as_root = geteuid() == 0;
  std::vector<std::string> cmd = dist::mpirun_command(opt);
  std::string line;
  for (const auto& a : cmd) line += (line.empty() ? "" : " ") + dist::shell_quote(a);
  if (cli.dry_run) {
    std::printf("%s\n", line.c_str());
    return;
  }
  if (opt.node_rank != 0) {
    log_info("node {} of {}: node 0's mpirun starts this node's processes; nothing to do here", opt.node_rank,
             opt.nnodes);
    return;
  }
  log_info("launching: {}", line);
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<char*> argv;
  for (auto& a : cmd) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  throw Error(fmt::format("cannot run {}: {}", opt.mpirun, std::strerror(errno)),
              "install Open MPI (apt-get install openmpi-bin) or pass --mpirun PATH");
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto cli = std::make_shared<LaunchCli>();
  auto* cmd = app.add_subcommand("launch", "Start a primus command on several processes through mpirun");
  cmd->add_option("--nproc-per-node", cli->opt.nproc_per_node, "processes per node (one per GPU on GPU nodes)")
      ->required();
  cmd->add_option("--nnodes", cli->opt.nnodes, "nodes in the job (default 1)");
  cmd->add_option("--node-rank", cli->opt.node_rank, "this node's index; node 0 starts every process");
  cmd->add_option("--master-addr", cli->opt.master_addr, "node 0's address (must be the first of --hosts)");
  cmd->add_option("--hosts", cli->hosts, "every node's address, comma-separated, node 0 first (several nodes)");
  cmd->add_flag("--oversubscribe", cli->opt.oversubscribe, "allow more processes than cores");
  cmd->add_option("--mpirun", cli->opt.mpirun, "the mpirun program (default: mpirun on PATH)");
  cmd->add_flag("--dry-run", cli->dry_run, "print the mpirun command instead of running it");
  cmd->add_option("command", cli->opt.args, "after --: the primus command to run, e.g. -- train -c exp.yaml")
      ->expected(-1);
  cmd->callback([cli] { run_launch(*cli); });
}

}  // namespace primus::app
