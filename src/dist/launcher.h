// Command lines for starting a job: the mpirun line behind `primus launch` and the sbatch script
// behind `primus slurm`. Pure functions (no processes started here) so they are testable; both
// validate their options and throw primus::usage_error naming the bad value.
#pragma once
#include <string>
#include <vector>

namespace primus::dist {

struct LaunchOptions {
  int nproc_per_node = 1;              // processes on each node
  int nnodes = 1;                      // nodes in the job
  int node_rank = 0;                   // this node's index; only node 0 runs mpirun
  std::string master_addr;             // node 0's address (the first host when hosts are given)
  std::vector<std::string> hosts;      // every node's address, node 0 first (needed when nnodes > 1)
  bool oversubscribe = false;          // allow more processes than cores
  bool as_root = false;                // add --allow-run-as-root (Open MPI refuses root otherwise)
  std::string mpirun = "mpirun";       // the mpirun to use
  std::string exe;                     // absolute path of primus
  std::vector<std::string> args;       // the primus subcommand and its arguments
};

// argv of the mpirun command. Threads are left unbound (--bind-to none) so each rank's OpenMP
// threads can use the cores its share of the node gives it.
std::vector<std::string> mpirun_command(const LaunchOptions& opt);

struct SlurmJob {
  std::string job_name;                // --job-name
  std::string run_dir;                 // <workspace>/<exp_name>, absolute
  std::string work_dir;                // directory the job runs in (relative config paths resolve here)
  std::string exe;                     // absolute path of primus
  std::vector<std::string> args;       // the primus subcommand and its arguments (train -c ...)
  int nodes = 1;                       // --nodes
  int tasks_per_node = 1;              // --ntasks-per-node (one per GPU on GPU nodes)
  int gpus_per_node = 0;               // --gpus-per-node; 0 = CPU job
  int cpus_per_task = 0;               // --cpus-per-task; 0 = Slurm's default
  std::string partition;               // --partition (empty: the cluster default)
  std::string time;                    // --time, e.g. 02:00:00 (empty: the partition default)
  std::string account;                 // --account (empty: the user default)
  std::string mpi = "pmix";            // srun --mpi plugin that bootstraps MPI
};

// The sbatch script: #SBATCH header, log paths under run_dir/logs, environment, one srun line.
std::string sbatch_script(const SlurmJob& job);
// The srun line alone (also the last command of the script).
std::string srun_line(const SlurmJob& job);
// One argument quoted for a POSIX shell.
std::string shell_quote(const std::string& s);

}  // namespace primus::dist
