// `primus launch` and `primus slurm`: the command lines and scripts they build, and the real program
// run with a real mpirun and a fake sbatch on PATH.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "dist/launcher.h"

namespace primus::dist {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

struct Cmd {
  int exit_code = -1;
  std::string output;
};

Cmd shell(const std::string& cmd) {
  Cmd r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh folder under the build tree with a tiny experiment whose workspace is inside it.
fs::path scratch(const std::string& name, int global_batch = 4) {
  fs::path dir = fs::path(PRIMUS_BINARY_DIR) / "tests" / "dist" / "scratch" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "exp.yaml") << "workspace: " << (dir / "runs").string() << "\nexp_name: tiny\n"
                                  << "model: {preset: gpt2-tiny}\ndata: {mock: true}\n"
                                  << "train: {micro_batch_size: 2, global_batch_size: " << global_batch
                                  << ", seq_len: 32, steps: 2}\n";
  return dir;
}

TEST(Launcher, OneNodeMpirunLine) {
  LaunchOptions o;
  o.nproc_per_node = 4;
  o.exe = "/opt/primus";
  o.args = {"train", "-c", "exp.yaml"};
  o.as_root = true;
  EXPECT_EQ(join(mpirun_command(o)), "mpirun -np 4 --bind-to none --allow-run-as-root /opt/primus train -c exp.yaml");
}

TEST(Launcher, SeveralNodesListEveryHostWithItsSlots) {
  LaunchOptions o;
  o.nproc_per_node = 2;
  o.nnodes = 3;
  o.hosts = {"n0", "n1", "n2"};
  o.master_addr = "n0";
  o.exe = "/opt/primus";
  o.args = {"train"};
  std::string line = join(mpirun_command(o));
  EXPECT_NE(line.find("mpirun -np 6 "), std::string::npos) << line;
  EXPECT_NE(line.find("--host n0:2,n1:2,n2:2 --map-by ppr:2:node"), std::string::npos) << line;
  EXPECT_NE(line.find("-x PRIMUS_COMM_TIMEOUT_S"), std::string::npos) << line;
}

TEST(Launcher, BadOptionsAreNamedTogether) {
  LaunchOptions o;
  o.nproc_per_node = 0;
  o.nnodes = 2;
  o.node_rank = 5;
  o.hosts = {"a", "b"};
  o.master_addr = "b";
  try {
    mpirun_command(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(m.find("--nproc-per-node 0"), std::string::npos) << m;
    EXPECT_NE(m.find("--node-rank 5 is outside [0, 2)"), std::string::npos) << m;
    EXPECT_NE(m.find("--master-addr b is not the first of --hosts (a)"), std::string::npos) << m;
    EXPECT_NE(m.find("no primus command"), std::string::npos) << m;
  }
}

TEST(Launcher, ShellQuoting) {
  EXPECT_EQ(shell_quote("plain/path-1.yaml"), "plain/path-1.yaml");
  EXPECT_EQ(shell_quote("two words"), "'two words'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
}

TEST(Launcher, SbatchScriptHasHeaderLogsAndSrunLine) {
  SlurmJob j;
  j.job_name = "gpt";
  j.run_dir = "/runs/gpt";
  j.work_dir = "/home/me/proj";
  j.exe = "/opt/primus";
  j.args = {"train", "-c", "/home/me/proj/exp.yaml", "--set", "optim.lr=1e-3"};
  j.nodes = 2;
  j.tasks_per_node = 8;
  j.gpus_per_node = 8;
  j.partition = "h100";
  j.time = "01:00:00";
  std::string s = sbatch_script(j);
  for (const char* want : {"#!/bin/bash\n", "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=8\n",
                           "#SBATCH --gpus-per-node=8\n", "#SBATCH --partition=h100\n", "#SBATCH --time=01:00:00\n",
                           "#SBATCH --output=/runs/gpt/logs/slurm-%j.out\n", "cd /home/me/proj\n",
                           "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=none /opt/primus train -c "
                           "/home/me/proj/exp.yaml --set optim.lr=1e-3\n"}) {
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
  }
  EXPECT_EQ(s.find("--account"), std::string::npos);
}

TEST(LaunchCommand, RunsEveryProcessThroughMpirun) {
  Cmd r = shell(std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") + PRIMUS_EXE +
                " launch --nproc-per-node 2 --oversubscribe -- --version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  size_t count = 0;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) count += line.rfind("primus ", 0) == 0 && line.find("commit") != std::string::npos;
  EXPECT_EQ(count, 2u) << r.output;
}

TEST(LaunchCommand, DryRunPrintsTheCommand) {
  Cmd r = shell(std::string(PRIMUS_EXE) + " launch --nproc-per-node 3 --dry-run -- train -c 'my exp.yaml'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mpirun -np 3 --bind-to none"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train -c 'my exp.yaml'"), std::string::npos) << r.output;
}

TEST(SlurmCommand, DryRunWritesTheScriptIntoTheRunDirectory) {
  fs::path dir = scratch("slurm-dry");
  Cmd r = shell("cd " + dir.string() + " && " + PRIMUS_EXE +
                " slurm -c exp.yaml --ntasks-per-node 2 --partition debug --set train.steps=3 --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::path script = dir / "runs" / "tiny" / "train.sbatch";
  ASSERT_TRUE(fs::exists(script)) << r.output;
  std::string s = read_file(script);
  EXPECT_NE(s.find("#SBATCH --ntasks-per-node=2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("#SBATCH --partition=debug\n"), std::string::npos) << s;
  EXPECT_NE(s.find("#SBATCH --output=" + (dir / "runs" / "tiny" / "logs").string() + "/slurm-%j.out"),
            std::string::npos) << s;
  EXPECT_NE(s.find(std::string("srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=none ") + PRIMUS_EXE + " train -c " +
                   (dir / "exp.yaml").string() + " --set train.steps=3\n"),
            std::string::npos) << s;
  EXPECT_TRUE(fs::is_directory(dir / "runs" / "tiny" / "logs"));
}

TEST(SlurmCommand, SubmitsThroughSbatchOnPath) {
  fs::path dir = scratch("slurm-submit");
  fs::create_directories(dir / "bin");
  std::ofstream(dir / "bin" / "sbatch") << "#!/bin/sh\necho \"$@\" > " << (dir / "sbatch-args").string()
                                        << "\necho 'Submitted batch job 4242'\n";
  fs::permissions(dir / "bin" / "sbatch", fs::perms::owner_all);
  Cmd r = shell("cd " + dir.string() + " && PATH=" + (dir / "bin").string() + ":$PATH " + PRIMUS_EXE +
                " slurm -c exp.yaml --ntasks-per-node 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Submitted batch job 4242"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "sbatch-args"), (dir / "runs" / "tiny" / "train.sbatch").string() + "\n");
}

TEST(SlurmCommand, FailingSbatchIsAnError) {
  fs::path dir = scratch("slurm-fail");
  fs::create_directories(dir / "bin");
  std::ofstream(dir / "bin" / "sbatch") << "#!/bin/sh\necho 'sbatch: error: invalid partition' >&2\nexit 1\n";
  fs::permissions(dir / "bin" / "sbatch", fs::perms::owner_all);
  Cmd r = shell("cd " + dir.string() + " && PATH=" + (dir / "bin").string() + ":$PATH " + PRIMUS_EXE +
                " slurm -c exp.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("invalid partition"), std::string::npos) << r.output;
}

TEST(SlurmCommand, ImpossibleLayoutIsAConfigError) {
  fs::path dir = scratch("slurm-layout", 6);
  Cmd r = shell("cd " + dir.string() + " && " + PRIMUS_EXE + " slurm -c exp.yaml --ntasks-per-node 4 --dry-run");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("global_batch_size = 6 is not a multiple of micro_batch_size 2 x data parallel 4 = 8"),
            std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "runs" / "tiny" / "train.sbatch"));
}

// A real one-node Slurm cluster (slurm-wlm, munge; started and stopped by the script) runs a tiny
// 2-task training submitted by `primus slurm` (srun --mpi=pmix) to its checkpoint.
TEST(SlurmCluster, SubmittedTrainingFinishesWithACheckpoint) {
  if (geteuid() != 0) GTEST_SKIP() << "starting slurmctld and slurmd needs root";
  for (const char* p : {"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/share/games/fortunes/art"})
    if (!fs::exists(p)) GTEST_SKIP() << p << " missing (Debian packages slurm-wlm, munge, fortunes)";
  fs::path work = fs::path(PRIMUS_BINARY_DIR) / "tests" / "dist" / "scratch" / "slurm-cluster";
  Cmd r = shell("timeout 120 " + std::string(PRIMUS_SOURCE_DIR) + "/tests/dist/slurm_cluster.sh " + PRIMUS_EXE + " " +
                work.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("finished and wrote its checkpoint"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[rank 1] run"), std::string::npos) << "rank 1 did not start:\n" << r.output;
}

}  // namespace
}  // namespace primus::dist
